"""Couplings of individual nuclei: nuclear flip-flops, hyperfine fields, orientation factors.

All frequencies in rad/s, lengths in nm; B0 along z. For nuclei j, k at separation r_jk and an
electron e at distance r_je (polar angle theta to B0):

    d_jk = (mu0/4pi) gamma_n^2 hbar (3 cos^2 theta_jk - 1) / (2 r_jk^3)   flip-flop coupling
    A_je = (mu0/4pi) gamma_e gamma_n hbar (3 cos^2 theta_je - 1) / r_je^3  secular hyperfine
    B_je = (mu0/4pi) gamma_e gamma_n hbar 3 sin theta_je cos theta_je / r_je^3  pseudo-secular

(the conventions of spindiff.physics.flipflop: D12 with the 1/2, A_z and A_pm without). The
flip-flop rate of a pair is Chessari's Eq. 9 (`flipflop.rate_eq9`) with its own d_jk, its own
hyperfine difference Delta_jk and Gamma_2 = Gamma_2^(II) + Gamma_1,j + Gamma_1,k, where
Gamma_1,j = sum_e 1/2 B_je^2 (1 - P_e^2) Gamma_c,e / (Gamma_c,e^2 + omega_0^2) (Eq. 6, the
paramagnetic broadening from every electron, independent fluctuations adding their rates).

Hyperfine difference (`hyperfine = ...`):
    "nearest"  Delta_jk = A_je* - A_ke* for the electron e* nearest to either nucleus of the
               pair, with that electron's P_e and Gamma_c in Eq. 9 (the continuum's
               nearest-centre convention; right for electron pairs whose P_e differ)
    "sum"      Delta_jk = h_j - h_k with h_j = sum of A_je over the NEAREST_ELECTRONS nearest
               electrons (the static field of all of them), one P_e and Gamma_c for all

Orientation factor of the dipolar source and relaxation laws around a centre:
    g(theta) = |3 sin theta cos theta|^2 / <|3 sin theta cos theta|^2> = (15/2) sin^2 cos^2
whose average over the sphere is exactly 1, so that sum over orientations of k(r) g(theta)
reproduces the continuum's orientation-averaged k(r).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..constants import GAMMA_E, dipolar_prefactor, gamma_nucleus
from ..flipflop import rate_eq9
from .positions import Region

#: electrons whose hyperfine fields are added per nucleus ("sum") or searched ("nearest")
NEAREST_ELECTRONS = 8
#: pairs are processed in chunks of this many (bounds the temporaries to ~100 MB)
CHUNK = 1 << 20


def nuclear_prefactor(nucleus: str) -> float:
    """(mu0/4pi) gamma_n^2 hbar in rad/s nm^3."""
    g = gamma_nucleus(nucleus)
    return dipolar_prefactor(g, g)


def hyperfine_prefactor(nucleus: str, gamma_e: float = GAMMA_E) -> float:
    """|(mu0/4pi) gamma_e gamma_n hbar| in rad/s nm^3 (1H: 2 pi x 79.1 kHz nm^3)."""
    return abs(dipolar_prefactor(gamma_e, gamma_nucleus(nucleus)))


def orientation_factor(cos_theta: np.ndarray) -> np.ndarray:
    """g = (15/2) sin^2 theta cos^2 theta: |B|^2 relative to its orientation average."""
    c2 = np.asarray(cos_theta, float) ** 2
    return 7.5 * c2 * (1.0 - c2)


@dataclass
class Electrons:
    """Unpaired electrons: positions (M, 3) nm, mean polarization P_e and correlation rate
    Gamma_c = 1/tau_c (1/s) of each, and the index of the centre each belongs to."""
    positions: np.ndarray
    polarization: np.ndarray
    gamma_c: np.ndarray
    centre: np.ndarray


@dataclass
class FlipFlopSettings:
    """What Eq. 9 needs besides the geometry: nucleus, Gamma_2^(II) (1/s), omega_0 (rad/s),
    hyperfine mode, Delta scale, whether Gamma_1 (Eq. 6) is added."""
    nucleus: str
    gamma2: float
    omega0: float
    hyperfine: str = "nearest"
    delta_scale: float = 1.0
    include_gamma1: bool = True
    gamma_e: float = GAMMA_E


class ElectronField:
    """Per-nucleus couplings to the nearest electrons (minimum image in a periodic box)."""

    def __init__(self, x: np.ndarray, electrons: Electrons, region: Region,
                 settings: FlipFlopSettings):
        self.x, self.e, self.region, self.s = x, electrons, region, settings
        self.k_hf = hyperfine_prefactor(settings.nucleus, settings.gamma_e)
        m = len(electrons.positions)
        n = len(x)
        self.gamma1 = np.zeros(n)
        self.field = np.zeros(n)        # h_j: summed secular hyperfine (rad/s)
        self.nearest = np.full(n, -1)   # nearest electron
        self.nearest_r = np.full(n, np.inf)
        if m == 0 or n == 0:
            return
        k = min(NEAREST_ELECTRONS, m)
        tree = cKDTree(region.wrap(electrons.positions), boxsize=region.boxsize)
        for sl in _chunks(n, CHUNK // max(k, 1)):
            xs = region.wrap(x[sl]) if region.periodic else x[sl]
            d, idx = tree.query(xs, k=k)
            d, idx = d.reshape(len(xs), k), idx.reshape(len(xs), k)
            self.nearest[sl], self.nearest_r[sl] = idx[:, 0], d[:, 0]
            a, b = self.couplings(x[sl][:, None, :], idx)
            self.field[sl] = a.sum(1)
            pe, gc = electrons.polarization[idx], electrons.gamma_c[idx]
            if settings.include_gamma1:
                self.gamma1[sl] = np.sum(0.5 * b * b * (1 - pe * pe) * gc
                                         / (gc * gc + settings.omega0 ** 2), axis=1)

    def couplings(self, x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A and B (rad/s) of nuclei at x (..., 3) to electrons idx (broadcasting)."""
        v = self.region.minimum_image(x - self.e.positions[idx])
        r = np.maximum(np.linalg.norm(v, axis=-1), 1e-3)
        c = v[..., 2] / r
        pref = self.k_hf / r ** 3
        return pref * (3 * c * c - 1), pref * 3 * c * np.sqrt(np.clip(1 - c * c, 0, 1))


