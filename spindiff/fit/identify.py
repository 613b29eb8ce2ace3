"""Whether the data determine each fitted parameter, and chi-square profiles.

A parameter is **determined** when its 1-sigma interval is closed and small:

- its interval is the profile's (where Delta chi2 = 1 is crossed on both sides, the other
  parameters refitted at each point) when a profile was computed, else the standard error's
  v * exp(+-sigma_x) (log parameters) or v +- stderr;
- small: a half-width of at most 0.5 in ln v (the interval within a factor e^0.5 = 1.65 of
  the value each way) for log parameters; for linear ones at most half the value or 5 % of
  the bound range;
- and it is not at a bound, it has an effect on the data, and no other minimum the global
  stage found within Delta chi2 < 1 lies outside the interval.

A profile is computed automatically (unless [fit] auto_profile = false) where the standard
error is doubtful: a correlation above CORRELATION_LIMIT with another parameter, a
near-singular Jacobian, or a relative standard error above 25 % (the linear approximation is
poor). A correlation is reported as information, never as a reason on its own.

Profiles: asked ones (--profile KEY, [fit] profile) scan `profile_points` values over +-3
standard errors (the whole bounds when that is wider), extended outward while Delta chi2 stays
below 1 short of a bound; automatic ones look for the two Delta chi2 = 1 crossings only, from
one standard error out, doubling the step. A profile point with a chi-square lower than the
optimum's is a better fit: `profiles` returns it and the fit restarts from there.
"""
from __future__ import annotations

import math
import time

import numpy as np
from scipy.optimize import least_squares

from ..errors import SpindiffError
from .problem import Problem
from .search import DIFF_STEP, SAME_MINIMUM
from .solve import FitOutcome

#: |correlation| above which the standard error is checked by a profile
CORRELATION_LIMIT = 0.95
#: |correlation| above which it is reported (information only)
CORRELATION_NOTE = 0.8
CONDITION_LIMIT = 1e8
BOUND_TOLERANCE = 1e-3
#: a parameter whose unit change of x (a factor e for "log" parameters) moves the weighted
#: residuals by less than this (in units of the noise: chi-square by < 0.01) has practically
#: no effect on the data
NO_EFFECT = 0.1
#: largest half-width of a determined parameter's interval: in ln v for log parameters, as a
#: fraction of the value for linear ones (or LINEAR_RANGE of the bound range)
HALF_WIDTH = 0.5
LINEAR_RANGE = 0.05
#: relative standard error above which the linear interval is checked by a profile
DOUBTFUL_STDERR = 0.25
#: a profile looks no further than this many steps to each side
MAX_SIDE_POINTS = 8


def needs_profile(problem: Problem, out: FitOutcome) -> list[str]:
    """The parameters whose standard error is doubtful (see the module docstring)."""
    names = problem.names
    sx = _sigma_x(out)
    norms, noise = _effect(problem, out)
    wanted = []
    for j in range(len(names)):
        if norms[j] <= NO_EFFECT * noise or _bound(problem, out, j):
            continue
        if not math.isfinite(sx[j]) or sx[j] > 10.0:
            continue  # clearly undetermined: a profile would be flat
        corr = max((abs(out.correlation[j, i]) for i in range(len(names)) if i != j), default=0)
        singular = out.condition > CONDITION_LIMIT and abs(out.weakest[j]) > 0.3
        if corr > CORRELATION_LIMIT or singular or _relative(problem, out, j) > DOUBTFUL_STDERR:
            wanted.append(names[j])
    return wanted


