"""Wigner-Seitz estimates of the volume per paramagnetic centre (docs/reference/physics.md sections 6, 7).

Concentrations are number densities in nm^-3 (1 mM = 6.022e-4 nm^-3, see
`constants.MILLIMOLAR_IN_PER_NM3`).
"""
from __future__ import annotations

import numpy as np


def sphere_cell_radius(number_density: float) -> float:
    """Radius (nm) of the sphere of mean volume per centre: R = (3 / (4 pi c))^(1/3).

    Checks: 10 mM -> 3.41 nm, 50 mM -> 1.99 nm.
    """
    if number_density <= 0:
        raise ValueError(f"concentration must be > 0, got {number_density}")
    return float((3.0 / (4.0 * np.pi * number_density)) ** (1.0 / 3.0))


def cube_cell_side(number_density: float) -> float:
    """Side (nm) of the periodic cube holding one centre (Takeda): L = c^(-1/3)."""
    if number_density <= 0:
        raise ValueError(f"concentration must be > 0, got {number_density}")
    return float(number_density ** (-1.0 / 3.0))


def mean_intercentre_distance(number_density: float) -> float:
    """Mean inter-centre distance r_ee = 2 (3 / (4 pi c))^(1/3) in nm (Livni Eq. 6; 40 mM -> 4.3 nm)."""
    return 2.0 * sphere_cell_radius(number_density)
