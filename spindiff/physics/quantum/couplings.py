"""Dipolar couplings of the small spin systems from distances and angles (docs/reference/physics.md section 6).

High-field secular / pseudo-secular parts, rad/s, distances in nm:

    A   = (mu0/4pi) gamma_e gamma_n hbar (1 - 3 cos^2 theta) / r^3      (S_z I_z)
    B   = -(mu0/4pi) gamma_e gamma_n hbar 3 sin theta cos theta / r^3   (S_z I_x after choosing
          the nuclear x axis along the azimuth of r; complex B = |B| e^{i phi} in general)
    d_ee = (mu0/4pi) gamma_e^2 hbar (1 - 3 cos^2 theta_ee) / (2 r_ee^3)  (3 S1z S2z - S1.S2)

theta is the angle between the inter-spin vector and B0. gamma_e = g mu_B / hbar.
Check: e-1H prefactor at 0.9 nm = 108 kHz (2 pi x 108e3 rad/s).
"""
from __future__ import annotations

import numpy as np

from ..constants import G_FREE_ELECTRON, dipolar_prefactor, electron_gamma, gamma_nucleus


def en_prefactor(nucleus: str, g: float = G_FREE_ELECTRON) -> float:
    """(mu0/4pi) gamma_e gamma_n hbar in rad/s nm^3."""
    return dipolar_prefactor(electron_gamma(g), abs(gamma_nucleus(nucleus)))


def ee_prefactor(g1: float = G_FREE_ELECTRON, g2: float | None = None) -> float:
    """(mu0/4pi) gamma_e1 gamma_e2 hbar in rad/s nm^3."""
    return dipolar_prefactor(electron_gamma(g1), electron_gamma(g1 if g2 is None else g2))


def hyperfine_from_angle(r: np.ndarray | float, cos_theta: np.ndarray | float, nucleus: str,
                         g: float = G_FREE_ELECTRON, phi: np.ndarray | float = 0.0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Secular A and pseudo-secular (complex) B in rad/s for an e-n distance r (nm) at polar
    angle arccos(cos_theta) to B0 and azimuth phi (rad)."""
    r = np.asarray(r, dtype=float)
    c = np.asarray(cos_theta, dtype=float)
    s = np.sqrt(np.clip(1.0 - c * c, 0.0, 1.0))
    pref = en_prefactor(nucleus, g) / r**3
    a = pref * (1.0 - 3.0 * c * c)
    b = -pref * 3.0 * s * c * np.exp(1j * np.asarray(phi, dtype=float))
    return a, b


def ee_dipolar_from_angle(r_ee: np.ndarray | float, cos_theta: np.ndarray | float,
                          g: float = G_FREE_ELECTRON) -> np.ndarray:
    """Electron-electron coupling d_ee (rad/s) for distance r_ee (nm) at angle arccos(cos_theta)."""
    c = np.asarray(cos_theta, dtype=float)
    return ee_prefactor(g) * (1.0 - 3.0 * c * c) / (2.0 * np.asarray(r_ee, dtype=float) ** 3)


def lab_frame(b0_dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal frames (x, y, z = B0) for unit vectors b0_dirs (n, 3)."""
    z = b0_dirs / np.linalg.norm(b0_dirs, axis=1, keepdims=True)
    ref = np.where(np.abs(z[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
    x = np.cross(ref, z)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(z, x)
    return x, y, z


def couplings_from_vectors(vec_en: np.ndarray, b0_dirs: np.ndarray, nucleus: str,
                           g: float = G_FREE_ELECTRON) -> tuple[np.ndarray, np.ndarray]:
    """A and complex B (rad/s) for e->n vectors vec_en (n, 3) in nm and B0 directions (n, 3).

    The azimuth of every vector is measured in the frame of `lab_frame`, so the relative phases
    of B for several electrons coupled to one nucleus are meaningful.
    """
    x, y, z = lab_frame(b0_dirs)
    r = np.linalg.norm(vec_en, axis=1)
    u = vec_en / r[:, None]
    c = np.sum(u * z, axis=1)
    phi = np.arctan2(np.sum(u * y, axis=1), np.sum(u * x, axis=1))
    return hyperfine_from_angle(r, c, nucleus, g, phi)