def verdicts(problem: Problem, out: FitOutcome, auto_profile: bool = True) -> None:
    """Fill out.flags (reasons a parameter is not determined), out.notes (information) and
    out.intervals (the 1-sigma interval and what it comes from), from the standard errors and
    the profiles in out.profiles."""
    names = problem.names
    norms, noise = _effect(problem, out)
    doubtful = set(needs_profile(problem, out))
    scale = problem.noise_scale(out.chi2)
    out.flags, out.notes, out.intervals = [], [], []
    for j, p in enumerate(problem.free):
        flags: list[str] = []
        notes: list[str] = []
        if norms[j] <= NO_EFFECT * noise:
            flags.append(f"practically no effect on the data (|dr/dx| = {norms[j] / noise:.2g})")
        bound = _bound(problem, out, j)
        if bound:
            flags.append(bound)
        prof = out.profiles.get(names[j])
        if prof is not None:
            lo, hi = prof["interval"]
            basis = "profile"
            first, last = prof["values"][0], prof["values"][-1]
            if lo is None and hi is None:
                flags.append(f"profile open on both sides (delta chi2 < 1 from {first:.4g} to "
                             f"{last:.4g}{_unit(p)})")
            elif lo is None:
                flags.append(f"profile open below (delta chi2 < 1 down to {first:.4g}{_unit(p)}: "
                             "only an upper limit is known)")
            elif hi is None:
                flags.append(f"profile open above (delta chi2 < 1 up to {last:.4g}{_unit(p)}: "
                             "only a lower limit is known)")
            elif not _small(problem, j, lo, hi):
                flags.append(f"interval {lo:.4g} ... {hi:.4g}{_unit(p)} (profile) is wide")
        else:
            basis = "standard error"
            lo, hi = _linear_interval(problem, out, j)
            if lo is None:
                flags.append("no finite standard error")
            elif not _small(problem, j, lo, hi):
                flags.append(f"standard error {out.stderr[j]:.2g}{_unit(p)} "
                             f"({100 * _relative(problem, out, j):.2g} %) is large")
            elif names[j] in doubtful and not auto_profile:
                flags.append("the standard error is doubtful (correlation or a near-singular "
                             f"Jacobian): check with --profile {names[j]}")
        for run in out.search.runs[1:]:
            d = (run.chi2 - out.chi2) / scale
            xv = problem.to_value(p, run.x[j])
            if d < 1.0 and lo is not None and hi is not None and not lo <= xv <= hi:
                flags.append(f"another minimum (delta chi2 = {max(d, 0):.2g}) at {xv:.4g}{_unit(p)}")
                break
        for i in np.argsort(-np.abs(out.correlation[j])):
            if i != j and abs(out.correlation[j, i]) > CORRELATION_NOTE:
                notes.append(f"correlation {out.correlation[j, i]:+.3f} with {names[i]}")
        if out.condition > CONDITION_LIMIT and abs(out.weakest[j]) > 0.3:
            notes.append(f"near-singular Jacobian (condition {out.condition:.2g})")
        out.flags.append(flags)
        out.notes.append(notes)
        out.intervals.append({"basis": basis, "interval": [lo, hi]})


def _unit(p) -> str:
    return f" {p.unit}" if p.unit else ""


def _sigma_x(out: FitOutcome) -> np.ndarray:
    d = np.diag(out.cov_x)
    return np.where(np.isfinite(d), np.sqrt(np.clip(d, 0, None)), np.inf)


def _effect(problem: Problem, out: FitOutcome) -> tuple[np.ndarray, float]:
    """|dr/dx| per parameter and the noise of the weighted residuals (1 with absolute sigma,
    else the fit's own scatter)."""
    return np.linalg.norm(out.J, axis=0), math.sqrt(problem.noise_scale(out.chi2))


def _bound(problem: Problem, out: FitOutcome, j: int) -> str:
    p = problem.free[j]
    if out.x[j] - problem.lower[j] < BOUND_TOLERANCE:
        return f"at its lower bound ({p.lower:.4g}{_unit(p)})"
    if problem.upper[j] - out.x[j] < BOUND_TOLERANCE:
        return f"at its upper bound ({p.upper:.4g}{_unit(p)})"
    return ""


def _relative(problem: Problem, out: FitOutcome, j: int) -> float:
    """sigma_x for log parameters, stderr / |value| for linear ones."""
    if problem.free[j].transform == "log":
        return float(_sigma_x(out)[j])
    v = abs(out.values[j])
    return float(out.stderr[j] / v) if v > 0 else math.inf


