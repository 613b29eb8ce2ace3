"""Orientation grids for powder averages (unit vectors of B0 in the molecular frame + weights).

* ``zcw``: Zaremba-Conroy-Wolfsberg points (Eden & Levitt, J. Magn. Reson. 132, 220 (1998)):
  N = F_{M+2} (Fibonacci), beta_j = arccos(c1 (c2 frac(j/N) - 1)), alpha_j = 2 pi frac(j F_M / N),
  c = (1, 2) for the sphere; for the upper hemisphere cos(beta_j) = 1 - (j + 1/2)/N (midpoints,
  which removes the O(1/N) bias of the endpoint rule); equal weights.
* ``fibonacci``: golden-spiral points, z_j = 1 - (2j+1)/N, phi_j = j * golden angle; equal weights.
* ``gauss_legendre_cos``: Gauss-Legendre nodes in cos(theta) on [0, 1] for problems that depend
  only on the polar angle and are even under theta -> pi - theta (one dipolar vector: A depends
  on cos^2, B changes sign only, which a rotation of the nuclear frame undoes). Weights sum to 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PowderGrid:
    """Unit vectors ``dirs`` (n, 3) and weights (n,) summing to 1."""

    name: str
    dirs: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.weights)

    @property
    def cos_theta(self) -> np.ndarray:
        return self.dirs[:, 2]


def _fib(n: int) -> list[int]:
    f = [1, 1]
    while len(f) < n + 3:
        f.append(f[-1] + f[-2])
    return f


def zcw(n_min: int, hemisphere: bool = False) -> PowderGrid:
    """ZCW grid with the smallest Fibonacci size >= n_min (21, 34, 55, 89, 144, 233, 377, ...)."""
    f = _fib(40)
    m = next(i for i in range(len(f) - 2) if f[i + 2] >= n_min)
    nm, gm = f[m + 2], f[m]
    j = np.arange(nm)
    if hemisphere:
        beta = np.arccos(1.0 - (j + 0.5) / nm)
    else:
        beta = np.arccos(np.clip(2.0 * np.mod(j / nm, 1.0) - 1.0, -1, 1))
    alpha = 2.0 * np.pi * np.mod(j * gm / nm, 1.0)
    dirs = np.stack([np.sin(beta) * np.cos(alpha), np.sin(beta) * np.sin(alpha), np.cos(beta)], 1)
    return PowderGrid(f"zcw{nm}{'h' if hemisphere else ''}", dirs, np.full(nm, 1.0 / nm))


def fibonacci(n: int) -> PowderGrid:
    """Golden-spiral (Fibonacci) sphere with n points."""
    j = np.arange(n)
    z = 1.0 - (2.0 * j + 1.0) / n
    phi = j * np.pi * (3.0 - np.sqrt(5.0))
    s = np.sqrt(1.0 - z * z)
    return PowderGrid(f"fib{n}", np.stack([s * np.cos(phi), s * np.sin(phi), z], 1),
                      np.full(n, 1.0 / n))


def gauss_legendre_cos(n: int) -> PowderGrid:
    """n Gauss-Legendre nodes in cos(theta) on [0, 1] (axial problems), as unit vectors in x-z."""
    x, w = np.polynomial.legendre.leggauss(n)
    c = 0.5 * (x + 1.0)
    dirs = np.stack([np.sqrt(1 - c * c), np.zeros(n), c], 1)
    return PowderGrid(f"gl{n}", dirs, 0.5 * w)


def grid(name: str, n: int) -> PowderGrid:
    """Grid by name: 'zcw', 'zcw_hemi', 'fibonacci' or 'gl' (Gauss-Legendre in cos theta)."""
    if name == "zcw":
        return zcw(n)
    if name == "zcw_hemi":
        return zcw(n, hemisphere=True)
    if name == "fibonacci":
        return fibonacci(n)
    if name == "gl":
        return gauss_legendre_cos(n)
    raise ValueError(f"unknown grid {name!r}; use zcw, zcw_hemi, fibonacci or gl")
