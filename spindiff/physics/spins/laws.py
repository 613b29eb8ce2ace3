"""Source and paramagnetic relaxation of individual nuclei from the laws around each centre.

A law of the continuum is a function of the distance r from a centre, averaged over
orientations. For a nucleus at r_jc, polar angle theta_jc (B0 along z) from centre c:

    k_j        = sum_c k(r_jc) g(theta_jc)                      (1/s)
    k_j P_src,j = sum_c k(r_jc) g(theta_jc) P_src(r_jc)
    R1_para,j  = sum_c R1_para(r_jc) g(theta_jc)

with g = (15/2) sin^2 theta cos^2 theta, the nucleus's own |B|^2 relative to the orientation
average (spindiff.physics.spins.couplings.orientation_factor): the solid effect, the cross
effect of a centre and the paramagnetic relaxation all go as the pseudo-secular coupling
squared, B^2 ~ (3 sin theta cos theta / r^3)^2. Averaged over orientations this reproduces the
continuum law exactly (<g> = 1). Region laws (a constant exchange rate within a radius) are
not dipolar: they get no orientation factor (`dipolar=False`). The NEAREST centres of each
nucleus are summed (the laws fall as r^-6: farther centres add < 1e-4).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

from .couplings import orientation_factor
from .positions import Region

RadialLaw = Callable[[np.ndarray], np.ndarray]
NEAREST_CENTRES = 8


def nearest_centres(x: np.ndarray, centres: np.ndarray, region: Region,
                    k: int = NEAREST_CENTRES) -> tuple[np.ndarray, np.ndarray]:
    """(distances (N, k), cos theta (N, k)) of the k nearest centres of each nucleus."""
    k = min(k, len(centres))
    tree = cKDTree(region.wrap(centres), boxsize=region.boxsize)
    d, idx = tree.query(region.wrap(x) if region.periodic else x, k=k)
    d, idx = d.reshape(len(x), k), idx.reshape(len(x), k)
    v = region.minimum_image(x[:, None, :] - centres[idx])
    cos = v[..., 2] / np.maximum(d, 1e-12)
    return d, cos


def law_terms(r: np.ndarray, cos: np.ndarray, rate: RadialLaw | None,
              target: RadialLaw | float, dipolar: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(k_j, k_j P_src,j) summed over the given centres (arrays (N, k) of r and cos theta)."""
    if rate is None:
        z = np.zeros(r.shape[0])
        return z, z.copy()
    g = orientation_factor(cos) if dipolar else 1.0
    k = np.asarray(rate(r), float) * g
    p = np.asarray(target(r), float) if callable(target) else float(target)
    return k.sum(1), (k * p).sum(1)


def relaxation_terms(r: np.ndarray, cos: np.ndarray, law: RadialLaw,
                     dipolar: bool = True) -> np.ndarray:
    """R1_para,j summed over the given centres."""
    g = orientation_factor(cos) if dipolar else 1.0
    return (np.asarray(law(r), float) * g).sum(1)
