"""Seeded random positions of the non-overlapping spheres of a blend (pure numpy/scipy; nm).

The rules, for spheres of radius r with a gap g (`inclusions.BLEND_GAP` r):
  - centre distances of at least 2 r + g (minimum image in a periodic box);
  - periodic box: no sphere, nor a periodic image, passes within g of touching a face, edge or
    corner of the box (`box.nearly_tangent`: a nearly tangent sphere leaves sliver surfaces
    that Gmsh cannot mesh);
  - closed box: every sphere at least g from each face (centres in [r + g, L - r - g]).

The spheres are placed by random sequential addition (`centres.random_centres`, the same
positions for the same seed on every machine). RSA jams when the spheres swollen by their gap
fill about 0.38 of the box: a blend of 30 % spheres of diameter 60 nm with gaps of 3 nm in a
200 nm periodic box fills 0.35 of it, and RSA failed to place its 21st sphere for 3 of 40 seeds
(1, 14, 32). Where RSA jams, seeded random positions are pushed apart until they keep the
rules (collective rearrangement, `_overlaps_removed`: each overlapping pair moves apart along
its axis by half its overlap, a nearly tangent sphere gets a random kick); in that box it
places 34 spheres (0.56 of the box swollen) for each of 10 seeds. Where that does not converge
in `REARRANGE_STEPS` steps, the spheres start on a lattice that keeps the rules (simple cubic,
or face-centred cubic where the simple one has too few sites; a seeded random shift and a
random subset of its sites), and `SWEEPS` sweeps of hard-sphere Monte Carlo moves disorder
them: every sphere proposes a uniform displacement within +-step per axis (step adapted to keep
the accepted fraction in `ACCEPTANCE`), taken when the new position keeps the rules against the
old and the new positions of every other sphere. Such blends keep some lattice order (in the
200 nm box each sphere moves by about half a lattice spacing, rms). Placement fails (one line)
only where no lattice holds the spheres either.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial import cKDTree

from ..errors import CaseError
from .box import nearly_tangent
from .centres import minimum_image, random_centres

#: steps of the collective rearrangement before a lattice start is tried
REARRANGE_STEPS = 2000
#: hard-sphere Monte Carlo sweeps after a lattice start
SWEEPS = 200
#: the step of the moves is adapted to keep the accepted fraction of moves in this range
ACCEPTANCE = (0.3, 0.5)
FCC_BASIS = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])


def blend_centres(n: int, box_lengths: np.ndarray, radius: float, gap: float, seed: int,
                  periodic: bool = True) -> tuple[np.ndarray, str]:
    """(centres (n, 3) in nm, how they were placed) for n spheres of `radius` (nm) in the box
    [0, L]^3 keeping the rules of the module docstring with `gap` (nm). Raises CaseError
    (geometry.volume_fraction) when no lattice holds n of them."""
    L = np.asarray(box_lengths, dtype=float)
    r, g = float(radius), float(gap)
    d_min = 2.0 * r + g
    if n == 0:
        return np.empty((0, 3)), "no spheres"
    try:
        if periodic:
            c = random_centres(n, L, seed, min_distance=d_min, periodic=True,
                               exclude=lambda p: nearly_tangent(p, L, r, g))
        else:
            c = random_centres(n, L, seed, min_distance=d_min, margin=r + g, periodic=False)
        return c, "random sequential addition"
    except CaseError:
        pass  # jammed
    rng = np.random.default_rng(seed)
    x = _overlaps_removed(n, L, r, g, d_min, periodic, rng)
    if x is not None:
        return x, "overlap removal from random positions (random sequential addition jams)"
    x = _periodic_start(n, L, r, g, d_min, rng) if periodic else \
        _closed_start(n, L, r, g, d_min, rng)
    return (_hard_sphere_moves(x, L, r, g, d_min, periodic, rng),
            f"a lattice and {SWEEPS} Monte Carlo sweeps (random sequential addition jams)")


def _overlaps_removed(n, L, r, g, d_min, periodic, rng) -> np.ndarray | None:
    """Random positions pushed apart until they keep the rules (collective rearrangement:
    each overlapping pair moves apart along its axis by half its overlap, a sphere nearly
    tangent to the box gets a random kick of 2 g); None after REARRANGE_STEPS steps."""
    lo, hi = (np.zeros(3), L.copy()) if periodic else (np.full(3, r + g), L - (r + g))
    if np.any(hi < lo):
        return None
    x = rng.uniform(lo, hi, size=(n, 3))
    target = d_min * (1.0 + 1e-6)
    for _ in range(REARRANGE_STEPS):
        if periodic:
            x = np.mod(x, L)
            x[x >= L] = 0.0
        else:
            x = np.clip(x, lo, hi)
        pairs = cKDTree(x, boxsize=L if periodic else None).query_pairs(
            d_min, output_type="ndarray") if n > 1 else np.empty((0, 2), int)
        tangent = nearly_tangent(x, L, r, g) if periodic else np.zeros(n, bool)
        if not len(pairs) and not tangent.any():
            return x
        move = np.zeros_like(x)
        if len(pairs):
            a, b = pairs[:, 0], pairs[:, 1]
            d = minimum_image(x[b] - x[a], L if periodic else None)
            dist = np.linalg.norm(d, axis=1)
            unit = np.where(dist[:, None] > 0, d / np.maximum(dist, 1e-300)[:, None],
                            _random_units(rng, len(d)))
            push = 0.5 * (target - dist)[:, None] * unit
            np.add.at(move, a, -push)
            np.add.at(move, b, push)
        move[tangent] += 2.0 * g * _random_units(rng, int(tangent.sum()))
        x = x + move
    return None


def _random_units(rng, m: int) -> np.ndarray:
    v = rng.normal(size=(m, 3))
    return v / np.linalg.norm(v, axis=1)[:, None]


def _grid(m: np.ndarray, centred: bool = True) -> np.ndarray:
    axes = [np.arange(mi) + (0.5 if centred else 0.0) for mi in m]
    return np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, 3)


def _periodic_lattices(L: np.ndarray, d_min: float):
    """Simple cubic, then face-centred cubic sites commensurate with the periodic box, every
    minimum-image distance at least d_min."""
    m = np.floor(L / d_min).astype(int)
    if np.all(m >= 1):
        yield _grid(m) * (L / m)
    k = np.floor(L / (np.sqrt(2.0) * d_min)).astype(int)
    if np.all(k >= 1):
        yield (_grid(k, centred=False)[:, None, :] + FCC_BASIS[None]).reshape(-1, 3) * (L / k)


def _periodic_start(n, L, r, g, d_min, rng) -> np.ndarray:
    most = 0
    for sites in _periodic_lattices(L, d_min):
        most = max(most, len(sites))
        if len(sites) < n:
            continue
        for _ in range(1000):  # a random shift of the lattice that leaves n sites not tangent
            x = np.mod(sites + rng.uniform(0.0, 1.0, 3) * L, L)
            ok = np.flatnonzero(~nearly_tangent(x, L, r, g))
            if len(ok) >= n:
                return x[rng.choice(ok, size=n, replace=False)]
    raise _no_room(n, r, g, most)


def _closed_start(n, L, r, g, d_min, rng) -> np.ndarray:
    lo, hi = np.full(3, r + g), L - (r + g)
    most = 0
    if np.all(hi >= lo):
        for a, basis in ((d_min, np.zeros((1, 3))), (np.sqrt(2.0) * d_min, FCC_BASIS)):
            m = np.floor((hi - lo) / a).astype(int) + 1
            x = (_grid(m, centred=False)[:, None, :] + basis[None]).reshape(-1, 3) * a
            x = x[np.all(x <= (hi - lo) * (1 + 1e-12), axis=1)]
            most = max(most, len(x))
            if len(x) >= n:
                slack = (hi - lo) - x.max(axis=0)
                return lo + rng.uniform(0.0, 1.0, 3) * slack + x[rng.choice(len(x), n,
                                                                          replace=False)]
    raise _no_room(n, r, g, most)


def _no_room(n: int, r: float, g: float, most: int) -> CaseError:
    return CaseError("geometry.volume_fraction", f"{n} spheres",
                     f"{n} spheres of diameter {2 * r:g} nm kept {g:.3g} nm apart do not fit in "
                     f"the box (a lattice holds at most {most}); lower the volume fraction or "
                     f"the domain size, or enlarge the box")


def _hard_sphere_moves(x, L, r, g, d_min, periodic, rng) -> np.ndarray:
    """SWEEPS parallel hard-sphere Monte Carlo sweeps from the valid configuration x."""
    n = len(x)
    lo, hi = np.full(3, r + g), L - (r + g)
    step = r
    for _ in range(SWEEPS):
        new = x + rng.uniform(-step, step, size=x.shape)
        if periodic:
            new = np.mod(new, L)
            new[new >= L] = 0.0
            ok = ~nearly_tangent(new, L, r, g)
        else:
            ok = np.all((new >= lo) & (new <= hi), axis=1)
        if n > 1:
            tree = cKDTree(np.concatenate([x, new]), boxsize=L if periodic else None)
            pairs = tree.query_pairs(d_min, output_type="ndarray")
            a, b = pairs[:, 0], pairs[:, 1]
            other = (a % n) != (b % n)
            for p in (a, b):  # a proposed position too close to any other sphere's
                hit = other & (p >= n)
                ok[p[hit] - n] = False
        x = np.where(ok[:, None], new, x)
        if ok.mean() > ACCEPTANCE[1]:
            step = min(step * 1.25, 0.5 * float(L.min()))
        elif ok.mean() < ACCEPTANCE[0]:
            step = max(step * 0.8, 1e-3 * r)
    return x
