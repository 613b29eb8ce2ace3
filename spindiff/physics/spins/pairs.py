"""Electron pairs (biradicals) and the nuclei around them: cross-effect rates per nucleus.

Every nucleus j with both electrons of its pair forms the three-spin system (e1, e2, n_j) of
the quantum rate module (spindiff.physics.quantum), with its own secular and pseudo-secular
couplings A_1j, A_2j, B_1j, B_2j (complex B: the relative phase of the two electrons'
couplings matters), the pair's own e-e coupling d_ee = (mu0/4pi) gamma_e^2 hbar
(1 - 3 cos^2 theta_ee) / (2 r_ee^3) and the electrons' offsets from the microwave. Its
Zeeman-projected rate model (Karabanov Eq. 4: the triple flips Gamma^SSI ~ d^2 |B_1j - B_2j|^2
tau / omega_n^2, the solid effect of each electron, the dressed relaxation;
spindiff.physics.quantum.effective) gives the nuclear rate and stationary polarization with
the microwaves on and off, and the decomposition of spindiff.physics.quantum.tables, per
nucleus instead of per shell:

    R1_para,j = Gamma_off,j - 1/T1n,   k_j = Gamma_on,j - Gamma_off,j,
    k_j P_src,j = Gamma_on,j P_on,j - Gamma_off,j P_off,j

so the nuclei see the electrons as a bath in their steady state (one nucleus does not change
it; the back-action of many nuclei on two electrons is not modelled, see docs/reference/spins.md). The
electrons' own steady polarizations P_e1, P_e2 and their correlation rates
Gamma_c = R1e + omega1^2 R2 / (R2^2 + Delta^2) (relaxation plus incoherent microwave
saturation, the adiabatic elimination of Karabanov's Bloch equations) enter the nuclear
flip-flop rates (Eq. 9) of the nuclei near each electron.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..quantum.couplings import couplings_from_vectors, ee_dipolar_from_angle
from ..quantum.model import SpinBatch, SpinParams
from ..quantum.operators import SpinSystem
from ..quantum.solve import solve_on_off
from .positions import Region


@dataclass
class PairRates:
    """Per nucleus: k, k P_src, R1_para (1/s); per electron: P_e and Gamma_c (1/s); the
    validity figures of the Zeeman projection (min eta1, max Gamma/R2 over the nuclei)."""
    k: np.ndarray
    k_target: np.ndarray
    r1_para: np.ndarray
    p_e: np.ndarray
    gamma_c: np.ndarray
    eta1_min: float
    gamma_over_r2_max: float


def pair_batch(x: np.ndarray, electrons: np.ndarray, pair_of: np.ndarray, offsets: np.ndarray,
               region: Region, nucleus: str, g: float) -> SpinBatch:
    """Three-spin batch (e1, e2, n_j) for every nucleus j; pair_of[j] is its pair, whose
    electrons are rows 2 pair_of[j] and 2 pair_of[j] + 1 of `electrons`; offsets (2,) rad/s."""
    e1, e2 = electrons[2 * pair_of], electrons[2 * pair_of + 1]
    z = np.tile([0.0, 0.0, 1.0], (len(x), 1))
    a1, b1 = couplings_from_vectors(region.minimum_image(x - e1), z, nucleus, g)
    a2, b2 = couplings_from_vectors(region.minimum_image(x - e2), z, nucleus, g)
    v = region.minimum_image(e2 - e1)
    r_ee = np.linalg.norm(v, axis=1)
    d_ee = ee_dipolar_from_angle(r_ee, v[:, 2] / r_ee, g)
    a = np.stack([a1, a2], 1)[:, :, None]
    b = np.stack([b1, b2], 1)[:, :, None]
    off = np.broadcast_to(np.asarray(offsets, float), (len(x), 2))
    return SpinBatch(SpinSystem(2, 1), off, a, b, d_ee=d_ee, weights=np.ones(len(x)))


def pair_rates(x: np.ndarray, electrons: np.ndarray, pair_of: np.ndarray,
               offsets: np.ndarray, region: Region, nucleus: str, g: float,
               params: SpinParams, source_on: bool) -> PairRates:
    """The per-nucleus rates of the module docstring (Zeeman-projected model)."""
    batch = pair_batch(x, electrons, pair_of, offsets, region, nucleus, g)
    res = solve_on_off(batch, params, "effective")
    r1n = params.r1n
    r1_para = np.maximum(res.gamma_off - r1n, 0.0)
    if source_on and params.omega1 > 0:
        k = np.maximum(res.gamma_on - res.gamma_off, 0.0)
        kp = res.gamma_on * res.p_on - res.gamma_off * res.p_off
        kp = np.where(k > 0, kp, 0.0)
    else:
        k, kp = np.zeros(len(x)), np.zeros(len(x))
    npairs = len(electrons) // 2
    p_e = np.empty(len(electrons))
    counts = np.bincount(pair_of, minlength=npairs)
    for i in range(2):
        s = np.bincount(pair_of, weights=res.p_e_on[:, i], minlength=npairs)
        p_e[i::2] = np.where(counts > 0, s / np.maximum(counts, 1), np.nan)
    if np.any(~np.isfinite(p_e)):  # a pair without nuclei: its electrons' own steady state
        empty = np.flatnonzero(counts == 0)
        alone = pair_batch(electrons[2 * empty] + 1e3, electrons, empty, offsets,
                           Region.sphere(1e9), nucleus, g)
        pe_alone = solve_on_off(alone, params, "effective", off=False).p_e_on
        p_e[2 * empty], p_e[2 * empty + 1] = pe_alone[:, 0], pe_alone[:, 1]
    r2 = 1.0 / params.t2e
    w1 = params.omega1 if source_on else 0.0
    gamma_c = np.tile(params.r1e + w1 ** 2 * r2 / (r2 ** 2 + np.asarray(offsets) ** 2), npairs)
    eta1 = float(np.min(res.eta1)) if res.eta1 is not None and source_on else float("inf")
    g_r2 = float(np.max(res.gamma_over_r2)) if res.gamma_over_r2 is not None else 0.0
    return PairRates(k, kp, r1_para, p_e, gamma_c, eta1, g_r2)
