"""Buildup-curve fits (docs/physics.md section 8).

    mono-exponential:     P(t) = P_inf - (P_inf - P_start) exp(-t / T_B)
    stretched exponential: P(t) = P_inf - (P_inf - P_start) exp(-(t / T_B)^beta)

t is measured from the stage start and P_start is the polarization there, so the fits also
describe decays (P_inf below P_start). Early buildup without diffusion grows as sqrt(t) (beta = 1/2).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit


def _mono(t, p_inf, tb, p_start):
    return p_inf - (p_inf - p_start) * np.exp(-t / tb)


def _stretched(t, p_inf, tb, beta, p_start):
    return p_inf - (p_inf - p_start) * np.exp(-np.power(t / tb, beta))


def fit_buildup(t: np.ndarray, p: np.ndarray, p_start: float | None = None) -> dict:
    """Fit both models to a curve starting at t[0] = 0; returns a dict of fitted parameters
    (T_B in s) and the rms residuals. Fits that fail are reported as None."""
    t = np.asarray(t, dtype=float)
    p = np.asarray(p, dtype=float)
    p_start = float(p[0]) if p_start is None else float(p_start)
    out: dict = {"mono": None, "stretched": None}
    if t.size < 4 or np.ptp(p) == 0:
        return out
    span = t[-1] - t[0]
    p_end = p[-1]
    # initial T_B from the time at which 63 % of the change is reached
    target = p_start + (1 - math.exp(-1)) * (p_end - p_start)
    idx = int(np.argmin(np.abs(p - target)))
    tb0 = max(t[idx], span * 1e-4)
    scale = max(abs(p_end - p_start), 1e-300)
    lo_p = min(p_start, p_end) - 10 * scale
    hi_p = max(p_start, p_end) + 10 * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            popt, _ = curve_fit(lambda tt, a, b: _mono(tt, a, b, p_start), t, p,
                                p0=[p_end, tb0], bounds=([lo_p, span * 1e-8], [hi_p, span * 1e4]),
                                maxfev=20000)
            res = p - _mono(t, *popt, p_start)
            out["mono"] = {"P_inf": float(popt[0]), "T_B_s": float(popt[1]),
                           "rms": float(np.sqrt(np.mean(res**2)))}
        except (RuntimeError, ValueError):
            pass
        try:
            popt, _ = curve_fit(lambda tt, a, b, c: _stretched(tt, a, b, c, p_start), t, p,
                                p0=[p_end, tb0, 0.8],
                                bounds=([lo_p, span * 1e-8, 0.05], [hi_p, span * 1e4, 3.0]),
                                maxfev=20000)
            res = p - _stretched(t, *popt, p_start)
            out["stretched"] = {"P_inf": float(popt[0]), "T_B_s": float(popt[1]),
                                "beta": float(popt[2]), "rms": float(np.sqrt(np.mean(res**2)))}
        except (RuntimeError, ValueError):
            pass
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
