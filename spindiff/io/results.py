"""The results folder of a run: a contract users script against.

    DIR/case.toml         the case file as run
    DIR/timeseries.csv    time_s, P_sample, P_visible[, P_<material>...], enhancement, stage
    DIR/summary.json      fits, final values, mesh and solver figures, versions (see docs)
    DIR/buildup.png       the averaged polarizations vs time
    DIR/fields/P.xdmf     the field P(x, t) at output times (when output.fields = true)
    DIR/profile.csv       time_s, r_nm, P: the radial profile, one row per (time, shell)

A run writes into DIR.partial/ and renames it to DIR/ only when it has finished, so a folder
without the suffix is always complete (see spindiff.io.folders for what may be replaced). Only
rank 0 touches files, except the collective XDMF and the checkpoint gather.
"""
from __future__ import annotations

import csv
import errno
import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpindiffError
from .folders import PARTIAL_SUFFIX, OutputFolder, collective  # noqa: F401 (re-export)


class DiskError(SpindiffError):
    """Writing the results folder failed (a full disk, a vanished folder); the folder and its
    last checkpoint are kept."""


class ResultsWriter:
    """Streams timeseries rows (flushed) into a claimed OutputFolder; `finish` moves it to DIR.

    Writes happen on rank 0; a failure there (a full disk) is broadcast so every rank raises
    the same DiskError and the run stops in step, leaving DIR.partial resumable."""

    def __init__(self, folder: OutputFolder, case_text: str, columns: Sequence[str] | None = None,
                 keep_rows: int | None = None, keep_extra: dict | None = None):
        """columns: of timeseries.csv, which is opened now, or by `start(columns)` when the
        columns are known (a Simulation's, at its observers' set-up); keep_rows: resume an
        interrupted run, keeping the first `keep_rows` rows of DIR.partial/timeseries.csv (and
        `keep_extra[name]` rows of the other CSVs)."""
        self.folder = folder
        self.final = folder.final
        self.path = folder.path
        self.comm = folder.comm
        self.root = self.comm.rank == 0
        self.columns: list[str] | None = None
        self._file = None
        self._extra: dict = {}
        self._extra_counts: dict = {}
        self._keep_extra = dict(keep_extra or {})
        self._case_text, self._keep_rows = case_text, keep_rows
        self.kept_rows: list = []
        if columns is not None:
            self.start(columns)

    def start(self, columns: Sequence[str]) -> None:
        """Open timeseries.csv with these columns (and write case.toml; on a resume, keep the
        first rows of the partial folder's file). Once: a second call does nothing."""
        if self.columns is not None:
            return
        self.columns = list(columns)
        case_text, keep_rows = self._case_text, self._keep_rows

        def open_files() -> list | None:
            kept = None
            (self.path / "STATUS").unlink(missing_ok=True)
            if keep_rows is None:
                (self.path / "checkpoint.h5").unlink(missing_ok=True)
                (self.path / "case.toml").write_text(case_text)
                self._file = open(self.path / "timeseries.csv", "w", newline="")
                self._csv = csv.writer(self._file)
                self._csv.writerow(self.columns)
            else:
                kept = _truncate(self.path / "timeseries.csv", keep_rows)
                self._file = open(self.path / "timeseries.csv", "a", newline="")
                self._csv = csv.writer(self._file)
            self._file.flush()
            return kept

        kept = self._collective(open_files, "starting the results folder")
        if keep_rows is not None:
            self.kept_rows = [[v if name == "stage" else float(v)
                               for name, v in zip(self.columns, row)] for row in kept]

    def _collective(self, fn, what: str):
        """fn() on rank 0; an OSError there raises DiskError on every rank."""
        return collective(self.comm, fn, f"{what} in {self.path}", DiskError)

    def row(self, values: Sequence[Any]) -> None:
        def write() -> None:
            self._csv.writerow([_fmt(v) for v in values])
            self._file.flush()
        self._collective(write, "writing timeseries.csv")

    def open_extra(self, name: str, columns: Sequence[str]) -> None:
        """Another streamed CSV in the results folder (rank 0)."""
        self._extra_counts[name] = self._keep_extra.get(name, 0)

        def open_file() -> None:
            if name in self._keep_extra:
                _truncate(self.path / name, self._keep_extra[name])
                f = open(self.path / name, "a", newline="")
                w = csv.writer(f)
            else:
                f = open(self.path / name, "w", newline="")
                w = csv.writer(f)
                w.writerow(list(columns))
            f.flush()
            self._extra[name] = (f, w)
        self._collective(open_file, f"opening {name}")

    def extra_row(self, name: str, values: Sequence[Any]) -> None:
        self._extra_counts[name] += 1

        def write() -> None:
            f, w = self._extra[name]
            w.writerow([_fmt(v) for v in values])
            f.flush()
        self._collective(write, f"writing {name}")

    def extra_rows_many(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        """Several rows of another CSV in one flushed write (counted one by one)."""
        self._extra_counts[name] += len(rows)

        def write() -> None:
            f, w = self._extra[name]
            w.writerows([[_fmt(v) for v in values] for values in rows])
            f.flush()
        self._collective(write, f"writing {name}")

    def extra_rows(self) -> dict:
        """Rows written so far to each extra CSV."""
        return dict(self._extra_counts)

    def write_json(self, name: str, data: dict) -> None:
        """Strict JSON (RFC 8259): NaN and infinities become null (see `strict_json`)."""
        self._collective(lambda: (self.path / name).write_text(dumps_json(data) + "\n"),
                         f"writing {name}")

    def write_file(self, name: str, write) -> None:
        """write(path) on rank 0 for another file of the folder (a plot)."""
        self._collective(lambda: write(self.path / name), f"writing {name}")

    def ensure_space(self, nbytes: int, what: str) -> None:
        """Raise DiskError on every rank unless the folder's device has nbytes free (for
        writers that cannot fail cleanly on a full disk, such as HDF5 through DOLFINx)."""
        def check() -> None:
            free = shutil.disk_usage(self.path).free
            if free < nbytes:
                raise OSError(errno.ENOSPC, f"{free} bytes free, {what} needs about {nbytes}",
                              str(self.path))
        self._collective(check, f"writing {what}")

    def close(self) -> None:
        if self.root:
            for f in [self._file, *(f for f, _ in self._extra.values())]:
                if f is not None and not f.closed:
                    try:
                        f.close()
                    except OSError:
                        pass

    def finish(self) -> Path:
        """Close files and move DIR.partial to DIR (the checkpoint is no longer needed)."""
        self.close()
        return self.folder.finish(remove=("checkpoint.h5",))

    def abort(self, reason: str) -> Path:
        """Leave DIR.partial with what was computed, a STATUS note, and release it."""
        self.close()
        return self.folder.abort(reason)


def strict_json(o: Any) -> Any:
    """A copy of `o` that json can write strictly: non-finite floats become None."""
    if isinstance(o, dict):
        return {k: strict_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [strict_json(v) for v in o]
    if isinstance(o, np.ndarray):
        return strict_json(o.tolist())
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def dumps_json(data: Any) -> str:
    return json.dumps(strict_json(data), indent=2, default=_json_default, allow_nan=False)


def _truncate(path: Path, nrows: int) -> list[list[str]]:
    """Keep the header and the first `nrows` data rows of a CSV; return those rows."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1: 1 + nrows]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(body)
    return body


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return repr(float(v)) if np.isfinite(v) else "nan"
    return v


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _csv_rows(path: str | Path, name: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV file, or of the file `name` in a results folder."""
    path = Path(path)
    if path.is_dir():
        path = path / name
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def read_timeseries(path: str | Path) -> dict[str, np.ndarray]:
    """Read a timeseries.csv (or a results folder) into column arrays (the stage column as str)."""
    header, body = _csv_rows(path, "timeseries.csv")
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        col = [r[j] for r in body]
        out[name] = np.array(col) if name == "stage" else np.array(col, dtype=float)
    return out


#: the columns of profile.csv (long format: one row per output time and shell)
PROFILE_COLUMNS = ("time_s", "r_nm", "P")


def read_profile(path: str | Path) -> dict[str, np.ndarray]:
    """profile.csv (or a results folder) as {"time_s": (m,), "r_nm": (k,), "P": (m, k)}: one
    row of P per output time (a time appears twice around a stage-start event, as in
    timeseries.csv). Reads the long format (time_s, r_nm, P) and the older wide one (time_s,
    r_<r>_nm, ...)."""
    header, body = _csv_rows(path, "profile.csv")
    if tuple(header) != PROFILE_COLUMNS:  # wide: r in the column names
        radii = np.array([float(h[2:-3]) for h in header[1:]])
        data = np.array(body, dtype=float).reshape(len(body), len(header))
        return {"time_s": data[:, 0], "r_nm": radii, "P": data[:, 1:]}
    data = np.array(body, dtype=float).reshape(len(body), 3)
    k = max(len(np.unique(data[:, 1])), 1)  # shells (the same radii at every time)
    m = len(data) // k
    data = data[: m * k]
    return {"time_s": data[::k, 0], "r_nm": data[:k, 1], "P": data[:, 2].reshape(m, k)}


def dataframe(result: Any, what: str = "timeseries"):
    """A pandas DataFrame of a RunResult's "timeseries", "profile" (long: time_s, r_nm, P) or
    "field" (x_nm, y_nm, z_nm, P). pandas is optional: ImportError in one line without it."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("RunResult.to_dataframe needs pandas (pip install pandas, or apt "
                          "install python3-pandas)") from None
    if what == "timeseries":
        return pd.DataFrame({k: np.asarray(v) for k, v in result.series.items()})
    if what == "profile":
        prof = result.profile
        if prof is None:
            raise ValueError("no radial profile in this result: the case had output.profile = "
                             "false (set it to true and run again), or its geometry has no "
                             "centres to take a profile around")
        m, k = prof["P"].shape
        return pd.DataFrame({"time_s": np.repeat(prof["time_s"], k),
                             "r_nm": np.tile(prof["r_nm"], m), "P": prof["P"].ravel()})
    if what == "field":
        if result.final_field is None or result.coordinates is None:
            raise ValueError("no final field in this result")
        x = np.asarray(result.coordinates)
        return pd.DataFrame({"x_nm": x[:, 0], "y_nm": x[:, 1], "z_nm": x[:, 2],
                             "P": np.asarray(result.final_field)})
    raise ValueError(f"to_dataframe({what!r}): allowed: 'timeseries', 'profile', 'field'")
