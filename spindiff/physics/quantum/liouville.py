"""Lindblad dissipators and the Liouvillian in a real Hermitian operator basis (batched).

Master equation (rotating frame of the microwave, docs/reference/physics.md section 6, Karabanov Eq. 1):

    d rho/dt = -i [H, rho] + D_K(rho - rho_G)

* ``D_K`` is Karabanov's single-spin dissipator with thermal rates: electron j has L(S_j+) at
  (1 - p_j) R1e/2, L(S_j-) at (1 + p_j) R1e/2 and L(S_jz) at 2 R2e'; the nucleus has L(I+) at
  (1 - p_n) r1n/2, L(I-) at (1 + p_n) r1n/2 and L(I_z) at 2 r2n'. Here p_j = tanh(beta w_j/2)
  at electron j's own lab frequency w_j = omega_mw + Delta_j, p_n = tanh(beta omega_n/2), and
  R2e' = 1/T2e - 1/(2 T1e) so that an electron coherence decays at exactly 1/T2e (Bloch).
* Nuclear dephasing (default ``nuclear_dephasing="secular"``): L(I_z) is replaced by L(I_par)
  with I_par = sum_c P_c (n_c . I), P_c the projector on electron configuration c and n_c the
  unit vector of the nuclear field omega_n z + sum_j m_j (A_j z + Re B_j x + Im B_j y) in that
  configuration: T2 processes are slow and dephase along the local quantization axis. (Karabanov's
  lab-frame L(I_z) is kept as ``"lab"``; with a hyperfine-tilted axis it relaxes the nucleus at
  ~ r2n B^2 / (4 omega_n^2), an artifact of white-noise dephasing.) I_par is expanded on the fixed
  operators O_p = prod_{j in T} (2 S_jz) I_alpha, so L(I_par) = sum_{p<=q} c_p c_q K_pq stays
  linear in products of coefficients.
* ``rho_G = exp(-beta H0_lab)/Z`` is the Gibbs state of the microwave-free lab-frame Hamiltonian
  H0_lab = H0 + omega_mw M_S. Referencing the dissipator to rho_G (instead of Karabanov's
  product of single-spin thermal states, which D_K already annihilates for uncoupled spins)
  makes the microwave-off steady state exactly thermal, including the nucleus, while the rates
  keep the (1 - p^2) factors of D_K (e.g. Chessari Eq. 6 for paramagnetic relaxation). For one
  uncoupled spin D_K(rho_G) = 0 and this is Karabanov's equation verbatim.

Real basis: rho = sum_p x_p B_p with B_p orthonormal Hermitian (Tr B_p B_q = delta_pq):
normalised products of 1 and 2 S_z on the diagonal (B_0 = 1/sqrt(N)), (|a><b| + |b><a|)/sqrt(2)
and i(|a><b| - |b><a|)/sqrt(2) for a < b. Every superoperator is real there. The Liouvillian is
linear in the Hamiltonian coefficients and in (R1e, R2e', p_j R1e, ...), so it is assembled for a
whole batch as one sparse product with a cached library of fixed term matrices.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.sparse as sp

from .model import SpinBatch, SpinParams, hamiltonian_coefficients
from .operators import SpinSystem, hamiltonian_terms


@dataclass(frozen=True)
class RealBasis:
    """Index tables of the real Hermitian basis for Hilbert dimension N (see module doc)."""

    dim: int
    walsh: np.ndarray       # (N, N): column p = diagonal of the p-th diagonal basis operator
    iu: np.ndarray          # (P,) row index a of the pairs a < b
    ju: np.ndarray          # (P,) column index b
    upper: np.ndarray       # (P,) row-major vec index of (a, b)
    lower: np.ndarray       # (P,) vec index of (b, a)
    diag: np.ndarray        # (N,) vec index of (a, a)

    @property
    def size(self) -> int:
        return self.dim * self.dim


@cache
def real_basis(system: SpinSystem) -> RealBasis:
    """Real basis tables for `system` (diagonal part: products of 2 m_s over spin subsets;
    basis index of the subset {s...} is sum 2**(n-1-s))."""
    n, N = system.n_spins, system.dim
    twom = 2.0 * system.m_values
    cols = []
    for subset in range(N):
        col = np.ones(N)
        for s in range(n):
            if subset >> (n - 1 - s) & 1:
                col = col * twom[:, s]
        cols.append(col / np.sqrt(N))
    a, b = np.triu_indices(N, k=1)
    return RealBasis(N, np.array(cols).T, a, b, a * N + b, b * N + a, np.arange(N) * (N + 1))


def diag_index(system: SpinSystem, spins: tuple[int, ...]) -> int:
    """Real-basis index of prod_{s in spins} (2 S_sz) / sqrt(N) (spins: positions in the layout)."""
    n = system.n_spins
    return int(sum(1 << (n - 1 - s) for s in spins))


def density_to_real(rho: np.ndarray, basis: RealBasis) -> np.ndarray:
    """Coordinates x (n, N^2) of Hermitian matrices rho (n, N, N) in the real basis."""
    n = rho.shape[0]
    d = np.einsum("nii->ni", rho).real @ basis.walsh
    off = rho[:, basis.iu, basis.ju]
    return np.concatenate([d, np.sqrt(2.0) * off.real, np.sqrt(2.0) * off.imag], axis=1).reshape(n, -1)


def real_to_density(x: np.ndarray, basis: RealBasis) -> np.ndarray:
    """Inverse of `density_to_real`: rho (n, N, N) from coordinates x (n, N^2)."""
    N = basis.dim
    P = len(basis.iu)
    n = x.shape[0]
    rho = np.zeros((n, N, N), dtype=complex)
    diag = x[:, :N] @ basis.walsh.T
    rho[:, np.arange(N), np.arange(N)] = diag
    off = (x[:, N:N + P] + 1j * x[:, N + P:]) / np.sqrt(2.0)
    rho[:, basis.iu, basis.ju] = off
    rho[:, basis.ju, basis.iu] = off.conj()
    return rho


def vec_superoperator(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-major vec matrix of rho -> left @ rho @ right."""
    return np.kron(left, right.T)


