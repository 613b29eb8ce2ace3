"""Positions of individual nuclei in a sample (pure numpy/scipy; lengths in nm).

Regions:
    Region.sphere(R)          a closed ball of radius R centred at the origin (Wigner-Seitz cell)
    Region.box(sides, True)   a periodic box [0, Lx) x [0, Ly) x [0, Lz); False: a closed box

Placements at a nuclear number density n (nm^-3):
    "sc"      simple cubic, spacing a = n^(-1/3)
    "fcc"     face-centred cubic, cubic cell a_c = (4/n)^(1/3), nearest neighbours a_c/sqrt(2)
    "random"  random sequential addition (RSA) with a minimum distance d_min (seeded PCG64)
    "file"    an XYZ file (`read_xyz`)

Lattices are placed with a cube centre (sc) or an octahedral interstice (fcc) at the origin,
so a centre at the origin of a sphere cell sits in a void of the lattice, not on a nucleus. In
a periodic box the number of cells along each side is round(L / a) and the spacing is
stretched to L / round(L / a), so the lattice is periodic; the density actually placed is
reported (`Placement.density`). Nuclei closer than `exclusion` to any centre are not placed
(the radical's own volume).

Nuclei are returned ordered along a Morton (Z-order) curve of their positions, so that
contiguous index ranges (the rows an MPI rank owns) are compact in space.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ...errors import CaseError

#: RSA jams near a volume fraction 0.38 of balls of diameter d_min; refuse above this
RSA_MAX_FRACTION = 0.30
#: XYZ length units accepted by `read_xyz` (multiplier to nm)
XYZ_UNITS = {"angstrom": 0.1, "nm": 1.0}


@dataclass(frozen=True)
class Region:
    """The sample volume: a ball (radius, centred at 0) or a box (sides, periodic or closed)."""
    kind: str
    radius: float = 0.0
    sides: tuple[float, float, float] = (0.0, 0.0, 0.0)
    periodic: bool = False

    @staticmethod
    def sphere(radius: float) -> Region:
        return Region("sphere", radius=float(radius))

    @staticmethod
    def box(sides, periodic: bool = True) -> Region:
        s = tuple(float(x) for x in np.broadcast_to(np.asarray(sides, float), (3,)))
        return Region("box", sides=s, periodic=bool(periodic))

    @property
    def volume(self) -> float:
        if self.kind == "sphere":
            return 4.0 / 3.0 * math.pi * self.radius ** 3
        return float(np.prod(self.sides))

    @property
    def boxsize(self) -> np.ndarray | None:
        """Periods for scipy's cKDTree (None for a closed region)."""
        return np.asarray(self.sides) if self.periodic else None

    def inside(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "sphere":
            return np.einsum("ij,ij->i", x, x) <= self.radius ** 2
        lo, hi = np.zeros(3), np.asarray(self.sides)
        return np.all((x >= lo) & (x < hi), axis=1) if self.periodic else \
            np.all((x >= lo) & (x <= hi), axis=1)

    def wrap(self, x: np.ndarray) -> np.ndarray:
        if not self.periodic:
            return x
        L = np.asarray(self.sides)
        y = np.mod(x, L)
        y[y >= L] = 0.0
        return y

    def minimum_image(self, d: np.ndarray) -> np.ndarray:
        """Difference vectors mapped to their shortest periodic image (no-op when closed)."""
        if not self.periodic:
            return d
        L = np.asarray(self.sides)
        return d - L * np.round(d / L)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "sphere":
            return np.full(3, -self.radius), np.full(3, self.radius)
        return np.zeros(3), np.asarray(self.sides)


@dataclass
class Placement:
    """Nuclear positions (N, 3) in nm, Morton-ordered, with what was asked and placed."""
    positions: np.ndarray
    kind: str
    density: float
    requested_density: float
    min_distance: float


def expected_count(region: Region, density: float) -> float:
    """Nuclei a region holds at a number density (nm^-3)."""
    return region.volume * density


def morton_order(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, bits: int = 10) -> np.ndarray:
    """Permutation sorting points x (N, 3) along a Morton (Z-order) curve on a 2^bits grid."""
    span = np.maximum(hi - lo, 1e-30)
    q = np.clip(((x - lo) / span * (2 ** bits)).astype(np.int64), 0, 2 ** bits - 1)
    code = np.zeros(len(x), dtype=np.int64)
    for b in range(bits):
        for axis in range(3):
            code |= ((q[:, axis] >> b) & 1) << (3 * b + axis)
    return np.argsort(code, kind="stable")


def _far_from_centres(x: np.ndarray, centres: np.ndarray, exclusion: float,
                      region: Region) -> np.ndarray:
    if exclusion <= 0 or len(centres) == 0 or len(x) == 0:
        return np.ones(len(x), dtype=bool)
    tree = cKDTree(region.wrap(centres), boxsize=region.boxsize)
    d, _ = tree.query(region.wrap(x) if region.periodic else x, k=1)
    return d >= exclusion


def lattice_positions(kind: str, density: float, region: Region) -> tuple[np.ndarray, float]:
    """Sites of an sc or fcc lattice of number density `density` filling `region`; returns
    (positions, placed density)."""
    if kind == "sc":
        basis = np.zeros((1, 3))
        cell = density ** (-1.0 / 3.0)
        shift = 0.5  # the origin at a cube centre
    elif kind == "fcc":
        basis = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
        cell = (4.0 / density) ** (1.0 / 3.0)
        shift = 0.5  # the origin at an octahedral interstice
    else:
        raise ValueError(f"lattice kind must be 'sc' or 'fcc', got {kind!r}")
    if region.kind == "box":
        sides = np.asarray(region.sides)
        ncell = np.maximum(1, np.round(sides / cell)).astype(int)
        spacing = sides / ncell
        axes = [np.arange(n) for n in ncell]
        g = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3).astype(float)
        pts = ((g[:, None, :] + basis[None] + 0.5 * shift) * spacing).reshape(-1, 3)
        placed = len(pts) / region.volume
        return region.wrap(pts), placed
    m = int(math.ceil(region.radius / cell)) + 1
    ax = np.arange(-m, m + 1)
    g = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3).astype(float)
    pts = ((g[:, None, :] + basis[None] + shift) * cell).reshape(-1, 3)
    return pts[region.inside(pts)], density


