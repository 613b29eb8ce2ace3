"""Electron polarization: thermal (Boltzmann) and under continuous microwave irradiation.

docs/reference/physics.md section 4. One electron polarization P_e is used for all electrons of a centre
(no spectral diffusion model); this is the documented default.
Sign convention: P_e > 0 is the thermal-equilibrium sign (electron spins aligned with the
field in the low-energy state); saturation drives P_e toward 0, never through it.
"""
from __future__ import annotations

import numpy as np

from .constants import G_FREE_ELECTRON, HBAR, K_B, MU_B


def thermal_electron_polarization(b0: float, temperature: float, g: float = G_FREE_ELECTRON) -> float:
    """P_e0 = tanh(g mu_B B0 / (2 k_B T)); B0 in T, temperature in K.

    Check: g = 2.0023, 7.05 T, 1.2 K -> 0.99926; 9.4 T, 100 K -> 0.0631.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 K, got {temperature}")
    return float(np.tanh(g * MU_B * b0 / (2.0 * K_B * temperature)))


def saturation_factor(omega1: float | np.ndarray, t1e: float, t2e: float,
                      offset: float | np.ndarray = 0.0) -> np.ndarray:
    """Bloch steady-state factor Z = 1 / (1 + omega1^2 T1e T2e / (1 + offset^2 T2e^2)).

    omega1 and offset in rad/s, T1e and T2e in s (Karabanov Eqs. 2-3). Z = 1 without microwaves
    and Z -> 0 at full saturation on resonance.
    """
    omega1 = np.asarray(omega1, dtype=float)
    offset = np.asarray(offset, dtype=float)
    return 1.0 / (1.0 + omega1**2 * t1e * t2e / (1.0 + (offset * t2e) ** 2))


def electron_polarization(b0: float, temperature: float, g: float = G_FREE_ELECTRON,
                          omega1: float = 0.0, t1e: float = 1e-3, t2e: float = 1e-6,
                          offset: float = 0.0) -> float:
    """Electron polarization under microwaves: P_e = P_e0 * Z (docs/reference/physics.md section 4).

    With omega1 = 0 this is the thermal polarization.
    """
    return float(thermal_electron_polarization(b0, temperature, g)
                 * saturation_factor(omega1, t1e, t2e, offset))


def electron_larmor(b0: float, g: float = G_FREE_ELECTRON) -> float:
    """Electron Larmor angular frequency g mu_B B0 / hbar in rad/s."""
    return g * MU_B * b0 / HBAR