def _linear_interval(problem: Problem, out: FitOutcome, j: int):
    p, v = problem.free[j], float(out.values[j])
    if p.transform == "log":
        sx = float(_sigma_x(out)[j])
        if not sx < 50:
            return None, None
        return v * math.exp(-sx), v * math.exp(sx)
    e = float(out.stderr[j])
    return (v - e, v + e) if math.isfinite(e) else (None, None)


def _small(problem: Problem, j: int, lo: float, hi: float) -> bool:
    p = problem.free[j]
    if p.transform == "log":
        return 0.5 * math.log(hi / lo) <= HALF_WIDTH
    half = 0.5 * (hi - lo)
    centre = 0.5 * (hi + lo)
    return half <= HALF_WIDTH * abs(centre) or half <= LINEAR_RANGE * (p.upper - p.lower)


# --- profiles ---------------------------------------------------------------------------

def profiles(problem: Problem, best: FitOutcome, asked: list[str], auto: list[str],
             points: int) -> dict[str, dict]:
    """The chi-square profiles of the parameters `asked` (a grid of `points` values) and
    `auto` (the Delta chi2 = 1 crossings only); both sides of each are independent tasks,
    spread over the MPI ranks when the models allow it."""
    names = problem.names
    for n in [*asked, *auto]:
        if n not in names:
            raise SpindiffError(f"--profile {n}: not a fitted parameter; the parameters are "
                                + ", ".join(names))
    wanted = list(dict.fromkeys([*asked, *[a for a in auto if a not in asked]]))
    t0 = time.perf_counter()
    tasks = [(n, side, n in asked) for n in wanted for side in (-1, +1)]

    def run(task):
        before = problem.evaluations
        pts = _side(problem, best, names.index(task[0]), task[1], points if task[2] else None)
        return pts, problem.evaluations - before
    sides = problem.map_tasks(tasks, run)
    out = {}
    for n in wanted:
        k = names.index(n)
        (left, e_left), (right, e_right) = (sides[tasks.index((n, s, n in asked))]
                                            for s in (-1, +1))
        pts = [*reversed(left), (best.x.copy(), best.chi2), *right]
        out[n] = _summarise(problem, best, k, pts, "grid" if n in asked else "crossings")
        out[n]["evaluations"] = e_left + e_right
    wall = time.perf_counter() - t0
    for n in wanted:
        out[n]["wall_time_s"] = wall / len(wanted)
    return out


