"""Clean interruption: SIGINT (Ctrl-C) and SIGTERM (Slurm's time limit, `kill`, mpirun).

While a run's time loop is active the handlers only note the signal; the loop checks between
time steps, with one allreduce so that every rank stops at the same step, then writes a
checkpoint and a STATUS file and raises `RunInterrupted`. Outside the loop (meshing, set-up),
or on a signal repeated more than REPEAT_WINDOW seconds after the first, the handler raises at
once. Handlers can only be installed from the main
thread; elsewhere (a worker thread) the run is simply not interruptible this way.
"""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from ..errors import SpindiffError

SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: a second signal this soon after the first (s) is the same interruption: a terminal's Ctrl-C
#: reaches mpirun and every rank, and mpirun forwards it once more; later ones stop at once
REPEAT_WINDOW = 5.0


class RunInterrupted(SpindiffError):
    """The run stopped on a signal after writing a checkpoint; `exit_code` is 128 + signal."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class InterruptNow(KeyboardInterrupt):
    """Raised by the handler outside the time loop (or on a second signal)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalGuard:
    """Context manager: notes SIGINT/SIGTERM while `deferring` is True, raises otherwise."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._first = 0.0
        self.deferring = False
        self._old: dict[int, Callable | int | None] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._old.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.deferring and self.signum is None:
            self.signum, self._first = signum, time.monotonic()
            return
        if self.deferring and time.monotonic() - self._first < REPEAT_WINDOW:
            return  # the same interruption again (Ctrl-C reaches both mpirun and the ranks)
        raise InterruptNow(signum)

    def pending(self, comm) -> int | None:
        """The signal any rank of `comm` received (collective), or None."""
        mine = self.signum or 0
        seen = comm.allreduce(mine, op=_max_op())
        return seen or None


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def _max_op():
    from mpi4py import MPI
    return MPI.MAX


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM raises InterruptNow like SIGINT does (so that a command stopped by Slurm or
    `kill` cleans up like Ctrl-C); restored on exit. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        raise InterruptNow(signum)

    old = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
