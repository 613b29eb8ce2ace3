"""Positions of paramagnetic centres in a box (pure numpy; docs/reference/physics.md section 7).

Lengths are in nm, concentrations are number densities in nm^-3 (1 mM = 6.022e-4 nm^-3).

Random centres are drawn by random sequential addition (RSA): candidate positions are drawn
uniformly in the allowed box with ``numpy.random.default_rng(seed)`` (PCG64) and accepted when
they keep `min_distance` to every centre accepted before (minimum image across periodic faces)
and are not excluded by an optional predicate. The draw sequence depends only on the seed and
the arguments, so the same seed gives the same positions on every machine and MPI rank, and the
first k centres of a run asking for n > k centres are those of a run asking for k.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import CaseError

#: Volume fraction of spheres of diameter `min_distance` above which random sequential
#: addition jams (about 0.38 for monodisperse spheres); requests beyond it fail at once.
RSA_JAMMING_FRACTION = 0.38


def box_lengths_array(box_lengths: float | Sequence[float]) -> np.ndarray:
    """Box lengths (3,) in nm from a scalar (cube side) or three values; all must be > 0."""
    L = np.broadcast_to(np.asarray(box_lengths, dtype=float), (3,)).copy()
    if not np.all(np.isfinite(L)) or np.any(L <= 0):
        raise CaseError("geometry.box_lengths", list(L), "three positive lengths in nm")
    return L


def count_from_concentration(concentration: float, box_lengths: float | Sequence[float]) -> int:
    """Number of centres for a number density (nm^-3) in the box: round(c V), at least 1."""
    if not np.isfinite(concentration) or concentration <= 0:
        raise CaseError("centres.concentration", concentration, "a positive number density (nm^-3)")
    volume = float(np.prod(box_lengths_array(box_lengths)))
    return max(1, int(round(concentration * volume)))


def minimum_image(d: np.ndarray, period: np.ndarray | None) -> np.ndarray:
    """Difference vectors d (..., 3) mapped to their shortest periodic image (no-op if None)."""
    if period is None:
        return d
    return d - period * np.round(d / period)


def random_centres(n: int | None, box_lengths: float | Sequence[float], seed: int, *,
                   concentration: float | None = None, min_distance: float = 0.0,
                   margin: float = 0.0, periodic: bool = True,
                   exclude: Callable[[np.ndarray], np.ndarray] | None = None,
                   max_draws: int | None = None) -> np.ndarray:
    """Seeded uniform random centre positions in the box [0, L]^3, shape (N, 3), in nm.

    n: number of centres, or None to derive it from `concentration` (nm^-3) and the box
        volume (`count_from_concentration`).
    min_distance: smallest allowed centre-centre distance (nm); with `periodic` the distance is
        the minimum-image one, so centres near opposite faces also keep it.
    margin: centres are drawn in [margin, L - margin] along each axis (e.g. keep barrier balls
        of a closed box inside it).
    exclude: optional predicate on candidate points (m, 3) -> bool (m,), True where a centre is
        not allowed (e.g. inside a particle that holds no centres).
    max_draws: give up after this many candidate draws (default 2000 n + 10000).

    Raises CaseError (one line) when the centres cannot be placed.
    """
    L = box_lengths_array(box_lengths)
    if n is None:
        if concentration is None:
            raise CaseError("centres.count", None, "give a number of centres or a concentration")
        n = count_from_concentration(concentration, L)
    n = int(n)
    if n < 0:
        raise CaseError("centres.count", n, "a number of centres >= 0")
    if min_distance < 0 or margin < 0:
        raise CaseError("centres.min_distance", min_distance,
                        "min_distance and margin must be >= 0")
    lo, hi = np.full(3, float(margin)), L - margin
    if np.any(hi < lo):
        raise CaseError("centres.margin", margin,
                        f"must be at most half the box lengths {L.tolist()} nm")
    period = L if periodic else None
    if periodic and min_distance > 0 and n > 1 and min_distance > 0.5 * np.linalg.norm(L):
        raise CaseError("centres.min_distance", min_distance,
                        f"no two centres can be {min_distance:g} nm apart in a periodic box of "
                        f"sides {L.tolist()} nm")
    avail = float(np.prod(np.maximum(hi - lo, 0.0) + (0.0 if periodic else min_distance)))
    fraction = n * np.pi / 6.0 * min_distance**3 / avail if avail > 0 else np.inf
    if n > 1 and min_distance > 0 and fraction > RSA_JAMMING_FRACTION:
        raise CaseError("centres.min_distance", min_distance,
                        f"{n} centres at least {min_distance:g} nm apart fill {fraction:.2f} of "
                        f"the box; random placement jams above {RSA_JAMMING_FRACTION}: lower the "
                        f"count or min_distance")
    rng = np.random.default_rng(seed)
    max_draws = int(max_draws if max_draws is not None else 2000 * n + 10000)
    out = np.empty((n, 3))
    k = draws = 0
    d2min = float(min_distance) ** 2
    while k < n:
        if draws >= max_draws:
            raise CaseError("centres.min_distance", min_distance,
                            f"placed only {k} of {n} centres at least {min_distance:g} nm apart "
                            f"after {draws} random draws (seed {seed}); lower the count, "
                            f"min_distance or margin")
        batch = rng.uniform(lo, hi, size=(64, 3))
        draws += batch.shape[0]
        if exclude is not None:
            batch = batch[~np.asarray(exclude(batch), dtype=bool)]
        for p in batch:
            if k and d2min > 0:
                d = minimum_image(out[:k] - p, period)
                if np.einsum("ij,ij->i", d, d).min() < d2min:
                    continue
            out[k] = p
            k += 1
            if k == n:
                break
    return out


def lattice_centres(cells_per_side: int | Sequence[int],
                    side: float | Sequence[float]) -> np.ndarray:
    """Centres of a simple-cubic lattice of identical cells, shape (n_x n_y n_z, 3), in nm.

    One centre at the middle of each cell of side `side` (nm); the box is
    [0, cells_per_side * side]. A periodic box of these cells is a periodic lattice whose
    solution equals that of the single periodic cell (Takeda's cube) repeated.
    """
    n = np.broadcast_to(np.asarray(cells_per_side, dtype=int), (3,))
    a = np.broadcast_to(np.asarray(side, dtype=float), (3,))
    if np.any(n < 1) or np.any(a <= 0):
        raise CaseError("centres.lattice", [n.tolist(), a.tolist()],
                        "cells_per_side >= 1 and side > 0 nm")
    axes = [(np.arange(n[i]) + 0.5) * a[i] for i in range(3)]
    grid = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1)


def check_centres(centres: np.ndarray, box_lengths: np.ndarray, periodic: bool,
                  radius: float = 0.0, gap: float = 0.0) -> np.ndarray:
    """Validated centres (N, 3), wrapped into [0, L) when periodic.

    Raises CaseError when a centre is outside a closed box, or when two balls of `radius`
    (nm), including periodic images, are closer than `gap` (overlap when gap = 0).
    """
    c = np.asarray(centres, dtype=float).reshape(-1, 3)
    L = np.asarray(box_lengths, dtype=float)
    if not np.all(np.isfinite(c)):
        raise CaseError("centres.positions", "non-finite", "finite positions in nm")
    if periodic:
        c = np.mod(c, L)
        c[np.isclose(c, L)] = 0.0
    elif np.any(c < 0) or np.any(c > L):
        i = int(np.nonzero(np.any((c < 0) | (c > L), axis=1))[0][0])
        raise CaseError("centres.positions", c[i].tolist(),
                        f"centre {i} is outside the closed box [0, {L.tolist()}] nm")
    if radius > 0 and periodic and 2 * radius + gap >= L.min():
        raise CaseError("centres.barrier_radius", radius,
                        f"a ball of radius {radius:g} nm overlaps its own periodic image in a box "
                        f"of sides {L.tolist()} nm")
    if radius > 0 and len(c) > 1:
        limit = 2 * radius + gap
        for i in range(len(c) - 1):
            d = minimum_image(c[i + 1:] - c[i], L if periodic else None)
            r = np.sqrt(np.einsum("ij,ij->i", d, d))
            j = int(np.argmin(r))
            if r[j] < limit:
                what = "overlap" if r[j] < 2 * radius else "nearly touch"
                pair = [c[i].round(4).tolist(), c[i + 1 + j].round(4).tolist()]
                raise CaseError("centres.positions", pair,
                                f"barrier balls of radius {radius:g} nm around centres {i} and "
                                f"{i + 1 + j} {what} ({'minimum-image ' if periodic else ''}"
                                f"distance {r[j]:.4g} nm, need >= "
                                f"{limit:.4g} nm); use min_distance >= {limit:.4g} nm")
    return c
