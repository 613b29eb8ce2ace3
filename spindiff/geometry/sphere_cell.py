"""Gmsh builder for the single-centre spherical cell (PHYSICS.md section 7).

The cell is a ball of radius R around one centre at the origin. The barrier ball r < b is cut
out (hole) or kept as its own volume; the visible sphere r = r_h is an internal interface when
b < r_h < R so that visible/hidden integrals are exact up to the geometry approximation.
Element size grows from `size_barrier` at r = b to `size_bulk` far away. Built on rank 0 and
distributed by DOLFINx.
"""
from __future__ import annotations

import numpy as np
from mpi4py import MPI

from ..fem import compat
from .domain import FACET_BARRIER, FACET_OUTER, TAG_BARRIER, TAG_HIDDEN, TAG_VISIBLE, Domain


def build_sphere_cell(comm: MPI.Comm, radius: float, barrier_radius: float, barrier: str,
                      visible_radius: float, size_barrier: float, size_bulk: float,
                      order: int = 2, material: str = "matrix") -> Domain:
    """Mesh the spherical cell; lengths in nm. `barrier` is "hole" or "kept"."""
    import gmsh

    R, b, rh = radius, barrier_radius, visible_radius
    gmsh.initialize(interruptible=False) if _gmsh_takes_interruptible() else gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        if comm.rank == 0:
            _build_model(gmsh, R, b, barrier, rh, size_barrier, size_bulk, order)
        msh, ct, ft = compat.gmsh_model_to_mesh(gmsh.model, comm, 0, gdim=3)
    finally:
        gmsh.finalize()
    tags = [TAG_VISIBLE] + ([TAG_HIDDEN] if b < rh < R else [])
    barrier_tags = []
    if barrier == "kept":
        tags.append(TAG_BARRIER)
        barrier_tags = [TAG_BARRIER]
    volume = 4.0 * np.pi / 3.0 * (R**3 - (b**3 if barrier == "hole" else 0.0))
    return Domain(mesh=msh, cell_tags=ct, facet_tags=ft, radial=False,
                  centres=np.zeros((1, 3)), materials={material: tags},
                  barrier_tags=barrier_tags, exact_volume=volume,
                  description=f"sphere cell R={R:.4g} nm, b={b:.4g} nm ({barrier}), order {order}")


def _gmsh_takes_interruptible() -> bool:
    import inspect

    import gmsh
    return "interruptible" in inspect.signature(gmsh.initialize).parameters


def _build_model(gmsh, R, b, barrier, rh, size_barrier, size_bulk, order) -> None:
    occ = gmsh.model.occ
    gmsh.model.add("sphere_cell")
    outer = occ.addSphere(0, 0, 0, R)
    tools = [(3, occ.addSphere(0, 0, 0, b))]
    if b < rh < R:
        tools.append((3, occ.addSphere(0, 0, 0, rh)))
    occ.fragment([(3, outer)], tools)
    occ.synchronize()

    def radius_of(vol_tag: int) -> float:
        xmin, _, _, xmax, _, _ = gmsh.model.getBoundingBox(3, vol_tag)
        return 0.5 * (xmax - xmin)

    vols = [t for _, t in gmsh.model.getEntities(3)]
    groups = {TAG_VISIBLE: [], TAG_HIDDEN: [], TAG_BARRIER: []}
    for v in vols:
        mass = occ.getMass(3, v)
        # identify each shell by its volume: ball(b), shell(b, rh), shell(rh or b, R)
        if np.isclose(mass, 4 / 3 * np.pi * b**3, rtol=1e-3) and radius_of(v) < b * 1.001:
            groups[TAG_BARRIER].append(v)
        elif radius_of(v) < R * 0.999:
            groups[TAG_HIDDEN].append(v)
        else:
            groups[TAG_VISIBLE].append(v)
    if barrier == "hole":
        occ.remove([(3, t) for t in groups[TAG_BARRIER]], recursive=True)
        occ.synchronize()
        groups[TAG_BARRIER] = []
    for tag, ents in groups.items():
        if ents:
            gmsh.model.addPhysicalGroup(3, ents, tag)

    surfaces = {FACET_OUTER: [], FACET_BARRIER: []}
    for _, s in gmsh.model.getEntities(2):
        xmin, _, _, xmax, _, _ = gmsh.model.getBoundingBox(2, s)
        rs = 0.5 * (xmax - xmin)
        if abs(rs - R) < 1e-3 * R:
            surfaces[FACET_OUTER].append(s)
        elif abs(rs - b) < 1e-3 * b:
            surfaces[FACET_BARRIER].append(s)
    for tag, ents in surfaces.items():
        if ents:
            gmsh.model.addPhysicalGroup(2, ents, tag)

    field = gmsh.model.mesh.field
    dist = field.add("Distance")
    field.setNumbers(dist, "SurfacesList", surfaces[FACET_BARRIER])
    thr = field.add("Threshold")
    field.setNumber(thr, "InField", dist)
    field.setNumber(thr, "SizeMin", size_barrier)
    field.setNumber(thr, "SizeMax", size_bulk)
    field.setNumber(thr, "DistMin", 0.0)
    field.setNumber(thr, "DistMax", max(4.0 * b, 0.5 * (R - b)))
    field.setAsBackgroundMesh(thr)
    for opt in ("Mesh.MeshSizeExtendFromBoundary", "Mesh.MeshSizeFromPoints",
                "Mesh.MeshSizeFromCurvature"):
        gmsh.option.setNumber(opt, 0)
    gmsh.option.setNumber("Mesh.Algorithm3D", 1)
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.option.setNumber("Mesh.RandomSeed", 1)
    gmsh.model.mesh.generate(3)
    if order > 1:
        gmsh.model.mesh.setOrder(order)