def lindblad_vec(x: np.ndarray) -> np.ndarray:
    """Row-major vec matrix of L(X) rho = X rho X^+ - {X^+ X, rho}/2."""
    xd = x.conj().T
    g = xd @ x
    one = np.eye(x.shape[0])
    return vec_superoperator(x, xd) - 0.5 * (vec_superoperator(g, one) + vec_superoperator(one, g))


def commutator_vec(h: np.ndarray) -> np.ndarray:
    """Row-major vec matrix of rho -> -i [h, rho]."""
    one = np.eye(h.shape[0])
    return -1j * (vec_superoperator(h, one) - vec_superoperator(one, h))


def to_real_basis(lv: np.ndarray, basis: RealBasis) -> np.ndarray:
    """Real matrix (N^2, N^2) of a Hermiticity-preserving vec superoperator `lv`."""
    N = basis.dim
    P = len(basis.iu)
    t = np.zeros((N * N, N * N), dtype=complex)
    t[basis.diag, :N] = basis.walsh
    r2 = np.sqrt(0.5)
    cols = np.arange(P)
    t[basis.upper, N + cols] = r2
    t[basis.lower, N + cols] = r2
    t[basis.upper, N + P + cols] = 1j * r2
    t[basis.lower, N + P + cols] = -1j * r2
    m = t.conj().T @ lv @ t
    if np.abs(m.imag).max() > 1e-9 * max(1.0, np.abs(m).max()):
        raise RuntimeError("superoperator does not preserve Hermiticity")
    return m.real


@dataclass(frozen=True)
class TermLibrary:
    """Fixed real-basis superoperators of every term; the Liouvillian of a batch member is
    sum_k coef_k * term_k. ``matrix`` is sparse (N^4, K) with rows = flattened (N^2, N^2)."""

    system: SpinSystem
    names: tuple[str, ...]
    matrix: sp.csr_matrix
    dense: dict


DISSIPATOR_TERMS = ("T1e", "T2e", "T1n", "T2n")


