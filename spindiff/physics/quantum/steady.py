"""Steady state and nuclear buildup rate from the Liouvillian (no time integration).

With the real-basis coordinates x = (x_0 = 1/sqrt(N), x') the master equation of `liouville`
is the affine system dx'/dt = -K x' + c, K = -M[1:, 1:], c = M[1:, 0] x_0 - g[1:],
g = D_K(rho_G). Then

* steady state: one batched LU solve K x'_ss = c (the trace condition is built into the
  traceless coordinates, so no row has to be replaced); the relative residual
  |K x' - c| / (|K| |x'| + |c|) is returned;
* nuclear buildup rate Gamma: inverse iteration started on the nuclear Zeeman order e_Iz,
  y_{k+1} = K^-1 y_k, Gamma = (y2)_Iz / (y3)_Iz. Nuclear rates (1e-3 to 1e3 1/s) lie many
  orders below every electronic / coherence rate (>= R1e), so three steps give the slowest
  eigenvalue to relative accuracy ~ (Gamma / R_fast)^2; the change from the two-step estimate
  y1/y2 is returned as ``gamma_change`` (convergence check);
* integral relaxation time tau = y1_Iz: the area under the normalised nuclear response to a
  small kick of e_Iz (Gamma_int = 1/tau); w = Gamma tau is the weight of the slow mode in
  that response (1 for a clean nuclear mode; reported as a diagnostic).

All of this works on 1e-3 ... 1e10 1/s rates because nothing is integrated in time and the
slow quantity is always the dominant component of the solution.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .affine import stationary_and_moments
from .liouville import assemble, density_to_real, diag_index, gibbs_state, real_basis, term_library
from .model import SpinBatch, SpinParams


@dataclass
class SteadyResult:
    """Per-member results of the full master equation (thermal-sign polarizations).

    Attributes:
        p_n: (n, n_n) steady-state nuclear polarizations P_n = -<2 I_z>.
        p_e: (n, n_e) steady-state electron polarizations P_e = -<2 S_z>.
        gamma: (n,) nuclear buildup rate (slowest eigenvalue, 1/s).
        gamma_int: (n,) 1 / integral relaxation time of the nuclear polarization (1/s).
        slow_weight: (n,) weight of the slow mode in the nuclear response (1 = clean mode).
        residual: (n,) relative residual of the steady-state solve.
        p_n_gibbs: (n, n_n) nuclear polarization of the Gibbs state (microwave-off target).
        p_e_gibbs: (n, n_e) electron polarizations of the Gibbs state.
    """

    p_n: np.ndarray
    p_e: np.ndarray
    gamma: np.ndarray
    gamma_int: np.ndarray
    slow_weight: np.ndarray
    residual: np.ndarray
    p_n_gibbs: np.ndarray
    p_e_gibbs: np.ndarray
    extra: dict = field(default_factory=dict)


def _mw_matvec(batch: SpinBatch, params: SpinParams, x: np.ndarray) -> np.ndarray:
    """(sum_j omega1 C_mw_j) x for each member (the microwave commutator applied to x)."""
    lib = term_library(batch.system)
    w1 = np.full(len(batch), params.omega1) if batch.omega1 is None else batch.omega1
    out = np.zeros_like(x)
    for j in range(batch.system.n_electrons):
        out += w1[:, None] * (x @ lib.dense[f"mw_{j}"].T)
    return out


def solve_steady(batch: SpinBatch, params: SpinParams, microwaves: bool = True,
                 keep_state: bool = False) -> SteadyResult:
    """Steady state and nuclear buildup rate of every member of `batch` (full master equation).

    Args:
        batch: orientations / geometries / hyperfine lines (see `model.SpinBatch`).
        params: common parameters; ``microwaves=False`` sets omega1 = 0.
        keep_state: also return the steady-state coordinates in ``extra['x']``.
    """
    s = batch.system
    basis = real_basis(s)
    N = s.dim
    m = assemble(batch, params, microwaves)
    xg = density_to_real(gibbs_state(batch, params), basis)
    g = np.einsum("nij,nj->ni", m, xg)
    if microwaves:
        g -= _mw_matvec(batch, params, xg)
    x0 = 1.0 / np.sqrt(N)
    iz = [diag_index(s, (s.n_electrons + q,)) - 1 for q in range(s.n_nuclei)]
    ie = [diag_index(s, (j,)) - 1 for j in range(s.n_electrons)]
    k, c, x, (o1, o2, o3) = stationary_and_moments(m, g, x0, iz)
    gamma = o2 / o3
    gamma_int = 1.0 / o1

    res = np.einsum("nij,nj->ni", k, x) - c
    knorm = np.abs(k).sum(axis=2).max(axis=1)
    residual = np.linalg.norm(res, axis=1) / (knorm * np.linalg.norm(x, axis=1)
                                              + np.linalg.norm(c, axis=1) + 1e-300)
    sq = np.sqrt(N)
    out = SteadyResult(p_n=-sq * x[:, iz], p_e=-sq * x[:, ie], gamma=gamma, gamma_int=gamma_int,
                       slow_weight=gamma / gamma_int, residual=residual,
                       p_n_gibbs=-sq * xg[:, [i + 1 for i in iz]],
                       p_e_gibbs=-sq * xg[:, [i + 1 for i in ie]])
    out.extra["gamma_change"] = np.abs(o1 / o2 - gamma) / np.abs(gamma)
    if keep_state:
        out.extra["x"] = np.concatenate([np.full((len(batch), 1), x0), x], axis=1)
    return out
