"""Gmsh builder for many centres in a box (PHYSICS.md section 7), plus the Gmsh helpers that
the other box-shaped builders (inclusions.py) share.

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

import contextlib
import inspect
import itertools
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
from mpi4py import MPI

from ..errors import CaseError, MeshError
from ..fem import compat
from .centres import box_lengths_array, check_centres
from .curved import inverted_cells
from .heap import trim_heap
from .domain import FACET_BARRIER, FACET_OUTER, TAG_VISIBLE, Domain

BARRIER_MODES = ("kept_distance", "hole")
#: size_barrier applies within REFINE_INNER * b of a centre and grows linearly to size_bulk at
#: REFINE_OUTER * b from the centre, or farther so that the size grows by at most GRADING nm
#: per nm: Gmsh's Delaunay mesher only refines where the sizes of neighbouring vertices agree,
#: and misses a fine region inside coarse elements when the size jumps faster.
REFINE_INNER = 1.5
REFINE_OUTER = 5.0
GRADING = 0.5
#: smallest allowed gap, as a fraction of b, between a hole and a box face or another hole:
#: nearly tangent spheres make sliver geometry that OpenCASCADE and Gmsh cannot mesh well.
HOLE_GAP = 0.05
#: 3D mesher: Delaunay (1). HXT (10) is faster but not reproducible in Gmsh 4.8 (its vertex
#: order follows memory addresses), which would make runs differ from one launch to the next.
ALGORITHM_3D = 1


def build_box(comm: MPI.Comm, lengths: float | Sequence[float], centres: np.ndarray,
              barrier_radius: float, barrier: str = "kept_distance",
              visible_radius: Optional[float] = None, size_barrier: Optional[float] = None,
              size_bulk: Optional[float] = None, order: int = 1, periodic: bool = True,
              material: str = "matrix", interface_radii: Sequence[float] = ()) -> Domain:
    """Mesh a box [0, L]^3 (nm) holding paramagnetic centres.

    lengths: box side (nm) or three sides. centres: (N, 3) positions in nm (wrapped into the
    box when periodic). barrier_radius b (nm): radius of the barrier balls. barrier:
    "kept_distance" or "hole". visible_radius r_h (nm, >= b): only recorded and checked; the
    solver evaluates visibility at quadrature points. size_barrier: element size (nm) within
    1.5 b of each centre (default b / 3), growing linearly to size_bulk (default min(L) / 6) at
    5 b, or farther if needed to keep the growth below GRADING. order: geometry order (2 curves
    the hole surfaces). A single centre at L/2 in a periodic cube of side (C N_A)^(-1/3) is
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
    hole = barrier == "hole"
    c = check_centres(centres, L, periodic, radius=b, gap=HOLE_GAP * b if hole else 0.0)
    holes = np.empty((0, 3))
    if hole:
        holes = _hole_positions(c, L, b, periodic)
    reach = max(REFINE_OUTER * b, REFINE_INNER * b + (hB - hb) / GRADING)
    refine = periodic_images(c, L, reach) if periodic else c
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
        pts = [occ.addPoint(*p) for p in refine]
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
        fields = [centre_refinement(gmsh, pts, b, hb, hB)] if pts else []
        generate(gmsh, fields, hB, order)
        check_periodic_mesh(gmsh, pairs, float(L.max()))
        return {}

    msh, ct, ft, _ = run_gmsh(comm, build, "box")
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
                              f"h={hb:.3g}-{hB:.3g} nm, order {order}")


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


# --- Gmsh helpers shared by the box-shaped builders -------------------------------------------

@contextlib.contextmanager
def gmsh_session() -> Iterator[Any]:
    """An initialised, quiet gmsh module; finalised on exit (as sphere_cell does)."""
    import gmsh
    if "interruptible" in inspect.signature(gmsh.initialize).parameters:
        gmsh.initialize(interruptible=False)
    else:
        gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.option.setNumber("Mesh.MaxNumThreads3D", 1)
        gmsh.option.setNumber("Geometry.OCCBoundsUseStl", 1)
        yield gmsh
    finally:
        gmsh.finalize()
        trim_heap()


