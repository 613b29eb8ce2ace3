"""Fits of the averaged curves of one protocol stage, by DNP conventions (docs/reference/results.md).

t is measured from the stage start and P_start is the polarization there.

Buildups (the source acts): the buildup time T_B and the plateau P_inf of

    mono-exponential:      P(t) = P_inf - (P_inf - P_start) exp(-t / T_B)
    stretched exponential: P(t) = P_inf - (P_inf - P_start) exp(-(t / T_B)^beta)
    bi-exponential:        P(t) = P_inf - (P_inf - P_start) [a exp(-t / T_fast) + (1 - a) exp(-t / T_slow)]

each with standard errors (the covariance of the least-squares fit scaled by its residual
variance: the curves are computed, not measured, so these describe how well the shape fits,
not noise). A model is *determined* when every parameter has a relative standard error of at
most 50 % (bi-exponential: also 0.02 <= a <= 0.98 and T_slow >= 1.5 T_fast). The *preferred*
model is chosen by the corrected Akaike information criterion,
AICc = n ln(RSS' / n) + 2 k + 2 k (k + 1) / (n - k - 1), where RSS' adds to the residual sum
of squares n noise^2 with noise the larger of the curve's own accuracy (the integrator's
atol + rtol |P|) and MEASUREMENT_NOISE = 1 % of the change over the stage: computed curves
are smoother than any measurement, and a shape is preferred only for a difference that a
buildup measured with a signal-to-noise ratio of 100 would show. The stretched model
replaces the mono one when it is determined and lowers AICc by more than 10, and the
bi-exponential one replaces the better of these two alike (a difference above 10 leaves
essentially no support for the other model).

Decays and relaxations with the source off: T1 toward the thermal polarization P0 (the end
value fixed, not fitted): P(t) = P0 + (P_start - P0) exp(-t / T1), with its standard error;
and the initial T1 from the slope at the start, T1_initial = (P_start - P0) / (-dP/dt)(0)
(a straight line through the points of the first 5 % of the change, at least three), which
needs no plateau. `approach` is how far the stage got: (P_start - P_end) / (P_start - P0).

Resurgences (HypRes: a stage that saturates the visible region, source off): the recovery of
the visible polarization, mono and stretched with a free end value, and its peak.

Early buildup without diffusion grows as sqrt(t) (beta = 1/2).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

#: most relative standard error of a determined parameter
DETERMINED = 0.5
#: AICc difference needed to prefer a more complex model
AICC_MARGIN = 10.0
#: the smallest noise the model choice assumes, as a fraction of the change over the stage
MEASUREMENT_NOISE = 0.01
#: the initial slope of a decay: the points of the first INITIAL_FRACTION of the change
INITIAL_FRACTION = 0.05


def _mono(t, p_inf, tb, p_start):
    return p_inf - (p_inf - p_start) * np.exp(-t / tb)


def _stretched(t, p_inf, tb, beta, p_start):
    return p_inf - (p_inf - p_start) * np.exp(-np.power(t / tb, beta))


def _bi(t, p_inf, t_fast, t_slow, a, p_start):
    return p_inf - (p_inf - p_start) * (a * np.exp(-t / t_fast) + (1 - a) * np.exp(-t / t_slow))


def _fit(f, t, p, p0, lo, hi):
    """(parameters, standard errors, residuals) of curve_fit, or None when it fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            popt, pcov = curve_fit(f, t, p, p0=np.clip(p0, lo, hi), bounds=(lo, hi),
                                   maxfev=20000)
        except (RuntimeError, ValueError):
            return None
    err = np.sqrt(np.clip(np.diag(pcov), 0, None)) if np.all(np.isfinite(pcov)) else \
        np.full(len(popt), np.inf)
    return popt, err, p - f(t, *popt)


def _aicc(res: np.ndarray, k: int, noise: float) -> float:
    n = len(res)
    rss = float(res @ res) + n * noise ** 2
    if n - k - 1 <= 0 or rss <= 0:
        return math.inf
    return n * math.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


def _relative_ok(values, errors) -> bool:
    return bool(all(math.isfinite(e) and abs(e) <= DETERMINED * abs(v)
                    for v, e in zip(values, errors)))


def _start_guess(t: np.ndarray, p: np.ndarray, p_start: float) -> float:
    """T_B from the time at which 63 % of the change is reached."""
    target = p_start + (1 - math.exp(-1)) * (p[-1] - p_start)
    idx = int(np.argmin(np.abs(p - target)))
    return max(float(t[idx]), (t[-1] - t[0]) * 1e-4)


