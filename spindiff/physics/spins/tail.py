"""The neighbour cutoff: what the truncated flip-flops carry, and its correction.

Far from the electrons the flip-flop rate of a pair is W(r) = K (3 cos^2 theta - 1)^2 / r^6,
K = p_nn^2 / (8 Gamma_2) (p_nn = (mu0/4pi) gamma_n^2 hbar, Eq. 9 with Delta = 0). Pairs
farther apart than the cutoff r_c are dropped. At nuclear density n, with the pair density
n g(r) ~ n beyond r_c (exact on average for random positions; lattices: `lattice_sums`),

    total rate per nucleus   T_rate = n K int dOmega (3c^2 - 1)^2 / (3 r_c^3)
                                    = n K (2 pi) (8/5) / (3 r_c^3)                ~ r_c^-3
    second moment per axis   T_l = (1/2) n K I_l / r_c                               ~ r_c^-1
        I_x = I_y = pi 16/21,  I_z = 2 pi 88/105   (int dOmega (3c^2-1)^2 u_l^2)

so the rates converge fast but the diffusion tensor D_l = (1/2) sum_k W_jk (x_k - x_j)_l^2
only as 1/r_c: at r_c = 2 n^(-1/3) the kept pairs carry 70 % of D on a simple cubic lattice.
`TailCorrection` restores the second moment: every kept rate is multiplied by
1 + sum_m alpha_m u_m^2 (u the pair's unit vector), with alpha fixed so that the far-field
moment tensor of the kept, corrected pairs equals the untruncated one on all three axes. On a
lattice the untruncated tensor is the lattice sum (to r = max(12 a, 3 r_c), the continuum
beyond, converged to 1e-4); for random positions it is the kept part measured on the sample
plus the continuum tail. The price is a total rate per nucleus raised by about the same factor
(the dropped pairs' own rate is only T_rate); `bounds` reports both numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

#: int dOmega (3 cos^2 - 1)^2 u_l^2 for l = x, y, z
ANGULAR_MOMENTS = np.array([math.pi * 16 / 21, math.pi * 16 / 21, 2 * math.pi * 88 / 105])
#: int dOmega (3 cos^2 - 1)^2
ANGULAR_RATE = 2 * math.pi * 1.6
#: default cutoff in units of the mean spacing n^(-1/3) (see docs/reference/spins.md, "The cutoff")
DEFAULT_CUTOFF = 2.0


def kernel(v: np.ndarray) -> np.ndarray:
    """(3 cos^2 theta - 1)^2 / r^6 for difference vectors v (m, 3): the far-field W / K."""
    r2 = np.einsum("ij,ij->i", v, v)
    c2 = v[:, 2] ** 2 / r2
    return (3 * c2 - 1) ** 2 / r2 ** 3


def continuum_tail(density: float, rc: float) -> tuple[float, np.ndarray]:
    """(rate tail, moment tail (3,)) beyond rc in units of K (g(r) = 1)."""
    return (density * ANGULAR_RATE / (3 * rc ** 3),
            0.5 * density * ANGULAR_MOMENTS / rc)


def lattice_sites(kind: str, density: float, radius: float) -> np.ndarray:
    """Difference vectors (m, 3) from one site of an ideal sc/fcc lattice to all others
    within `radius` (nm)."""
    if kind == "sc":
        basis, cell = np.zeros((1, 3)), density ** (-1 / 3)
    else:
        basis = np.array([[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]], float)
        cell = (4 / density) ** (1 / 3)
    m = int(math.ceil(radius / cell)) + 1
    ax = np.arange(-m, m + 1)
    g = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3).astype(float)
    v = ((g[:, None, :] + basis[None]) * cell).reshape(-1, 3)
    r = np.linalg.norm(v, axis=1)
    return v[(r > 1e-9 * cell) & (r <= radius)]


def moments(v: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, np.ndarray,
                                                                          np.ndarray]:
    """For neighbour vectors v of one site: (sum K, (1/2) sum K v_l^2 (3,),
    M_lm = (1/2) sum K u_m^2 v_l^2 (3, 3)), in units of K."""
    w = kernel(v) if weights is None else weights
    r2 = np.einsum("ij,ij->i", v, v)
    u2 = v ** 2 / r2[:, None]
    second = 0.5 * (w[:, None] * v ** 2).sum(0)
    mix = 0.5 * np.einsum("i,il,im->lm", w, v ** 2, u2)
    return float(w.sum()), second, mix


@dataclass(frozen=True)
class TailCorrection:
    """Multiplies a kept pair's rate by 1 + alpha . u^2 (see the module docstring). Rates in
    units of K per nucleus, moments (3,) in units of K nm^2."""
    alpha: np.ndarray
    rc: float
    kept_rate: float
    full_rate: float
    kept_moment: np.ndarray
    full_moment: np.ndarray
    corrected_rate: float

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return 1.0 + (u ** 2) @ self.alpha

    @property
    def bounds(self) -> dict:
        """Relative size of what the cutoff drops, and what the correction leaves."""
        return {"cutoff_nm": self.rc,
                "rate_tail_fraction": 1.0 - self.kept_rate / self.full_rate,
                "moment_tail_fraction": (1.0 - self.kept_moment / self.full_moment).tolist(),
                "alpha": self.alpha.tolist(),
                "corrected_rate_excess": self.corrected_rate / self.full_rate - 1.0}


def _solve(kept_rate, kept, mix, full_rate, full, rate_mix, rc) -> TailCorrection:
    try:
        alpha = np.linalg.solve(mix, full - kept)
    except np.linalg.LinAlgError:  # no pairs kept (a few isolated nuclei): nothing to scale
        alpha = np.zeros(3)
    return TailCorrection(alpha, rc, kept_rate, full_rate, kept, full,
                          float(kept_rate + rate_mix @ alpha))


def lattice_correction(kind: str, density: float, rc: float) -> TailCorrection:
    """The exact correction for an ideal sc or fcc lattice."""
    a = density ** (-1 / 3)
    big = max(12 * a, 3 * rc)
    v = lattice_sites(kind, density, big)
    r = np.linalg.norm(v, axis=1)
    full_rate, full, _ = moments(v)
    t_rate, t_mom = continuum_tail(density, big)
    kept_rate, kept, mix = moments(v[r <= rc])
    u2 = v[r <= rc] ** 2 / (r[r <= rc, None] ** 2)
    rate_mix = (kernel(v[r <= rc])[:, None] * u2).sum(0)
    return _solve(kept_rate, kept, mix, full_rate + t_rate, full + t_mom, rate_mix, rc)


def sample_correction(x: np.ndarray, density: float, rc: float, boxsize=None,
                      sample: int = 4000, seed: int = 0,
                      interior: np.ndarray | None = None) -> TailCorrection:
    """The correction for any configuration (random, file): kept moments averaged over up to
    `sample` nuclei (those flagged `interior`, e.g. at least rc from a closed boundary), the
    continuum tail beyond rc."""
    idx = np.arange(len(x)) if interior is None else np.flatnonzero(interior)
    if len(idx) == 0:
        idx = np.arange(len(x))
    rng = np.random.default_rng(seed)
    if len(idx) > sample:
        idx = rng.choice(idx, sample, replace=False)
    tree = cKDTree(x, boxsize=boxsize)
    lists = tree.query_ball_point(x[idx], rc)
    tot_rate, tot, mix, rate_mix = 0.0, np.zeros(3), np.zeros((3, 3)), np.zeros(3)
    L = None if boxsize is None else np.asarray(boxsize, float)
    for j, nb in zip(idx, lists):
        nb = [k for k in nb if k != j]
        if not nb:
            continue
        v = x[nb] - x[j]
        if L is not None:
            v -= L * np.round(v / L)
        rate, second, m = moments(v)
        r2 = np.einsum("ij,ij->i", v, v)
        rate_mix += (kernel(v)[:, None] * v ** 2 / r2[:, None]).sum(0)
        tot_rate, tot, mix = tot_rate + rate, tot + second, mix + m
    n = len(idx)
    t_rate, t_mom = continuum_tail(density, rc)
    kept_rate, kept = tot_rate / n, tot / n
    return _solve(kept_rate, kept, mix / n, kept_rate + t_rate, kept + t_mom, rate_mix / n, rc)
