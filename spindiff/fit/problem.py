"""The problem of a fit: its data sets, their models and the parameter vector, with cached
(and, over MPI ranks, parallel) evaluations of the residuals.

The optimiser works on transformed parameters x: x = ln(v / v_start) for "log" parameters
(positive scale parameters: C6, D0, T1n, scales) and x = (v - v_start) / |v_start| for
"linear" ones, with the bounds transformed alike, so that every component of x is of order
one whatever the unit. Residuals are (model - data) / sigma (or model - data without
uncertainties). Every evaluation is kept (keyed by the exact x), so a point met twice (a
profile's start, a local fit's start taken from the design) costs nothing, and a resumed fit
replays its earlier evaluations from the results folder.

Over several MPI ranks, when every data set uses the 1D radial model (each rank integrates a
model alone), `residuals_many` spreads independent evaluations over the ranks; with a 3D model
the ranks integrate each model together and evaluations run one after the other.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import SpindiffError
from .model import DatasetModel, FreeParameter, free_parameters
from .spec import FitSpec

#: residual of every point at a trial point where a model fails to integrate (the step is
#: then rejected by the optimiser)
FAILED_RESIDUAL = 1e6


class Problem:
    """The data sets, their models and the parameter vector of a fit.

    comm: the communicator whose ranks share the work (default MPI.COMM_WORLD); record(x, r):
    called with every new evaluation (the results folder streams them to evaluations.csv)."""

    def __init__(self, spec: FitSpec, log: Callable[[str], None] | None = None, comm=None):
        if comm is None:
            from mpi4py import MPI
            comm = MPI.COMM_WORLD
        self.spec, self.comm = spec, comm
        self.log = log or (lambda s: None)
        self.models = [DatasetModel(spec, d, spec.parameters) for d in spec.datasets]
        self.by_name = {m.data.name: m for m in self.models}
        self.free = free_parameters(spec)
        self.evaluations = 0
        self.record: Callable[[np.ndarray, np.ndarray], None] | None = None
        self._cache: dict[bytes, np.ndarray] = {}
        self._best: tuple[float, np.ndarray] | None = None
        # a fitted signal scale starts at the best linear scale for the start values
        scales = {}
        for m in self.models:
            if m.data.fitted_scale:
                curve = m.curve(self.changes_for(m.data.name, self.start_values()))
                w = self.weights(m) ** 2
                den = float(np.sum(w * curve ** 2))
                s = float(np.sum(w * curve * m.data.value)) / den if den > 0 else 1.0
                scales[m.data.name] = s if s > 0 else 1.0
        if scales:
            self.free = free_parameters(spec, scales)
        self.lower = np.array([self.to_x(p, p.lower) for p in self.free])
        self.upper = np.array([self.to_x(p, p.upper) for p in self.free])
        self.npoints = sum(len(m.data.time_s) for m in self.models)
        #: every data set has uncertainties: chi-square is in units of the noise
        self.weighted = all(m.data.sigma is not None for m in self.models)
        #: evaluations can be spread over the ranks (every model integrated by one rank alone)
        self.parallel = comm.size > 1 and all(m.mesh_model == "radial" for m in self.models)

    # --- transforms ---------------------------------------------------------------------

    @staticmethod
    def to_x(p: FreeParameter, v: float) -> float:
        if p.transform == "log":
            return math.log(v / p.start)
        return (v - p.start) / _linear_scale(p)

    @staticmethod
    def to_value(p: FreeParameter, x: float) -> float:
        if p.transform == "log":
            return p.start * math.exp(x)
        return p.start + x * _linear_scale(p)

    @staticmethod
    def dvalue_dx(p: FreeParameter, x: float) -> float:
        return p.start * math.exp(x) if p.transform == "log" else _linear_scale(p)

    def start_values(self) -> np.ndarray:
        return np.array([p.start for p in self.free])

    def values(self, x: np.ndarray) -> np.ndarray:
        return np.array([self.to_value(p, xi) for p, xi in zip(self.free, x)])

    def x_of(self, values: Sequence[float]) -> np.ndarray:
        return np.array([self.to_x(p, v) for p, v in zip(self.free, values)])

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.free]

    def dof(self) -> int:
        return max(self.npoints - len(self.free), 1)

    # --- model ----------------------------------------------------------------------------

    def changes_for(self, dataset: str, values: np.ndarray) -> dict[str, Any]:
        return {p.key: p.case_value(v) for p, v in zip(self.free, values)
                if p.key is not None and dataset in p.datasets}

    def scale_for(self, dataset: str, values: np.ndarray) -> float:
        m = self.by_name[dataset]
        if m.data.quantity != "signal":
            return 1.0
        if m.data.scale is not None:
            return m.data.scale
        for p, v in zip(self.free, values):
            if p.key is None and p.datasets == [dataset]:
                return float(v)
        return 1.0

    def weights(self, m: DatasetModel) -> np.ndarray:
        return 1.0 / m.data.sigma if m.data.sigma is not None else np.ones_like(m.data.value)

    def predictions(self, values: np.ndarray) -> list[np.ndarray]:
        """The model at the measured times of every data set (scaled signals)."""
        return [self.scale_for(m.data.name, values) * m.curve(self.changes_for(m.data.name, values))
                for m in self.models]

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """Weighted residuals (model - data) / sigma of all data sets, concatenated."""
        x = np.asarray(x, dtype=float)
        key = x.tobytes()
        if key in self._cache:
            return self._cache[key]
        values = self.values(x)
        self.evaluations += 1
        try:
            preds = self.predictions(values)
            r = np.concatenate([(pr - m.data.value) * self.weights(m)
                                for pr, m in zip(preds, self.models)])
        except SpindiffError as exc:
            # an integration failure at a trial point: a large residual makes the step fail
            self.log(f"  model failed at {self.show(values)}: {exc}")
            r = np.full(self.npoints, FAILED_RESIDUAL)
        self.remember(x, r)
        return r

    def remember(self, x: np.ndarray, r: np.ndarray) -> None:
        """Keep an evaluation (computed here, on another rank, or read back on resume)."""
        x = np.asarray(x, dtype=float)
        key = x.tobytes()
        if key not in self._cache:
            self._cache[key] = r
            chi2 = float(r @ r)
            if self._best is None or chi2 < self._best[0]:
                self._best = (chi2, x.copy())
            if self.record is not None:
                self.record(x, r)

    def best_so_far(self) -> tuple[float, np.ndarray] | None:
        """(chi2, x) of the lowest chi-square evaluated so far (None before the first)."""
        return self._best

    def with_best_scales(self, x: np.ndarray) -> np.ndarray:
        """x with every fitted signal scale set to its best linear value for the other
        parameters, sum(w^2 y m) / sum(w^2 m^2) within its bounds (the curves are integrated
        once and kept, so the residuals at the new point cost nothing more)."""
        x = np.asarray(x, dtype=float).copy()
        values = self.values(x)
        for j, p in enumerate(self.free):
            if p.key is not None:
                continue
            m = self.by_name[p.datasets[0]]
            try:
                curve = m.curve(self.changes_for(m.data.name, values))
            except SpindiffError:
                continue
            w2 = self.weights(m) ** 2
            den = float(np.sum(w2 * curve ** 2))
            if den > 0:
                best = float(np.sum(w2 * curve * m.data.value)) / den
                if best > 0:
                    x[j] = min(max(self.to_x(p, best), self.lower[j]), self.upper[j])
        return x

    def chi2(self, x: np.ndarray) -> float:
        r = self.residuals(x)
        return float(r @ r)

    def residuals_many(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Residuals at several points: spread over the ranks when `parallel` (every rank
        gets every result), else one after the other."""
        xs = [np.asarray(x, dtype=float) for x in xs]
        if not self.parallel:
            return [self.residuals(x) for x in xs]
        comm = self.comm
        mine = {i: self.residuals(x) for i, x in enumerate(xs) if i % comm.size == comm.rank}
        merged: dict[int, np.ndarray] = {}
        for part in comm.allgather(mine):
            merged.update(part)
        for i, x in enumerate(xs):
            self.remember(x, merged[i])
        return [merged[i] for i in range(len(xs))]

    def map_tasks(self, tasks: Sequence[Any], run: Callable[[Any], Any]) -> list[Any]:
        """run(task) for every task, spread over the ranks when `parallel` (the evaluations
        each rank made are shared with all, so that later work reuses them)."""
        if not self.parallel:
            return [run(t) for t in tasks]
        comm = self.comm
        before = set(self._cache)
        mine = {i: run(t) for i, t in enumerate(tasks) if i % comm.size == comm.rank}
        new = [(np.frombuffer(k, dtype=float), v) for k, v in self._cache.items() if k not in before]
        merged: dict[int, Any] = {}
        for part, evaluated in comm.allgather((mine, new)):
            merged.update(part)
            for x, r in evaluated:
                self.remember(x, r)
        return [merged[i] for i in range(len(tasks))]

    def total_evaluations(self) -> int:
        """Model evaluations made so far on all ranks (every rank calls this together)."""
        return int(self.comm.allreduce(self.evaluations)) if self.parallel else self.evaluations

    def noise_scale(self, chi2: float) -> float:
        """What one unit of chi-square means: 1 with absolute uncertainties, else the reduced
        chi-square of the best fit (the scatter of the residuals sets the noise)."""
        if self.spec.absolute_sigma:
            return 1.0
        return max(chi2 / self.dof(), 1e-300)

    def show(self, values: np.ndarray) -> str:
        return ", ".join(f"{p.name} = {v:.4g}" for p, v in zip(self.free, values))


def _linear_scale(p: FreeParameter) -> float:
    return abs(p.start) if p.start != 0 else (p.upper - p.lower) / 10.0
