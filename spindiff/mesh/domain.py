"""The mesh of a sample plus what the physics needs to know about it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

#: cell-tag values used by the built-in builders
TAG_VISIBLE = 1      # r > r_h
TAG_HIDDEN = 2       # b < r < r_h (hyperfine-shifted, NMR-invisible)
TAG_BARRIER = 3      # r < b when the barrier is kept in the mesh
#: facet-tag values
FACET_OUTER = 10
FACET_BARRIER = 11


@dataclass
class Domain:
    """A meshed sample.

    mesh, cell_tags, facet_tags: DOLFINx objects (distributed).
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
    """

    mesh: Any
    cell_tags: Any
    facet_tags: Any
    radial: bool
    centres: np.ndarray
    materials: dict[str, list[int]]
    barrier_tags: list[int] = field(default_factory=list)
    barrier_by_distance: bool = False
    period: Optional[np.ndarray] = None
    box_lower: Optional[np.ndarray] = None
    exact_volume: float = float("nan")
    description: str = ""
    region_names: dict[int, str] = field(default_factory=dict)
    conforming_radii: list[float] = field(default_factory=list)

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

    def image_centres(self) -> np.ndarray:
        """Centres plus, for a periodic box, their images in the 26 neighbouring boxes
        (shape (M, 3)); a radial domain has its one centre at r = 0."""
        if self.radial or self.period is None or len(self.centres) == 0:
            return np.asarray(self.centres, dtype=float).reshape(-1, 3)
        shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)],
                          dtype=float) * self.period
        return (self.centres[None, :, :] + shifts[:, None, :]).reshape(-1, 3)

    def conforms_to(self, radius: float) -> bool:
        """True when the mesh has a sphere of this radius around every centre."""
        return any(abs(radius - r) <= 1e-9 * max(r, 1.0) for r in self.conforming_radii)

    def nearest_distance(self, x: np.ndarray) -> np.ndarray:
        """Distance (nm) from each point to its nearest centre, shape (m,) (inf without centres)."""
        if not self.radial and len(self.centres) == 0:
            return np.full(x.shape[0], np.inf)
        out = np.empty(x.shape[0])
        chunk = max(1, 2_000_000 // max(1, len(self.centres)))
        for i in range(0, x.shape[0], chunk):
            out[i:i + chunk] = self.distances(x[i:i + chunk]).min(axis=1)
        return out
