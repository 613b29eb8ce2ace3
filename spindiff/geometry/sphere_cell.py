"""Gmsh builder for the single-centre spherical cell (docs/reference/physics.md section 7).

The cell is a ball of radius R around one centre at the origin. The barrier ball r < b is cut
out ("hole"), kept as its own volume ("kept"), or absent ("none"). Every other radius that
matters (the visible sphere r_h, the edge of a source region) is an internal interface, so
visible/hidden and source integrals are exact up to the geometry approximation. Element size
grows from `size_barrier` at the innermost sphere to `size_bulk` far away. Built on rank 0 and
distributed by DOLFINx.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mpi4py import MPI

from ..mesh.domain import FACET_BARRIER, FACET_OUTER, TAG_BARRIER, TAG_HIDDEN, TAG_VISIBLE, Domain
from .curved import relax_inverted, straighten_inverted
from .gmsh_tools import run_gmsh


def interface_radii(R: float, b: float, barrier: str, extra: Sequence[float]) -> list[float]:
    """Sorted radii of the internal spheres (0 < r < R), the barrier first when there is one."""
    radii = set(float(r) for r in extra if 0 < r < R * (1 - 1e-9))
    if barrier != "none":
        radii.add(float(b))
    out: list[float] = []
    for r in sorted(radii):
        if not out or r > out[-1] * (1 + 1e-6):
            out.append(r)
    return out


def shell_tag(outer: float, b: float, barrier: str, rh: float) -> int:
    """Cell tag of the shell whose outer radius is `outer`."""
    if barrier != "none" and outer <= b * (1 + 1e-6):
        return TAG_BARRIER
    if outer <= rh * (1 + 1e-6):
        return TAG_HIDDEN
    return TAG_VISIBLE


def build_sphere_cell(comm: MPI.Comm, radius: float, barrier_radius: float, barrier: str,
                      visible_radius: float, size_barrier: float, size_bulk: float,
                      order: int = 2, material: str = "matrix",
                      extra_radii: Sequence[float] = (), refine: int = 0) -> Domain:
    """Mesh the spherical cell; lengths in nm. `barrier` is "hole", "kept" or "none".
    refine: Gmsh meshes at 2^refine times the sizes, then every cell is split into 8 refine
    times (gmsh_tools.run_gmsh)."""
    R, b, rh = radius, barrier_radius, visible_radius
    radii = interface_radii(R, b, barrier, [rh, *extra_radii])
    scale = 2.0 ** refine
    spheres = [(np.zeros(3), r) for r in sorted({*radii, R, b}) if r > 0]
    msh, ct, ft, _ = run_gmsh(
        comm, lambda gmsh: _build_model(gmsh, R, b, barrier, rh, radii, scale * size_barrier,
                                        scale * size_bulk, 1 if refine else order),
        "sphere cell", stl_bounds=False, refine=refine, spheres=spheres, order=order)
    how = f", Gmsh at {scale:g}x the sizes refined {refine}x" if refine else ""
    return cell_domain(msh, ct, ft, False, R, b, barrier, rh, radii, material,
                       f"sphere cell R={R:.4g} nm, b={b:.4g} nm ({barrier}), order {order}{how}")


def cell_domain(msh, cell_tags, facet_tags, radial: bool, R: float, b: float, barrier: str,
                rh: float, radii: Sequence[float], material: str, description: str) -> Domain:
    """The Domain of a single-centre spherical cell (3D or radial): its shells' tags, the
    barrier tags, the exact volume 4 pi (R^3 - b^3 for a hole) / 3 and the conforming radii."""
    tags = sorted({shell_tag(o, b, barrier, rh) for o in [*radii, R]
                   if not (barrier == "hole" and o <= b * (1 + 1e-6))})
    barrier_tags = [TAG_BARRIER] if barrier in ("kept", "physical") else []
    volume = 4.0 * np.pi / 3.0 * (R**3 - (b**3 if barrier == "hole" else 0.0))
    return Domain(mesh=msh, cell_tags=cell_tags, facet_tags=facet_tags, radial=radial,
                  centres=np.zeros((1, 3)), materials={material: tags},
                  barrier_tags=barrier_tags, exact_volume=volume, conforming_radii=list(radii),
                  description=description)


def _build_model(gmsh, R, b, barrier, rh, radii, size_barrier, size_bulk, order) -> None:
    occ = gmsh.model.occ
    gmsh.model.add("sphere_cell")
    outer = occ.addSphere(0, 0, 0, R)
    tools = [(3, occ.addSphere(0, 0, 0, r)) for r in radii]
    if tools:
        occ.fragment([(3, outer)], tools)
    occ.synchronize()

    def outer_radius(dim: int, tag: int) -> float:
        xmin, _, _, xmax, _, _ = gmsh.model.getBoundingBox(dim, tag)
        return 0.5 * (xmax - xmin)

    groups: dict[int, list[int]] = {TAG_VISIBLE: [], TAG_HIDDEN: [], TAG_BARRIER: []}
    for _, v in gmsh.model.getEntities(3):
        groups[shell_tag(outer_radius(3, v), b, barrier, rh)].append(v)
    if barrier == "hole":
        occ.remove([(3, t) for t in groups[TAG_BARRIER]], recursive=True)
        occ.synchronize()
        groups[TAG_BARRIER] = []
    for tag, ents in groups.items():
        if ents:
            gmsh.model.addPhysicalGroup(3, ents, tag)

    surfaces: dict[int, list[int]] = {FACET_OUTER: [], FACET_BARRIER: []}
    innermost: list[int] = []
    r_in = radii[0] if radii else None
    for _, s in gmsh.model.getEntities(2):
        rs = outer_radius(2, s)
        if abs(rs - R) < 1e-3 * R:
            surfaces[FACET_OUTER].append(s)
        elif barrier != "none" and abs(rs - b) < 1e-3 * b:
            surfaces[FACET_BARRIER].append(s)
        if any(abs(rs - r) < 1e-3 * r for r in radii):
            innermost.append(s)  # every internal sphere is refined: laws jump there
    for tag, ents in surfaces.items():
        if ents:
            gmsh.model.addPhysicalGroup(2, ents, tag)

    field = gmsh.model.mesh.field
    dist = field.add("Distance")
    if innermost:
        field.setNumbers(dist, "SurfacesList", innermost)
    else:
        field.setNumbers(dist, "PointsList", [occ.addPoint(0, 0, 0)])
        occ.synchronize()
    scale = r_in if r_in is not None else R / 4
    thr = field.add("Threshold")
    field.setNumber(thr, "InField", dist)
    field.setNumber(thr, "SizeMin", size_barrier)
    field.setNumber(thr, "SizeMax", size_bulk)
    field.setNumber(thr, "DistMin", 0.0)
    field.setNumber(thr, "DistMax", max(4.0 * scale, 0.5 * (R - scale)))
    field.setAsBackgroundMesh(thr)
    for opt in ("Mesh.MeshSizeExtendFromBoundary", "Mesh.MeshSizeFromPoints",
                "Mesh.MeshSizeFromCurvature"):
        gmsh.option.setNumber(opt, 0)
    gmsh.option.setNumber("Mesh.Algorithm3D", 1)
    gmsh.option.setNumber("Mesh.RandomSeed", 1)
    gmsh.model.mesh.generate(3)
    if order > 1:
        gmsh.model.mesh.setOrder(order)
        # curving the interface and boundary edges can fold a flat cell next to a concave
        # sphere: spread the curvature into the cells around it (deterministic, see curved.py);
        # a cell that still folds is made affine
        if relax_inverted(gmsh):
            straighten_inverted(gmsh)
