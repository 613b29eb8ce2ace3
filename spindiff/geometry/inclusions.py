"""Gmsh builders for heterogeneous samples (docs/reference/physics.md section 7): a particle or film of
material B in a matrix A (relayed DNP), layered films and two-domain blends.

Every builder meshes a box [0, L]^3 (nm) with conforming material interfaces (OCC fragment),
so P and the flux n D dP/dn are continuous there through the weak form alone. Cell-tag values
(one per region, mapped to material names by `Domain.materials`):

    MATRIX_TAG = 21    the matrix of build_particle_in_matrix, material A of build_blend
    PARTICLE_TAG = 22  the particle of build_particle_in_matrix, material B of build_blend
    LAYER_TAG0 + i     layer i (from z = 0) of build_layers, i.e. 21, 22, 23, ...

Facet tags: FACET_OUTER (10) on outer faces that are not periodic. Interfaces are not tagged.
Periodic faces have matching meshes (see box.set_periodic_faces). Built on rank 0 and
distributed by DOLFINx.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mpi4py import MPI

from ..errors import CaseError
from ..mesh.domain import FACET_OUTER, Domain
from ..physics import shapes
from ..physics.shapes import ParticleShape
from .blend_placement import blend_centres
from .box import HOLE_GAP, _check_sizes, _fmt, periodic_images
from .centres import box_lengths_array, check_centres
from .gmsh_tools import (
    GRADING,
    REFINE_INNER,
    REFINE_OUTER,
    box_face_surfaces,
    centre_refinement,
    check_periodic_mesh,
    generate,
    gmsh_shape,
    run_gmsh,
    set_periodic_faces,
    shape_distance,
    volume_size,
)

MATRIX_TAG = 21
PARTICLE_TAG = 22
LAYER_TAG0 = 21
#: growth of the element size with the distance from a refined interface (dh / dd)
INTERFACE_GROWTH = 0.3
#: gap between blend spheres, and between a sphere and touching a box face, edge or corner,
#: as a fraction of the sphere radius
BLEND_GAP = 0.1
#: largest element size on a blend sphere's surface, as a fraction of its radius (about 13
#: elements around a great circle); see sphere_surface_size
SPHERE_SURFACE_SIZE = 0.5


def particle_volume(shape: str | ParticleShape, particle_size: float,
                    box_lengths: Sequence[float]) -> float:
    """Exact volume (nm^3) of the particle (spindiff.physics.shapes): a sphere of radius a, a
    cylinder of radius a along z through the whole box, or a slab of half-thickness a normal
    to z across the whole box."""
    return _shape(shape).volume(float(particle_size), box_lengths_array(box_lengths))


def particle_signed_distance(shape: str | ParticleShape, particle_size: float,
                             box_lengths: Sequence[float], points: np.ndarray) -> np.ndarray:
    """Signed distance (nm) from points (m, 3) to the surface of the particle centred in the
    box: negative inside. Useful as `random_centres(..., exclude=lambda p: d(p) < b)` to keep
    centres and their barrier balls in the matrix."""
    return _shape(shape).signed_distance(particle_size, box_lengths_array(box_lengths), points)


def _shape(name: str | ParticleShape) -> ParticleShape:
    try:
        return shapes.shape(name)
    except ValueError:
        raise CaseError("geometry.shape", name, f"one of {', '.join(shapes.SHAPES)}") from None


def build_particle_in_matrix(comm: MPI.Comm, shape: str, particle_size: float,
                             box_lengths: float | Sequence[float], size_particle: float,
                             size_matrix: float, order: int = 1, periodic: bool = True,
                             matrix: str = "matrix", particle: str = "particle",
                             centres: np.ndarray | None = None, barrier_radius: float = 0.0,
                             size_barrier: float | None = None,
                             size_interface: float | None = None) -> Domain:
    """A particle of material `particle` centred in a box of material `matrix` (nm).

    shape: a particle shape or its name (spindiff.physics.shapes): "sphere" (radius =
    particle_size), "cylinder" (radius = particle_size, axis along z through the whole box: an
    endless fibre when periodic) or "slab" (half-thickness = particle_size, normal to z, across
    the whole box: a film). size_particle, size_matrix:
    element sizes (nm) inside each material (the interface gets the smaller).
    centres: optional (N, 3) centre positions in the matrix; they are resolved like in a box
    (size_barrier, default b / 3, within 1.5 b growing to size_matrix), their barrier balls of
    radius `barrier_radius` stay in the matrix and are kept by distance
    (Domain.barrier_by_distance). Cell tags: matrix MATRIX_TAG (21), particle PARTICLE_TAG (22).
    size_interface: element size (nm) on the particle surface, growing linearly with the
    distance from it (slope INTERFACE_GROWTH) on both sides: the interface boundary layers.
    """
    L = box_lengths_array(box_lengths)
    a = float(particle_size)
    form = _shape(shape)
    _check_sizes(size_particle, size_matrix, order)
    check_particle_fits(form, a, L)
    if matrix == particle:
        raise CaseError("geometry.particle", particle, "must differ from the matrix material name")
    c, b, hb, refine = _resolved_centres(centres, barrier_radius, size_barrier, size_matrix, L,
                                         periodic)
    if len(c):
        dist = form.signed_distance(a, L, c)
        if np.any(dist < b):
            i = int(np.argmin(dist))
            raise CaseError("centres.positions", c[i].round(4).tolist(),
                            f"centre {i} is {dist[i]:.4g} nm from the {form.name} surface; centres "
                            f"and their barrier balls (b = {b:g} nm) must lie in the matrix")
    mid = 0.5 * L

    def build(gmsh) -> dict:
        occ = gmsh.model.occ
        gmsh.model.add("particle_in_matrix")
        box = occ.addBox(0, 0, 0, *L)
        part = gmsh_shape(form.name).add(occ, mid, L, a)
        _, out_map = occ.fragment([(3, box)], [(3, part)])
        part_vols = sorted({t for _, t in out_map[1]})
        matrix_vols = sorted({t for _, t in out_map[0]} - set(part_vols))
        pts = [occ.addPoint(*p) for p in refine]
        occ.synchronize()
        gmsh.model.addPhysicalGroup(3, matrix_vols, MATRIX_TAG)
        gmsh.model.addPhysicalGroup(3, part_vols, PARTICLE_TAG)
        pairs = _outer_faces(gmsh, L, periodic_axes=(0, 1, 2) if periodic else ())
        fields = [volume_size(gmsh, matrix_vols, size_matrix),
                  volume_size(gmsh, part_vols, size_particle)]
        if pts:
            fields.append(centre_refinement(gmsh, pts, b, hb, size_matrix))
        if size_interface is not None:
            fields.append(interface_refinement(gmsh, form.name, mid, a, size_interface,
                                               max(size_matrix, size_particle)))
        generate(gmsh, fields, max(size_matrix, size_particle), order)
        check_periodic_mesh(gmsh, pairs, float(L.max()))
        return {}

    # exact OpenCASCADE bounding boxes: the STL ones triangulate the sphere at an absolute
    # deflection, which took 19 s (250 nm) to minutes and gigabytes (5 um) per synchronize
    msh, ct, ft, _ = run_gmsh(comm, build, f"{form.name} particle in a matrix", stl_bounds=False)
    vp = form.volume(a, L)
    what = form.what(a)
    return Domain(mesh=msh, cell_tags=ct, facet_tags=ft, radial=False, centres=c,
                  materials={matrix: [MATRIX_TAG], particle: [PARTICLE_TAG]},
                  barrier_by_distance=bool(len(c)), period=L.copy() if periodic else None,
                  box_lower=np.zeros(3), exact_volume=float(np.prod(L)),
                  region_names={MATRIX_TAG: matrix, PARTICLE_TAG: particle},
                  description=f"{particle} {what} nm (volume {vp:.6g} nm^3) in {matrix}, "
                              f"{'periodic' if periodic else 'closed'} box {_fmt(L)} nm, "
                              f"{len(c)} centres, order {order}")


def check_particle_fits(form: ParticleShape, a: float, L: np.ndarray) -> float:
    """Refuse a particle that does not fit in the box (CaseError naming geometry.particle_size);
    returns the room the shape has, half the box across its bounded axes (nm)."""
    half = form.half_room(L)
    if not 0 < a < half * (1 - HOLE_GAP):
        raise CaseError("geometry.particle_size", a,
                        f"a {form.name} needs 0 < size < {half * (1 - HOLE_GAP):.4g} nm in a box "
                        f"{_fmt(L)} nm (it must not touch the faces it does not cross)")
    return half


def interface_refinement(gmsh, shape: str, centre: np.ndarray, a: float, size: float,
                         size_max: float) -> int:
    """Gmsh field: `size` (nm) on the particle surface, growing as size + INTERFACE_GROWTH d
    with the distance d from it (exact for the centred sphere, cylinder or slab), capped at
    size_max. An analytic MathEval field: Gmsh 4.8's Distance field made this take 20 s."""
    r = shape_distance(shape, centre)
    field = gmsh.model.mesh.field
    f = field.add("MathEval")
    field.setString(f, "F", f"Min({float(size_max):.17g}, {float(size):.17g} + "
                            f"{INTERFACE_GROWTH:.17g} * Fabs({r} - {float(a):.17g}))")
    return f


