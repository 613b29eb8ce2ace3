"""The mesh of a sample plus what the physics needs to know about it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..physics.shapes import ParticleShape, Sphere
from .neighbours import CentreNeighbours

#: cell-tag values used by the built-in builders
TAG_VISIBLE = 1      # r > r_h
TAG_HIDDEN = 2       # b < r < r_h (hyperfine-shifted, NMR-invisible)
TAG_BARRIER = 3      # r < b when the barrier is kept in the mesh
#: facet-tag values
FACET_OUTER = 10
FACET_BARRIER = 11
#: the radial reduction of a spherical cell weighs like a sphere
_RADIAL_CELL = Sphere()


@dataclass
class Domain:
    """A meshed sample.

    mesh, cell_tags, facet_tags: DOLFINx objects (distributed); facet_tags may be deferred
        (an object with build(), see `facets`).
    radial: True for the 1D radial reduction of a spherical cell (weight 4 pi r^2, x[0] = r).
    centres: (N, 3) centre positions in nm (a radial domain has one centre at r = 0).
    materials: material name -> list of cell-tag values belonging to it.
    barrier_tags: cell-tag values of kept barrier balls meshed conformingly (no source,
        suppressed D). When a domain keeps barriers WITHOUT meshing their spheres,
        `barrier_by_distance` is True and the solver marks r < b at quadrature points instead.
    barrier_by_distance: see above.
    period: box lengths (3,) for periodic boundaries and minimum-image distances, or None.
    box_lower: lower corner (3,) of a periodic box (faces x = lo, x = lo + period are matched).
    exact_volume: volume of the ideal (uncurved) domain in nm^3, for reporting.
    region_names: cell-tag value -> human-readable name (physical group names of user meshes).
    conforming_radii: radii (nm) of spheres around every centre that the mesh conforms to; a
        law with a jump at one of them is evaluated per cell (by the cell midpoint), which is
        exact on a conforming mesh even where a straight interior edge cuts a curved interface.
    reduction: the particle shape (spindiff.physics.shapes: sphere, cylinder or slab) of the 1D
        reductions of a particle or film in a matrix (spindiff.geometry.particle_radial;
        x[0] = r or z), None otherwise.
    weight_scale: factor of the 1D measure weight (nm for a cylinder: its length; nm^2 for a
        slab: its cross-section), so that int w dx is the sample volume in nm^3.
    """

    mesh: Any
    cell_tags: Any
    facet_tags: Any
    radial: bool
    centres: np.ndarray
    materials: dict[str, list[int]]
    barrier_tags: list[int] = field(default_factory=list)
    barrier_by_distance: bool = False
    period: np.ndarray | None = None
    box_lower: np.ndarray | None = None
    exact_volume: float = float("nan")
    description: str = ""
    region_names: dict[int, str] = field(default_factory=dict)
    conforming_radii: list[float] = field(default_factory=list)
    reduction: ParticleShape | None = None
    weight_scale: float = 1.0

    def facets(self) -> Any:
        """The facet MeshTags (or None), built on first use when the mesh builder deferred
        them (collective: every rank must call it)."""
        if hasattr(self.facet_tags, "build"):
            self.facet_tags = self.facet_tags.build()
        return self.facet_tags

    @property
    def serial(self) -> bool:
        """True for the 1D reductions (radial cell, particle or film): every rank solves them
        whole, alone (MPI.COMM_SELF), with a direct solver."""
        return self.radial or self.reduction is not None

    def weight(self, x) -> Any:
        """Measure weight of a 1D reduction as a UFL expression of the coordinate x (None in
        3D): 4 pi r^2 (radial cell, sphere), 2 pi r L (cylinder), the area A (slab), times
        weight_scale for the cylinder and slab (the shape's `weight`)."""
        import ufl
        if not self.serial:
            return None
        w = (_RADIAL_CELL if self.radial else self.reduction).weight(x[0], self.weight_scale)
        return ufl.as_ufl(w) if isinstance(w, (int, float)) else w

    @property
    def periodic(self) -> bool:
        return self.period is not None

    @property
    def comm(self):
        return self.mesh.comm

    @property
    def gdim(self) -> int:
        return self.mesh.geometry.dim

    def distances(self, x: np.ndarray) -> np.ndarray:
        """Distances (nm) from points x (shape (m, 3)) to every centre: shape (m, N).

        Periodic boxes use the minimum image convention.
        """
        if self.radial:
            return np.abs(x[:, :1])
        d = x[:, None, :3] - self.centres[None, :, :]
        if self.period is not None:
            d -= self.period * np.round(d / self.period)
        return np.sqrt(np.einsum("mnk,mnk->mn", d, d))

    def conforms_to(self, radius: float) -> bool:
        """True when the mesh has a sphere of this radius around every centre."""
        return any(abs(radius - r) <= 1e-9 * max(r, 1.0) for r in self.conforming_radii)

    @property
    def neighbours(self):
        """The centres in k-d trees (spindiff.mesh.neighbours): nearest distances and cut-off
        sums over centres at a cost per point independent of the number of centres. Rebuilt
        when `centres` is replaced."""
        key = (id(self.centres), np.shape(self.centres))
        cached = getattr(self, "_neighbours", None)
        if cached is None or cached[0] != key:
            cached = (key, CentreNeighbours(self.centres, self.period, self.box_lower))
            self._neighbours = cached
        return cached[1]

    def nearest_distance(self, x: np.ndarray) -> np.ndarray:
        """Distance (nm) from each point to its nearest centre, shape (m,) (inf without centres;
        a radial domain: |r|)."""
        if self.radial:
            return np.abs(np.asarray(x)[:, 0])
        return self.neighbours.nearest(x)
