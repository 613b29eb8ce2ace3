"""The one place that drives Gmsh: a quiet, single-threaded session (so meshes are the same on
every run and rank count), meshing on rank 0 with its errors broadcast to every rank and the
mesh distributed by DOLFINx (`run_gmsh`), and the helpers every builder shares (box faces,
periodic faces, refinement fields, 3D generation and curving) and the Gmsh adapters of the particle
shapes (`GMSH_SHAPES`). Gmsh version differences live in `curved.py` (thread options, the repair
of curved cells).
"""
from __future__ import annotations

import contextlib
import inspect
import itertools
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from mpi4py import MPI
from scipy.spatial import cKDTree

from ..errors import MeshError
from ..mesh import compat
from ..mesh.heap import trim_heap
from ..mesh.refine import TetMesh, refine_uniform, second_order
from .curved import relax_inverted, single_thread

#: 3D mesher: Delaunay (1). HXT (10) is faster but not reproducible in Gmsh 4.8 (its vertex
#: order follows memory addresses), which would make runs differ from one launch to the next.
ALGORITHM_3D = 1
#: 2D mesher for a surface whose default (Frontal-Delaunay) mesh misses its shape: Delaunay (5).
#: Frontal-Delaunay can mesh a small spherical patch as the flat polygon of its boundary circle
#: without a warning (the image piece of a hole 0.22 b from a periodic face, at size_barrier
#: b / 5), and the 3D mesher then fills that piece of the hole.
ALGORITHM_2D_RETRY = 5
#: size_barrier applies within REFINE_INNER * b of a centre and grows linearly to size_bulk at
#: REFINE_OUTER * b from the centre, or farther so that the size grows by at most GRADING nm
#: per nm: Gmsh's Delaunay mesher only refines where the sizes of neighbouring vertices agree,
#: and misses a fine region inside coarse elements when the size jumps faster.
REFINE_INNER = 1.5
REFINE_OUTER = 5.0
GRADING = 0.5


@contextlib.contextmanager
def gmsh_session(stl_bounds: bool = True) -> Iterator[Any]:
    """An initialised, quiet, single-threaded gmsh module; finalised (and its heap returned to
    the OS) on exit. stl_bounds: bounding boxes from the STL triangulation (tighter for curved
    OpenCASCADE shapes)."""
    gmsh = compat.import_gmsh()
    if "interruptible" in inspect.signature(gmsh.initialize).parameters:
        gmsh.initialize(interruptible=False)
    else:
        gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        single_thread(gmsh)
        gmsh.option.setNumber("Geometry.OCCBoundsUseStl", 1 if stl_bounds else 0)
        yield gmsh
    finally:
        gmsh.finalize()
        trim_heap()


def run_gmsh(comm: MPI.Comm, build: Callable[[Any], Any], what: str, gdim: int = 3,
             stl_bounds: bool = True, refine: int = 0,
             spheres: Sequence[tuple[Sequence[float], float]] = (), order: int = 1):
    """Run `build(gmsh)` on rank 0, then distribute the mesh: (mesh, cell_tags, facet_tags,
    value returned by build, broadcast). A failure on rank 0 raises MeshError on every rank
    (instead of leaving the other ranks waiting).

    refine > 0: the Gmsh mesh (first order, built at 2^refine times the wanted sizes by the
    caller) is taken out of Gmsh as arrays, Gmsh's memory is released, and the arrays are
    refined uniformly `refine` times (spindiff.mesh.refine; new vertices on the `spheres`,
    (centre, radius) in nm, are put on them) before DOLFINx distributes them; with order 2
    the refined cells get their edge midpoints (on the spheres) as second-order nodes."""
    with gmsh_session(stl_bounds) as gmsh:
        err, info = None, None
        if comm.rank == 0:
            try:
                info = build(gmsh)
            except Exception as exc:  # noqa: BLE001 - any Gmsh/OCC failure ends up here
                err = " ".join(str(exc).split()) or type(exc).__name__
        err, info = comm.bcast((err, info), root=0)
        if err is not None:
            raise MeshError(f"Gmsh could not mesh the {what}: {err}")
        if refine <= 0:
            msh, ct, ft = compat.gmsh_model_to_mesh(gmsh.model, comm, 0, gdim=gdim)
            return msh, ct, ft, info
        arrays = tet_arrays(gmsh) if comm.rank == 0 else None
    if comm.rank == 0:
        arrays = refine_uniform(arrays, spheres, refine)
        if order == 2:
            arrays = second_order(arrays, spheres)
            if arrays.straightened:
                print(straightened_warning(arrays.straightened, len(arrays.cells), refine),
                      file=sys.stderr, flush=True)
        trim_heap()  # the refinement's temporaries, before DOLFINx builds the mesh
    else:
        k = {1: (4, 3), 2: (10, 6)}[order]
        arrays = TetMesh(np.empty((0, 3)), np.empty((0, k[0]), dtype=np.int64),
                         np.empty(0, dtype=np.int32), np.empty((0, k[1]), dtype=np.int64))
    held = [arrays]
    del arrays
    msh, ct, ft = compat.tetrahedral_mesh(comm, held, order)
    trim_heap()  # DOLFINx's mesh building leaves ~0.4 kB per cell of freed heap
    return msh, ct, ft, info


