"""Output folders that spindiff makes, and the rules that keep everything else safe.

Every command that writes a folder (run, compare, rates, plot-diffusion, sweep) works in
OUT.partial/ and moves it to OUT/ when it has finished. A folder spindiff made carries a
marker, OUT/.spindiff.json, naming the command that made it and the case it ran. The rules:

- OUT exists and is not a folder spindiff made with the same command: always refused (an empty
  folder is the one exception: it is taken).
- OUT exists and is such a folder: refused unless `overwrite`; then the old folder is replaced
  only once the new one is complete, so an interrupted overwrite loses nothing.
- OUT.partial exists: it holds an interrupted run; refused unless `resume` (same case) or
  `overwrite` (then it is started again).
- OUT.partial is locked (an exclusive fcntl lock on OUT.partial/.lock) while a process works
  in it; a second process gets a one-line error. The lock dies with its process (kill -9 too).

Only rank 0 touches the file system; decisions and errors are broadcast so that every rank
raises the same SpindiffError.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .. import __version__
from ..errors import SpindiffError
from .identity import differences

PARTIAL_SUFFIX = ".partial"
MARKER = ".spindiff.json"
LOCK = ".lock"
#: what a results folder written before markers existed may hold (recognised as spindiff's)
LEGACY_ENTRIES = {"case.toml", "timeseries.csv", "summary.json", "buildup.png", "profile.csv",
                  "fields", "STATUS", "checkpoint.h5", "checkpoint.h5.tmp", "variant.json"}

T = TypeVar("T")


class FolderError(SpindiffError):
    """An output folder cannot be used without risking what is there."""


def partial_of(final: Path) -> Path:
    return final.with_name(final.name + PARTIAL_SUFFIX)


def read_marker(folder: Path) -> dict | None:
    """The marker of a folder spindiff made (None when there is none or it is unreadable)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def made_by_spindiff(folder: Path, kind: str) -> bool:
    """True for a folder that spindiff's `kind` command made (a marker, or for "run" the exact
    set of files an older spindiff wrote)."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return False
    marker = read_marker(folder)
    if marker is not None:
        return marker.get("kind") == kind
    if kind != "run":
        return False
    names = {p.name for p in folder.iterdir()}
    return {"case.toml", "timeseries.csv"} <= names and names <= LEGACY_ENTRIES


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def collective(comm, fn: Callable[[], T], context: str = "",
               error: type[SpindiffError] = FolderError) -> T:
    """Run fn on rank 0 and broadcast its result, or the SpindiffError it raised (an OSError,
    such as a full disk, becomes `error` with one line), so that every rank returns or raises
    alike."""
    result, message = None, None
    if comm.rank == 0:
        try:
            result = fn()
        except SpindiffError as exc:
            message = str(exc)
        except OSError as exc:
            message = describe_os_error(exc, context)
    result, message = comm.bcast((result, message), root=0)
    if message is not None:
        raise error(message)
    return result


def describe_os_error(exc: OSError, context: str = "") -> str:
    """One line for an OSError (a full disk says so and how to go on)."""
    where = f" ({exc.filename})" if exc.filename else ""
    lead = f"{context}: " if context else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{lead}no space left on the device{where}"
    return f"{lead}{exc.strerror or exc}{where}"


def write_marker(folder: Path, kind: str, identity: dict[str, Any], overwrite: bool) -> None:
    """folder/.spindiff.json: which command made the folder, for which case."""
    data = {"kind": kind, "spindiff_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "overwrite": overwrite,
            "identity": identity}
    (folder / MARKER).write_text(json.dumps(data, indent=1) + "\n")


class FolderLock:
    """An exclusive, non-blocking fcntl lock on folder/.lock (released by the kernel when the
    process ends, kill -9 included); the file records the holder's pid."""

    def __init__(self) -> None:
        self.fd: int | None = None

    def acquire(self, folder: Path) -> bool:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def stamp(self) -> None:
        """Record this process as the holder (once the folder is really taken)."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    @staticmethod
    def holder(folder: Path) -> str:
        try:
            return (folder / LOCK).read_text().strip() or "?"
        except OSError:
            return "?"


class OutputFolder:
    """OUT.partial/ claimed for one command; `finish` moves it to OUT/.

    kind: the command ("run", "compare", "rates", "diffusion", "sweep"); identity: what makes
    two runs the same (see `case_identity`), stored in the marker and checked on resume.
    resume: continue in an existing OUT.partial of the same case (when it has no checkpoint,
    the run starts again there); overwrite: replace a folder this command made before.
    """

    def __init__(self, out: str | Path, comm, kind: str, identity: dict[str, Any] | None = None,
                 overwrite: bool = False, resume: bool = False, option: str = "--overwrite"):
        self.shown = str(out)
        self.final = Path(os.path.abspath(out))
        if self.final.name in ("", ".", "..") or self.final == Path(self.final.anchor):
            raise FolderError(f"{self.shown}: not a usable output folder name")
        self.path = partial_of(self.final)
        self.comm, self.kind = comm, kind
        self.identity = identity or {}
        self.overwrite, self.resume, self.option = overwrite, resume, option
        self._lock_ = FolderLock()
        self.resumed = collective(comm, self._claim)

    # --- claiming -----------------------------------------------------------------------

    def _claim(self) -> bool:
        """Checks and creates (or takes over) OUT.partial; True when an earlier partial folder
        of the same case is continued."""
        final, partial = self.final, self.path
        if final.is_symlink() or (final.exists() and not final.is_dir()):
            raise FolderError(f"{self.shown} exists and is not a folder: choose another output "
                              "folder")
        if final.exists() and not _is_empty_dir(final) and not self.resume:
            if not made_by_spindiff(final, self.kind):
                raise FolderError(f"{self.shown}/ exists and is not a spindiff {self.kind} "
                                  "folder: nothing in it is touched; choose another output folder")
            if not self.overwrite:
                raise FolderError(f"{self.shown}/ holds earlier results: add {self.option} to "
                                  "replace them (or choose another output folder)")
        if partial.is_symlink() or (partial.exists() and not partial.is_dir()):
            raise FolderError(f"{partial} exists and is not a folder: move it away first")
        if partial.exists():
            return self._take_over(partial)
        if self.resume:
            if final.is_dir() and made_by_spindiff(final, self.kind):
                raise FolderError(f"{self.shown}/ is complete: nothing to resume")
            raise FolderError(f"nothing to resume: {partial} does not exist")
        self._create(partial)
        return False

    def _create(self, partial: Path) -> None:
        partial.parent.mkdir(parents=True, exist_ok=True)
        tmp = partial.with_name(f"{partial.name}.new-{os.getpid()}")
        tmp.mkdir()
        try:
            self._lock(tmp)
            self._lock_.stamp()
            self._write_marker(tmp)
            os.rename(tmp, partial)  # fails when another process made OUT.partial meanwhile
        except OSError as exc:
            self._unlock()
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise FolderError(f"{partial} is in use by another spindiff process") from None
            raise

    def _take_over(self, partial: Path) -> bool:
        marker = read_marker(partial)
        legacy = marker is None and made_by_spindiff(partial, self.kind)
        if marker is None and not legacy:
            raise FolderError(f"{partial}/ exists and is not a spindiff {self.kind} folder: "
                              "move it away first")
        if marker is not None and marker.get("kind") != self.kind:
            raise FolderError(f"{partial}/ belongs to a spindiff {marker.get('kind')} command, "
                              f"not {self.kind}: choose another output folder")
        if not self._lock(partial):
            raise FolderError(f"{partial} is in use by another spindiff process "
                              f"(pid {FolderLock.holder(partial)}); wait for it or choose another "
                              "output folder")
        if self.resume:
            old = (marker or {}).get("identity")
            if old is not None and old != self.identity:
                self._unlock()
                raise FolderError(f"--resume {self.shown}: the case differs from the one being "
                                  f"resumed in {differences(old, self.identity)}; run it "
                                  f"without --resume (into another folder, or with "
                                  f"{self.option}) to start again")
            self.overwrite = self.overwrite or bool((marker or {}).get("overwrite"))
            self._lock_.stamp()
            if marker is None:
                self._write_marker(partial)
            return True
        if not self.overwrite:
            self._unlock()
            raise FolderError(f"{partial}/ holds an interrupted run: continue it with --resume "
                              f"{self.shown}, or add {self.option} to start again")
        self._unlock()
        aside = partial.with_name(f"{partial.name}.old-{os.getpid()}")
        os.rename(partial, aside)
        shutil.rmtree(aside)
        self._create(partial)
        return False

    def _write_marker(self, folder: Path) -> None:
        write_marker(folder, self.kind, self.identity, self.overwrite)

    def _lock(self, folder: Path) -> bool:
        return self._lock_.acquire(folder)

    def _unlock(self) -> None:
        self._lock_.release()

    # --- finishing ----------------------------------------------------------------------

    def finish(self, remove: tuple[str, ...] = ()) -> Path:
        """Move OUT.partial to OUT (replacing an older OUT of this command only when allowed);
        `remove`: names inside OUT.partial to delete first (e.g. the checkpoint)."""
        self.comm.barrier()
        collective(self.comm, lambda: self._swap(remove))
        return self.final

    def _swap(self, remove: tuple[str, ...]) -> None:
        final, partial = self.final, self.path
        for name in remove:
            (partial / name).unlink(missing_ok=True)
        aside = None
        if final.exists() and not _is_empty_dir(final):
            if not (self.overwrite and made_by_spindiff(final, self.kind)):
                raise FolderError(f"{self.shown}/ appeared while this command ran; the new "
                                  f"results are kept in {partial}/")
            aside = final.with_name(f"{final.name}.replaced-{os.getpid()}")
            os.rename(final, aside)
        try:
            os.rename(partial, final)
        except OSError:
            if aside is not None:
                os.rename(aside, final)
            raise
        (final / LOCK).unlink(missing_ok=True)
        self._unlock()
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)

    def abort(self, status: str | None = None) -> Path:
        """Leave OUT.partial (with a STATUS note) and release the lock; rank 0 only acts."""
        if self.comm.rank == 0:
            if status is not None:
                try:
                    (self.path / "STATUS").write_text(status + "\n")
                except OSError:
                    pass
            self._unlock()
        return self.path

    def discard(self) -> None:
        """Remove OUT.partial: nothing worth keeping was written (rank 0 acts)."""
        if self.comm.rank == 0:
            self._unlock()
            shutil.rmtree(self.path, ignore_errors=True)


@contextmanager
def output_folder(out: str | Path, comm, kind: str, identity: dict[str, Any] | None = None,
                  overwrite: bool = False) -> Iterator[OutputFolder]:
    """An OutputFolder for a command that writes its files in one go: yields the claimed
    folder (write into `.path`), finishes it on success, removes it on any failure."""
    folder = OutputFolder(out, comm, kind, identity, overwrite=overwrite)
    try:
        yield folder
    except BaseException:
        folder.discard()
        raise
    folder.finish()


class SweepFolder:
    """OUT/ of a sweep, worked in place so that a sweep run again continues (finished variants
    are skipped). OUT/ must be new, empty, or a sweep folder of the same case and [sweep]
    table; another sweep's folder is replaced only with `overwrite`, and only once the new
    sweep has finished. Locked while the sweep runs."""

    def __init__(self, out: str | Path, comm, identity: dict[str, Any], overwrite: bool = False):
        self.shown = str(out)
        self.path = Path(os.path.abspath(out))
        self.comm, self.identity, self.overwrite = comm, identity, overwrite
        self._lock = FolderLock()
        self._aside: Path | None = None
        collective(comm, self._claim)

    def _claim(self) -> None:
        path = self.path
        if path.name in ("", ".", "..") or path == Path(path.anchor):
            raise FolderError(f"{self.shown}: not a usable output folder name")
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise FolderError(f"{self.shown} exists and is not a folder: choose another output "
                              "folder")
        if path.exists() and not _is_empty_dir(path):
            marker = read_marker(path)
            if marker is None or marker.get("kind") != "sweep":
                raise FolderError(f"{self.shown}/ exists and is not a spindiff sweep folder: "
                                  "nothing in it is touched; choose another output folder")
            if not self._lock.acquire(path):
                raise FolderError(f"{self.shown} is in use by another spindiff process")
            if marker.get("identity") == self.identity:
                self._lock.stamp()
                return
            self._lock.release()
            if not self.overwrite:
                raise FolderError(f"{self.shown}/ holds a sweep of another case (it differs in "
                                  f"{differences(marker.get('identity') or {}, self.identity)}): "
                                  "add --overwrite to replace it, or choose another output folder")
            self._aside = path.with_name(f"{path.name}.replaced-{os.getpid()}")
            os.rename(path, self._aside)
        path.mkdir(parents=True, exist_ok=True)
        if not self._lock.acquire(path):
            raise FolderError(f"{self.shown} is in use by another spindiff process")
        self._lock.stamp()
        write_marker(path, "sweep", self.identity, self.overwrite)

    def finish(self) -> None:
        """Release the folder; drop the sweep it replaced (rank 0 acts)."""
        if self.comm.rank == 0:
            (self.path / LOCK).unlink(missing_ok=True)
            self._lock.release()
            if self._aside is not None:
                shutil.rmtree(self._aside, ignore_errors=True)

    def release(self) -> None:
        """Release the lock after a failure (the folder is kept for a later continuation)."""
        if self.comm.rank == 0:
            self._lock.release()
