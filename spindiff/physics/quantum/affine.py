"""The affine kinetic system shared by the full master equation (`steady`) and the effective
rate model (`effective`): with coordinates (x_0 fixed by the trace, x'), dx'/dt = -K x' + c.

`stationary_and_moments` solves K x' = c (the steady state) and runs three steps of inverse
iteration from the nuclear Zeeman order e, y_{k+1} = K^-1 y_k, returning the moments
o_k = e . y_k (o2/o3: the slowest, nuclear, eigenvalue; 1/o1: the integral relaxation rate).
Everything is batched over the first axis (orientations, geometries, hyperfine lines).
"""
from __future__ import annotations

import numpy as np


def stationary_and_moments(gen: np.ndarray, source: np.ndarray, x0: float, iz: list[int]
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                      tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(K, c, x', (o1, o2, o3)) for generators gen (n, N, N) acting on coordinates whose first
    one is fixed at x0, with the constant source (n, N); iz: indices of the nuclear Zeeman
    coordinates within x' (0-based after dropping the trace coordinate)."""
    k = -gen[:, 1:, 1:]
    c = gen[:, 1:, 0] * x0 - source[:, 1:]
    e = np.zeros((gen.shape[0], k.shape[1]))
    e[:, iz] = 1.0 / np.sqrt(len(iz))
    sol = np.linalg.solve(k, np.stack([c, e], axis=2))
    x, y1 = sol[..., 0], sol[..., 1]
    y2 = np.linalg.solve(k, y1[..., None])[..., 0]
    y3 = np.linalg.solve(k, y2[..., None])[..., 0]
    moments = tuple(y[:, iz].sum(axis=1) / np.sqrt(len(iz)) for y in (y1, y2, y3))
    return k, c, x, moments
