"""Least-squares fit of the models of several data sets (scipy.optimize.least_squares).

The optimiser works on transformed parameters x: x = ln(v / v_start) for "log" parameters
(positive scale parameters: C6, D0, T1n, scales) and x = (v - v_start) / |v_start| for
"linear" ones, with the bounds transformed alike (trust-region reflective, method "trf"), so
every component of x is of order one whatever the unit. Residuals are (model - data) / sigma
(or model - data without uncertainties). The covariance of x is (J^T J)^-1 from a central-
difference Jacobian at the optimum, multiplied by the reduced chi-square unless the
uncertainties are absolute; standard errors of the values follow by the delta method.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy.optimize import least_squares

from ..errors import SpindiffError
from .model import DatasetModel, FreeParameter, free_parameters
from .spec import FitSpec

#: relative step of the finite-difference Jacobian in x (the model is integrated with
#: solver_rtol ~ 1e-7, so derivatives are accurate to ~1e-4)
DIFF_STEP = 1e-3
#: identifiability thresholds
CORRELATION_LIMIT = 0.95
CONDITION_LIMIT = 1e8
BOUND_TOLERANCE = 1e-3
#: a parameter whose unit change of x (a factor e for "log" parameters) moves the weighted
#: residuals by less than this (in units of the noise: chi-square by < 0.01) has practically
#: no effect on the data
NO_EFFECT = 0.1


class Problem:
    """The data sets, their models and the parameter vector of a fit."""

    def __init__(self, spec: FitSpec, log: Callable[[str], None] | None = None):
        self.spec = spec
        self.log = log or (lambda s: None)
        self.models = [DatasetModel(spec, d, spec.parameters) for d in spec.datasets]
        self.by_name = {m.data.name: m for m in self.models}
        self.free = free_parameters(spec)
        self.evaluations = 0
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
        values = self.values(x)
        self.evaluations += 1
        try:
            preds = self.predictions(values)
        except SpindiffError as exc:
            # an integration failure at a trial point: a large residual makes the step fail
            self.log(f"  model failed at {self._show(values)}: {exc}")
            return np.full(self.npoints, 1e6)
        return np.concatenate([(pr - m.data.value) * self.weights(m)
                               for pr, m in zip(preds, self.models)])

    def _show(self, values: np.ndarray) -> str:
        return ", ".join(f"{p.name} = {v:.4g}" for p, v in zip(self.free, values))


def _linear_scale(p: FreeParameter) -> float:
    return abs(p.start) if p.start != 0 else (p.upper - p.lower) / 10.0


# --- the fit ------------------------------------------------------------------------------

@dataclass
class FitOutcome:
    """What `solve` found (values in each parameter's unit)."""
    x: np.ndarray
    values: np.ndarray
    stderr: np.ndarray
    correlation: np.ndarray
    cov_x: np.ndarray
    chi2: float
    dof: int
    reduced_chi2: float
    rms: float
    evaluations: int
    wall_time_s: float
    status: str
    message: str
    success: bool
    condition: float
    flags: list[list[str]]
    residuals: np.ndarray
    profiles: dict[str, dict] = field(default_factory=dict)


def solve(problem: Problem, x0: np.ndarray | None = None) -> FitOutcome:
    """Fit, then the covariance and the identifiability flags at the optimum."""
    t0 = time.perf_counter()
    start_eval = problem.evaluations
    x0 = np.zeros(len(problem.free)) if x0 is None else np.asarray(x0, dtype=float)
    problem.predictions(problem.values(x0))  # a failure at the start values is an error
    res = least_squares(problem.residuals, x0, bounds=(problem.lower, problem.upper),
                        method="trf", jac="2-point", diff_step=DIFF_STEP, x_scale=1.0,
                        xtol=1e-6, ftol=1e-8, gtol=1e-8,
                        max_nfev=problem.spec.max_evaluations)
    x = res.x
    r = problem.residuals(x)
    J = jacobian(problem, x, r)
    chi2 = float(r @ r)
    n, k = len(r), len(x)
    dof = max(n - k, 1)
    red = chi2 / dof
    cov_x, cond, null = covariance(J)
    if not problem.spec.absolute_sigma:
        cov_x = cov_x * red
    sx = np.sqrt(np.clip(np.diag(cov_x), 0, None))
    values = problem.values(x)
    stderr = np.array([abs(problem.dvalue_dx(p, xi)) * s for p, xi, s in zip(problem.free, x, sx)])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov_x / np.outer(sx, sx)
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 1.0)
    flags = identifiability(problem, x, values, stderr, corr, J, cond, null)
    status = {True: "converged", False: "not converged"}[bool(res.success)]
    if res.status == 0:
        status = "max_evaluations reached"
    raw = np.concatenate([(pr - m.data.value) for pr, m in
                          zip(problem.predictions(values), problem.models)])
    return FitOutcome(x=x, values=values, stderr=stderr, correlation=corr, cov_x=cov_x,
                      chi2=chi2, dof=dof, reduced_chi2=red, rms=float(np.sqrt(np.mean(raw ** 2))),
                      evaluations=problem.evaluations - start_eval,
                      wall_time_s=time.perf_counter() - t0, status=status,
                      message=str(res.message), success=bool(res.success), condition=cond,
                      flags=flags, residuals=r)