def pair_rates(i: np.ndarray, j: np.ndarray, x: np.ndarray, field: ElectronField | None,
               settings: FlipFlopSettings, region: Region, pe_all: float = 1.0,
               gamma_c_all: float = 2e6, tail=None) -> np.ndarray:
    """Eq. 9 flip-flop rates W (1/s) of the pairs (i, j) of nuclei at x.

    Without electrons (field None or empty) W = d^2 / (2 Gamma_2^(II)). pe_all, gamma_c_all:
    the single P_e and Gamma_c of hyperfine = "sum". tail: optional callable (u (m, 3) unit
    vectors) -> factor multiplying W (the truncated tail, spindiff.physics.spins.tail)."""
    out = np.empty(len(i))
    pnn = nuclear_prefactor(settings.nucleus)
    for sl in _chunks(len(i), CHUNK):
        a, b = i[sl], j[sl]
        v = region.minimum_image(x[b] - x[a])
        r = np.linalg.norm(v, axis=1)
        c = v[:, 2] / r
        d12 = pnn * (3 * c * c - 1) / (2 * r ** 3)
        g2 = np.full(len(a), settings.gamma2)
        if field is None or len(field.e.positions) == 0:
            w = 0.5 * d12 * d12 / g2
        else:
            g2 = g2 + field.gamma1[a] + field.gamma1[b]
            if settings.hyperfine == "sum":
                delta = field.field[a] - field.field[b]
                pe, gc = pe_all, gamma_c_all
            else:
                e_star = np.where(field.nearest_r[a] <= field.nearest_r[b],
                                  field.nearest[a], field.nearest[b])
                aa, _ = field.couplings(x[a], e_star)
                ab, _ = field.couplings(x[b], e_star)
                delta = aa - ab
                pe, gc = field.e.polarization[e_star], field.e.gamma_c[e_star]
            w = rate_eq9(d12, settings.delta_scale * delta, pe, gc, g2)
        if tail is not None:
            w = w * tail(v / r[:, None])
        out[sl] = w
    return out


def _chunks(n: int, size: int):
    size = max(int(size), 1)
    for s in range(0, n, size):
        yield slice(s, min(s + size, n))
