"""Progress of a run on rank 0: a tqdm bar on a terminal, a periodic line otherwise."""
from __future__ import annotations

import sys
import time


class Progress:
    """Reports simulated time t out of `end` (s). Silent on ranks other than 0."""

    def __init__(self, comm, end: float, label: str = "", enabled: bool = True,
                 interval: float = 10.0):
        self.active = enabled and comm.rank == 0
        self.end = end
        self.label = label
        self.interval = interval
        self._bar = None
        self._last = time.monotonic()
        self._start = self._last
        self.steps = 0
        if self.active and sys.stderr.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=end, unit="s", desc=label or "simulated",
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| t={n:.4g}/{total:.4g} s "
                                        "[{elapsed}<{remaining}] {postfix}",
                             file=sys.stderr, leave=False)

    def update(self, t: float, info: str = "") -> None:
        if not self.active:
            return
        self.steps += 1
        if self._bar is not None:
            self._bar.n = min(t, self.end)
            if info:
                self._bar.set_postfix_str(info, refresh=False)
            self._bar.refresh()
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            pct = 100.0 * t / self.end if self.end > 0 else 100.0
            print(f"  {self.label} t = {t:.4g} s of {self.end:.4g} s ({pct:.0f} %), "
                  f"{self.steps} steps, {now - self._start:.0f} s wall {info}", flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class phase:
    """One line per phase of a run on rank 0: "  meshing ... 12.3 s" (wall time, s).

        with phase(comm, "meshing"):
            ...

    The label is printed when the phase starts (so a long phase is visible while it runs) and
    its duration when it ends; `enabled=False` or a rank other than 0 prints nothing. The
    duration is kept in `seconds`.
    """

    def __init__(self, comm, label: str, enabled: bool = True):
        self.active = enabled and (comm is None or comm.rank == 0)
        self.label = label
        self.seconds = 0.0

    def __enter__(self) -> "phase":
        self._t0 = time.perf_counter()
        if self.active:
            print(f"  {self.label} ...", end="", file=sys.stderr, flush=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.seconds = time.perf_counter() - self._t0
        if self.active:
            print(f" {self.seconds:.1f} s" if exc_type is None else " stopped",
                  file=sys.stderr, flush=True)