def fit_buildup(t: np.ndarray, p: np.ndarray, p_start: float | None = None,
                noise: float = 0.0) -> dict:
    """Mono, stretched and bi-exponential fits of a curve starting at t[0] = 0 (module
    docstring): {"mono", "stretched", "bi" (each None when the fit fails), "preferred",
    "aicc"}; noise: the curve's own accuracy (for the model choice; at least
    MEASUREMENT_NOISE of the change)."""
    t = np.asarray(t, dtype=float)
    p = np.asarray(p, dtype=float)
    p_start = float(p[0]) if p_start is None else float(p_start)
    out: dict = {"mono": None, "stretched": None, "bi": None, "preferred": None, "aicc": {}}
    if t.size < 4 or np.ptp(p) == 0:
        return out
    noise = max(noise, MEASUREMENT_NOISE * float(np.ptp(p)))
    span = t[-1] - t[0]
    tb0 = _start_guess(t, p, p_start)
    scale = max(abs(p[-1] - p_start), 1e-300)
    lo_p, hi_p = min(p_start, p[-1]) - 10 * scale, max(p_start, p[-1]) + 10 * scale
    tlo, thi = span * 1e-8, span * 1e4
    m = _fit(lambda tt, a, b: _mono(tt, a, b, p_start), t, p, [p[-1], tb0],
             [lo_p, tlo], [hi_p, thi])
    if m is not None:
        (pi, tb), (epi, etb), res = m
        out["mono"] = {"P_inf": float(pi), "T_B_s": float(tb), "P_inf_stderr": float(epi),
                       "T_B_stderr_s": float(etb), "rms": float(np.sqrt(np.mean(res ** 2))),
                       "determined": _relative_ok([pi - p_start, tb], [epi, etb])}
        out["aicc"]["mono"] = _aicc(res, 2, noise)
        tb0 = float(tb)
    s = _fit(lambda tt, a, b, c: _stretched(tt, a, b, c, p_start), t, p, [p[-1], tb0, 0.8],
             [lo_p, tlo, 0.05], [hi_p, thi, 3.0])
    if s is not None:
        (pi, tb, beta), (epi, etb, ebeta), res = s
        out["stretched"] = {"P_inf": float(pi), "T_B_s": float(tb), "beta": float(beta),
                            "P_inf_stderr": float(epi), "T_B_stderr_s": float(etb),
                            "beta_stderr": float(ebeta), "rms": float(np.sqrt(np.mean(res ** 2))),
                            "determined": bool(_relative_ok([pi - p_start, tb, beta],
                                                            [epi, etb, ebeta]) and 0.06 < beta < 2.95)}
        out["aicc"]["stretched"] = _aicc(res, 3, noise)
    if t.size >= 8:
        b = _fit(lambda tt, a, f, sl, w: _bi(tt, a, f, sl, w, p_start), t, p,
                 [p[-1], tb0 / 4, tb0 * 2, 0.4], [lo_p, tlo, tlo, 0.0], [hi_p, thi, thi, 1.0])
        if b is not None:
            (pi, tf, tsl, a), (epi, etf, etsl, ea), res = b
            if tf > tsl:
                tf, tsl, etf, etsl, a = tsl, tf, etsl, etf, 1 - a
            out["bi"] = {"P_inf": float(pi), "T_B_fast_s": float(tf), "T_B_slow_s": float(tsl),
                         "fraction_fast": float(a), "P_inf_stderr": float(epi),
                         "T_B_fast_stderr_s": float(etf), "T_B_slow_stderr_s": float(etsl),
                         "fraction_fast_stderr": float(ea),
                         "rms": float(np.sqrt(np.mean(res ** 2))),
                         "determined": bool(_relative_ok([pi - p_start, tf, tsl, a],
                                                         [epi, etf, etsl, ea])
                                            and 0.02 <= a <= 0.98 and tsl >= 1.5 * tf)}
            out["aicc"]["bi"] = _aicc(res, 4, noise)
    out["preferred"] = preferred(out)
    return out


def preferred(fit: dict) -> str | None:
    """The model the data support (module docstring): mono unless a determined more complex
    one lowers AICc by more than AICC_MARGIN."""
    aicc = fit.get("aicc") or {}
    best = "mono" if fit.get("mono") and fit["mono"]["determined"] else None
    for name in ("stretched", "bi"):
        f = fit.get(name)
        if not f or not f["determined"]:
            continue
        if best is None or aicc[name] < aicc[best] - AICC_MARGIN:
            best = name
    return best