def build_layers(comm: MPI.Comm, thicknesses: Sequence[float], names: Sequence[str],
                 lateral_size: float | Sequence[float], size: float | Sequence[float],
                 periodic_lateral: bool = True, order: int = 1) -> Domain:
    """A film of layers stacked along z from z = 0 (thicknesses in nm), one material name per
    layer (a name may repeat), lateral size Lx (= Ly) or (Lx, Ly) in nm. size: element size
    (nm), one value or one per layer. FACET_OUTER on z = 0 and z = sum(thicknesses), and on the
    lateral faces when not periodic_lateral.

    A quasi-1D check: with zero flux on z = 0 and the top, the solution depends on z only. With
    periodic_lateral the lateral faces get matching meshes, but Domain.period stays None because
    a Domain cannot be periodic in x and y only; for laterally uniform layers zero-flux lateral
    faces give the same solution. Cell tags: layer i gets LAYER_TAG0 + i (21, 22, ...).
    """
    t = np.asarray(thicknesses, dtype=float).ravel()
    names = list(names)
    if len(t) == 0 or np.any(~np.isfinite(t)) or np.any(t <= 0):
        raise CaseError("geometry.thicknesses", list(t), "one or more positive thicknesses in nm")
    if len(names) != len(t):
        raise CaseError("geometry.names", names, f"one material name per layer ({len(t)} layers)")
    lat = np.broadcast_to(np.asarray(lateral_size, dtype=float), (2,))
    L = box_lengths_array([lat[0], lat[1], t.sum()])
    sizes = np.broadcast_to(np.asarray(size, dtype=float), t.shape).copy()
    _check_sizes(float(sizes.min()), float(sizes.max()), order)
    z0 = np.concatenate([[0.0], np.cumsum(t)[:-1]])
    tags = [LAYER_TAG0 + i for i in range(len(t))]

    def build(gmsh) -> dict:
        occ = gmsh.model.occ
        gmsh.model.add("layers")
        boxes = [(3, occ.addBox(0, 0, z, L[0], L[1], h)) for z, h in zip(z0, t)]
        if len(boxes) > 1:
            _, out_map = occ.fragment(boxes[:1], boxes[1:])
            vols = [sorted({v for _, v in m}) for m in out_map]
        else:
            vols = [[boxes[0][1]]]
        occ.synchronize()
        fields = []
        for tag, vs, h in zip(tags, vols, sizes):
            gmsh.model.addPhysicalGroup(3, vs, tag)
            fields.append(volume_size(gmsh, vs, h))
        pairs = _outer_faces(gmsh, L, periodic_axes=(0, 1) if periodic_lateral else ())
        generate(gmsh, fields, float(sizes.max()), order)
        check_periodic_mesh(gmsh, pairs, float(L.max()))
        return {}

    msh, ct, ft, _ = run_gmsh(comm, build, "layered film")
    materials: dict[str, list[int]] = {}
    for name, tag in zip(names, tags):
        materials.setdefault(name, []).append(tag)
    stack = ", ".join(f"{n} {h:.4g}" for n, h in zip(names, t))
    return Domain(mesh=msh, cell_tags=ct, facet_tags=ft, radial=False, centres=np.empty((0, 3)),
                  materials=materials, period=None, box_lower=np.zeros(3),
                  exact_volume=float(np.prod(L)),
                  region_names={tag: f"{n} (layer {i})"
                                for i, (n, tag) in enumerate(zip(names, tags))},
                  description=f"layers along z [{stack}] nm, lateral {_fmt(L[:2])} nm "
                              f"({'periodic meshes' if periodic_lateral else 'closed'} laterally), "
                              f"order {order}")