def random_positions(count: int, region: Region, seed: int, min_distance: float,
                     centres: np.ndarray | None = None, exclusion: float = 0.0,
                     key: str = "spins.min_distance") -> np.ndarray:
    """`count` points uniform in `region` (minus balls of `exclusion` around `centres`), no
    two closer than `min_distance` (minimum image in a periodic box): random sequential
    addition, candidates drawn in batches with numpy.random.default_rng(seed) and accepted in
    draw order. CaseError when the packing is too dense to place them."""
    centres = np.empty((0, 3)) if centres is None else np.asarray(centres, float)
    fraction = count * math.pi / 6.0 * min_distance ** 3 / region.volume
    if fraction > RSA_MAX_FRACTION:
        raise CaseError(key, f"{min_distance:g} nm",
                        f"{count} nuclei at least {min_distance:g} nm apart fill {fraction:.2f} "
                        f"of the volume; random placement jams: allowed up to "
                        f"{RSA_MAX_FRACTION} (a smaller min_distance)")
    rng = np.random.default_rng(seed)
    lo, hi = region.bounds()
    accepted = np.empty((0, 3))
    tree = None
    draws = 0
    while len(accepted) < count:
        need = count - len(accepted)
        m = max(64, int(need * 1.3) + 16)
        draws += m
        if draws > 50 * count + 10_000:
            raise CaseError(key, f"{min_distance:g} nm", f"placed only {len(accepted)} of "
                            f"{count} nuclei (seed {seed}); a smaller min_distance or density")
        cand = rng.uniform(lo, hi, size=(m, 3))
        cand = cand[region.inside(cand)]
        cand = cand[_far_from_centres(cand, centres, exclusion, region)]
        if min_distance > 0 and len(cand):
            ok = np.ones(len(cand), dtype=bool)
            if tree is not None:
                d, _ = tree.query(cand, k=1, distance_upper_bound=min_distance)
                ok &= ~(d < min_distance)
            # conflicts inside the batch: in draw order, a candidate loses to an earlier kept one
            pairs = cKDTree(cand, boxsize=region.boxsize).query_pairs(min_distance,
                                                                       output_type="ndarray")
            if len(pairs):
                pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
                for i, j in pairs:
                    if ok[i]:
                        ok[j] = False
            cand = cand[ok]
        cand = cand[:need]
        accepted = np.concatenate([accepted, cand])
        if min_distance > 0:
            tree = cKDTree(accepted, boxsize=region.boxsize)
    return accepted