def straightened_warning(straightened: int, cells: int, refine: int) -> str:
    """The line printed when refined curved cells next to a sphere had to stay straight."""
    return (f"warning: {straightened:,} of {cells:,} cells at a curved surface were kept "
            f"straight (curving them would fold them), so the geometry error there is O(h^2): "
            f"the Gmsh mesh that mesh.refine = {refine} refines is too coarse at that surface; "
            f"keep 2^refine x mesh.size_barrier below about a third of the barrier radius")


def tet_arrays(gmsh) -> TetMesh:
    """The first-order tetrahedra of the physical volumes (tagged by group), the triangles of
    the physical surfaces (tagged) and of every surface, as arrays with vertices 0..n-1."""
    tags, coords, _ = gmsh.model.mesh.getNodes()
    index = np.full(int(tags.max()) + 1, -1, dtype=np.int64)
    index[tags.astype(np.int64)] = np.arange(tags.size)
    x = coords.reshape(-1, 3)

    def elements(dim: int, entity: int, etype: int) -> np.ndarray:
        types, _, nodes = gmsh.model.mesh.getElements(dim, entity)
        parts = [index[np.asarray(n, dtype=np.int64)] for t, n in zip(types, nodes) if t == etype]
        if len(types) and any(t != etype for t in types):
            raise RuntimeError("uniform refinement needs first-order tetrahedra (mesh.order = 1)")
        k = 4 if dim == 3 else 3
        return np.concatenate(parts).reshape(-1, k) if parts else np.empty((0, k), dtype=np.int64)

    def groups(dim: int, etype: int) -> tuple[np.ndarray, np.ndarray]:
        blocks, values = [], []
        for _, tag in gmsh.model.getPhysicalGroups(dim):
            for ent in gmsh.model.getEntitiesForPhysicalGroup(dim, tag):
                e = elements(dim, ent, etype)
                blocks.append(e)
                values.append(np.full(len(e), tag, dtype=np.int32))
        k = 4 if dim == 3 else 3
        if not blocks:
            return np.empty((0, k), dtype=np.int64), np.empty(0, dtype=np.int32)
        return np.concatenate(blocks), np.concatenate(values)

    cells, cell_values = groups(3, 4)
    facets, facet_values = groups(2, 2)
    surfaces = [elements(2, s, 2) for _, s in gmsh.model.getEntities(2)]
    surfaces = np.concatenate(surfaces) if surfaces else np.empty((0, 3), np.int64)
    # only the vertices of cells (Gmsh also has nodes of lone geometry points)
    used = np.zeros(len(x), dtype=bool)
    used[cells.ravel()] = True
    renumber = np.cumsum(used) - 1
    return TetMesh(x=x[used], cells=renumber[cells], cell_values=cell_values,
                   facets=renumber[facets], facet_values=facet_values,
                   surfaces=renumber[surfaces])


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
    return restricted_size(gmsh, volumes, f"{float(size):.17g}")


def restricted_size(gmsh, volumes: Sequence[int], formula: str) -> int:
    """A MathEval size field (formula in x, y, z; nm) restricted to the given volumes and their
    boundary surfaces, curves and points (a sphere's seam and poles, a cylinder's circles)."""
    vols = [(3, v) for v in volumes]
    surfs = gmsh.model.getBoundary(vols, combined=False, oriented=False, recursive=False)
    curves = gmsh.model.getBoundary(surfs, combined=False, oriented=False, recursive=False)
    points = gmsh.model.getBoundary(vols, combined=False, oriented=False, recursive=True)
    field = gmsh.model.mesh.field
    expr = field.add("MathEval")
    field.setString(expr, "F", formula)
    restrict = field.add("Restrict")
    field.setNumber(restrict, "InField", expr)
    field.setNumbers(restrict, "VolumesList", list(volumes))
    field.setNumbers(restrict, "SurfacesList", sorted({abs(t) for _, t in surfs}))
    field.setNumbers(restrict, "CurvesList", sorted({abs(t) for _, t in curves}))
    field.setNumbers(restrict, "PointsList", sorted({abs(t) for _, t in points}))
    return restrict