def build_blend(comm: MPI.Comm, box_lengths: float | Sequence[float], volume_fraction: float,
                domain_size: float, seed: int, names: Sequence[str] = ("A", "B"),
                size: float | None = None, periodic: bool = True, order: int = 1) -> Domain:
    """A two-domain blend: non-overlapping spheres of material names[1] (diameter
    `domain_size`, nm) at seeded random positions in material names[0], their number chosen to
    approximate `volume_fraction` of B. Spheres keep a gap of BLEND_GAP radius from each other
    and from touching a face, edge or corner (blend_placement.blend_centres); in a periodic box
    they may cross faces (their images are added), in a closed box they stay inside. The
    achieved fraction is in Domain.description. size: element size (nm), default
    domain_size / 4; on the sphere surfaces at most SPHERE_SURFACE_SIZE radius. Cell tags: A 21,
    B 22.
    """
    L = box_lengths_array(box_lengths)
    if not 0 <= volume_fraction < 1:
        raise CaseError("geometry.volume_fraction", volume_fraction, "a fraction in [0, 1)")
    if not domain_size > 0:
        raise CaseError("geometry.domain_size", domain_size, "a positive sphere diameter in nm")
    if len(names) != 2 or names[0] == names[1]:
        raise CaseError("geometry.names", list(names), "two different material names (A, B)")
    r = 0.5 * float(domain_size)
    h = float(size) if size is not None else r / 2.0
    _check_sizes(h, h, order)
    gap = BLEND_GAP * r
    V = float(np.prod(L))
    n = int(round(volume_fraction * V / (4.0 / 3.0 * np.pi * r**3)))
    if volume_fraction > 0:
        n = max(n, 1)
    if n and 2 * r + gap >= L.min():
        raise CaseError("geometry.domain_size", domain_size,
                        f"spheres of diameter {domain_size:g} nm do not fit in a box {_fmt(L)} nm")

    c, placed = blend_centres(n, L, r, gap, seed, periodic)
    spheres = periodic_images(c, L, r) if periodic else c
    h_surface = min(h, SPHERE_SURFACE_SIZE * r)
    phi = n * 4.0 / 3.0 * np.pi * r**3 / V
    A, B = names

    def build(gmsh) -> dict:
        occ = gmsh.model.occ
        gmsh.model.add("blend")
        box = occ.addBox(0, 0, 0, *L)
        if len(spheres):
            balls = [(3, occ.addSphere(*p, r)) for p in spheres]
            _, out_map = occ.fragment([(3, box)], balls)
            inside = {v for _, v in out_map[0]}
            b_vols = sorted({v for m in out_map[1:] for _, v in m} & inside)
            outside = sorted({v for m in out_map[1:] for _, v in m} - inside)
            occ.remove([(3, v) for v in outside], recursive=True)
            a_vols = sorted(inside - set(b_vols))
        else:
            a_vols, b_vols = [box], []
        occ.synchronize()
        gmsh.model.addPhysicalGroup(3, a_vols, MATRIX_TAG)
        if b_vols:
            gmsh.model.addPhysicalGroup(3, b_vols, PARTICLE_TAG)
        pairs = _outer_faces(gmsh, L, periodic_axes=(0, 1, 2) if periodic else ())
        fields = [sphere_surface_size(gmsh, b_vols, h_surface)] if h_surface < h else []
        generate(gmsh, fields, h, order)
        check_periodic_mesh(gmsh, pairs, float(L.max()))
        return {}

    msh, ct, ft, _ = run_gmsh(comm, build, "blend", stl_bounds=False)  # see the particle
    return Domain(mesh=msh, cell_tags=ct, facet_tags=ft, radial=False, centres=np.empty((0, 3)),
                  materials={A: [MATRIX_TAG], B: [PARTICLE_TAG]},
                  period=L.copy() if periodic else None, box_lower=np.zeros(3),
                  exact_volume=V, region_names={MATRIX_TAG: A, PARTICLE_TAG: B},
                  description=f"blend of {B} spheres (diameter {domain_size:.4g} nm, {n} spheres, "
                              f"seed {seed}, placed by {placed}) in {A}, {'periodic' if periodic else 'closed'} box "
                              f"{_fmt(L)} nm: volume fraction of {B} requested "
                              f"{volume_fraction:.4g}, achieved {phi:.4g}; order {order}")


