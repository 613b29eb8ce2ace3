"""The global stage of a fit: a space-filling design over the bounds, then local least squares
from its best distinct points, until the lowest chi-square has been reached twice.

1. Design: `starts` points of a scrambled Sobol sequence (scipy.stats.qmc, fixed seed, so a
   fit is reproducible) over the box of transformed bounds (log bounds for "log" parameters),
   plus the start values of the fit file; default starts = 2^ceil(log2(4 (k + 1))) for k
   free parameters (8 for one, 16 for two or three, 32 for four to seven). A fitted signal
   scale, being linear, is set at each point to its best value for the other parameters
   instead of sampled. Each point costs one model evaluation (one integration of every data
   set's case); over several MPI ranks the points are spread over the ranks.
2. Local fits (trust-region reflective least squares, `local_fit`) from the points of lowest
   chi-square, skipping points within 10 % of the range (in every parameter) of one already
   used: two at first (as many as there are ranks when they share the work), then one more
   at a time until two of them end at the same lowest chi-square (within 0.02 units of the
   noise), at most MAX_LOCAL_FITS.
3. When the lowest chi-square was reached by one local fit only, the result carries a
   warning: other, lower minima may exist (more starts with [fit] starts = N).

With starts = 0 there is no design: one local fit from the start values, as a plain local
least-squares fit would do.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from .problem import Problem

#: relative step of the finite-difference Jacobian in x (the model is integrated with
#: solver_rtol ~ 1e-7, so derivatives are accurate to ~1e-4)
DIFF_STEP = 1e-3
#: seed of the scrambled Sobol design
DESIGN_SEED = 20240917
#: most local fits of the global stage
MAX_LOCAL_FITS = 4
#: design points closer than this (a fraction of the range, in every parameter) to a start
#: already used are not used again
MIN_SEPARATION = 0.1
#: two chi-squares are the same minimum within SAME_MINIMUM units of the noise (plus 1e-3 of
#: its value)
SAME_MINIMUM = 0.02


@dataclass
class LocalRun:
    """One local least-squares fit: where it started (origin: "start", "design point 3",
    "profile of KEY"), where it ended, and what it cost."""
    origin: str
    x0: np.ndarray
    x: np.ndarray
    chi2: float
    evaluations: int
    status: int
    message: str
    success: bool


@dataclass
class SearchResult:
    """The global stage: its local fits (best first), the design's size and chi-squares, and
    whether the lowest chi-square was confirmed by two local fits."""
    runs: list[LocalRun]
    design_points: int
    design_chi2: list[float] = field(default_factory=list)
    confirmed: bool | None = None
    warning: str | None = None

    @property
    def best(self) -> LocalRun:
        return self.runs[0]


def auto_starts(k: int) -> int:
    """The default design size for k free parameters: 2^ceil(log2(4 (k + 1)))."""
    return 2 ** math.ceil(math.log2(4 * (k + 1)))


def design(problem: Problem, n: int) -> np.ndarray:
    """n points (rounded up to a power of two) of a scrambled Sobol sequence over the box of
    transformed bounds, shape (n, k)."""
    from scipy.stats import qmc
    k = len(problem.free)
    m = max(int(math.ceil(math.log2(max(n, 1)))), 0)
    unit = qmc.Sobol(d=k, scramble=True, seed=DESIGN_SEED).random_base2(m)
    return problem.lower + unit * (problem.upper - problem.lower)


def local_fit(problem: Problem, x0: np.ndarray, origin: str) -> LocalRun:
    """Trust-region reflective least squares from x0 within the bounds."""
    e0 = problem.evaluations
    x0 = np.clip(np.asarray(x0, dtype=float), problem.lower, problem.upper)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = least_squares(problem.residuals, x0, bounds=(problem.lower, problem.upper),
                            method="trf", jac="2-point", diff_step=DIFF_STEP, x_scale=1.0,
                            xtol=1e-6, ftol=1e-8, gtol=1e-8,
                            max_nfev=problem.spec.max_evaluations)
    return LocalRun(origin=origin, x0=x0, x=res.x, chi2=problem.chi2(res.x),
                    evaluations=problem.evaluations - e0, status=int(res.status),
                    message=str(res.message), success=bool(res.success))


def same_minimum(problem: Problem, a: float, best: float) -> bool:
    """Whether chi-square `a` is the minimum `best` again (within the tolerance)."""
    return a <= best + SAME_MINIMUM * problem.noise_scale(best) + 1e-3 * best


def global_search(problem: Problem, x_start: np.ndarray | None = None,
                  starts: int | None = None) -> SearchResult:
    """The global stage (module docstring); starts: design size (None: `auto_starts`; 0: one
    local fit from the start values)."""
    k = len(problem.free)
    x_start = np.zeros(k) if x_start is None else np.asarray(x_start, dtype=float)
    n = auto_starts(k) if starts is None else int(starts)
    if n <= 0:
        run = local_fit(problem, x_start, "start")
        return SearchResult(runs=[run], design_points=0)
    points = [x_start, *design(problem, n)]
    if any(p.key is None for p in problem.free):
        # a fitted signal scale is linear: each design point gets its best value
        points = problem.map_tasks(points, problem.with_best_scales)
    chi2 = [float(r @ r) for r in problem.residuals_many(points)]
    problem.log(f"global stage: {len(points) - 1} design points, chi2 from {min(chi2):.4g} "
                f"to {max(chi2):.4g} (start values: {chi2[0]:.4g})")
    origins = ["start"] + [f"design point {i}" for i in range(1, len(points))]
    order = [i for i in np.argsort(chi2, kind="stable") if math.isfinite(chi2[i])]
    span = np.where(problem.upper > problem.lower, problem.upper - problem.lower, 1.0)
    candidates: list[int] = []
    for i in order:
        if all(np.max(np.abs(points[i] - points[j]) / span) >= MIN_SEPARATION for j in candidates):
            candidates.append(i)
    runs: list[LocalRun] = []
    batch = max(2, problem.comm.size) if problem.parallel else 2
    while candidates and len(runs) < MAX_LOCAL_FITS:
        take, candidates = candidates[:batch], candidates[batch:]
        take = take[: MAX_LOCAL_FITS - len(runs)]
        runs += problem.map_tasks(take, lambda i: local_fit(problem, points[i], origins[i]))
        runs.sort(key=lambda r: r.chi2)
        if sum(same_minimum(problem, r.chi2, runs[0].chi2) for r in runs) >= 2:
            break
        batch = problem.comm.size if problem.parallel else 1
    for r in runs:
        problem.log(f"  local fit from the {r.origin}: chi2 = {r.chi2:.6g} after "
                    f"{r.evaluations} evaluations at {problem.show(problem.values(r.x))}")
    reached = sum(same_minimum(problem, r.chi2, runs[0].chi2) for r in runs)
    confirmed = reached >= 2
    warning = None
    if not confirmed:
        others = ", ".join(f"{r.chi2:.4g}" for r in runs[1:]) or "none"
        warning = (f"the lowest chi2 ({runs[0].chi2:.4g}) was reached by 1 of {len(runs)} local "
                   f"fits (the others ended at chi2 = {others}): lower minima may exist; more "
                   f"starts with [fit] starts = {2 * max(n, 1)}")
    return SearchResult(runs=runs, design_points=len(points) - 1, design_chi2=chi2,
                        confirmed=confirmed, warning=warning)
