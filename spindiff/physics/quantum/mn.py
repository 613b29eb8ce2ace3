"""Mn(II) cross effect driven by the isotropic 55Mn hyperfine interaction (Livni et al. 2025).

Each Mn(II) central transition (m_S = -1/2 <-> +1/2) is an effective spin-1/2 whose frequency is
shifted by m_I A_iso, m_I in {+-1/2, +-3/2, +-5/2} with equal probability (Livni Eq. 2: the
55Mn spin enters only as a static field on its own electron). Two such electrons on adjacent
lines differ by A_iso; when A_iso ~ omega_n (229 MHz vs omega_n(7Li) = 233 MHz at 14.1 T) the CE
matching |omega_e1 - omega_e2| = omega_n holds up to the mismatch delta = A_iso - omega_n,
independent of orientation. Irradiating an inner line saturates electrons whose neighbours
lie on both sides (opposite CE signs cancel); at the outermost lines only one neighbour exists,
so a net CE adds to the solid effect there.

Functions: `sweep_profile` (enhancement vs microwave offset, e-n and e-e-n), `mismatch_scan`
(CE enhancement vs delta), `matching_fraction` (fraction of pairs meeting the condition).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..constants import nuclear_larmor, nuclear_thermal_polarization
from .agents import Conditions, PolarizingAgent, central_transition_fraction, flipflop_scale, lineshape, spin_params
from .couplings import ee_dipolar_from_angle, hyperfine_from_angle
from .model import SpinBatch
from .operators import SpinSystem
from .powder import gauss_legendre_cos
from .solve import solve_on_off

TWO_PI = 2.0 * np.pi


@dataclass
class SweepProfile:
    """Nuclear enhancement eps = P_n(mw on) / P_n(thermal) vs microwave offset.

    Attributes:
        mw_offset: microwave frequency minus the reference electron frequency (rad/s).
        eps_en: e-n (solid effect only), averaged over lines and orientations.
        eps_een: e-e-n (solid effect + cross effect), averaged over line pairs and orientations.
        lines: EPR line positions (rad/s) and weights.
        meta: parameters.
    """

    mw_offset: np.ndarray
    eps_en: np.ndarray
    eps_een: np.ndarray
    lines: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def eps_ce(self) -> np.ndarray:
        """Cross-effect contribution eps_een - eps_en."""
        return self.eps_een - self.eps_en


def feature_grid(agent: PolarizingAgent, cond: Conditions, half_window: float = TWO_PI * 25e6,
                 step: float = TWO_PI * 1e6, n_background: int = 41) -> np.ndarray:
    """Microwave offsets (rad/s): dense windows around every EPR line and its solid-effect
    positions (line +- omega_n), plus a coarse background over the whole range."""
    wn = nuclear_larmor(cond.nucleus, cond.b0)
    ls = lineshape(agent, cond)
    pos = np.array([l[0] for l in ls.lines]) if ls.density is None else np.array(ls.extent)
    centres = np.concatenate([pos, pos + wn, pos - wn])
    pts = [np.arange(c - half_window, c + half_window + step / 2, step) for c in centres]
    lo, hi = centres.min() - 2 * half_window, centres.max() + 2 * half_window
    pts.append(np.linspace(lo, hi, n_background))
    return np.unique(np.round(np.concatenate(pts) / step * 4) * step / 4)


def _en_members(cond, agent, lines, mw, r_en, cth):
    eps = np.array([l[0] for l in lines])
    w = np.array([l[1] for l in lines])
    X, C, E = np.meshgrid(mw, cth.cos_theta, eps, indexing="ij")
    W = (cth.weights[:, None] * w[None, :])[None].repeat(len(mw), 0)
    a, b = hyperfine_from_angle(r_en, C.ravel(), cond.nucleus, agent.g)
    return SpinBatch(SpinSystem(1, 1), (E - X).reshape(-1, 1), a[:, None, None], b[:, None, None],
                     weights=W.ravel())


def _een_members(cond, agent, lines, mw, r_en, r_ee, cth, cee):
    eps = np.array([l[0] for l in lines])
    w = np.array([l[1] for l in lines])
    i1, i2 = np.meshgrid(np.arange(len(eps)), np.arange(len(eps)), indexing="ij")
    i1, i2 = i1.ravel(), i2.ravel()
    X, C, Ce, P = np.meshgrid(mw, cth.cos_theta, cee.cos_theta, np.arange(len(i1)), indexing="ij")
    W = (cth.weights[:, None, None] * cee.weights[None, :, None]
         * (w[i1] * w[i2])[None, None, :])[None].repeat(len(mw), 0)
    a, b = hyperfine_from_angle(r_en, C.ravel(), cond.nucleus, agent.g)
    d = ee_dipolar_from_angle(r_ee, Ce.ravel(), agent.g)
    f = flipflop_scale(agent)
    p = P.ravel()
    off = np.stack([eps[i1[p]] - X.ravel(), eps[i2[p]] - X.ravel()], 1)
    z = np.zeros_like(a)
    return SpinBatch(SpinSystem(2, 1), off, np.stack([a, z], 1)[:, :, None],
                     np.stack([b, z], 1)[:, :, None], d_ee=d * (2 + f) / 3,
                     j_ee=2 * d * (1 - f) / 3, weights=W.ravel())


def sweep_profile(agent: PolarizingAgent, cond: Conditions, mw_offsets: np.ndarray | None = None,
                  r_en: float = 0.3, r_ee: float = 1.5, n_theta: int = 4, n_theta_ee: int = 3,
                  method: str = "full", two_electron: bool = True) -> SweepProfile:
    """DNP sweep profile (Livni Fig. 2a) for one nucleus at r_en (nm) from its electron and, for
    e-e-n, a partner electron at r_ee (nm); lines of the agent's EPR spectrum drawn with equal
    probability for each electron. Orientations: Gauss-Legendre in cos(theta) of the e-n and
    e-e vectors (independent). Enhancement relative to the bulk thermal polarization.
    """
    mw = feature_grid(agent, cond) if mw_offsets is None else np.asarray(mw_offsets, float)
    ls = lineshape(agent, cond)
    if ls.density is not None:
        raise ValueError("sweep_profile needs an agent with discrete lines (e.g. MnII)")
    params = spin_params(agent, cond)
    pth = nuclear_thermal_polarization(cond.nucleus, cond.b0, cond.temperature)
    cth, cee = gauss_legendre_cos(n_theta), gauss_legendre_cos(n_theta_ee)
    en = _en_members(cond, agent, ls.lines, mw, r_en, cth)
    r = solve_on_off(en, params, method, off=False)
    eps_en = (en.weights * r.p_on).reshape(len(mw), -1).sum(1) / pth
    eps_een = np.full_like(eps_en, np.nan)
    if two_electron:
        een = _een_members(cond, agent, ls.lines, mw, r_en, r_ee, cth, cee)
        r2 = solve_on_off(een, params, method, off=False)
        eps_een = (een.weights * r2.p_on).reshape(len(mw), -1).sum(1) / pth
    return SweepProfile(mw, eps_en, eps_een, np.array(ls.lines),
                        {"r_en": r_en, "r_ee": r_ee, "method": method, "n_theta": n_theta,
                         "n_theta_ee": n_theta_ee, "agent": agent.to_dict(),
                         "conditions": cond.to_dict(), "p_thermal": pth})


def mismatch_scan(agent: PolarizingAgent, cond: Conditions, deltas: np.ndarray,
                  r_en: float = 0.3, r_ee: float = 1.5, n_theta: int = 4, n_theta_ee: int = 3,
                  method: str = "full") -> dict:
    """CE enhancement vs mismatch delta = Delta_omega_ee - omega_n (rad/s) (Livni Fig. 5b).

    Electron 1 (coupled to the nucleus) is irradiated on resonance (Delta1 = 0), electron 2 sits
    at Delta2 = omega_n + delta. Returns eps_een, eps_en (same electron alone) and
    eps_ce = eps_een - eps_en, orientation averaged.
    """
    params = spin_params(agent, cond)
    deltas = np.asarray(deltas, float)
    pth = nuclear_thermal_polarization(cond.nucleus, cond.b0, cond.temperature)
    cth, cee = gauss_legendre_cos(n_theta), gauss_legendre_cos(n_theta_ee)
    D, C, Ce = np.meshgrid(deltas, cth.cos_theta, cee.cos_theta, indexing="ij")
    W = (cth.weights[:, None] * cee.weights[None, :])[None].repeat(len(deltas), 0).ravel()
    a, b = hyperfine_from_angle(r_en, C.ravel(), cond.nucleus, agent.g)
    d = ee_dipolar_from_angle(r_ee, Ce.ravel(), agent.g)
    f = flipflop_scale(agent)
    z = np.zeros_like(a)
    off = np.stack([z, params.omega_n + D.ravel()], 1)
    een = SpinBatch(SpinSystem(2, 1), off, np.stack([a, z], 1)[:, :, None],
                    np.stack([b, z], 1)[:, :, None], d_ee=d * (2 + f) / 3, j_ee=2 * d * (1 - f) / 3,
                    weights=W)
    res = solve_on_off(een, params, method, off=False)
    e_een = (W * res.p_on).reshape(len(deltas), -1).sum(1) / pth
    a1, b1 = hyperfine_from_angle(r_en, cth.cos_theta, cond.nucleus, agent.g)
    en = SpinBatch(SpinSystem(1, 1), np.zeros((len(a1), 1)), a1[:, None, None], b1[:, None, None],
                   weights=cth.weights)
    res1 = solve_on_off(en, params, method, off=False)
    e_en = float(np.sum(cth.weights * res1.p_on) / pth)
    return {"delta": deltas, "eps_een": e_een, "eps_en": e_en, "eps_ce": e_een - e_en,
            "r_en": r_en, "r_ee": r_ee}


def matching_fraction(agent: PolarizingAgent, cond: Conditions, tolerance: float | None = None
                      ) -> dict:
    """Fraction of electron pairs meeting the CE condition |Delta_omega_ee - omega_n| < tolerance.

    tolerance defaults to the homogeneous CE linewidth 2/T2e (rad/s). Reports: ordered pairs of
    lines that match (any lines; for A_iso ~ omega_n the adjacent ones), the outermost adjacent
    pairs (one end: lines -I, -I+1), the Boltzmann fraction of Mn in the central transition, and
    the product (both electrons in the CT and on the outermost adjacent lines, one end) which is
    Livni's ~0.6 % estimate at 14.1 T / 100 K.
    """
    ls = lineshape(agent, cond)
    if ls.density is not None:
        raise ValueError("matching_fraction needs discrete lines (e.g. MnII)")
    params = spin_params(agent, cond)
    tol = 2.0 / params.t2e if tolerance is None else tolerance
    wn = nuclear_larmor(cond.nucleus, cond.b0)
    eps = np.array([l[0] for l in ls.lines])
    w = np.array([l[1] for l in ls.lines])
    diff = np.abs(eps[:, None] - eps[None, :])
    ww = np.outer(w, w)
    match = np.abs(diff - wn) < tol
    n = len(eps)
    outer = ww[0, 1] + ww[1, 0]
    ct = central_transition_fraction(agent.electron_spin, cond.b0, cond.temperature, agent.g)
    return {"mismatch": float(agent.a_iso - wn), "tolerance": tol,
            "matched_pairs": float(ww[match].sum()),
            "adjacent_pairs": float(ww[np.abs(diff - agent.a_iso) < 1e-9 * max(1.0, agent.a_iso)
                                       ].sum()) if n > 1 else 0.0,
            "outermost_pairs_one_end": float(outer),
            "central_transition_fraction": ct,
            "outermost_ct_pairs_one_end": float(outer * ct**2)}
