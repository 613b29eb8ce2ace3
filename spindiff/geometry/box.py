"""Gmsh builder for many centres in a box (docs/reference/physics.md section 7); the Gmsh helpers it
shares with the other builders are in gmsh_tools.py.

The box is [0, L]^3 (nm). With `periodic`, opposite faces get identical surface meshes
(gmsh.model.mesh.setPeriodic with the translation by L, applied to every face pair after the
boolean operations), so that a periodic constraint maps nodes exactly. The mesh is refined
around every centre, and in a periodic box also around the periodic images of centres near a
face, so that the refinement itself is periodic.

Barriers (the balls r < b where hyperfine shifts stop flip-flops):
  "kept_distance" (default): the balls are not meshed; the Domain says `barrier_by_distance`
      and the solver suppresses D and switches off sources where r < b at quadrature points.
  "hole": the balls (and their periodic images where a ball crosses a face) are cut out of
      the box; their surfaces carry FACET_BARRIER.

Tags: every cell TAG_VISIBLE (1); FACET_OUTER (10) on the box faces of a closed box,
FACET_BARRIER (11) on hole surfaces. The visible/hidden split (r_h) is evaluated by the solver
at quadrature points from `Domain.distances`, not by cell tags. Built on rank 0 and distributed
by DOLFINx.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from mpi4py import MPI

from ..errors import CaseError
from ..mesh.domain import FACET_BARRIER, FACET_OUTER, TAG_VISIBLE, Domain
from .centres import box_lengths_array, check_centres
from .gmsh_tools import (
    GRADING,
    REFINE_INNER,
    REFINE_OUTER,
    box_face_surfaces,
    centre_refinement,
    check_periodic_mesh,
    generate,
    run_gmsh,
    set_periodic_faces,
)

BARRIER_MODES = ("kept_distance", "hole")
#: smallest allowed gap, as a fraction of b, between a hole and a box face or another hole:
#: nearly tangent spheres make sliver geometry that OpenCASCADE and Gmsh cannot mesh well.
HOLE_GAP = 0.05


def build_box(comm: MPI.Comm, lengths: float | Sequence[float], centres: np.ndarray,
              barrier_radius: float, barrier: str = "kept_distance",
              visible_radius: float | None = None, size_barrier: float | None = None,
              size_bulk: float | None = None, order: int = 1, periodic: bool = True,
              material: str = "matrix", interface_radii: Sequence[float] = (),
              refine: int = 0) -> Domain:
    """Mesh a box [0, L]^3 (nm) holding paramagnetic centres.

    lengths: box side (nm) or three sides. centres: (N, 3) positions in nm (wrapped into the
    box when periodic). barrier_radius b (nm): radius of the barrier balls. barrier:
    "kept_distance" or "hole". visible_radius r_h (nm, >= b): only recorded and checked; the
    solver evaluates visibility at quadrature points. size_barrier: element size (nm) within
    1.5 b of each centre (default b / 3), growing linearly to size_bulk (default min(L) / 6) at
    5 b, or farther if needed to keep the growth below GRADING. order: geometry order (2 curves
    the hole surfaces). refine: Gmsh meshes at 2^refine times the sizes, then every cell is
    split into 8 refine times (gmsh_tools.run_gmsh). A single centre at L/2 in a
    periodic cube of side (C N_A)^(-1/3) is
    Takeda's model.

    Raises CaseError (one line) for overlapping barrier balls (minimum image when periodic),
    centres outside a closed box, holes that cross a closed box or nearly touch a face, edge or
    corner of a periodic one, and MeshError if Gmsh fails.
    """
    L = box_lengths_array(lengths)
    b = float(barrier_radius)
    if barrier not in BARRIER_MODES:
        raise CaseError("centres.barrier", barrier, f"one of {', '.join(BARRIER_MODES)} for a box")
    if not b > 0:
        raise CaseError("centres.barrier_radius", barrier_radius, "a positive radius in nm")
    if visible_radius is not None and visible_radius < b:
        raise CaseError("centres.visible_radius", visible_radius,
                        f"must be >= the barrier radius {b:g} nm")
    hb = float(size_barrier) if size_barrier is not None else b / 3.0
    hB = float(size_bulk) if size_bulk is not None else float(L.min()) / 6.0
    _check_sizes(hb, hB, order)
    scale = 2.0 ** refine
    hb_gmsh, hB_gmsh = scale * hb, scale * hB
    hole = barrier == "hole"
    c = check_centres(centres, L, periodic, radius=b, gap=HOLE_GAP * b if hole else 0.0)
    holes = np.empty((0, 3))
    if hole:
        holes = _hole_positions(c, L, b, periodic)
    reach = max(REFINE_OUTER * b, REFINE_INNER * b + (hB_gmsh - hb_gmsh) / GRADING)
    refine_points = periodic_images(c, L, reach) if periodic else c
    spheres = _interface_spheres(c, L, b, interface_radii, periodic)

    def build(gmsh) -> dict:
        occ = gmsh.model.occ
        gmsh.model.add("box")
        box = occ.addBox(0, 0, 0, *L)
        vols = [(3, box)]
        if len(holes):
            balls = [(3, occ.addSphere(*p, b)) for p in holes]
            vols, _ = occ.cut([(3, box)], balls)
        if spheres:
            tools = [(3, occ.addSphere(*p, r)) for p, r in spheres]
            pieces, _ = occ.fragment(vols, tools)
            occ.synchronize()
            outside = [(d, t) for d, t in pieces if d == 3 and
                       not _inside_box(occ.getCenterOfMass(3, t), L)]
            if outside:
                occ.remove(outside, recursive=True)
            occ.synchronize()
            vols = [e for e in gmsh.model.getEntities(3)]
        pts = [occ.addPoint(*p) for p in refine_points]
        occ.synchronize()
        faces = box_face_surfaces(gmsh, np.zeros(3), L)
        on_faces = sorted({s for ss in faces.values() for s in ss})
        pairs = set_periodic_faces(gmsh, np.zeros(3), L, faces, axes=(0, 1, 2)) if periodic else []
        gmsh.model.addPhysicalGroup(3, [t for _, t in vols], TAG_VISIBLE)
        barrier_surfs = [t for _, t in gmsh.model.getEntities(2) if t not in on_faces]
        if barrier_surfs:
            gmsh.model.addPhysicalGroup(2, barrier_surfs, FACET_BARRIER)
        if not periodic:
            gmsh.model.addPhysicalGroup(2, on_faces, FACET_OUTER)
        fields = [centre_refinement(gmsh, pts, b, hb_gmsh, hB_gmsh)] if pts else []
        generate(gmsh, fields, hB_gmsh, 1 if refine else order)
        check_periodic_mesh(gmsh, pairs, float(L.max()))
        return {}

    curved = [(p, b) for p in holes] + list(spheres)
    msh, ct, ft, _ = run_gmsh(comm, build, "box", refine=refine, spheres=curved, order=order)
    volume = float(np.prod(L)) - (len(c) * 4.0 / 3.0 * np.pi * b**3 if hole else 0.0)
    kind = "periodic" if periodic else "closed"
    return Domain(mesh=msh, cell_tags=ct, facet_tags=ft, radial=False, centres=c,
                  materials={material: [TAG_VISIBLE]}, barrier_by_distance=not hole,
                  period=L.copy() if periodic else None, box_lower=np.zeros(3),
                  exact_volume=volume, region_names={TAG_VISIBLE: material},
                  conforming_radii=sorted(set(float(r) for r in interface_radii))
                  + ([b] if hole else []),
                  description=f"{kind} box {_fmt(L)} nm, {len(c)} centres, b={b:.4g} nm "
                              f"({barrier}), r_h={_fmt(visible_radius)} nm, "
                              f"h={hb:.3g}-{hB:.3g} nm, order {order}"
                              + (f", Gmsh at {scale:g}x the sizes refined {refine}x" if refine else ""))


def _interface_spheres(c: np.ndarray, L: np.ndarray, b: float, radii: Sequence[float],
                       periodic: bool) -> list[tuple[np.ndarray, float]]:
    """(centre, radius) of every interface sphere to fragment the box with: around each
    centre and, when periodic, around each image whose sphere enters the box."""
    out = []
    for r in sorted(set(float(x) for x in radii)):
        if not r > b * (1 + 1e-9):
            raise CaseError("interface radius", r, f"must exceed the barrier radius {b:g} nm")
        if np.any(nearly_tangent(c, L, r, HOLE_GAP * r)):
            raise CaseError("interface radius", r,
                            "a sphere of this radius around a centre nearly touches a box face; "
                            "move the centre or change the radius")
        pts = periodic_images(c, L, r) if periodic else c
        out.extend((p, r) for p in pts)
    return out


def _inside_box(p: Sequence[float], L: np.ndarray) -> bool:
    p = np.asarray(p)
    return bool(np.all(p > -1e-9 * L) and np.all(p < L * (1 + 1e-9)))


# --- validation -------------------------------------------------------------------------------

def _check_sizes(size_fine: float, size_coarse: float, order: int) -> None:
    if not (size_fine > 0 and size_coarse > 0):
        raise CaseError("mesh.size", [size_fine, size_coarse], "element sizes must be > 0 nm")
    if order not in (1, 2):
        raise CaseError("mesh.order", order, "geometry order 1 or 2")


def _hole_positions(c: np.ndarray, L: np.ndarray, b: float, periodic: bool) -> np.ndarray:
    """Centres of the balls to cut: each centre plus, when periodic, the images whose ball
    enters the box. Rejects balls nearly tangent to a face and, for a closed box, balls that
    are not inside it."""
    gap = HOLE_GAP * b
    dist_face = np.minimum(c, L - c)
    if not periodic:
        bad = np.nonzero(np.any(dist_face < b + gap, axis=1))[0]
        if len(bad):
            i = int(bad[0])
            raise CaseError("centres.positions", c[i].round(4).tolist(),
                            f"the hole of radius {b:g} nm around centre {i} must lie inside the "
                            f"closed box, at least {gap:.3g} nm from its faces")
        return c
    near = np.nonzero(nearly_tangent(c, L, b, gap))[0]
    if len(near):
        i = int(near[0])
        raise CaseError("centres.positions", c[i].round(4).tolist(),
                        f"the hole of radius {b:g} nm around centre {i} nearly touches a box "
                        f"face, edge or corner (within {gap:.3g} nm); move the centre (random "
                        f"centres: exclude=lambda p: box.nearly_tangent(p, L, b, 2 * {gap:.3g}))")
    return periodic_images(c, L, b)


def nearly_tangent(c: np.ndarray, L: np.ndarray, r: float, gap: float) -> np.ndarray:
    """True for points c (m, 3) of the box whose ball of radius r, or one of its periodic
    images, passes within `gap` (nm) of touching a face, edge or corner of the box: the
    boolean operations would leave sliver surfaces there."""
    c = np.asarray(c, dtype=float).reshape(-1, 3)
    bad = np.any(np.abs(np.minimum(c, L - c) - r) < gap, axis=1)
    for shift in itertools.product((-1, 0, 1), repeat=3):
        if shift != (0, 0, 0):
            p = c + np.asarray(shift) * L
            outside = np.maximum(np.maximum(-p, p - L), 0.0)
            bad |= np.abs(np.sqrt(np.einsum("ij,ij->i", outside, outside)) - r) < gap
    return bad


def periodic_images(c: np.ndarray, L: np.ndarray, reach: float) -> np.ndarray:
    """The points c (N, 3) plus their periodic images (shifts by -L, 0, +L per axis) that lie
    within `reach` (nm) of the box [0, L]^3; originals first."""
    out = [c]
    for shift in itertools.product((-1, 0, 1), repeat=3):
        if shift == (0, 0, 0):
            continue
        p = c + np.asarray(shift) * L
        outside = np.maximum(np.maximum(-p, p - L), 0.0)
        out.append(p[np.einsum("ij,ij->i", outside, outside) < reach**2])
    return np.concatenate(out, axis=0)


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    a = np.atleast_1d(np.asarray(x, dtype=float))
    return "x".join(f"{v:.4g}" for v in a)