def run_gmsh(comm: MPI.Comm, build: Callable[[Any], Any], what: str, gdim: int = 3):
    """Run `build(gmsh)` on rank 0, then distribute the mesh: (mesh, cell_tags, facet_tags,
    value returned by build, broadcast). A failure on rank 0 raises MeshError on every rank
    (instead of leaving the other ranks waiting)."""
    with gmsh_session() as gmsh:
        err, info = None, None
        if comm.rank == 0:
            try:
                info = build(gmsh)
            except Exception as exc:  # noqa: BLE001 - any Gmsh/OCC failure ends up here
                err = " ".join(str(exc).split()) or type(exc).__name__
        err, info = comm.bcast((err, info), root=0)
        if err is not None:
            raise MeshError(f"Gmsh could not mesh the {what}: {err}")
        msh, ct, ft = compat.gmsh_model_to_mesh(gmsh.model, comm, 0, gdim=gdim)
    return msh, ct, ft, info


def box_face_surfaces(gmsh, lower: np.ndarray,
                      upper: np.ndarray) -> dict[tuple[int, int], list[int]]:
    """Surfaces lying on each face of the box, keyed by (axis, 0 for lower / 1 for upper)."""
    eps = 1e-6 * float(np.max(upper - lower))
    faces = {}
    for axis, side in itertools.product(range(3), (0, 1)):
        lo, hi = lower - eps, upper + eps
        x = (lower, upper)[side][axis]
        lo[axis], hi[axis] = x - eps, x + eps
        faces[(axis, side)] = [t for _, t in gmsh.model.getEntitiesInBoundingBox(*lo, *hi, 2)]
    return faces


def set_periodic_faces(gmsh, lower: np.ndarray, lengths: np.ndarray,
                       faces: dict[tuple[int, int], list[int]],
                       axes: Sequence[int]) -> list[tuple[int, int, np.ndarray]]:
    """Make the mesh of each upper-face surface the translate (by L along `axis`) of the
    matching lower-face surface. Matching is by centre of mass and area, so faces split by
    booleans (holes, inclusions crossing a face) pair up piece by piece. Returns the
    (upper surface, lower surface, translation) pairs for `check_periodic_mesh`."""
    occ = gmsh.model.occ
    tol = 1e-6 * float(np.max(lengths))
    pairs = []
    for axis in axes:
        shift = np.zeros(3)
        shift[axis] = lengths[axis]
        masters = {m: (np.asarray(occ.getCenterOfMass(2, m)), occ.getMass(2, m))
                   for m in faces[(axis, 0)]}
        slaves = faces[(axis, 1)]
        if len(masters) != len(slaves):
            raise RuntimeError(f"periodic faces normal to axis {'xyz'[axis]} do not match "
                               f"({len(masters)} vs {len(slaves)} surfaces)")
        T = [1, 0, 0, shift[0], 0, 1, 0, shift[1], 0, 0, 1, shift[2], 0, 0, 0, 1]
        used = set()
        for s in slaves:
            com = np.asarray(occ.getCenterOfMass(2, s)) - shift
            area = occ.getMass(2, s)
            err = {m: np.linalg.norm(cm - com) + abs(am - area) / np.sqrt(max(area, tol**2))
                   for m, (cm, am) in masters.items() if m not in used}
            m = min(err, key=err.get) if err else None
            if m is None or err[m] > 1e-4 * float(np.max(lengths)):
                raise RuntimeError(f"no periodic partner for surface {s} on the upper "
                                   f"{'xyz'[axis]} face")
            used.add(m)
            gmsh.model.mesh.setPeriodic(2, [s], [m], T)
            pairs.append((s, m, shift))
    return pairs


def check_periodic_mesh(gmsh, pairs: Sequence[tuple[int, int, np.ndarray]], scale: float) -> None:
    """Every node (high-order ones included) of each upper surface must be the translate of a
    node of its lower partner, to 1e-9 scale; raises RuntimeError otherwise."""
    from scipy.spatial import cKDTree
    for s, m, shift in pairs:
        _, xs, _ = gmsh.model.mesh.getNodes(2, s, includeBoundary=True)
        _, xm, _ = gmsh.model.mesh.getNodes(2, m, includeBoundary=True)
        xs, xm = xs.reshape(-1, 3) - shift, xm.reshape(-1, 3)
        dist = cKDTree(xm).query(xs)[0] if len(xm) else np.array([np.inf])
        if len(xs) != len(xm) or np.max(dist, initial=0.0) > 1e-9 * scale:
            raise RuntimeError(f"the meshes of periodic surfaces {m} and {s} do not match")