def read_xyz(path: str | Path, element: str, unit: str = "angstrom") -> np.ndarray:
    """Positions (nm) of the atoms of `element` in an XYZ file.

    Format (the common XYZ convention): line 1 the number of atoms N, line 2 a comment, then N
    lines `Symbol x y z` (more columns are ignored); coordinates in angstrom (unit =
    "angstrom", the XYZ convention) or "nm". Only atoms whose symbol equals `element` (case
    insensitive; "H" for 1H, "D" or "H" for 2H, "C" for 13C) are kept. CaseError (one line) for
    a missing or malformed file."""
    path = Path(path)
    if unit not in XYZ_UNITS:
        raise CaseError("spins.file_unit", unit, f"one of {', '.join(XYZ_UNITS)}")
    if not path.is_file():
        raise CaseError("spins.file", str(path), "an existing XYZ file (N, comment, then "
                        "'Symbol x y z' lines)")
    lines = path.read_text(errors="replace").splitlines()
    try:
        n = int(lines[0].split()[0])
    except (IndexError, ValueError):
        raise CaseError("spins.file", str(path), "an XYZ file: the first line is the number "
                        "of atoms") from None
    body = lines[2:2 + n]
    if len(body) < n:
        raise CaseError("spins.file", str(path), f"{n} atom lines after the comment line "
                        f"(found {len(body)})")
    wanted = {element.lower()} | ({"h", "d"} if element.lower() in ("h", "d") else set())
    out = []
    for i, line in enumerate(body, start=3):
        parts = line.split()
        try:
            sym, xyz = parts[0], [float(v) for v in parts[1:4]]
        except (IndexError, ValueError):
            raise CaseError("spins.file", f"{path}:{i}", "'Symbol x y z' with three numbers") \
                from None
        if len(xyz) != 3 or not all(math.isfinite(v) for v in xyz):
            raise CaseError("spins.file", f"{path}:{i}", "'Symbol x y z' with three finite "
                            "numbers")
        if sym.lower() in wanted:
            out.append(xyz)
    if not out:
        raise CaseError("spins.file", str(path), f"atoms of element {element!r} (none found)")
    return np.asarray(out, float) * XYZ_UNITS[unit]


def check_overlaps(x: np.ndarray, min_distance: float, region: Region,
                   key: str = "spins.file") -> None:
    """CaseError naming the first two nuclei closer than min_distance (minimum image)."""
    if min_distance <= 0 or len(x) < 2:
        return
    pairs = cKDTree(region.wrap(x), boxsize=region.boxsize).query_pairs(
        min_distance, output_type="ndarray")
    if len(pairs):
        i, j = sorted(pairs[0])
        d = float(np.linalg.norm(region.minimum_image(x[j] - x[i])))
        raise CaseError(key, f"nuclei {i} and {j}",
                        f"are {d:.4g} nm apart (overlapping spins); allowed: at least "
                        f"spins.min_distance = {min_distance:g} nm")


def place(kind: str, density: float, region: Region, *, seed: int = 1,
          min_distance: float = 0.0, centres: np.ndarray | None = None,
          exclusion: float = 0.0, file_positions: np.ndarray | None = None) -> Placement:
    """The nuclei of a sample, Morton-ordered (see the module docstring)."""
    centres = np.empty((0, 3)) if centres is None else np.asarray(centres, float)
    if kind in ("sc", "fcc"):
        pts, placed = lattice_positions(kind, density, region)
    elif kind == "random":
        count = int(round(expected_count(region, density)))
        pts = random_positions(count, region, seed, min_distance, centres, exclusion)
        placed = density
    elif kind == "file":
        pts = region.wrap(np.asarray(file_positions, float))
        bad = ~region.inside(pts)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CaseError("spins.file", f"nucleus {i} at {np.round(pts[i], 4).tolist()} nm",
                            "outside the sample region of the case's geometry")
        check_overlaps(pts, min_distance, region)
        placed = len(pts) / region.volume
    else:
        raise ValueError(f"unknown placement {kind!r}")
    if kind != "random":
        keep = _far_from_centres(pts, centres, exclusion, region)
        pts = pts[keep]
    lo, hi = region.bounds()
    order = morton_order(pts, lo, hi)
    return Placement(np.ascontiguousarray(pts[order]), kind, float(placed), float(density),
                     float(min_distance))
