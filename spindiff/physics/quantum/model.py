"""Parameter containers of the small-system quantum problem (internal units: rad/s, 1/s, K).

`SpinParams` holds what is common to a batch (field-derived frequencies, microwave, relaxation);
`SpinBatch` holds what changes from one orientation / geometry / hyperfine line to the next.
Both are plain numbers: builders in `couplings`, `powder`, `mn` and `tables` fill them from a
physical description (`agents.PolarizingAgent`, `agents.Conditions`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..constants import HBAR, K_B
from .operators import SpinSystem


@dataclass(frozen=True)
class SpinParams:
    """Batch-wide parameters of the rotating-frame Lindblad model (docs/reference/physics.md section 6).

    Attributes:
        omega_n: nuclear Larmor angular frequency |gamma_n| B0 (rad/s, > 0).
        omega_mw: absolute microwave angular frequency (rad/s); only used for the Boltzmann
            factors of the thermalised dissipator (lab-frame transition energies).
        temperature: lattice temperature (K).
        omega1: microwave nutation frequency gamma_e B1 (rad/s); 0 = microwaves off.
        t1e, t2e: electron longitudinal / transverse relaxation times (s). T2e is the *total*
            decay time of an electron coherence (Bloch T2), see `r2e_pure`.
        t1n, t2n: nuclear T1 (bulk, not paramagnetic) and T2 (s).
        nuclear_dephasing: "secular" (default): the nuclear T2 dephasing acts along the local
            nuclear quantization axis set by omega_n and the hyperfine field of each electron
            configuration (slow fluctuations: no spectral density at omega_n); "lab": Karabanov's
            L(I_z) verbatim, which with a tilted axis adds a spurious nuclear T1 process
            ~ r2n B^2 / (4 omega_n^2) that can exceed the real paramagnetic relaxation at low T.
    """

    omega_n: float
    omega_mw: float
    temperature: float
    omega1: float = 0.0
    t1e: float = 1e-3
    t2e: float = 1e-6
    t1n: float = 100.0
    t2n: float = 1e-3
    nuclear_dephasing: str = "secular"

    def __post_init__(self) -> None:
        for name in ("omega_n", "omega_mw", "temperature", "t1e", "t2e", "t1n", "t2n"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.t2e > 2 * self.t1e or self.t2n > 2 * self.t1n:
            raise ValueError("need T2 <= 2 T1 for electrons and nuclei")
        if self.nuclear_dephasing not in ("secular", "lab"):
            raise ValueError("nuclear_dephasing must be 'secular' or 'lab'")

    @property
    def beta(self) -> float:
        """hbar / (k_B T) in s: Boltzmann factor exponent per rad/s."""
        return HBAR / (K_B * self.temperature)

    @property
    def r1e(self) -> float:
        return 1.0 / self.t1e

    @property
    def r2e_pure(self) -> float:
        """Pure-dephasing rate of the L(S_z) term (1/s): 1/T2e - 1/(2 T1e), so that an electron
        coherence decays at exactly 1/T2e (Bloch equations, Karabanov Eq. 2)."""
        return 1.0 / self.t2e - 0.5 / self.t1e

    @property
    def r1n(self) -> float:
        return 1.0 / self.t1n

    @property
    def r2n_pure(self) -> float:
        """Pure-dephasing rate of the nuclear L(I_z) term: 1/T2n - 1/(2 T1n)."""
        return 1.0 / self.t2n - 0.5 / self.t1n

    def with_(self, **kw) -> SpinParams:
        """Copy with some fields replaced (e.g. ``p.with_(omega1=0.0)``)."""
        return replace(self, **kw)


@dataclass
class SpinBatch:
    """Per-member parameters of a batch of n small systems (all rad/s).

    Attributes:
        system: spin layout.
        offsets: (n, n_e) electron offsets Delta_j = omega_ej - omega_mw.
        a: (n, n_e, n_n) secular hyperfine A_jk (coefficient of S_jz I_kz).
        b: (n, n_e, n_n) complex pseudo-secular B_jk: term S_jz (Re B I_kx + Im B I_ky).
        d_ee: (n,) electron-electron dipolar coupling (coefficient of 3 S1z S2z - S1.S2).
        j_ee: (n,) isotropic exchange (coefficient of S1.S2).
        d_nn: (n,) nuclear dipolar coupling (two nuclei only).
        weights: (n,) averaging weights (sum to 1 over what is averaged together).
        omega1: optional (n,) per-member nutation frequency overriding SpinParams.omega1.
    """

    system: SpinSystem
    offsets: np.ndarray
    a: np.ndarray
    b: np.ndarray
    d_ee: np.ndarray | None = None
    j_ee: np.ndarray | None = None
    d_nn: np.ndarray | None = None
    weights: np.ndarray | None = None
    omega1: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        ne, nn = self.system.n_electrons, self.system.n_nuclei
        self.offsets = np.atleast_2d(np.asarray(self.offsets, dtype=float))
        n = self.offsets.shape[0]
        if self.offsets.shape != (n, ne):
            raise ValueError(f"offsets must have shape (n, {ne}), got {self.offsets.shape}")
        self.a = np.broadcast_to(np.asarray(self.a, dtype=float), (n, ne, nn)).copy()
        self.b = np.broadcast_to(np.asarray(self.b, dtype=complex), (n, ne, nn)).copy()
        zeros = np.zeros(n)
        self.d_ee = zeros.copy() if self.d_ee is None else np.broadcast_to(
            np.asarray(self.d_ee, float), (n,)).copy()
        self.j_ee = zeros.copy() if self.j_ee is None else np.broadcast_to(
            np.asarray(self.j_ee, float), (n,)).copy()
        self.d_nn = zeros.copy() if self.d_nn is None else np.broadcast_to(
            np.asarray(self.d_nn, float), (n,)).copy()
        self.weights = np.full(n, 1.0 / n) if self.weights is None else np.broadcast_to(
            np.asarray(self.weights, float), (n,)).copy()
        if self.omega1 is not None:
            self.omega1 = np.broadcast_to(np.asarray(self.omega1, float), (n,)).copy()

    def __len__(self) -> int:
        return self.offsets.shape[0]

    def subset(self, idx) -> SpinBatch:
        """Members selected by an index array or slice (weights are not renormalised)."""
        return SpinBatch(self.system, self.offsets[idx], self.a[idx], self.b[idx],
                         self.d_ee[idx], self.j_ee[idx], self.d_nn[idx], self.weights[idx],
                         None if self.omega1 is None else self.omega1[idx], dict(self.meta))

    @staticmethod
    def concat(batches: list[SpinBatch]) -> SpinBatch:
        """Concatenate batches of the same system."""
        s = batches[0].system
        cat = lambda name: np.concatenate([getattr(b, name) for b in batches])  # noqa: E731
        om = None
        if any(b.omega1 is not None for b in batches):
            raise ValueError("concat of batches with per-member omega1 is not supported")
        return SpinBatch(s, cat("offsets"), cat("a"), cat("b"), cat("d_ee"), cat("j_ee"),
                         cat("d_nn"), cat("weights"), om)


def hamiltonian_coefficients(batch: SpinBatch, params: SpinParams,
                             microwaves: bool = True) -> dict[str, np.ndarray]:
    """Coefficient arrays (n,) in rad/s for every key of `operators.hamiltonian_terms`."""
    s = batch.system
    n = len(batch)
    c: dict[str, np.ndarray] = {}
    w1 = (np.full(n, params.omega1) if batch.omega1 is None else batch.omega1)
    for j in range(s.n_electrons):
        c[f"off_{j}"] = batch.offsets[:, j]
        c[f"mw_{j}"] = w1 if microwaves else np.zeros(n)
        for k in range(s.n_nuclei):
            c[f"A_{j}{k}"] = batch.a[:, j, k]
            c[f"Bx_{j}{k}"] = batch.b[:, j, k].real
            c[f"By_{j}{k}"] = batch.b[:, j, k].imag
    for k in range(s.n_nuclei):
        c[f"nz_{k}"] = np.full(n, params.omega_n)
    if s.n_electrons == 2:
        c["dee"] = batch.d_ee
        c["J"] = batch.j_ee
    if s.n_nuclei == 2:
        c["dnn"] = batch.d_nn
    return c