def centre_refinement(gmsh, point_tags: Sequence[int], b: float, size_fine: float,
                      size_coarse: float) -> int:
    """Threshold field: size_fine within REFINE_INNER b of the given model points, growing
    linearly to size_coarse at REFINE_OUTER b (or farther, see GRADING). Returns the field tag."""
    field = gmsh.model.mesh.field
    dist = field.add("Distance")
    field.setNumbers(dist, "PointsList", list(point_tags))
    thr = field.add("Threshold")
    field.setNumber(thr, "InField", dist)
    field.setNumber(thr, "SizeMin", size_fine)
    field.setNumber(thr, "SizeMax", size_coarse)
    field.setNumber(thr, "DistMin", REFINE_INNER * b)
    field.setNumber(thr, "DistMax", max(REFINE_OUTER * b,
                                        REFINE_INNER * b + (size_coarse - size_fine) / GRADING))
    return thr


def volume_size(gmsh, volumes: Sequence[int], size: float) -> int:
    """Field equal to `size` (nm) in the given volumes and on their boundary surfaces, curves
    and points (so that an interface gets the smaller of the sizes on its two sides)."""
    vols = [(3, v) for v in volumes]
    surfs = gmsh.model.getBoundary(vols, combined=False, oriented=False, recursive=False)
    curves = gmsh.model.getBoundary(surfs, combined=False, oriented=False, recursive=False)
    points = gmsh.model.getBoundary(vols, combined=False, oriented=False, recursive=True)
    field = gmsh.model.mesh.field
    const = field.add("MathEval")
    field.setString(const, "F", f"{float(size):.17g}")
    restrict = field.add("Restrict")
    field.setNumber(restrict, "InField", const)
    field.setNumbers(restrict, "VolumesList", list(volumes))
    field.setNumbers(restrict, "SurfacesList", sorted({abs(t) for _, t in surfs}))
    field.setNumbers(restrict, "CurvesList", sorted({abs(t) for _, t in curves}))
    field.setNumbers(restrict, "PointsList", sorted({abs(t) for _, t in points}))
    return restrict


def generate(gmsh, fields: Sequence[int], size_max: float, order: int) -> None:
    """Mesh in 3D with the minimum of `fields` as the size (nm), capped at size_max."""
    field = gmsh.model.mesh.field
    if fields:
        if len(fields) == 1:
            bg = fields[0]
        else:
            bg = field.add("Min")
            field.setNumbers(bg, "FieldsList", list(fields))
        field.setAsBackgroundMesh(bg)
    for opt in ("Mesh.MeshSizeExtendFromBoundary", "Mesh.MeshSizeFromPoints",
                "Mesh.MeshSizeFromCurvature"):
        gmsh.option.setNumber(opt, 0)
    gmsh.option.setNumber("Mesh.MeshSizeMax", size_max)
    gmsh.option.setNumber("Mesh.Algorithm3D", ALGORITHM_3D)
    gmsh.option.setNumber("Mesh.RandomSeed", 1)
    gmsh.model.mesh.generate(3)
    if order > 1:
        gmsh.option.setNumber("Mesh.HighOrderPeriodic", 1)
        gmsh.model.mesh.setOrder(order)
        if inverted_cells(gmsh):
            # curving a coarse mesh can tangle cells near curved surfaces; the elastic
            # optimiser moves interior high-order nodes only, so periodic faces stay matched
            # (the faster local optimiser moves face nodes too and breaks the periodic match)
            gmsh.model.mesh.optimize("HighOrderElastic")
            bad = inverted_cells(gmsh)
            if bad:
                raise RuntimeError(f"{bad} curved (order {order}) cells stay inverted; use a "
                                   f"smaller element size near curved surfaces or order 1")
