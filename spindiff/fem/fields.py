"""Coefficient fields on a mesh: cell-wise material data and values at quadrature points.

Laws that depend on the distance to the centres (k ~ r^-6, R1, visibility, later D(r; P_e))
are evaluated in numpy at the quadrature points of every cell, so the physics layer supplies
plain functions of r and forms compile once whatever the number of centres.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import ufl
from dolfinx import fem

from ..mesh import compat
from ..mesh.domain import Domain
from ..mesh.heap import trim_heap


class QuadratureFields:
    """Quadrature-point geometry of a domain and a factory for quadrature-space functions."""

    def __init__(self, domain: Domain, degree: int):
        msh = domain.mesh
        self.domain = domain
        self.degree = degree
        self._space: fem.FunctionSpace | None = None
        self.ncells = compat.num_cells_local(msh)
        self.weights = compat.quadrature_weights(msh, degree)
        self.npts = len(self.weights)
        #: number of local quadrature points (cell-major: the points of cell c are
        #: c * npts ... (c + 1) * npts - 1 in every per-point array)
        self.size = self.ncells * self.npts
        self._coordinates = compat.quadrature_evaluator(ufl.SpatialCoordinate(msh), msh, degree)
        dofs = compat.cell_dofs(self.space, self.ncells).reshape(-1)
        self._dofs = None if np.array_equal(dofs, np.arange(dofs.size)) else dofs
        #: per-point and per-cell arrays made on first use and dropped by `release`
        self._cache: dict[str, np.ndarray] = {}

    CHUNK_CELLS = 25_000

    @property
    def space(self) -> fem.FunctionSpace:
        """The quadrature space, made on first use after `release_space`."""
        if self._space is None:
            self._space = compat.quadrature_space(self.domain.mesh, self.degree)
        return self._space

    def release_space(self) -> None:
        """Drop the quadrature space until a law is next put on the points: its dofmap (4 to
        5 bytes per point) is not needed between stage changes."""
        self._space = None

    def release(self) -> None:
        """Drop the quadrature space and every cached per-point array (`nearest`,
        `in_barrier`, ...): they are needed while laws are put on the points (set-up, stage
        changes, saturation events), not during time steps, where at 4 points per cell and
        about 6 cells per dof each float array would cost about 190 bytes per dof. The freed
        heap goes back to the system (arrays below glibc's mmap threshold stay mapped)."""
        self._space = None
        self._cache.clear()
        trim_heap()

    def cached(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The array `make()` made on first use after `release` and kept until the next one."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def forget(self, key: str) -> None:
        """Drop one cached array before `release` (it is made again if asked for)."""
        self._cache.pop(key, None)

    @property
    def nearest(self) -> np.ndarray:
        """Distance (nm) of every quadrature point to its nearest centre (inf without
        centres)."""
        def make() -> np.ndarray:
            out = np.empty(self.size)
            for sl, r in self.nearest_chunks():
                out[sl] = r
            return out
        return self.cached("nearest", make)

    def nearest_chunks(self):
        """(slice into the per-point arrays, nearest-centre distances in nm) over blocks of
        cells: the cached `nearest` when it is held, else computed block by block, so that a
        reduction over the distances (a maximum, shell numbers) needs no per-point float
        array."""
        near = self._cache.get("nearest")
        for sl, xyz in self.point_chunks(coordinates=near is None):
            yield sl, (near[sl] if near is not None else self.domain.nearest_distance(xyz))

    @property
    def cell_tag(self) -> np.ndarray:
        """Tag value of every local cell (incl. ghosts); 0 where untagged."""
        return self.cached("cell_tag", lambda: cell_tag_array(self.domain))

    @property
    def in_barrier(self) -> np.ndarray:
        """Quadrature points in cells tagged as a kept barrier."""
        return self.cached("in_barrier", lambda: np.repeat(
            np.isin(self.cell_tag, self.domain.barrier_tags), self.npts))

    def point_chunks(self, coordinates: bool = True):
        """(slice into the per-point arrays, coordinates (m, 3) in nm) over blocks of cells:
        the coordinates of all points are never held at once (None without `coordinates`)."""
        for c0 in range(0, self.ncells, self.CHUNK_CELLS):
            c1 = min(c0 + self.CHUNK_CELLS, self.ncells)
            if not coordinates:
                yield slice(c0 * self.npts, c1 * self.npts), None
                continue
            x = self._coordinates(np.arange(c0, c1))
            xyz = np.zeros((x.shape[0] * x.shape[1], 3))
            xyz[:, : x.shape[2]] = x.reshape(-1, x.shape[2])
            yield slice(c0 * self.npts, c1 * self.npts), xyz

    def midpoints(self, c0: int = 0, c1: int | None = None) -> np.ndarray:
        """Midpoints (nm) of the local cells c0 .. c1 - 1, shape (n, 3)."""
        c1 = self.ncells if c1 is None else c1
        return compat.cell_midpoints(self.domain.mesh, np.arange(c0, c1))

    @property
    def points(self) -> np.ndarray:
        """Coordinates (nm) of every local quadrature point, shape (size, 3), computed on demand
        (small meshes and the radial reduction)."""
        out = np.empty((self.size, 3))
        for sl, xyz in self.point_chunks():
            out[sl] = xyz
        return out

    @property
    def cell_nearest(self) -> np.ndarray:
        """Nearest-centre distance of each point's cell midpoint (nm), per point (cellwise
        laws on conforming meshes; the midpoints are computed per block of cells)."""
        def make() -> np.ndarray:
            out = np.empty(self.ncells)
            for c0 in range(0, self.ncells, self.CHUNK_CELLS):
                c1 = min(c0 + self.CHUNK_CELLS, self.ncells)
                out[c0:c1] = self.domain.nearest_distance(self.midpoints(c0, c1))
            return out
        return np.repeat(self.cached("cell_nearest", make), self.npts)

    def harmonic_cellwise(self, values: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """Replace a positive coefficient a at the points of each cell by the value whose product
        with `weight` is the cell's harmonic mean of (a * weight) (quadrature-weighted, on the
        reference cell). For a coefficient that changes by orders of magnitude across a cell
        this gives the right conductance for flux through the cell (exact for 1D radial flux),
        where the plain quadrature of a P1 stiffness takes the arithmetic mean and overstates
        it."""
        shape = (self.ncells, self.npts)
        aw = values.reshape(shape) if weight is None else (values * weight).reshape(shape)
        q = self.weights[None, :]
        inverse = np.maximum(aw, 1e-300)  # the only per-point temporary beside the result
        np.divide(q, inverse, out=inverse)
        h = q.sum() / inverse.sum(axis=1)
        del inverse, aw
        out = np.repeat(h, self.npts)
        if weight is not None:
            out /= weight.reshape(-1)
        return out.reshape(values.shape)

    def evaluate(self, law: Callable[[np.ndarray], np.ndarray], r: np.ndarray,
                 out: np.ndarray) -> np.ndarray:
        """out[:] = law(r) for a law of the distance r (nm), evaluated in blocks of points so
        that its own temporaries stay small."""
        step = self.CHUNK_CELLS * self.npts
        for i in range(0, r.size, step):
            out[i:i + step] = law(r[i:i + step])
        return out

    def function(self, values: np.ndarray, name: str = "") -> fem.Function:
        """A quadrature function with `values` given per point (flat, cell-major order)."""
        f = fem.Function(self.space, name=name)
        self.assign(f, values)
        return f

    def blank(self, name: str = "") -> tuple[fem.Function, np.ndarray]:
        """A zero quadrature function and its per-point values (flat, cell-major) to fill in
        place: the function's own memory when its dofs are in cell-major order (then no
        second per-point array exists), else a separate array that `commit` copies in."""
        f = fem.Function(self.space, name=name)
        return f, (f.x.array[: self.size] if self._dofs is None else np.zeros(self.size))

    def packed(self, f: fem.Function) -> np.ndarray | None:
        """A quadrature function's values as (cells, points), cell-major, without a copy (the
        layout of DOLFINx's packed coefficients); None when its dofs are in another order."""
        return None if self._dofs is not None else f.x.array[: self.size].reshape(self.ncells, self.npts)

    def commit(self, f: fem.Function, values: np.ndarray) -> None:
        """Put values filled after `blank` into f (nothing to do when they are f's own)."""
        if self._dofs is not None:
            self.assign(f, values)

    def assign(self, f: fem.Function, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=float).reshape(-1)
        if self._dofs is None:
            f.x.array[: values.size] = values
        else:
            f.x.array[self._dofs] = values

    def centre_sum(self, law: Callable[[np.ndarray], np.ndarray], cellwise: bool = False,
                   out: np.ndarray | None = None, add: bool = False,
                   barrier: np.ndarray | None = None) -> np.ndarray:
        """`centre_sums` of one law."""
        return self.centre_sums([law], cellwise, [out], add, barrier)[0]

    def centre_sums(self, laws: Sequence[Callable[[np.ndarray], np.ndarray]],
                    cellwise: bool = False, out: Sequence[np.ndarray | None] | None = None,
                    add: bool = False, barrier: np.ndarray | None = None) -> list[np.ndarray]:
        """Sums over centres of each law(r) at every point (spindiff.mesh.neighbours: nearby
        centres at every point, farther ones at the cell midpoint, periodic images included,
        the continuum tail beyond the cut-off in a periodic box), all from one neighbour
        search; zero inside kept barriers. With `cellwise`, r is the distance of the cell
        midpoint (one value per cell). Cost per point independent of the number of centres.
        `out`: arrays (per point) to write the sums into, None for a new one; `add`: the sums
        are added to what they hold; `barrier`: the points where nothing is summed (default:
        the points of the cells tagged as kept barriers)."""
        laws = list(laws)
        vals = [np.zeros(self.size) if o is None else o for o in (out or [None] * len(laws))]
        barrier = self.in_barrier if barrier is None else barrier

        def put(v: np.ndarray, sl: slice, part: np.ndarray) -> None:
            part = np.array(np.broadcast_to(part, v[sl].shape))
            part[barrier[sl]] = 0.0
            if add:
                v[sl] += part
            else:
                v[sl] = part

        if len(self.domain.centres) == 0:
            for v in vals:
                put(v, slice(None), 0.0)
        elif self.domain.radial:
            r = self.domain.nearest_distance(self.midpoints() if cellwise else self.points)
            for v, law in zip(vals, laws):
                put(v, slice(None), np.repeat(np.broadcast_to(law(r), r.shape), self.npts)
                    if cellwise else law(r))
        else:
            neighbours = self.domain.neighbours
            for sl, xyz in self.point_chunks():
                c0, c1 = sl.start // self.npts, sl.stop // self.npts
                mids = self.midpoints(c0, c1)
                pts = mids[:, None, :] if cellwise else xyz.reshape(c1 - c0, self.npts, 3)
                for v, part in zip(vals, neighbours.cell_sums(laws, pts, mids)):
                    put(v, sl, np.broadcast_to(part, (c1 - c0, self.npts)).reshape(-1))
        return vals


def cell_tag_array(domain: Domain) -> np.ndarray:
    """Tag value of every local cell (incl. ghosts); 0 where untagged."""
    ncells = compat.num_cells_local(domain.mesh)
    tags = np.zeros(ncells, dtype=np.int32)
    ct = domain.cell_tags
    if ct is not None:
        tags[ct.indices] = ct.values
    return tags


def cellwise_function(space: fem.FunctionSpace, values_per_cell: np.ndarray,
                      name: str = "") -> fem.Function:
    """A function of the DG0 `space` from one value per local cell (incl. ghosts). Functions
    of one mesh should share one space: a space's dofmap costs as much as a function."""
    f = fem.Function(space, name=name)
    dofs = compat.cell_dofs(space, len(values_per_cell))[:, 0]
    f.x.array[dofs] = values_per_cell
    return f
