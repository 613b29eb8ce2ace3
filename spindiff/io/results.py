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

    def __init__(self, out_dir: str | Path, comm, case_text: str, columns: Sequence[str]):
        self.final = Path(out_dir)
        self.path = self.final.with_name(self.final.name + PARTIAL_SUFFIX)
        self.comm = comm
        self.root = comm.rank == 0
        self.columns = list(columns)
        self._file = None
        if self.root:
            if self.path.exists():
                shutil.rmtree(self.path)
            self.path.mkdir(parents=True)
            (self.path / "case.toml").write_text(case_text)
            self._file = open(self.path / "timeseries.csv", "w", newline="")
            self._csv = csv.writer(self._file)
            self._csv.writerow(self.columns)
            self._file.flush()
        comm.barrier()

    def row(self, values: Sequence[Any]) -> None:
        if self.root:
            self._csv.writerow([_fmt(v) for v in values])
            self._file.flush()

    def write_json(self, name: str, data: dict) -> None:
        if self.root:
            (self.path / name).write_text(json.dumps(data, indent=2, default=_json_default) + "\n")

    def finish(self) -> Path:
        """Close files and move DIR.partial to DIR (replacing an older DIR)."""
        self.comm.barrier()
        if self.root:
            self._file.close()
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
