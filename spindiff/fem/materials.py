"""Material properties of the cells as form coefficients.

Each material (a set of cell tags) has a nuclear spin density n (nm^-3), a bulk diffusion
coefficient D0 (nm^2/s) and a bulk relaxation rate R1 (1/s). A property that is the same in
every cell of the mesh becomes a form Constant; only one that differs between materials is a
piecewise-constant (DG0) function, which costs 8 bytes per cell, and as much again each time a
form using it is assembled (DOLFINx packs the coefficients of every cell first).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from dolfinx import fem
from mpi4py import MPI

from ..errors import MeshError
from ..mesh import compat
from ..mesh.domain import Domain
from .fields import cell_tag_array, cellwise_function


@dataclass
class CellMaterials:
    """Material of every local cell and its properties as coefficients."""
    names: list[str]
    #: index into `names` of every local cell, ghosts included (-1: none)
    of_cell: np.ndarray
    n: fem.Constant | fem.Function
    D0: fem.Constant | fem.Function
    R1_bulk: fem.Constant | fem.Function


def cell_materials(domain: Domain, materials: dict, cell_space: Callable[[], fem.FunctionSpace]
                   ) -> CellMaterials:
    """The cells' materials from the domain's tags and the model's material properties
    (objects with nuclear_density, D0, R1_bulk); `cell_space` gives the DG0 space when one is
    needed. Raises MeshError for a mesh material the case does not define or an owned cell
    in no material."""
    tags = cell_tag_array(domain)
    n, D, r1 = (np.full(tags.shape, np.nan) for _ in range(3))
    names = list(domain.materials)
    of_cell = np.full(tags.shape, -1, dtype=np.int16)
    for i, (name, tag_values) in enumerate(domain.materials.items()):
        if name not in materials:
            raise MeshError(f"mesh material {name!r} is not defined in the case "
                            f"(defined: {', '.join(materials)})")
        props = materials[name]
        sel = np.isin(tags, tag_values)
        n[sel], D[sel], r1[sel] = props.nuclear_density, props.D0, props.R1_bulk
        of_cell[sel] = i
    nlocal = compat.num_cells_local(domain.mesh, with_ghosts=False)
    if np.isnan(n[:nlocal]).any():
        bad = sorted(set(tags[:nlocal][np.isnan(n[:nlocal])].tolist()))
        raise MeshError(f"cells with tags {bad} belong to no material")
    n[np.isnan(n)] = 1.0
    D[np.isnan(D)] = 0.0
    r1[np.isnan(r1)] = 0.0

    def coefficient(values: np.ndarray, name: str):
        owned = values[:nlocal]
        lo = domain.comm.allreduce(float(owned.min(initial=np.inf)), op=MPI.MIN)
        hi = domain.comm.allreduce(float(owned.max(initial=-np.inf)), op=MPI.MAX)
        if lo == hi:
            return fem.Constant(domain.mesh, lo)
        return cellwise_function(cell_space(), values, name)

    return CellMaterials(names=names, of_cell=of_cell, n=coefficient(n, "n"),
                         D0=coefficient(D, "D0"), R1_bulk=coefficient(r1, "R1_bulk"))