def _side(problem: Problem, best: FitOutcome, k: int, side: int, points: int | None
          ) -> list[tuple[np.ndarray, float]]:
    """Profile points on one side of the optimum: (full x, chi2). points: a grid of that many
    values over both sides (+-3 stderr or the bounds), else the Delta chi2 = 1 crossing only.
    Stops at a point below the optimum's chi-square (the fit restarts from there)."""
    lo, hi = problem.lower[k], problem.upper[k]
    end = hi if side > 0 else lo
    x_hat = best.x[k]
    if abs(end - x_hat) < 1e-12:
        return []
    sx = float(_sigma_x(best)[k])
    scale = problem.noise_scale(best.chi2)
    others = [i for i in range(len(best.x)) if i != k]
    first = sx if math.isfinite(sx) and sx > 0 else 0.1 * (hi - lo)
    if points is not None:
        half = 3 * sx if math.isfinite(sx) and 6 * sx < hi - lo else abs(end - x_hat)
        steps = max((points - 1) // 2, 1)
        grid = [x_hat + side * half * (i + 1) / steps for i in range(steps)]
    else:
        grid = [x_hat + side * first]
    out: list[tuple[np.ndarray, float]] = []
    warm = best.x.copy()

    def visit(t: float) -> float:
        nonlocal warm
        full = _refit(problem, best, k, t, warm, others)
        out.append((full, float(problem.chi2(full))))
        warm = full
        return (out[-1][1] - best.chi2) / scale

    def clip(t: float) -> float:
        return min(max(t, lo), hi)
    delta = 0.0
    for t in grid:
        delta = visit(clip(t))
        if delta < -SAME_MINIMUM or abs(clip(t) - end) < 1e-12:
            return out
    step = abs(grid[-1] - x_hat) / max(len(grid), 1)
    extra = 0
    while delta < 1.0 and abs(out[-1][0][k] - end) > 1e-12 and extra < MAX_SIDE_POINTS:
        step *= 2
        delta = visit(clip(out[-1][0][k] + side * step))
        extra += 1
        if delta < -SAME_MINIMUM:
            return out
    if points is None and delta > 2.0:
        # the crossing lies between the last two points (or the optimum and the first):
        # one more point where the straight line between them crosses 1
        x1, d1 = out[-1][0][k], delta
        x0, d0 = (out[-2][0][k], (out[-2][1] - best.chi2) / scale) if len(out) > 1 else (x_hat, 0.0)
        visit(clip(_cross(x0, x1, d0, d1)))
    return out


def _refit(problem: Problem, best: FitOutcome, k: int, xk: float, warm: np.ndarray,
           others: list[int]) -> np.ndarray:
    """The other parameters refitted with parameter k fixed at xk (warm start: the linear
    prediction from the covariance)."""
    full = warm.copy()
    if np.isfinite(best.cov_x[k, k]) and best.cov_x[k, k] > 0:
        slope = best.cov_x[others, k] / best.cov_x[k, k]
        if np.all(np.isfinite(slope)):
            full[others] = full[others] + slope * (xk - warm[k])
    full[k] = xk
    if not others:
        return full
    lo, hi = problem.lower[others], problem.upper[others]
    y0 = np.clip(full[others], lo, hi)

    def fun(y: np.ndarray) -> np.ndarray:
        z = full.copy()
        z[others] = y
        return problem.residuals(z)
    res = least_squares(fun, y0, bounds=(lo, hi), method="trf", diff_step=DIFF_STEP,
                        xtol=1e-5, ftol=1e-6, max_nfev=problem.spec.max_evaluations)
    full[others] = res.x
    return full


def _summarise(problem: Problem, best: FitOutcome, k: int, pts: list, mode: str) -> dict:
    """The profile as values, chi2, delta chi2 (units of the noise), its 1-sigma interval
    (None on an open side) and the lowest point when it is below the optimum."""
    p = problem.free[k]
    pts = sorted(pts, key=lambda q: q[0][k])
    xs = np.array([q[0][k] for q in pts])
    chi2 = np.array([q[1] for q in pts])
    scale = problem.noise_scale(best.chi2)
    delta = (chi2 - best.chi2) / scale
    centre = int(np.argmin(np.abs(xs - best.x[k])))
    lo = hi = None
    for i in range(centre + 1, len(xs)):
        if delta[i] >= 1.0:
            hi = _cross(xs[i - 1], xs[i], delta[i - 1], delta[i])
            break
    for i in range(centre - 1, -1, -1):
        if delta[i] >= 1.0:
            lo = _cross(xs[i + 1], xs[i], delta[i + 1], delta[i])
            break
    lower = None
    j = int(np.argmin(chi2))
    if delta[j] < -SAME_MINIMUM:
        lower = {"x": pts[j][0].tolist(), "chi2": float(chi2[j]),
                 "value": problem.to_value(p, xs[j])}
    return {"parameter": p.name, "unit": p.unit, "mode": mode,
            "values": [problem.to_value(p, x) for x in xs], "chi2": chi2.tolist(),
            "delta_chi2": delta.tolist(),
            "interval": [problem.to_value(p, lo) if lo is not None else None,
                         problem.to_value(p, hi) if hi is not None else None],
            "determined": lo is not None and hi is not None, "lower": lower}


def _cross(x0: float, x1: float, d0: float, d1: float) -> float:
    """Where Delta chi2 = 1 between (x0, d0 < 1) and (x1, d1 >= 1), linearly in
    sqrt(Delta chi2) (exact for a parabola)."""
    a, b = math.sqrt(max(d0, 0.0)), math.sqrt(max(d1, 0.0))
    if b == a:
        return x1
    return x0 + (1.0 - a) * (x1 - x0) / (b - a)