@cache
def term_library(system: SpinSystem) -> TermLibrary:
    """Build (once per layout) the real-basis matrices of all Hamiltonian and dissipator terms.

    Dissipator terms: T1e = sum_j [L(S_j+) + L(S_j-)]/2 (coef R1e), T2e = sum_j L(S_jz)
    (coef 2 R2e'), T1n, T2n likewise for nuclei, Pe_j = [L(S_j-) - L(S_j+)]/2 (coef p_j R1e),
    Pn_k = [L(I_k-) - L(I_k+)]/2 (coef p_n r1n).
    """
    basis = real_basis(system)
    mats: dict[str, np.ndarray] = {}
    for key, op in hamiltonian_terms(system).items():
        mats[key] = to_real_basis(commutator_vec(op), basis)
    ne, nn = system.n_electrons, system.n_nuclei
    lv = {}
    for j in range(ne):
        lp, lm, lz = (lindblad_vec(system.e(j, k)) for k in "+-z")
        lv[f"Pe_{j}"] = 0.5 * (lm - lp)
        lv["T1e"] = lv.get("T1e", 0) + 0.5 * (lp + lm)
        lv["T2e"] = lv.get("T2e", 0) + lz
    for k in range(nn):
        lp, lm, lz = (lindblad_vec(system.n(k, c)) for c in "+-z")
        lv[f"Pn_{k}"] = 0.5 * (lm - lp)
        lv["T1n"] = lv.get("T1n", 0) + 0.5 * (lp + lm)
        lv["T2n"] = lv.get("T2n", 0) + lz
    for k in range(nn):
        ops = axis_operators(system, k)
        for p in range(len(ops)):
            for q in range(p, len(ops)):
                lv[f"NA_{k}_{p}_{q}"] = cross_lindblad_vec(ops[p][1], ops[q][1])
    for key, v in lv.items():
        mats[key] = to_real_basis(v, basis)
    names = tuple(mats)
    for m in mats.values():
        m[np.abs(m) < 1e-14] = 0.0
    dense = np.stack([mats[k].ravel() for k in names], axis=1)
    return TermLibrary(system, names, sp.csc_matrix(dense), mats)


@cache
def axis_operators(system: SpinSystem, k: int) -> tuple[tuple[tuple[int, ...], str, np.ndarray], ...]:
    """Operators O_p = prod_{j in T} (2 S_jz) I_k^alpha for every electron subset T and alpha in
    x, y, z, returned as ((T, alpha), matrix) pairs."""
    ne = system.n_electrons
    out = []
    for tmask in range(2 ** ne):
        t = tuple(j for j in range(ne) if tmask >> j & 1)
        for alpha in "xyz":
            op = system.n(k, alpha)
            for j in t:
                op = 2.0 * system.e(j, "z") @ op
            out.append(((t, alpha), op))
    return tuple(out)