# --- helpers ----------------------------------------------------------------------------------

def sphere_surface_size(gmsh, volumes: Sequence[int], size: float) -> int:
    """Gmsh field: `size` (nm) on the spherical boundary surfaces of `volumes` and their curves
    (the circles where a sphere meets a box face), the coarser background elsewhere. Without
    it, the piece of a sphere whose centre lies near a periodic face, meshed at 0.64 radius
    (19.2 nm for a 60 nm sphere), got a surface mesh without interior nodes (8 triangles for a
    near-hemisphere), flat like the disc it meets on the face: Gmsh stopped with "overlapping
    facets" for 5 of seeds 0-7 of cases/blend.toml (seed 1 could not be placed), and aborted
    the process for one at 1.02
    radius."""
    surfs = gmsh.model.getBoundary([(3, v) for v in volumes], combined=False, oriented=False)
    spheres = sorted({abs(t) for _, t in surfs if gmsh.model.getType(2, abs(t)) == "Sphere"})
    curves = gmsh.model.getBoundary([(2, s) for s in spheres], combined=False, oriented=False)
    field = gmsh.model.mesh.field
    expr = field.add("MathEval")
    field.setString(expr, "F", f"{float(size):.17g}")
    restrict = field.add("Restrict")
    field.setNumber(restrict, "InField", expr)
    field.setNumbers(restrict, "SurfacesList", spheres)
    field.setNumbers(restrict, "CurvesList", sorted({abs(t) for _, t in curves}))
    return restrict