def jacobian(problem: Problem, x: np.ndarray, r0: np.ndarray) -> np.ndarray:
    """d residuals / d x by central differences of step DIFF_STEP (one-sided at a bound)."""
    J = np.empty((len(r0), len(x)))
    for j in range(len(x)):
        h = DIFF_STEP * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        if up[j] > problem.upper[j]:
            J[:, j] = (r0 - problem.residuals(down)) / h
        elif down[j] < problem.lower[j]:
            J[:, j] = (problem.residuals(up) - r0) / h
        else:
            J[:, j] = (problem.residuals(up) - problem.residuals(down)) / (2 * h)
    return J


def covariance(J: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(J^T J)^-1 (a pseudo-inverse on the well-conditioned subspace), the condition number
    of the column-normalised J^T J, and its weakest direction (unit vector)."""
    A = J.T @ J
    d = np.sqrt(np.diag(A))
    d_safe = np.where(d > 0, d, 1.0)
    C = A / np.outer(d_safe, d_safe)
    w, V = np.linalg.eigh(C)
    wmax = max(float(w[-1]), 1e-300)
    cond = wmax / max(float(w[0]), 1e-300 * wmax) if w[0] > 0 else math.inf
    keep = w > wmax / 1e14
    Cinv = (V[:, keep] / w[keep]) @ V[:, keep].T
    cov = Cinv / np.outer(d_safe, d_safe)
    cov[:, d == 0] = np.inf
    cov[d == 0, :] = np.inf
    return cov, cond, V[:, 0]


def identifiability(problem: Problem, x: np.ndarray, values: np.ndarray, stderr: np.ndarray,
                    corr: np.ndarray, J: np.ndarray, cond: float, null: np.ndarray
                    ) -> list[list[str]]:
    """For each parameter, the reasons it is not determined by the data (empty: determined)."""
    flags: list[list[str]] = [[] for _ in x]
    norms = np.linalg.norm(J, axis=0)
    # noise level of the weighted residuals: 1 for absolute sigma, else the fit's own scatter
    r = problem.residuals(x)
    noise = 1.0 if problem.spec.absolute_sigma else max(
        math.sqrt(float(r @ r) / max(len(r) - len(x), 1)), 1e-300)
    names = [p.name for p in problem.free]
    for j, p in enumerate(problem.free):
        if norms[j] <= NO_EFFECT * noise:
            flags[j].append(f"practically no effect on the data (|dr/dx| = {norms[j] / noise:.2g})")
            continue
        if cond > CONDITION_LIMIT and abs(null[j]) > 0.3:
            others = [names[i] for i in np.argsort(-np.abs(null)) if i != j and abs(null[i]) > 0.3]
            flags[j].append(f"near-singular Jacobian (condition {cond:.2g}"
                            + (f", with {', '.join(others)})" if others else ")"))
        high = [(abs(corr[j, i]), names[i]) for i in range(len(x))
                if i != j and abs(corr[j, i]) > CORRELATION_LIMIT]
        if high:
            c, other = max(high)
            flags[j].append(f"correlation {corr[j, names.index(other)]:+.3f} with {other}")
        if not np.isfinite(stderr[j]) or stderr[j] > abs(values[j]):
            flags[j].append("stderr larger than the value")
        if x[j] - problem.lower[j] < BOUND_TOLERANCE:
            flags[j].append(f"at its lower bound ({p.lower:.4g})")
        elif problem.upper[j] - x[j] < BOUND_TOLERANCE:
            flags[j].append(f"at its upper bound ({p.upper:.4g})")
    return flags


def profile(problem: Problem, best: FitOutcome, name: str, points: int = 11,
            log: Callable[[str], None] | None = None) -> dict:
    """Chi-square profile of parameter `name`: the other parameters refitted at each of
    `points` fixed values (+-3 stderr about the optimum, or the whole bound range when the
    stderr is larger than that). delta_chi2 is relative to the optimum, in units of the
    reduced chi-square when the uncertainties are not absolute; `determined` is true when it
    exceeds 1 on both sides within the range scanned."""
    names = [p.name for p in problem.free]
    if name not in names:
        raise SpindiffError(f"--profile {name}: not a fitted parameter; the parameters are "
                            + ", ".join(names))
    k = names.index(name)
    lo, hi = problem.lower[k], problem.upper[k]
    sx = math.sqrt(best.cov_x[k, k]) if np.isfinite(best.cov_x[k, k]) else math.inf
    if 6 * sx < hi - lo:
        a, b = max(lo, best.x[k] - 3 * sx), min(hi, best.x[k] + 3 * sx)
    else:
        a, b = lo, hi
    grid = np.unique(np.concatenate([np.linspace(a, b, points), [best.x[k]]]))
    others = [i for i in range(len(best.x)) if i != k]
    chi2 = np.empty(len(grid))
    centre = int(np.argmin(np.abs(grid - best.x[k])))
    t0 = time.perf_counter()
    e0 = problem.evaluations
    norm = 1.0 if problem.spec.absolute_sigma else best.reduced_chi2
    for order in (range(centre, len(grid)), range(centre - 1, -1, -1)):
        warm = best.x[others].copy()
        for g in order:
            def fun(y: np.ndarray, g=g) -> np.ndarray:
                full = np.empty(len(best.x))
                full[k] = grid[g]
                full[others] = y
                return problem.residuals(full)
            if others:
                res = least_squares(fun, warm, bounds=(problem.lower[others], problem.upper[others]),
                                    method="trf", diff_step=DIFF_STEP, xtol=1e-5, ftol=1e-6,
                                    max_nfev=problem.spec.max_evaluations)
                warm = res.x
                r = res.fun
            else:
                r = fun(np.empty(0))
            chi2[g] = float(r @ r)
            if log:
                log(f"  profile {name} = {problem.to_value(problem.free[k], grid[g]):.4g}: "
                    f"delta chi2 = {(chi2[g] - best.chi2) / norm:.3g}")
    delta = (chi2 - min(best.chi2, chi2.min())) / norm
    left, right = delta[: centre + 1], delta[centre:]
    determined = bool(left.max() > 1.0 and right.max() > 1.0)
    p = problem.free[k]
    return {"parameter": name, "unit": p.unit,
            "values": [problem.to_value(p, g) for g in grid], "chi2": chi2.tolist(),
            "delta_chi2": delta.tolist(), "determined": determined,
            "evaluations": problem.evaluations - e0, "wall_time_s": time.perf_counter() - t0}