def cross_lindblad_vec(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-major vec matrix of K(X, Y) rho = X rho Y + Y rho X - {XY + YX, rho}/2 for Hermitian
    X, Y (K(X, X) = 2 L(X) is halved so that L(sum c_p O_p) = sum_{p<=q} c_p c_q K_pq)."""
    one = np.eye(x.shape[0])
    xy = x @ y + y @ x
    k = (vec_superoperator(x, y) + vec_superoperator(y, x)
         - 0.5 * (vec_superoperator(xy, one) + vec_superoperator(one, xy)))
    return 0.5 * k if x is y or np.array_equal(x, y) else k


def nuclear_axis_operator(batch: SpinBatch, params: SpinParams, k: int) -> np.ndarray:
    """I_par (n, N, N): nucleus k's spin component along its local quantization axis."""
    ops = np.array([o for _, o in axis_operators(batch.system, k)], dtype=complex)
    return np.einsum("np,pab->nab", axis_coefficients(batch, params, k), ops)


def axis_coefficients(batch: SpinBatch, params: SpinParams, k: int) -> np.ndarray:
    """Coefficients c_p (n, P) of I_par = sum_p c_p O_p (see `axis_operators`) for nucleus k."""
    s = batch.system
    ne = s.n_electrons
    ops = axis_operators(s, k)
    n = len(batch)
    c = np.zeros((n, len(ops)))
    confs = [tuple(0.5 - ((cm >> j) & 1) for j in range(ne)) for cm in range(2 ** ne)]
    for conf in confs:
        hz = params.omega_n + sum(conf[j] * batch.a[:, j, k] for j in range(ne))
        hx = sum(conf[j] * batch.b[:, j, k].real for j in range(ne))
        hy = sum(conf[j] * batch.b[:, j, k].imag for j in range(ne))
        norm = np.sqrt(hx**2 + hy**2 + hz**2)
        comp = {"x": hx / norm, "y": hy / norm, "z": hz / norm}
        for p, ((t, alpha), _) in enumerate(ops):
            sign = np.prod([2.0 * conf[j] for j in t]) if t else 1.0
            c[:, p] += comp[alpha] * sign / 2 ** ne
    return c


def thermal_polarizations(batch: SpinBatch, params: SpinParams) -> tuple[np.ndarray, float]:
    """Thermal polarizations p_j (n, n_e) of the electrons at their lab frequencies
    omega_mw + Delta_j, and p_n of the nucleus (thermal-sign convention, > 0)."""
    pe = np.tanh(0.5 * params.beta * (params.omega_mw + batch.offsets))
    pn = float(np.tanh(0.5 * params.beta * params.omega_n))
    return pe, pn


def liouvillian_coefficients(batch: SpinBatch, params: SpinParams, microwaves: bool = True
                             ) -> dict[str, np.ndarray]:
    """Coefficient (n,) of every library term for the batch."""
    c = hamiltonian_coefficients(batch, params, microwaves)
    n = len(batch)
    pe, pn = thermal_polarizations(batch, params)
    c["T1e"] = np.full(n, params.r1e)
    c["T2e"] = np.full(n, 2.0 * params.r2e_pure)
    c["T1n"] = np.full(n, params.r1n)
    if params.nuclear_dephasing == "lab":
        c["T2n"] = np.full(n, 2.0 * params.r2n_pure)
    else:
        for k in range(batch.system.n_nuclei):
            ck = axis_coefficients(batch, params, k)
            ck[np.abs(ck) < 1e-15] = 0.0
            P = ck.shape[1]
            for p in range(P):
                for q in range(p, P):
                    c[f"NA_{k}_{p}_{q}"] = 2.0 * params.r2n_pure * ck[:, p] * ck[:, q]
    for j in range(batch.system.n_electrons):
        c[f"Pe_{j}"] = pe[:, j] * params.r1e
    for k in range(batch.system.n_nuclei):
        c[f"Pn_{k}"] = np.full(n, pn * params.r1n)
    return c


def assemble(batch: SpinBatch, params: SpinParams, microwaves: bool = True) -> np.ndarray:
    """Real-basis Liouvillian matrices (n, N^2, N^2) of the homogeneous part -i[H,.] + D_K.

    Returned as a (possibly non-contiguous) view; index 0 is the identity component.
    """
    lib = term_library(batch.system)
    coef = liouvillian_coefficients(batch, params, microwaves)
    used = [i for i, k in enumerate(lib.names) if k in coef and np.any(coef[k] != 0)]
    cm = np.stack([np.asarray(coef[lib.names[i]], float) * np.ones(len(batch)) for i in used])
    flat = lib.matrix[:, used] @ cm  # (N^4, n)
    d = batch.system.dim ** 2
    return flat.T.reshape(len(batch), d, d)


def h0_eigensystem(batch: SpinBatch, params: SpinParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigen-decomposition of the microwave-free H0 in sectors of definite M_S.

    Returns (E_rot (n, N), M_S (n, N), U (n, N, N)); lab energies are E_rot + omega_mw M_S.
    A shift sigma M_S keeps levels of different M_S apart so that each eigenvector has a
    definite M_S even where rotating-frame levels are degenerate.
    """
    s = batch.system
    h0 = _hamiltonian(batch, params, microwaves=False)
    ms = s.total_electron_mz
    sigma = 10.0 * (np.abs(h0).sum(axis=(1, 2)).max() + 1.0)
    e, u = np.linalg.eigh(h0 + sigma * np.diag(ms)[None])
    m_a = np.round(2.0 * np.einsum("nia,i,nia->na", u.conj(), ms, u).real) / 2.0
    return e - sigma * m_a, m_a, u


def _hamiltonian(batch: SpinBatch, params: SpinParams, microwaves: bool = True) -> np.ndarray:
    terms = hamiltonian_terms_cached(batch.system)
    coef = hamiltonian_coefficients(batch, params, microwaves)
    N = batch.system.dim
    h = np.zeros((len(batch), N, N), dtype=complex)
    for key, c in coef.items():
        if np.any(c != 0):
            h += c[:, None, None] * terms[key][None]
    return h


build_hamiltonian = _hamiltonian


@cache
def hamiltonian_terms_cached(system: SpinSystem) -> dict[str, np.ndarray]:
    return hamiltonian_terms(system)


def gibbs_state(batch: SpinBatch, params: SpinParams) -> np.ndarray:
    """rho_G = exp(-beta H0_lab)/Z (n, N, N) of the microwave-free lab-frame Hamiltonian."""
    e_rot, m_a, u = h0_eigensystem(batch, params)
    # energies relative to the lowest M_S sector keep exp() in range
    z = -params.beta * ((e_rot - e_rot.min(axis=1, keepdims=True))
                        + params.omega_mw * (m_a - m_a.min(axis=1, keepdims=True)))
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return np.einsum("nia,na,nja->nij", u, p, u.conj())