def fit_decay(t: np.ndarray, p: np.ndarray, p_target: float, noise: float = 0.0) -> dict:
    """T1 toward p_target (the thermal polarization; end value fixed) and the initial T1
    (module docstring): {"T1": {...}, "initial": {...}, "approach"}."""
    t = np.asarray(t, dtype=float)
    p = np.asarray(p, dtype=float)
    p_start = float(p[0])
    gap = p_start - p_target
    out: dict = {"T1": None, "initial": None, "P_target": float(p_target),
                 "approach": float((p_start - p[-1]) / gap) if gap != 0 else None}
    if t.size < 4 or gap == 0:
        return out
    span = t[-1] - t[0]
    # a first guess from the overall decay (a stage that barely moves gives a long T1)
    frac = (p[-1] - p_target) / gap
    t1_0 = span / -math.log(frac) if 0 < frac < 1 else span
    f = _fit(lambda tt, t1: p_target + gap * np.exp(-tt / t1), t, p, [t1_0],
             [span * 1e-8], [span * 1e8])
    if f is not None:
        (t1,), (et1,), res = f
        out["T1"] = {"T1_s": float(t1), "T1_stderr_s": float(et1),
                     "rms": float(np.sqrt(np.mean(res ** 2))),
                     "determined": _relative_ok([t1], [et1])}
    # the initial slope: points within the first INITIAL_FRACTION of the change (>= 3)
    change = np.abs(p - p_start)
    total = max(float(change.max()), 1e-300)
    n = max(int(np.sum(change <= INITIAL_FRACTION * total)), 3)
    n = min(n, t.size)
    tt, pp = t[:n], p[:n]
    if n >= 3 and np.ptp(tt) > 0:
        A = np.column_stack([np.ones(n), tt - tt[0]])
        coef, *_ = np.linalg.lstsq(A, pp, rcond=None)
        res = pp - A @ coef
        dof = max(n - 2, 1)
        cov = np.linalg.pinv(A.T @ A) * float(res @ res + n * noise ** 2) / dof
        slope, eslope = float(coef[1]), float(math.sqrt(max(cov[1, 1], 0.0)))
        if slope != 0 and np.sign(slope) == -np.sign(gap):
            t1 = -gap / slope
            out["initial"] = {"slope_per_s": slope, "slope_stderr_per_s": eslope,
                              "T1_s": float(t1), "T1_stderr_s": float(abs(t1) * eslope / abs(slope)),
                              "points": n, "determined": _relative_ok([slope], [eslope])}
    return out


def fit_resurgence(t: np.ndarray, p: np.ndarray, noise: float = 0.0) -> dict:
    """The recovery of the visible polarization after a saturation: mono and stretched fits
    with a free end value (the resurgence time T_R_s with T_R_stderr_s, P_inf, beta), the
    preferred one, and the peak {P, time_s}."""
    t = np.asarray(t, dtype=float)
    p = np.asarray(p, dtype=float)
    out = fit_buildup(t, p, noise=noise)
    out.pop("bi", None)
    out["aicc"].pop("bi", None)
    out["preferred"] = preferred(out)
    for name in ("mono", "stretched"):
        f = out.get(name)
        if f:  # the resurgence time T_R, not a buildup time
            f["T_R_s"], f["T_R_stderr_s"] = f.pop("T_B_s"), f.pop("T_B_stderr_s")
    i = int(np.argmax(np.abs(p - p[0])))
    out["peak"] = {"P": float(p[i]), "time_s": float(t[i])}
    return out


def time_to_fraction(t: np.ndarray, p: np.ndarray, fraction: float) -> float | None:
    """First time at which P - P(0) reaches `fraction` of its final change (linear interpolation)."""
    t = np.asarray(t, dtype=float)
    p = np.asarray(p, dtype=float)
    change = p - p[0]
    goal = fraction * change[-1]
    if change[-1] == 0:
        return None
    reached = np.nonzero(change * np.sign(goal) >= abs(goal))[0]
    if reached.size == 0:
        return None
    i = int(reached[0])
    if i == 0:
        return float(t[0])
    c0, c1 = change[i - 1], change[i]
    return float(t[i - 1] + (goal - c0) / (c1 - c0) * (t[i] - t[i - 1]))
