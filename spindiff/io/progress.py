"""Progress of a run on rank 0: a tqdm bar on a terminal, a periodic line otherwise."""
from __future__ import annotations

import math
import resource
import sys
import time


class Progress:
    """Reports simulated time t out of `end` (s). Silent on ranks other than 0.

    On a terminal: a tqdm bar redrawn at most every `refresh` seconds of wall clock (a run of
    thousands of short steps writes a few lines' worth per second, not one redraw per step);
    otherwise (a log file, Slurm) one line every `interval` seconds."""

    def __init__(self, comm, end: float, label: str = "", enabled: bool = True,
                 interval: float = 10.0, refresh: float = 0.25, stream=None):
        self.active = enabled and comm.rank == 0
        self.end = end
        self.label = label
        self.interval = interval
        self.refresh = refresh
        self.stream = stream if stream is not None else sys.stderr
        self._bar = None
        self._last = time.monotonic()
        self._drawn = -math.inf
        self._start = self._last
        self.steps = 0
        self.lines = 0
        if self.active and self.stream.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=end, unit="s", desc=label or "simulated",
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| t={n:.4g}/{total:.4g} s "
                                        "[{elapsed}<{remaining}] {postfix}",
                             file=self.stream, leave=False, mininterval=refresh,
                             dynamic_ncols=True)

    def update(self, t: float, info: str = "") -> None:
        if not self.active:
            return
        self.steps += 1
        now = time.monotonic()
        if self._bar is not None:
            if now - self._drawn < self.refresh and t < self.end:
                return
            self._drawn = now
            self._bar.n = min(t, self.end)
            if info:
                self._bar.set_postfix_str(info, refresh=False)
            self._bar.refresh()
            return
        if now - self._last >= self.interval:
            self._last = now
            self.lines += 1
            pct = 100.0 * t / self.end if self.end > 0 else 100.0
            print(f"  {self.label} t = {t:.4g} s of {self.end:.4g} s ({pct:.0f} %), "
                  f"{self.steps} steps, {now - self._start:.0f} s wall {info}",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class phase:
    """One line per phase of a run on rank 0: "  meshing 12.3 s" (wall time, s).

        with phase(comm, "meshing"):
            ...

    On a terminal the label shows while the phase runs ("  meshing ...") and the duration is
    appended when it ends; a failed phase erases its label, so an error stays one line.
    Elsewhere (log files, batch jobs) the line is printed when the phase ends. `enabled=False`
    or a rank other than 0 prints nothing. The duration is kept in `seconds`.
    """

    def __init__(self, comm, label: str, enabled: bool = True, stream=None):
        self.active = enabled and (comm is None or comm.rank == 0)
        self.label = label
        self.seconds = 0.0
        self.stream = stream if stream is not None else sys.stderr
        self._live = self.active and self.stream.isatty()

    def __enter__(self) -> phase:
        self._t0 = time.perf_counter()
        if self._live:
            print(f"  {self.label} ...", end="", file=self.stream, flush=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.seconds = time.perf_counter() - self._t0
        if not self.active:
            return
        if exc_type is not None:
            if self._live:
                print("\r\033[K", end="", file=self.stream, flush=True)
            return
        if self._live:
            print(f" {self.seconds:.1f} s", file=self.stream, flush=True)
        else:
            print(f"  {self.label} {self.seconds:.1f} s", file=self.stream, flush=True)


def peak_resident_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
