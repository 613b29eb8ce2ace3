"""Effective (Zeeman-projected) rate description, Karabanov Eq. 4, as the fast path.

The populations p_a of the Zeeman product states obey a classical master equation with
incoherent one-, two- and three-spin jumps. Construction (second order in the couplings):

1. Split H = H_d + V (H_d: diagonal = Zeeman, offsets, secular A S_z I_z, 2 d S1z S2z; V: microwave
   omega1 S_x, pseudo-secular B S_z I_x, e-e flip-flop). Each element V_ab is split into a
   near-resonant part V kappa^2/(delta^2 + kappa^2) and a far part V delta^2/(delta^2 + kappa^2),
   delta = E_a - E_b, kappa_ab = decay rate of the coherence |a><b| under D_K.
2. Schrieffer-Wolff: S_ab = V_ab delta/(delta^2 + kappa^2) removes the far part; second-order
   effective couplings H2 = [S, V_near] + [S, V_far]/2 give the solid-effect amplitude
   omega1 B / (4 omega_n), the cross-effect three-spin amplitude ~ d B / omega_n, level shifts.
3. Fermi golden rule for every remaining coupling:
   W_ab = 2 |V_eff,ab|^2 kappa_ab / (kappa_ab^2 + delta'_ab^2)
   (single-electron saturation, e-e flip-flop Gamma_SS ~ d^2 R2 / omega_n^2, SE Gamma_SI, CE
   Gamma_SSI ~ d^2 B^2 tau / omega_n^2).
4. Relaxation jumps of D_K dressed by the same S (X~ = X + [S, X]): rates g_k |X~_ab|^2. This
   carries the relaxation-assisted forbidden transitions, i.e. paramagnetic nuclear relaxation
   (1 - p^2) R1e B^2 / (4 omega_n^2).
5. Like the full model the equation is referenced to the Gibbs state:
   dp/dt = W_on p - W_off p_G, so that with microwaves off p = p_G exactly.

Validity (Karabanov): eta1 = (R2^2 + Delta1^2) / omega1^2 >> 1 (incoherent saturation; computed
over the microwave-coupled pairs with operator-valued offsets) and Gamma / R2 << 1 (every
FGR rate small compared with the decay of its coherence). Both are returned; `warnings.warn`
is called when eta1 < ETA1_MIN or Gamma/R2 > GAMMA_R2_MAX.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from .affine import stationary_and_moments
from .liouville import (
    build_hamiltonian,
    diag_index,
    gibbs_state,
    nuclear_axis_operator,
    real_basis,
    thermal_polarizations,
)
from .model import SpinBatch, SpinParams
from .operators import SpinSystem

ETA1_MIN = 10.0
GAMMA_R2_MAX = 0.1


@dataclass
class EffectiveResult:
    """Results of the effective rate model (same conventions as `steady.SteadyResult`).

    Attributes:
        p_n, p_e, gamma, gamma_int: as in SteadyResult.
        eta1: (n,) min over microwave-coupled Zeeman pairs of (kappa^2 + delta^2)/omega1^2.
        eta: R2e/R1e = T1e/T2e.
        gamma_over_r2: (n,) max over Hamiltonian-induced jumps of W_ab / kappa_ab.
        valid: (n,) bool, eta1 >= ETA1_MIN and gamma_over_r2 <= GAMMA_R2_MAX.
    """

    p_n: np.ndarray
    p_e: np.ndarray
    gamma: np.ndarray
    gamma_int: np.ndarray
    eta1: np.ndarray
    eta: float
    gamma_over_r2: np.ndarray
    valid: np.ndarray
    extra: dict = field(default_factory=dict)


@cache
def _jump_set(system: SpinSystem) -> tuple[np.ndarray, tuple[str, ...]]:
    """Local jump operators (K, N, N) and their labels: ('e+', j), ('e-', j), ('ez', j), ..."""
    ops, labels = [], []
    for j in range(system.n_electrons):
        for kind in "+-z":
            ops.append(system.e(j, kind))
            labels.append(f"e{kind}{j}")
    for k in range(system.n_nuclei):
        for kind in "+-z":
            ops.append(system.n(k, kind))
            labels.append(f"n{kind}{k}")
    return np.array(ops, dtype=complex), tuple(labels)


def jump_rates(batch: SpinBatch, params: SpinParams) -> np.ndarray:
    """Karabanov thermal rates g_k (n, K) of the local jumps of `_jump_set`."""
    pe, pn = thermal_polarizations(batch, params)
    _, labels = _jump_set(batch.system)
    n = len(batch)
    g = np.empty((n, len(labels)))
    for i, lab in enumerate(labels):
        kind, idx = lab[:2], int(lab[2:])
        if kind == "e+":
            g[:, i] = 0.5 * (1.0 - pe[:, idx]) * params.r1e
        elif kind == "e-":
            g[:, i] = 0.5 * (1.0 + pe[:, idx]) * params.r1e
        elif kind == "ez":
            g[:, i] = 2.0 * params.r2e_pure
        elif kind == "n+":
            g[:, i] = 0.5 * (1.0 - pn) * params.r1n
        elif kind == "n-":
            g[:, i] = 0.5 * (1.0 + pn) * params.r1n
        else:
            g[:, i] = 2.0 * params.r2n_pure
    return g


def _exchange_narrowing(kap: np.ndarray, e: np.ndarray, g: np.ndarray, ops0: np.ndarray,
                        labels: tuple[str, ...]) -> np.ndarray:
    """Coherence decay with spectator flips treated as exchange, not as decay.

    A flip X of a spin that is in the same state in |a> and |b> moves the coherence |a><b| to
    |Xa><Xb| whose frequency differs by dw = (E_Xa - E_Xb) - (E_a - E_b). It destroys the
    coherence only if dw is resolved: its contribution g to kappa_ab is weighted by
    dw^2 / (dw^2 + kappa0^2) (slow-exchange limit: full decay; fast exchange / unresolved
    splitting: none), kappa0 = kappa_ab without spectator flips.
    """
    N = e.shape[1]
    idx = np.arange(N)
    spect = np.zeros_like(kap)
    maps = []
    for k, lab in enumerate(labels):
        if lab[1] in "+-":
            x = np.abs(ops0[k].real)
            tgt = np.argmax(x, axis=0)
            ok = x[tgt, idx] > 0.5
            both = ok[:, None] & ok[None, :]
            maps.append((k, tgt, both))
            spect += np.where(both[None], g[:, k, None, None], 0.0)
    kap0 = np.maximum(kap - spect, 1.0)
    out = kap.copy()
    for k, tgt, both in maps:
        dw = (e[:, tgt][:, :, None] - e[:, tgt][:, None, :]) - (e[:, :, None] - e[:, None, :])
        phi = dw**2 / (dw**2 + kap0**2)
        out -= np.where(both[None], g[:, k, None, None] * (1.0 - phi), 0.0)
    return out


def _comm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a @ b - b @ a


def pauli_generator(batch: SpinBatch, params: SpinParams, microwaves: bool = True
                    ) -> tuple[np.ndarray, dict]:
    """Rate matrix G (n, N, N), G[a, b] = rate b -> a for a != b, columns summing to 0,
    plus diagnostics (eta1, gamma_over_r2, W_H)."""
    s = batch.system
    N = s.dim
    ops0, labels = _jump_set(s)
    g = jump_rates(batch, params)
    ops = np.broadcast_to(ops0, (len(batch),) + ops0.shape).copy()
    if params.nuclear_dephasing == "secular":
        for i, lab in enumerate(labels):
            if lab.startswith("nz"):
                ops[:, i] = nuclear_axis_operator(batch, params, int(lab[2:]))
    h = build_hamiltonian(batch, params, microwaves)
    h0 = build_hamiltonian(batch, params, False) if microwaves else h
    e = np.real(np.einsum("naa->na", h))
    eye = np.eye(N, dtype=bool)[None]
    v0 = np.where(eye, 0.0, h0)          # microwave-free couplings (B, flip-flop, ...)
    vmw = h - h0                          # microwave couplings (off-diagonal only)

    xdx = np.real(np.einsum("nkba,nkba->nka", ops.conj(), ops))    # diag of X^+ X
    xd = np.einsum("nkaa->nka", ops)                                # diag of X
    gx = np.einsum("nk,nka->na", g, xdx)
    kap = 0.5 * (gx[:, :, None] + gx[:, None, :])
    kap -= np.real(np.einsum("nk,nka,nkb->nab", g, xd, xd.conj()))
    delta = e[:, :, None] - e[:, None, :]
    kap = _exchange_narrowing(kap, e, g, ops0, labels)
    den = np.where(eye, 1.0, delta**2 + kap**2)
    f_far = np.where(eye, 0.0, delta**2 / den)
    # SW generators (regularised 1/delta): s0 for the microwave-free couplings (also dresses
    # the relaxation jumps), smw for the microwave (second-order amplitudes only)
    s0 = np.where(eye, 0.0, v0 * delta / den)
    smw = np.where(eye, 0.0, vmw * delta / den)
    sgen = s0 + smw
    v_far = (v0 + vmw) * f_far
    v_near = (v0 + vmw) - v_far
    h2 = _comm(sgen, v_near) + 0.5 * _comm(sgen, v_far)
    e2 = e + np.real(np.einsum("naa->na", h2))
    # first order: microwave couplings in full (the Lorentzian FGR rate is exact for a driven
    # two-level transition, tails included), microwave-free couplings only their near part
    v_eff = np.where(eye, 0.0, vmw + v0 * (1.0 - f_far) + h2)
    d2 = e2[:, :, None] - e2[:, None, :]
    kap_safe = np.where(eye, 1.0, kap)
    w_h = np.where(eye, 0.0, 2.0 * np.abs(v_eff) ** 2 * kap_safe / (kap_safe**2 + d2**2))

    w_d = np.zeros_like(w_h)
    for k in range(ops.shape[1]):
        xt = ops[:, k] + _comm(s0, ops[:, k])
        w_d += g[:, k, None, None] * np.abs(xt) ** 2
    w_d = np.where(eye, 0.0, w_d)
    w = w_h + w_d
    gen = w - np.einsum("nab->nb", w)[:, None, :] * np.eye(N)[None]

    diag: dict = {"W_H": w_h}
    if microwaves:
        amw = np.abs(vmw)
        mask = amw > 0
        ratio = np.where(mask, (kap**2 + delta**2) / np.where(mask, 4.0 * amw**2, 1.0), np.inf)
        diag["eta1"] = ratio.reshape(len(batch), -1).min(axis=1)
    else:
        diag["eta1"] = np.full(len(batch), np.inf)
    diag["gamma_over_r2"] = np.where(eye, 0.0, w_h / kap_safe).reshape(len(batch), -1).max(axis=1)
    return gen, diag


def solve_effective(batch: SpinBatch, params: SpinParams, microwaves: bool = True,
                    warn: bool = True) -> EffectiveResult:
    """Steady state and nuclear rate from the effective rate model (fast path)."""
    s = batch.system
    N = s.dim
    q = real_basis(s).walsh  # populations -> diagonal real-basis coordinates
    g_on, diag = pauli_generator(batch, params, microwaves)
    g_off = g_on if not microwaves else pauli_generator(batch, params, False)[0]
    p_g = np.real(np.einsum("naa->na", gibbs_state(batch, params)))
    gq = np.einsum("ap,nab,bq->npq", q, g_on, q)
    src = np.einsum("ap,nab,nb->np", q, g_off, p_g)
    iz = [diag_index(s, (s.n_electrons + i,)) - 1 for i in range(s.n_nuclei)]
    ie = [diag_index(s, (j,)) - 1 for j in range(s.n_electrons)]
    _, _, y, (o1, o2, o3) = stationary_and_moments(gq, src, 1.0 / np.sqrt(N), iz)
    sq = np.sqrt(N)
    eta = params.t1e / params.t2e
    valid = (diag["eta1"] >= ETA1_MIN) & (diag["gamma_over_r2"] <= GAMMA_R2_MAX)
    res = EffectiveResult(p_n=-sq * y[:, iz], p_e=-sq * y[:, ie], gamma=o2 / o3,
                          gamma_int=1.0 / o1, eta1=diag["eta1"], eta=eta,
                          gamma_over_r2=diag["gamma_over_r2"], valid=valid)
    if warn:
        validity_warning(res.eta1, res.gamma_over_r2, res.extra)
    return res


def validity_warning(eta1: np.ndarray, gamma_over_r2: np.ndarray, store: dict | None = None
                     ) -> list[str]:
    """Warn (warnings.warn) when the effective description is outside its validity range."""
    msgs = []
    e1 = float(np.min(eta1)) if np.size(eta1) else np.inf
    gr = float(np.max(gamma_over_r2)) if np.size(gamma_over_r2) else 0.0
    if e1 < ETA1_MIN:
        msgs.append(f"effective rate model: eta1 = (R2^2 + Delta1^2)/omega1^2 = {e1:.3g} < "
                    f"{ETA1_MIN:g}; saturation is partly coherent (Rabi), use the full master "
                    "equation (method='full')")
    if gr > GAMMA_R2_MAX:
        msgs.append(f"effective rate model: Gamma/R2 = {gr:.3g} > {GAMMA_R2_MAX:g}; "
                    "jumps are not incoherent, use the full master equation (method='full')")
    for m in msgs:
        warnings.warn(m, stacklevel=3)
    if store is not None:
        store["warnings"] = msgs
    return msgs
