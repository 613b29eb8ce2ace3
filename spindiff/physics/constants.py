"""Physical constants (CODATA via scipy.constants) and gyromagnetic ratios, in internal units.

Gyromagnetic ratios are in rad/s/T (docs/physics.md section 1). Lengths are nm, so the dipolar
prefactor mu0/(4 pi) * hbar is expressed with nm^3 (see `dipolar_prefactor`).
"""
from __future__ import annotations

import numpy as np
from scipy import constants as _c

HBAR: float = _c.hbar  # J s
K_B: float = _c.k  # J / K
MU_B: float = _c.physical_constants["Bohr magneton"][0]  # J / T
MU0_OVER_4PI: float = _c.mu_0 / (4.0 * np.pi)  # T^2 m^3 / J
N_A: float = _c.N_A  # 1 / mol
G_FREE_ELECTRON: float = 2.0023

#: magnitude of the free-electron gyromagnetic ratio, rad/s/T (docs/physics.md section 1)
GAMMA_E: float = 1.76085963e11

#: nuclear gyromagnetic ratios, rad/s/T (docs/physics.md section 1)
GAMMA_NUCLEUS: dict[str, float] = {
    "1H": 2.6752218744e8,
    "2H": 4.1065e7,
    "7Li": 1.03962e8,
    "13C": 6.728284e7,
    "31P": 1.0839e8,
    "19F": 2.51815e8,
}

#: 1 mM = 1 mol/m^3 expressed as a number density in nm^-3
MILLIMOLAR_IN_PER_NM3: float = N_A * 1e-27


def gamma_nucleus(nucleus: str) -> float:
    """Gyromagnetic ratio of `nucleus` ("1H", "2H", "7Li", "13C", "31P", "19F") in rad/s/T."""
    try:
        return GAMMA_NUCLEUS[nucleus]
    except KeyError:
        allowed = ", ".join(GAMMA_NUCLEUS)
        raise ValueError(f"unknown nucleus {nucleus!r}; allowed: {allowed}") from None


def electron_gamma(g: float = G_FREE_ELECTRON) -> float:
    """Electron gyromagnetic ratio |gamma_e| = g mu_B / hbar in rad/s/T for a g-factor `g`."""
    return g * MU_B / HBAR


def thermal_polarization(omega: float | np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    """Thermal polarization of a spin-1/2 with Larmor angular frequency `omega` (rad/s) at
    `temperature` (K): p = tanh(hbar omega / (2 k_B T))."""
    return np.tanh(HBAR * np.asarray(omega) / (2.0 * K_B * np.asarray(temperature)))


def nuclear_larmor(nucleus: str, b0: float) -> float:
    """Nuclear Larmor angular frequency |gamma_n| B0 in rad/s (B0 in T)."""
    return abs(gamma_nucleus(nucleus)) * b0


def nuclear_thermal_polarization(nucleus: str, b0: float, temperature: float) -> float:
    """Thermal polarization of `nucleus` at field `b0` (T) and `temperature` (K)."""
    return float(thermal_polarization(nuclear_larmor(nucleus, b0), temperature))


def dipolar_prefactor(gamma1: float, gamma2: float) -> float:
    """(mu0/4pi) gamma1 gamma2 hbar in rad/s * nm^3: divide by r^3 (r in nm) to get a dipolar
    coupling in rad/s."""
    return MU0_OVER_4PI * gamma1 * gamma2 * HBAR * 1e27
