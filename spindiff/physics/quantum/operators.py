"""Spin-1/2 operators on small product spaces and the rotating-frame Hamiltonian (docs/reference/physics.md section 6).

Spin order in the product space: electrons first, then nuclei, ``[e1, (e2), n1, (n2)]``.
Single-spin basis ``|0> = |m=+1/2>``, ``|1> = |m=-1/2>``.

Model frame (sign convention, see docs/reference/quantum.md): every spin has a Zeeman term ``+omega S_z``
with ``omega > 0`` (electrons: offset ``Delta_j`` in the microwave rotating frame; nucleus:
``omega_I = |gamma_n| B0`` in the lab frame), so every spin is "down" (``<2 S_z> = -p``) at
thermal equilibrium. Polarizations are reported with the thermal-equilibrium sign positive:
``P = -<2 S_z>`` (electrons, as in ``spindiff.physics.electron``) and ``P_n = -<2 I_z>``.

All angular frequencies are in rad/s.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

_SX = np.array([[0.0, 0.5], [0.5, 0.0]])
_SY = np.array([[0.0, -0.5j], [0.5j, 0.0]])
_SZ = np.array([[0.5, 0.0], [0.0, -0.5]])
_SP = np.array([[0.0, 1.0], [0.0, 0.0]])  # S+ |down> = |up>
_SM = _SP.T.copy()
_ID = np.eye(2)

SINGLE_SPIN_OPS = {"x": _SX, "y": _SY, "z": _SZ, "+": _SP, "-": _SM, "1": _ID}


def embed(op: np.ndarray, site: int, n_spins: int) -> np.ndarray:
    """Kronecker-embed the 2x2 operator ``op`` acting on spin ``site`` of ``n_spins`` spins."""
    out = np.ones((1, 1))
    for k in range(n_spins):
        out = np.kron(out, op if k == site else _ID)
    return out


@dataclass(frozen=True)
class SpinSystem:
    """Layout of a small electron-nuclear spin system (all spins 1/2).

    Attributes:
        n_electrons: 1 (e-n, solid effect) or 2 (e-e-n, cross effect).
        n_nuclei: 1 or 2 (the second nucleus is optional and costs 16x).
    """

    n_electrons: int = 1
    n_nuclei: int = 1

    def __post_init__(self) -> None:
        if self.n_electrons not in (1, 2) or self.n_nuclei not in (1, 2):
            raise ValueError("supported: 1-2 electrons and 1-2 nuclei")

    @property
    def n_spins(self) -> int:
        return self.n_electrons + self.n_nuclei

    @property
    def dim(self) -> int:
        """Hilbert-space dimension N = 2**n_spins."""
        return 2 ** self.n_spins

    def e(self, j: int, kind: str) -> np.ndarray:
        """Operator S_j^kind of electron j (0-based); kind in {'x','y','z','+','-'}."""
        return embed(SINGLE_SPIN_OPS[kind], j, self.n_spins)

    def n(self, k: int, kind: str) -> np.ndarray:
        """Operator I_k^kind of nucleus k (0-based)."""
        return embed(SINGLE_SPIN_OPS[kind], self.n_electrons + k, self.n_spins)

    @cached_property
    def m_values(self) -> np.ndarray:
        """(N, n_spins) array of the m quantum numbers (+-1/2) of every product state."""
        n = self.n_spins
        idx = np.arange(self.dim)
        bits = (idx[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
        return 0.5 - bits.astype(float)

    @cached_property
    def total_electron_mz(self) -> np.ndarray:
        """Diagonal of M_S = sum_j S_jz over product states, shape (N,)."""
        return self.m_values[:, : self.n_electrons].sum(axis=1)


def hamiltonian_terms(system: SpinSystem) -> dict[str, np.ndarray]:
    """Fixed operator terms of the rotating-frame Hamiltonian (each multiplied by a coefficient
    in rad/s in `build_hamiltonian`).

    Keys: ``off_j`` (S_jz), ``nz_k`` (I_kz), ``mw_j`` (S_jx), ``dee`` (3 S1z S2z - S1.S2),
    ``J`` (S1.S2), ``A_jk`` (S_jz I_kz), ``Bx_jk`` (S_jz I_kx), ``By_jk`` (S_jz I_ky),
    ``dnn`` (3 I1z I2z - I1.I2).
    """
    t: dict[str, np.ndarray] = {}
    ne, nn = system.n_electrons, system.n_nuclei
    for j in range(ne):
        t[f"off_{j}"] = system.e(j, "z")
        t[f"mw_{j}"] = system.e(j, "x")
        for k in range(nn):
            t[f"A_{j}{k}"] = system.e(j, "z") @ system.n(k, "z")
            t[f"Bx_{j}{k}"] = system.e(j, "z") @ system.n(k, "x")
            t[f"By_{j}{k}"] = (system.e(j, "z") @ system.n(k, "y"))
    for k in range(nn):
        t[f"nz_{k}"] = system.n(k, "z")
    if ne == 2:
        s1s2 = sum(system.e(0, a) @ system.e(1, a) for a in "xyz")
        t["dee"] = 3.0 * system.e(0, "z") @ system.e(1, "z") - s1s2
        t["J"] = s1s2
    if nn == 2:
        i1i2 = sum(system.n(0, a) @ system.n(1, a) for a in "xyz")
        t["dnn"] = 3.0 * system.n(0, "z") @ system.n(1, "z") - i1i2
    return {k: np.real_if_close(v) for k, v in t.items()}
