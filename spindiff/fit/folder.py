"""The results folder of a fit, claimed before the first model evaluation, and written at the
end (`write_outputs`: fit.json, fit.png, fitted cases, points, profiles).

OUT.partial/evaluations.csv receives every model evaluation as it is made (rank 0, flushed
row by row): the parameter values, chi2, and the exact transformed point x and residual
vector. An interrupted fit (Ctrl-C, SIGTERM) leaves OUT.partial/ with that file and a STATUS
note naming the best point so far; `spindiff fit FIT --resume OUT` reads the evaluations back,
so the fit retraces its steps without integrating again (the optimiser is deterministic) and
continues where it stopped. The folder's identity is the fit file and the content of every data
and case file: a resume with any of them changed is refused.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from ..io.folders import OutputFolder
from ..io.results import dumps_json
from .problem import Problem
from .report import write_fitted_cases, write_points, write_profile

EVALUATIONS = "evaluations.csv"


def identity(problem: Problem) -> dict:
    """What makes two fits the same: the fit file's text and every data and case file."""
    spec = problem.spec
    out = {"fit": spec.name, "fit_file": str(spec.path.resolve()),
           "fit_file:sha256": hashlib.sha256(spec.text.encode()).hexdigest()}
    for d in spec.datasets:
        for what, path in (("data", d.data_path), ("case", d.case_path)):
            try:
                out[f"{d.name}.{what}:sha256"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                out[f"{d.name}.{what}:sha256"] = None
    return out


class FitFolder:
    """OUT.partial/ of a fit: claimed (or resumed) at once, evaluations streamed into it,
    finished or left with a STATUS note."""

    def __init__(self, problem: Problem, out: str | Path, overwrite: bool = False,
                 resume: bool = False):
        self.problem, self.comm = problem, problem.comm
        self.folder = OutputFolder(out, problem.comm, "fit", identity(problem),
                                   overwrite=overwrite, resume=resume)
        self.path, self.out = self.folder.path, Path(out)
        self.replayed = 0
        if self.folder.resumed:
            self.replayed = self._read_back()
        self._file = None
        if self.comm.rank == 0:
            exists = (self.path / EVALUATIONS).is_file()
            self._file = open(self.path / EVALUATIONS, "a" if exists else "w", newline="")
            self._csv = csv.writer(self._file)
            if not exists:
                self._csv.writerow([*(f"value_{n}" for n in problem.names), "chi2", "x",
                                    "residuals"])
                self._file.flush()
        problem.record = self.record

    def record(self, x: np.ndarray, r: np.ndarray) -> None:
        """One evaluation (rank 0 writes)."""
        if self._file is None:
            return
        values = self.problem.values(x)
        self._csv.writerow([*(repr(float(v)) for v in values), repr(float(r @ r)),
                            " ".join(repr(float(v)) for v in x),
                            " ".join(repr(float(v)) for v in r)])
        self._file.flush()

    def _read_back(self) -> int:
        """The evaluations of the interrupted fit, into the problem's cache (every rank)."""
        rows = None
        if self.comm.rank == 0:
            rows = []
            path = self.path / EVALUATIONS
            if path.is_file():
                with open(path, newline="") as f:
                    for row in list(csv.reader(f))[1:]:
                        try:
                            x = np.array([float(v) for v in row[-2].split()])
                            r = np.array([float(v) for v in row[-1].split()])
                        except (ValueError, IndexError):
                            continue  # a row cut short by the interruption
                        if len(x) == len(self.problem.free) and len(r) == self.problem.npoints:
                            rows.append((x, r))
        rows = self.comm.bcast(rows, root=0)
        record, self.problem.record = self.problem.record, None
        for x, r in rows:
            self.problem.remember(x, r)
        self.problem.record = record
        return len(rows)

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()

    def finish(self) -> Path:
        self.close()
        self.problem.record = None
        return self.folder.finish()

    def leave(self, exc: BaseException, fit_file: str) -> str | None:
        """After an interruption or error: keep OUT.partial with a STATUS note when it holds
        evaluations, else remove it. Returns the note (None when the folder was removed)."""
        self.close()
        self.problem.record = None
        best = self.problem.best_so_far()
        kept = self.comm.bcast(self.comm.rank == 0 and (self.path / EVALUATIONS).is_file()
                               and best is not None, root=0)
        if not kept:
            self.folder.discard()
            return None
        chi2, x = best
        what = (f"interrupted ({type(exc).__name__})" if isinstance(exc, KeyboardInterrupt)
                else f"stopped by an error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        note = (f"fit {what} after {self.problem.evaluations} model evaluations; the lowest chi2 so "
                f"far is {chi2:.6g} at {self.problem.show(self.problem.values(x))}; "
                f"{EVALUATIONS} keeps every evaluation; continue with: spindiff fit {fit_file} "
                f"--resume {self.folder.shown}")
        self.folder.abort(note)
        return note


def write_outputs(result, folder, plots: bool = True) -> Path:
    """Write the results into the claimed fit folder (spindiff.fit.folder.FitFolder) and
    move it to its final name."""
    problem = result.problem
    if problem.comm.rank == 0:
        path = folder.path
        (path / "fit.json").write_text(dumps_json(result.data) + "\n")
        (path / "fit.toml").write_text(problem.spec.text)
        write_fitted_cases(problem, result.outcome, path)
        write_points(problem, result.outcome, path / "fit_points.csv")
        conds = next(iter(result.data["datasets"].values()))["conditions"]
        for prof in result.data["profiles"].values():
            write_profile(prof, path, conds)
        if plots:
            from .plots import plot_fit  # matplotlib only when a figure is drawn
            plot_fit(problem, result.data, result.curves, path / "fit.png")
    return folder.finish()
