"""The results folder of a run: a contract users script against.

    DIR/case.toml         the case file as run
    DIR/timeseries.csv    time_s, P_sample, P_visible[, P_<material>...], enhancement, stage
    DIR/summary.json      fits, final values, mesh and solver figures, versions (see docs)
    DIR/buildup.png       the averaged polarizations vs time
    DIR/fields/P.xdmf     the field P(x, t) at output times (when output.fields = true)

A run writes into DIR.partial/ and renames it to DIR/ only when it has finished, so a folder
without the suffix is always complete. Only rank 0 touches files, except the collective XDMF.
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

PARTIAL_SUFFIX = ".partial"


class ResultsWriter:
    """Creates DIR.partial, streams timeseries rows (flushed), finalises by renaming."""

    def __init__(self, out_dir: str | Path, comm, case_text: str, columns: Sequence[str],
                 keep_rows: int | None = None, keep_extra: dict | None = None):
        """keep_rows: resume an interrupted run, keeping the first `keep_rows` rows of
        DIR.partial/timeseries.csv (and `keep_extra[name]` rows of the other CSVs)."""
        self.final = Path(out_dir)
        self.path = self.final.with_name(self.final.name + PARTIAL_SUFFIX)
        self.comm = comm
        self.root = comm.rank == 0
        self.columns = list(columns)
        self._file = None
        self._extra: dict = {}
        self._extra_counts: dict = {}
        self._keep_extra = dict(keep_extra or {})
        self.kept_rows: list = []
        kept = None
        if self.root:
            if keep_rows is None:
                if self.path.exists():
                    shutil.rmtree(self.path)
                self.path.mkdir(parents=True)
                (self.path / "case.toml").write_text(case_text)
                self._file = open(self.path / "timeseries.csv", "w", newline="")
                self._csv = csv.writer(self._file)
                self._csv.writerow(self.columns)
            else:
                (self.path / "STATUS").unlink(missing_ok=True)
                kept = _truncate(self.path / "timeseries.csv", keep_rows)
                self._file = open(self.path / "timeseries.csv", "a", newline="")
                self._csv = csv.writer(self._file)
            self._file.flush()
        if keep_rows is not None:
            kept = comm.bcast(kept, root=0)
            self.kept_rows = [[v if name == "stage" else float(v)
                               for name, v in zip(self.columns, row)] for row in kept]
        comm.barrier()

    def row(self, values: Sequence[Any]) -> None:
        if self.root:
            self._csv.writerow([_fmt(v) for v in values])
            self._file.flush()

    def open_extra(self, name: str, columns: Sequence[str]) -> None:
        """Another streamed CSV in the results folder (rank 0)."""
        self._extra_counts[name] = self._keep_extra.get(name, 0)
        if self.root:
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

    def extra_row(self, name: str, values: Sequence[Any]) -> None:
        self._extra_counts[name] += 1
        if self.root:
            f, w = self._extra[name]
            w.writerow([_fmt(v) for v in values])
            f.flush()

    def extra_rows(self) -> dict:
        """Rows written so far to each extra CSV."""
        return dict(self._extra_counts)

    def write_json(self, name: str, data: dict) -> None:
        if self.root:
            (self.path / name).write_text(json.dumps(data, indent=2, default=_json_default) + "\n")

    def finish(self) -> Path:
        """Close files and move DIR.partial to DIR (replacing an older DIR)."""
        self.comm.barrier()
        if self.root:
            self._file.close()
            for f, _ in self._extra.values():
                f.close()
            (self.path / "checkpoint.h5").unlink(missing_ok=True)
            if self.final.exists():
                shutil.rmtree(self.final)
            self.path.rename(self.final)
        self.comm.barrier()
        return self.final

    def abort(self, reason: str) -> Path:
        """Leave DIR.partial with what was computed and a status note."""
        if self.root and self._file is not None and not self._file.closed:
            self._file.close()
            (self.path / "STATUS").write_text(reason + "\n")
        return self.path


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
        return repr(v) if np.isfinite(v) else "nan"
    return v


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def read_timeseries(path: str | Path) -> dict[str, np.ndarray]:
    """Read a timeseries.csv (or a results folder) into column arrays (the stage column as str)."""
    path = Path(path)
    if path.is_dir():
        path = path / "timeseries.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        col = [r[j] for r in body]
        out[name] = np.array(col) if name == "stage" else np.array(col, dtype=float)
    return out
