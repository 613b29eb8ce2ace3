"""Physical constants (CODATA via scipy.constants) and gyromagnetic ratios, in internal units.

Gyromagnetic ratios are in rad/s/T (docs/reference/physics.md section 1; nuclei: spindiff.physics.nuclei).
Lengths are nm, so the dipolar prefactor mu0/(4 pi) * hbar is expressed with nm^3 (see `dipolar_prefactor`).
"""
from __future__ import annotations

import numpy as np
from scipy import constants as _c

from .nuclei import NUCLEI, lookup

HBAR: float = _c.hbar  # J s
K_B: float = _c.k  # J / K
MU_B: float = _c.physical_constants["Bohr magneton"][0]  # J / T
MU0_OVER_4PI: float = _c.mu_0 / (4.0 * np.pi)  # T^2 m^3 / J
N_A: float = _c.N_A  # 1 / mol
G_FREE_ELECTRON: float = 2.0023

#: magnitude of the free-electron gyromagnetic ratio, rad/s/T (docs/reference/physics.md section 1)
GAMMA_E: float = 1.76085963e11

#: nuclear gyromagnetic ratios, rad/s/T (signed), for every nucleus of spindiff.physics.nuclei
#: (IUPAC 2001 NMR nomenclature, Harris et al., Pure Appl. Chem. 73, 1795, Table 1)
GAMMA_NUCLEUS: dict[str, float] = {name: n.gamma for name, n in NUCLEI.items()}

#: 1 mM = 1 mol/m^3 expressed as a number density in nm^-3
MILLIMOLAR_IN_PER_NM3: float = N_A * 1e-27


def gamma_nucleus(nucleus: str) -> float:
    """Gyromagnetic ratio (rad/s/T, signed) of `nucleus` ("1H", "27Al", ...; see
    spindiff.physics.nuclei). ValueError with close matches for an unknown name."""
    return lookup(nucleus).gamma


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