def _resolved_centres(centres, barrier_radius, size_barrier, size_coarse, L, periodic):
    """(centres, b, size_barrier, refinement points) for optional centres in a builder."""
    if centres is None or len(np.asarray(centres).reshape(-1, 3)) == 0:
        return np.empty((0, 3)), 0.0, 0.0, np.empty((0, 3))
    b = float(barrier_radius)
    if not b > 0:
        raise CaseError("centres.barrier_radius", barrier_radius, "a positive radius in nm")
    hb = float(size_barrier) if size_barrier is not None else b / 3.0
    _check_sizes(hb, size_coarse, 1)
    c = check_centres(centres, L, periodic, radius=b)
    reach = max(REFINE_OUTER * b, REFINE_INNER * b + (size_coarse - hb) / GRADING)
    return c, b, hb, (periodic_images(c, L, reach) if periodic else c)


def _outer_faces(gmsh, L: np.ndarray, periodic_axes: Sequence[int]) -> list:
    """Match periodic face pairs (returned); tag the other box faces FACET_OUTER."""
    faces = box_face_surfaces(gmsh, np.zeros(3), L)
    pairs = set_periodic_faces(gmsh, np.zeros(3), L, faces, axes=periodic_axes)
    outer = sorted({s for (axis, _), ss in faces.items() if axis not in periodic_axes for s in ss})
    if outer:
        gmsh.model.addPhysicalGroup(2, outer, FACET_OUTER)
    return pairs
