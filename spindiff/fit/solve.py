"""Least-squares fit of the models of several data sets: the global stage and local fits
(spindiff.fit.search), then the covariance and the goodness of fit at the optimum.

The covariance of the transformed parameters x is (J^T J)^-1 from a central-difference
Jacobian at the optimum, multiplied by the reduced chi-square unless the uncertainties are
absolute; standard errors of the values follow by the delta method. Without uncertainties
(unweighted residuals in the data's units) chi-square is a sum of squares in those units: the
goodness of fit is then the residual rms in the data's units, its fraction of the data range
and R^2, never a "reduced chi-square". Whether the data determine each parameter is decided
by spindiff.fit.identify.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .problem import Problem
from .search import DIFF_STEP, LocalRun, SearchResult, global_search, local_fit

__all__ = ["FitOutcome", "Problem", "solve", "refit_from", "outcome_at", "jacobian",
           "covariance", "DIFF_STEP"]


@dataclass
class FitOutcome:
    """What `solve` found (values in each parameter's unit). flags: per parameter the
    reasons it is not determined (empty: determined); notes: information (correlations)."""
    x: np.ndarray
    values: np.ndarray
    stderr: np.ndarray
    correlation: np.ndarray
    cov_x: np.ndarray
    chi2: float
    dof: int
    reduced_chi2: float | None
    rms: float
    goodness: dict
    evaluations: int
    wall_time_s: float
    status: str
    message: str
    success: bool
    condition: float
    weakest: np.ndarray
    J: np.ndarray
    residuals: np.ndarray
    search: SearchResult
    flags: list[list[str]] = field(default_factory=list)
    notes: list[list[str]] = field(default_factory=list)
    intervals: list[dict] = field(default_factory=list)
    profiles: dict[str, dict] = field(default_factory=dict)
    restarts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def solve(problem: Problem, x0: np.ndarray | None = None, starts: int | None = None
          ) -> FitOutcome:
    """The global stage (`starts` design points; 0: a local fit from x0 only), then the
    covariance and goodness of fit at the lowest chi-square found."""
    t0 = time.perf_counter()
    e0 = problem.total_evaluations()
    x0 = np.zeros(len(problem.free)) if x0 is None else np.asarray(x0, dtype=float)
    problem.predictions(problem.values(x0))  # a failure at the start values is an error
    search = global_search(problem, x0, problem.spec.starts if starts is None else starts)
    return outcome_at(problem, search, t0, e0)


def refit_from(problem: Problem, best: FitOutcome, x0: np.ndarray, origin: str) -> FitOutcome:
    """A local fit from x0 (a point where a profile found a lower chi-square), as the new
    optimum; the earlier local fits are kept in its search record."""
    t0 = time.perf_counter() - best.wall_time_s
    e0 = problem.total_evaluations() - best.evaluations
    run = local_fit(problem, x0, origin)
    search = best.search
    runs = sorted([run, *search.runs], key=lambda r: r.chi2)
    new = SearchResult(runs=runs, design_points=search.design_points,
                       design_chi2=search.design_chi2, confirmed=search.confirmed,
                       warning=search.warning if runs[0] is not run else None)
    out = outcome_at(problem, new, t0, e0)
    out.restarts = [*best.restarts, origin]
    return out


def outcome_at(problem: Problem, search: SearchResult, t0: float, e0: int) -> FitOutcome:
    """Covariance, standard errors, correlation and goodness of fit at search.best."""
    best: LocalRun = search.best
    x = best.x
    r = problem.residuals(x)
    J = jacobian(problem, x, r)
    chi2 = float(r @ r)
    dof = problem.dof()
    red = chi2 / dof
    cov_x, cond, weakest = covariance(J)
    if not problem.spec.absolute_sigma:
        cov_x = cov_x * red
    sx = np.sqrt(np.clip(np.diag(cov_x), 0, None))
    values = problem.values(x)
    stderr = np.array([abs(problem.dvalue_dx(p, xi)) * s for p, xi, s in zip(problem.free, x, sx)])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov_x / np.outer(sx, sx)
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 1.0)
    status = "converged" if best.success else "not converged"
    if best.status == 0:
        status = "max_evaluations reached"
    good = goodness(problem, values, chi2)
    out = FitOutcome(x=x, values=values, stderr=stderr, correlation=corr, cov_x=cov_x,
                     chi2=chi2, dof=dof, reduced_chi2=red if problem.weighted else None,
                     rms=good["residual_rms"], goodness=good,
                     evaluations=problem.total_evaluations() - e0,
                     wall_time_s=time.perf_counter() - t0, status=status, message=best.message,
                     success=best.success, condition=cond, weakest=weakest, J=J, residuals=r,
                     search=search)
    if search.warning:
        out.warnings.append(search.warning)
    return out


def goodness(problem: Problem, values: np.ndarray, chi2: float) -> dict:
    """Scale-free and data-unit measures of the fit: residual rms (data units), its fraction
    of the data range, R^2 = 1 - SS_res / SS_tot (SS_tot about each data set's mean), and,
    with uncertainties, chi2 / dof."""
    raw, rel, ss_tot = [], [], 0.0
    for m, pr in zip(problem.models, problem.predictions(values)):
        y = m.data.value
        d = pr - y
        raw.append(d)
        span = float(np.ptp(y)) or max(float(np.max(np.abs(y))), 1e-300)
        rel.append(d / span)
        ss_tot += float(np.sum((y - y.mean()) ** 2))
    raw_all, rel_all = np.concatenate(raw), np.concatenate(rel)
    ss = float(raw_all @ raw_all)
    out = {"residual_rms": float(np.sqrt(np.mean(raw_all ** 2))),
           "relative_rms": float(np.sqrt(np.mean(rel_all ** 2))),
           "r_squared": 1.0 - ss / ss_tot if ss_tot > 0 else None,
           "weighted": problem.weighted}
    if problem.weighted:
        out["reduced_chi2"] = chi2 / problem.dof()
    else:
        out["noise_estimate"] = math.sqrt(ss / problem.dof())
    return out


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
