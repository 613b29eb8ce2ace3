"""Ensembles of electron frequency offsets (and pairs) to average over, with weights.

The EPR line of the agent (`agents.lineshape`) is sampled only where something can happen:
near the microwave (saturation, Delta ~ 0) and at the solid-effect conditions (Delta ~ +-omega_n);
for pairs, near the cross-effect matching |Delta_2 - Delta_1| ~ omega_n with one partner
saturated. Each window uses a Lorentzian-adapted rule Delta = c + Gamma tan(u) with
Gauss-Legendre nodes in u, so that resonances of width Gamma are integrated accurately with few
nodes. Electrons outside every window contribute nothing to k (microwaves change neither their
rate nor their target) and are not sampled. Discrete lines (Mn(II)) are used as they are.
Offsets are rotating-frame Delta = omega_e - omega_mw = eps - mw_offset (rad/s).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .agents import Conditions, PolarizingAgent, lineshape
from .model import SpinParams


@dataclass(frozen=True)
class OffsetSet:
    """Single-electron offsets Delta (m,) in rad/s with weights (fraction of electrons)."""

    delta: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True)
class PairSet:
    """Electron pairs: offsets of the nucleus-coupled electron (delta1) and of its partner
    (delta2), rad/s, with weights (fraction of centres)."""

    delta1: np.ndarray
    delta2: np.ndarray
    weight: np.ndarray


def tan_window(center: float, gamma: float, half_range: float, n: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of int_{c-h}^{c+h} f(x) dx with x = c + gamma tan(u)."""
    x, w = np.polynomial.legendre.leggauss(n)
    um = np.arctan(half_range / gamma)
    u = um * x
    return center + gamma * np.tan(u), gamma / np.cos(u) ** 2 * um * w


def saturation_width(params: SpinParams) -> float:
    """Power-broadened half width of the electron line, (1/T2e) sqrt(1 + omega1^2 T1e T2e)."""
    return np.sqrt(1.0 + params.omega1**2 * params.t1e * params.t2e) / params.t2e


def single_offsets(agent: PolarizingAgent, cond: Conditions, params: SpinParams,
                   n_window: int = 12) -> OffsetSet:
    """Electron offsets for the e-n (solid effect) average."""
    ls = lineshape(agent, cond)
    x = cond.mw_offset
    if ls.density is None:
        eps = np.array([l[0] for l in ls.lines])
        return OffsetSet(eps - x, np.array([l[1] for l in ls.lines]))
    wn = params.omega_n
    nodes, weights = [], []
    for c, gam in ((0.0, saturation_width(params)), (wn, 1.0 / params.t2e),
                   (-wn, 1.0 / params.t2e)):
        d, w = tan_window(c, gam, 0.5 * wn, n_window)
        nodes.append(d)
        weights.append(w * ls(d + x))
    d, w = np.concatenate(nodes), np.concatenate(weights)
    keep = w > 1e-12 * w.max() if w.max() > 0 else np.zeros_like(w, bool)
    return OffsetSet(d[keep], w[keep])


def pair_offsets(agent: PolarizingAgent, cond: Conditions, params: SpinParams,
                 d_max: float = 0.0, n_window: int = 6, n_delta: int = 8,
                 ensemble: str = "line") -> PairSet:
    """Electron pairs for the e-e-n (cross effect) average.

    ensemble:
        "line": discrete lines -> all ordered pairs of lines (Mn(II): 36 pairs of 1/36);
            continuous line -> windows where e1 (coupled to the nucleus) or its partner e2 is
            saturated (|Delta| within a power-broadened width + |d_ee|) and
            Delta2 - Delta1 = +-(omega_n + delta) with delta near 0; weights g(eps1) g(eps2).
        "matched": one ideal pair Delta1 = 0, Delta2 = +omega_n (weight 1), the Karabanov
            configuration (a per-matched-pair upper bound).
    """
    wn = params.omega_n
    if ensemble == "matched":
        return PairSet(np.array([0.0]), np.array([wn]), np.array([1.0]))
    if ensemble != "line":
        raise ValueError("ensemble must be 'line' or 'matched'")
    ls = lineshape(agent, cond)
    x = cond.mw_offset
    if ls.density is None:
        eps = np.array([l[0] for l in ls.lines])
        w = np.array([l[1] for l in ls.lines])
        e1, e2 = np.meshgrid(eps, eps, indexing="ij")
        return PairSet((e1 - x).ravel(), (e2 - x).ravel(), np.outer(w, w).ravel())
    g_sat = saturation_width(params) + abs(d_max)
    g_d = 2.0 / params.t2e + abs(d_max)
    ds, ws = tan_window(0.0, g_sat, 0.25 * wn, n_window)
    dd, wd = tan_window(0.0, g_d, 0.25 * wn, n_delta)
    a, b = np.meshgrid(ds, dd, indexing="ij")
    wa, wb = np.meshgrid(ws, wd, indexing="ij")
    d1l, d2l, wl = [], [], []
    for s in (1.0, -1.0):
        # case (a): e1 saturated, partner matched
        d1, d2 = a.ravel(), a.ravel() + s * (wn + b.ravel())
        d1l.append(d1), d2l.append(d2), wl.append((wa * wb).ravel() * ls(d1 + x) * ls(d2 + x))
        # case (b): partner saturated, e1 matched
        d2, d1 = a.ravel(), a.ravel() - s * (wn + b.ravel())
        d1l.append(d1), d2l.append(d2), wl.append((wa * wb).ravel() * ls(d1 + x) * ls(d2 + x))
    d1, d2, w = (np.concatenate(v) for v in (d1l, d2l, wl))
    keep = w > 1e-12 * w.max() if w.max() > 0 else np.zeros_like(w, bool)
    return PairSet(d1[keep], d2[keep], w[keep])