def misshapen_surfaces(gmsh, fraction: float = 0.7) -> list[int]:
    """Surfaces whose triangles cover less than `fraction` of their area in the geometry: a
    curved patch meshed as the flat polygon of its boundary curve (a spherical cap of height
    h_c then keeps 1 - h_c / 2R of its area). An inscribed mesh of a sphere keeps more than
    0.75 of it down to element sizes of the radius (an icosahedron: 0.76)."""
    tags, xyz, _ = gmsh.model.mesh.getNodes()
    where = np.zeros(int(tags.max()) + 1, dtype=np.int64) if len(tags) else np.zeros(1, int)
    where[tags] = np.arange(len(tags))
    x = xyz.reshape(-1, 3)
    out = []
    for _, s in gmsh.model.getEntities(2):
        area = 0.0
        for t, n in zip(*gmsh.model.mesh.getElements(2, s)[::2]):
            tri = x[where[n.reshape(-1, gmsh.model.mesh.getElementProperties(t)[3])[:, :3]]]
            area += 0.5 * float(np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0],
                                                        tri[:, 2] - tri[:, 0]), axis=1).sum())
        if area < fraction * gmsh.model.occ.getMass(2, s):
            out.append(s)
    return out


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
    gmsh.model.mesh.generate(2)
    bad = misshapen_surfaces(gmsh)
    if bad:
        gmsh.model.mesh.clear()
        for s in bad:
            gmsh.model.mesh.setAlgorithm(2, s, ALGORITHM_2D_RETRY)
        gmsh.model.mesh.generate(2)  # (a mesh coarser than the surfaces' radii stays coarse)
    gmsh.model.mesh.generate(3)
    if order > 1:
        gmsh.option.setNumber("Mesh.HighOrderPeriodic", 1)
        gmsh.model.mesh.setOrder(order)
        # curving a coarse mesh can tangle cells near curved surfaces; the repair leaves the
        # nodes on flat faces alone, so periodic faces stay matched (deterministic, unlike
        # Gmsh's optimisers; see curved.py)
        bad = relax_inverted(gmsh)
        if bad:
            raise RuntimeError(f"{bad} curved (order {order}) cells stay inverted; use a "
                               f"smaller element size near curved surfaces or order 1")


# --- particle shapes ---------------------------------------------------------------------

@dataclass(frozen=True)
class GmshShape:
    """How Gmsh builds a particle shape (spindiff.physics.shapes).

    add(occ, centre, box, r): the OpenCASCADE volume of the particle of size r (nm) centred at
    `centre` in the box [0, box] (nm); returns its volume tag. distance: a Gmsh MathEval
    expression in x, y, z of the distance from the centre, axis or mid-plane, with {0}, {1},
    {2} standing for the centre's coordinates (for analytic size fields)."""
    add: Callable[[Any, np.ndarray, np.ndarray, float], int]
    distance: str


#: the Gmsh adapters of the particle shapes, by shape name; `register_gmsh_shape` adds one
GMSH_SHAPES: dict[str, GmshShape] = {
    "sphere": GmshShape(lambda occ, c, L, r: occ.addSphere(*c, r),
                        "Sqrt((x-{0})^2+(y-{1})^2+(z-{2})^2)"),
    "cylinder": GmshShape(lambda occ, c, L, r: occ.addCylinder(c[0], c[1], 0, 0, 0, L[2], r),
                          "Sqrt((x-{0})^2+(y-{1})^2)"),
    "slab": GmshShape(lambda occ, c, L, r: occ.addBox(0, 0, c[2] - r, L[0], L[1], 2 * r),
                      "Fabs(z-{2})"),
}


def register_gmsh_shape(name: str, adapter: GmshShape) -> None:
    """Let Gmsh build a particle shape in 3D.

    Args:
        name: the shape's name (spindiff.physics.shapes).
        adapter: how Gmsh makes it (GmshShape: the OpenCASCADE volume, the distance
            expression).
    """
    GMSH_SHAPES[name] = adapter


def gmsh_shape(name: str) -> GmshShape:
    """The Gmsh adapter of a shape; RuntimeError when the shape has none (no 3D mesh)."""
    try:
        return GMSH_SHAPES[name]
    except KeyError:
        raise RuntimeError(f"particle shape {name!r} has no Gmsh adapter "
                           "(spindiff.geometry.gmsh_tools.register_gmsh_shape)") from None


def shape_distance(name: str, centre: Sequence[float]) -> str:
    """The MathEval distance expression of a shape about `centre` (nm, full precision)."""
    return gmsh_shape(name).distance.format(*(f"{float(v):.17g}" for v in centre))
