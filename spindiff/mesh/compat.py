"""Every DOLFINx / dolfinx_mpc version seam in one place.

Runs on DOLFINx 0.5.2 (Debian 12) and 0.9 (Debian 13), both tested. Where releases differ, the
probe is a feature test (hasattr / try-import / try-call), not a version comparison, so a port
to another DOLFINx (conda-forge, Spack) is a change in this module only.

Longer than 400 lines: keeping every seam in this one module is its purpose.
"""
from __future__ import annotations

import inspect
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

import basix
import dolfinx
import dolfinx.fem.petsc  # noqa: F401  (registers fem.petsc)
import dolfinx.graph
import numpy as np
import ufl
from dolfinx import cpp, fem, jit
from dolfinx import mesh as dmesh
from dolfinx.io import XDMFFile
from dolfinx.io import utils as io_utils
from mpi4py import MPI
from petsc4py import PETSc

from .periodic import match_faces
from .serial_build import serial_mesh_builder

# The JIT compiler (FFCx via setuptools) logs every compilation at INFO, partly on the root
# logger; keep user output to what spindiff prints.
# ffcx calls logging.basicConfig() and cffi lowers the root threshold while compiling, so
# quieten the handler ffcx installed rather than the logger level.
for _name in ("ffcx", "UFL", "FFC", "dolfinx"):
    logging.getLogger(_name).setLevel(logging.WARNING)
for _handler in logging.getLogger().handlers:
    _handler.setLevel(logging.WARNING)

# PT-SCOTCH, DOLFINx's graph partitioner on more than one rank, partitions with several threads
# by default and then gives a different partition (and results that differ by the linear
# solver's tolerance) in every run; one thread per rank makes runs on a given number of ranks
# reproducible bit for bit. Read by SCOTCH when it first partitions; a user's setting is kept.
os.environ.setdefault("SCOTCH_PTHREAD_NUMBER", "1")

DOLFINX_VERSION: str = dolfinx.__version__
PETSC_VERSION: str = ".".join(str(v) for v in PETSc.Sys.getVersion())

Mesh = dmesh.Mesh
MeshTags = Any


def import_gmsh():
    """The gmsh module, imported without letting it take Ctrl-C: Gmsh 4.8's Python API sets
    SIGINT to the default action when imported (until gmsh.finalize), which would end a run
    on Ctrl-C without its clean-up and message."""
    if threading.current_thread() is not threading.main_thread():
        import gmsh
        return gmsh
    handler = signal.getsignal(signal.SIGINT)
    import gmsh
    if handler is not None:
        signal.signal(signal.SIGINT, handler)
    return gmsh


def versions() -> dict[str, str]:
    """Versions of the FEM stack, for results metadata."""
    out = {"dolfinx": DOLFINX_VERSION, "petsc": PETSC_VERSION}
    try:
        gmsh = import_gmsh()
        out["gmsh"] = gmsh.__version__
    except Exception:  # pragma: no cover - gmsh optional for radial runs
        pass
    return out


# --- function spaces ------------------------------------------------------------------------

def lagrange_space(msh: Mesh, degree: int = 1) -> fem.FunctionSpace:
    """Continuous Lagrange space of `degree` on `msh`."""
    if hasattr(fem, "functionspace"):  # DOLFINx >= 0.7
        return fem.functionspace(msh, ("Lagrange", degree))
    return fem.FunctionSpace(msh, ("Lagrange", degree))


def dg0_space(msh: Mesh) -> fem.FunctionSpace:
    """Piecewise-constant (cell-wise) space."""
    if hasattr(fem, "functionspace"):
        return fem.functionspace(msh, ("DG", 0))
    return fem.FunctionSpace(msh, ("DG", 0))


def quadrature_space(msh: Mesh, degree: int) -> fem.FunctionSpace:
    """Scalar quadrature space: one value per quadrature point of the default scheme."""
    if hasattr(fem, "functionspace"):  # pragma: no cover - newer DOLFINx
        import basix.ufl
        qe = basix.ufl.quadrature_element(msh.topology.cell_name(), value_shape=(), degree=degree)
        return fem.functionspace(msh, qe)
    qe = ufl.FiniteElement("Quadrature", msh.ufl_cell(), degree, quad_scheme="default")
    if "cppV" in inspect.signature(fem.FunctionSpace).parameters:  # DOLFINx 0.5
        return _quadrature_space_by_cells(msh, qe, len(quadrature_weights(msh, degree)))
    return fem.FunctionSpace(msh, qe)  # pragma: no cover - no cppV argument


def _quadrature_space_by_cells(msh: Mesh, qe: Any, npts: int) -> fem.FunctionSpace:
    """The quadrature space with the dofmap of the cell-wise constant space blocked by the
    number of points: the same numbering (a block of `npts` values per cell), but DOLFINx 0.5
    builds a quadrature space's own dofmap by reordering a graph of all the points, a transient
    of about 100 bytes per cell (700 per dof of a P1 tetrahedral mesh), where the blocked space
    reorders one node per cell."""
    (ufcx_element, ufcx_q), module, _ = jit.ffcx_jit(msh.comm, qe)
    element = cpp.fem.FiniteElement(module.ffi.cast("uintptr_t", module.ffi.addressof(ufcx_element)))
    blocks = ufl.VectorElement("DG", msh.ufl_cell(), 0, dim=npts)
    (_, ufcx_blocks), module_b, _ = jit.ffcx_jit(msh.comm, blocks)
    dofmap = cpp.fem.create_dofmap(msh.comm, module_b.ffi.cast(
        "uintptr_t", module_b.ffi.addressof(ufcx_blocks)), msh.topology, element)
    V = fem.FunctionSpace(msh, qe, cpp.fem.FunctionSpace(getattr(msh, "_mesh", msh), element, dofmap))
    V._ufcx_element, V._ufcx_dofmap = ufcx_element, ufcx_blocks  # kept alive with the space
    return V


def quadrature_points(msh: Mesh, degree: int) -> np.ndarray:
    """Reference quadrature points of the default scheme for the mesh's cell type."""
    cell = {1: basix.CellType.interval, 2: basix.CellType.triangle, 3: basix.CellType.tetrahedron}
    pts, _ = basix.make_quadrature(cell[msh.topology.dim], degree)
    return pts


def quadrature_weights(msh: Mesh, degree: int) -> np.ndarray:
    """Reference quadrature weights matching `quadrature_points`."""
    cell = {1: basix.CellType.interval, 2: basix.CellType.triangle, 3: basix.CellType.tetrahedron}
    _, wts = basix.make_quadrature(cell[msh.topology.dim], degree)
    return np.asarray(wts)


def num_cells_local(msh: Mesh, with_ghosts: bool = True) -> int:
    imap = msh.topology.index_map(msh.topology.dim)
    return imap.size_local + (imap.num_ghosts if with_ghosts else 0)


def num_dofs_global(V: fem.FunctionSpace) -> int:
    return V.dofmap.index_map.size_global * V.dofmap.index_map_bs


def cell_dofs(V: fem.FunctionSpace, ncells: int) -> np.ndarray:
    """Dof indices per cell as an (ncells, ndofs_per_cell) array (an AdjacencyList on
    DOLFINx 0.5, a plain 2D array from 0.7 on)."""
    dofs = V.dofmap.list
    dofs = np.asarray(getattr(dofs, "array", dofs)).reshape(ncells, -1)
    bs = V.dofmap.index_map_bs
    if bs > 1:  # blocks (a quadrature space from `quadrature_space`): the unrolled dofs
        dofs = (dofs[:, :, None] * bs + np.arange(bs, dtype=dofs.dtype)).reshape(ncells, -1)
    return dofs


def quadrature_evaluator(expr: Any, msh: Mesh, degree: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function cells -> values of a UFL expression at the quadrature points of those local
    cells, shape (len(cells), npoints, value_size); the expression is compiled once."""
    pts = quadrature_points(msh, degree)
    e = fem.Expression(expr, pts)
    takes_mesh = _expression_eval_takes_mesh()

    def evaluate(cells: np.ndarray) -> np.ndarray:
        cells = np.asarray(cells, dtype=np.int32)
        if takes_mesh:  # pragma: no cover - DOLFINx >= 0.8
            vals = e.eval(msh, cells)
        else:
            vals = e.eval(cells)
        return np.asarray(vals).reshape(len(cells), pts.shape[0], -1)
    return evaluate


def eval_at_quadrature(expr: Any, msh: Mesh, degree: int) -> np.ndarray:
    """Evaluate a UFL expression at the quadrature points of every local cell (incl. ghosts).

    Returns an array of shape (ncells, npoints, value_size).
    """
    return quadrature_evaluator(expr, msh, degree)(np.arange(num_cells_local(msh)))


def _expression_eval_takes_mesh() -> bool:
    try:
        return "mesh" in inspect.signature(fem.Expression.eval).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def dof_coordinates(V: fem.FunctionSpace) -> np.ndarray:
    """Coordinates (local + ghost dofs, shape (n, 3)) of the dofs of a scalar Lagrange space."""
    return V.tabulate_dof_coordinates()


def cell_midpoints(msh: Mesh, cells: np.ndarray | None = None) -> np.ndarray:
    """Midpoints of the given local cells (default: all, ghosts included), shape (n, 3)."""
    tdim = msh.topology.dim
    if cells is None:
        cells = np.arange(num_cells_local(msh), dtype=np.int32)
    return dmesh.compute_midpoints(msh, tdim, np.asarray(cells, dtype=np.int32))


# --- forms and assembly ---------------------------------------------------------------------

def form(f: Any) -> Any:
    return fem.form(f)


def assemble_matrix(a: Any, bcs: Sequence[Any] = ()) -> PETSc.Mat:
    A = fem.petsc.assemble_matrix(a, bcs=list(bcs))
    A.assemble()
    return A


def assemble_vector(L: Any, coeffs: dict | None = None) -> PETSc.Vec:
    b = fem.petsc.assemble_vector(L, coeffs=coeffs)
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return b


def assemble_vector_into(b: PETSc.Vec, L: Any) -> PETSc.Vec:
    with b.localForm() as loc:
        loc.set(0.0)
    fem.petsc.assemble_vector(b, L)
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return b


def assemble_matrix_into(A: PETSc.Mat, a: Any, add: bool = False, coeffs: dict | None = None) -> PETSc.Mat:
    """The matrix of `a` in A's pattern; with `add`, added to what A holds; `coeffs`: the
    form's packed coefficients (`packed_law`), else DOLFINx packs them."""
    if not add:
        A.zeroEntries()
    fem.petsc.assemble_matrix(A, a, coeffs=coeffs)
    A.assemble()
    return A


def packed_law(form: Any, values: np.ndarray | None) -> dict | None:
    """The packed coefficients of a form whose only coefficient is a quadrature function, given
    its values per cell (cells with ghosts, points), cell-major: DOLFINx's own packing would
    copy them for each assembly (8 bytes per point). None for any other form, or where the
    form does not expose its coefficients (DOLFINx >= 0.6's Python forms): DOLFINx packs."""
    IntegralType = fem.IntegralType  # noqa: N806 (DOLFINx 0.5 to 0.11)
    coefficients = getattr(form, "coefficients", None)
    if (values is None or not isinstance(coefficients, list) or len(coefficients) != 1
            or set(getattr(form, "integral_types", ())) != {IntegralType.cell}
            or list(form.integral_ids(IntegralType.cell)) != [-1]
            or values.shape[0] != num_cells_local(form.mesh)):
        return None
    return {(IntegralType.cell, -1): values}


def assemble_scalar(M: Any, comm: MPI.Comm) -> float:
    """Global value of a scalar form (allreduce over ranks)."""
    return comm.allreduce(fem.assemble_scalar(M), op=MPI.SUM)


def petsc_vector(u: fem.Function) -> PETSc.Vec:
    """The (ghosted) PETSc vector behind a Function."""
    if hasattr(u.x, "petsc_vec"):  # pragma: no cover - DOLFINx >= 0.8
        return u.x.petsc_vec
    return u.vector


def scatter_forward(u: fem.Function) -> None:
    """Update ghost values of `u` from their owners."""
    u.x.scatter_forward()


def ghost_update(v: PETSc.Vec) -> None:
    v.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)


# --- periodic constraints (dolfinx_mpc) ----------------------------------------------------

def periodic_constraint(V: fem.FunctionSpace, lower: np.ndarray, period: np.ndarray):
    """A finalized dolfinx_mpc MultiPointConstraint making V periodic on a box.

    Dofs on an upper face (x_i = lower_i + period_i for any i) are slaves of the dof at their
    position with every upper coordinate wrapped to its lower face (coefficient 1), so masters
    are never slaves (edges and corners included) and one constraint covers the three
    directions. The pairs are matched by coordinates (spindiff.mesh.periodic): dolfinx_mpc's
    geometrical search builds a bounding-box tree over every cell (about 0.35 kB per cell).
    """
    import dolfinx_mpc

    imap = V.dofmap.index_map
    pairs = match_faces(V.tabulate_dof_coordinates(), imap.size_local, imap.local_range[0],
                        lower, period, V.mesh.comm)
    mpc = dolfinx_mpc.MultiPointConstraint(V)
    n = len(pairs.slaves)
    mpc.add_constraint(V, pairs.slaves, pairs.masters, np.ones(n, dtype=PETSc.ScalarType),
                       pairs.owners, np.arange(n + 1, dtype=np.int32))
    mpc.finalize()
    return mpc


def constrained_space(mpc) -> fem.FunctionSpace:
    """The function space whose vectors carry the constraint's extra ghosts."""
    return mpc.function_space


def assemble_matrix_mpc(a: Any, mpc, A: PETSc.Mat | None = None, add: bool = False) -> PETSc.Mat:
    """The constrained matrix of `a`, into A (zeroed first; its pattern must hold the form's)
    when given. With `add`, added to what A holds, the slave rows' 1 on the diagonal included
    (so A then equals the sum of the two matrices assembled apart); dolfinx_mpc's Python
    assembler always zeroes A, its C++ one adds."""
    import dolfinx_mpc
    if not add:
        if A is not None:
            A.zeroEntries()
        A = dolfinx_mpc.assemble_matrix(a, mpc, bcs=[], A=A)
    else:
        cpp_mpc = getattr(mpc, "_cpp_object", mpc)
        dolfinx_mpc.cpp.mpc.assemble_matrix(A, getattr(a, "_cpp_object", a), cpp_mpc, cpp_mpc, [], 1.0)
    A.assemble()
    return A


def assemble_vector_mpc(L: Any, mpc) -> PETSc.Vec:
    import dolfinx_mpc
    b = dolfinx_mpc.assemble_vector(L, mpc)
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return b


def backsubstitute(mpc, v: PETSc.Vec) -> None:
    """Set slave entries of a ghosted vector from its masters (ghosts refreshed first).

    dolfinx_mpc 0.5 adds the master contributions to whatever the slave entry holds (after a
    constrained solve it holds 0), so the slaves are zeroed first."""
    homogenize(mpc, v)
    mpc.backsubstitution(v)


def homogenize(mpc, v: PETSc.Vec) -> None:
    """Zero the slave entries of a ghosted vector (ghosts refreshed).

    dolfinx_mpc 0.5 takes the PETSc vector; newer releases take a Function (and fail on a
    vector's missing `.x` before changing anything), so their kernel gets the local array."""
    try:
        mpc.homogenize(v)
    except AttributeError:  # pragma: no cover - newer dolfinx_mpc (0.9)
        with v.localForm() as loc:
            mpc._cpp_object.homogenize(loc.array_w)
        ghost_update(v)


def slave_mask(mpc, n_owned: int) -> np.ndarray:
    """Boolean mask of owned dofs that are slaves."""
    mask = np.zeros(n_owned, dtype=bool)
    slaves = np.asarray(mpc.slaves)
    mask[slaves[slaves < n_owned]] = True
    return mask


# --- meshes ---------------------------------------------------------------------------------

def gmsh_model_to_mesh(model: Any, comm: MPI.Comm, rank: int = 0, gdim: int = 3):
    """(mesh, cell_tags, facet_tags) from a gmsh model built on `rank`."""
    try:
        from dolfinx.io import gmshio
    except ImportError:  # pragma: no cover - DOLFINx 0.4
        from dolfinx.io import gmsh as gmshio  # type: ignore
    out = gmshio.model_to_mesh(model, comm, rank, gdim=gdim)
    if hasattr(out, "mesh"):  # pragma: no cover - DOLFINx >= 0.9 returns a MeshData
        return out.mesh, out.cell_tags, out.facet_tags
    return out


def tetrahedral_mesh(comm: MPI.Comm, arrays: list, order: int = 1):
    """(mesh, cell_tags, facet_tags) of tetrahedra given as arrays on rank 0 (empty arrays on
    the other ranks), distributed by DOLFINx as `gmsh_model_to_mesh` does; the facet tags are
    a DeferredMeshTags (Domain.facets() builds them). `arrays`: a one-element list holding an
    object with x, cells, cell_values, facets, facet_values (spindiff.mesh.refine.TetMesh);
    it is emptied, so that the cells' numpy array is freed before DOLFINx builds the mesh
    where DOLFINx takes its own copy (0.5: about 40 bytes per cell less at the peak). On one
    process the mesh is made without DOLFINx's distribution step where the compiled helper is
    available (spindiff.mesh.serial_build; the cells in Z-order of their first vertex). order 2:
    cells (N, 10) and facets (F, 6) in DOLFINx's node order (vertices, then edge midpoints)."""
    try:
        from dolfinx.io import gmshio
    except ImportError:  # pragma: no cover - DOLFINx 0.4
        from dolfinx.io import gmsh as gmshio  # type: ignore
    gmsh_type = {1: 4, 2: 11}[order]  # Gmsh's 4- and 10-node tetrahedra
    if "dtype" in inspect.signature(gmshio.ufl_mesh).parameters:  # DOLFINx >= 0.8
        domain = gmshio.ufl_mesh(gmsh_type, 3, dtype=np.float64)
    else:
        domain = gmshio.ufl_mesh(gmsh_type, 3)
    nodes = {1: (4, 3), 2: (10, 6)}[order]
    a = arrays.pop()
    x = np.asarray(a.x, dtype=np.float64).reshape(-1, 3)
    cell_values, facets, facet_values = a.cell_values, a.facets, a.facet_values
    cells = np.ascontiguousarray(a.cells, dtype=np.int64).reshape(-1, nodes[0])
    ncells = len(cells)
    del a
    build = serial_mesh_builder() if comm.size == 1 else None
    perm = None
    if build is not None:  # DOLFINx would reorder the cells; a space-filling curve does it here
        perm = morton_order(x[cells[:, 0]])
        cells = cells[perm]
    if build is not None or "AdjacencyList" in str(
            inspect.signature(dmesh.create_mesh).parameters["cells"].annotation):
        from dolfinx import cpp  # DOLFINx 0.5 copies a numpy array's cells; give it its copy
        cells = cpp.graph.AdjacencyList_int64(cells)
    if build is not None:  # one process: no distribution step (the list is taken over)
        msh = _wrap_cpp_mesh(build(comm.py2f(), cells, x, perm, order), domain)
    else:
        msh = create_mesh(comm, cells, x, domain, **_serial_partitioner(comm, ncells))
    del cells
    ct = cell_tags_by_input_index(msh, cell_values)
    ft = DeferredMeshTags(msh, 2, np.asarray(facets, dtype=np.int64).reshape(-1, nodes[1]),
                          facet_values)
    return msh, ct, ft


def create_mesh(comm: MPI.Comm, cells: Any, x: np.ndarray, domain: Any, **kwargs) -> Mesh:
    """dolfinx.mesh.create_mesh of cells, coordinates x (nodes, gdim) and the UFL mesh `domain`
    (DOLFINx <= 0.9 takes the coordinates before the element, >= 0.10 after it)."""
    params = list(inspect.signature(dmesh.create_mesh).parameters)
    if params.index("x") > 2:  # pragma: no cover - DOLFINx >= 0.10: (comm, cells, e, x)
        return dmesh.create_mesh(comm, cells, domain, x, **kwargs)
    return dmesh.create_mesh(comm, cells, x, domain, **kwargs)


def morton_order(points: np.ndarray) -> np.ndarray:
    """The permutation that sorts points along a Z-order (Morton) curve: neighbours in space
    end up near each other in the list (21 bits per axis)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    q = ((points - lo) / np.maximum(hi - lo, 1e-300) * (2**21 - 1)).astype(np.uint64)
    key = np.zeros(len(points), dtype=np.uint64)
    for axis in range(3):
        v = q[:, axis]
        v = (v | (v << np.uint64(32))) & np.uint64(0x1F00000000FFFF)
        v = (v | (v << np.uint64(16))) & np.uint64(0x1F0000FF0000FF)
        v = (v | (v << np.uint64(8))) & np.uint64(0x100F00F00F00F00F)
        v = (v | (v << np.uint64(4))) & np.uint64(0x10C30C30C30C30C3)
        v = (v | (v << np.uint64(2))) & np.uint64(0x1249249249249249)
        key |= v << np.uint64(axis)
    return np.argsort(key, kind="stable")


def _wrap_cpp_mesh(cpp_mesh: Any, domain: Any) -> Mesh:
    """The Python mesh of a C++ mesh (spindiff.mesh.serial_build's)."""
    if hasattr(dmesh.Mesh, "from_cpp"):  # pragma: no cover - upstream 0.5's wrapping
        return dmesh.Mesh.from_cpp(cpp_mesh, domain)
    return dmesh.Mesh(cpp_mesh, domain)


def cell_tags_by_input_index(msh: Mesh, values: np.ndarray):
    """Cell MeshTags from one value per input cell (given on rank 0 in the order the cells
    were given to create_mesh; empty elsewhere): the values are broadcast and each rank picks
    those of its cells by their original index. Linear in the cells (distribute_entity_data
    sorts every cell's vertex key: a minute at 7 million cells)."""
    values = msh.comm.bcast(np.asarray(values, dtype=np.int32) if msh.comm.rank == 0 else None,
                            root=0)
    original = np.asarray(msh.topology.original_cell_index, dtype=np.int64)
    n = num_cells_local(msh)
    if original.size != n:  # pragma: no cover - a DOLFINx that does not index ghosts
        raise RuntimeError(f"original_cell_index has {original.size} entries for {n} cells")
    return meshtags(msh, 3, np.arange(n, dtype=np.int32), values[original])


class DeferredMeshTags:
    """MeshTags given by input vertex indices, built by `build()` (collective) when first
    needed: tagging facets makes DOLFINx create every facet of the mesh (about 50 bytes per
    cell, and 5 s per million cells), which a run without facet integrals or facet Dirichlet
    rows never needs."""

    def __init__(self, msh: Mesh, dim: int, entities: np.ndarray, values: np.ndarray):
        self.msh, self.dim, self.entities, self.values = msh, dim, entities, values

    def build(self):
        return _tags_from_entities(self.msh, self.dim, self.entities, self.values)


def _serial_partitioner(comm: MPI.Comm, ncells: int) -> dict:
    """create_mesh's partitioner argument for one process: every cell stays where it is.
    DOLFINx 0.5's default partitioner builds the cells' dual graph even for one part (a third
    of create_mesh's transient memory and half its time); from 0.8 on, None means no
    partitioning (its default on one process)."""
    if comm.size > 1 or inspect.signature(dmesh.create_mesh).parameters["partitioner"].default is None:
        return {}
    keep = cpp.graph.AdjacencyList_int32(np.zeros(ncells, dtype=np.int32))
    return {"partitioner": lambda *args: keep}


def _tags_from_entities(msh: Mesh, dim: int, entities: np.ndarray, values: np.ndarray):
    """MeshTags of entities given by their input vertex indices on any rank."""
    values = np.asarray(values, dtype=np.int32)
    if msh.comm.allreduce(len(values), op=MPI.SUM) == 0:  # nothing tagged (DOLFINx would crash)
        empty = np.empty(0, dtype=np.int32)
        return dmesh.meshtags(msh, dim, empty, empty)
    if hasattr(io_utils, "distribute_entity_data"):  # DOLFINx >= 0.8 (takes the Python mesh)
        ents, vals = io_utils.distribute_entity_data(msh, dim, entities, values)
    else:
        ents, vals = cpp.io.distribute_entity_data(getattr(msh, "_mesh", msh), dim, entities, values)
    tdim = msh.topology.dim
    msh.topology.create_connectivity(dim, 0 if dim == tdim else tdim)
    ents = np.ascontiguousarray(ents, dtype=np.int32)
    if hasattr(dolfinx.graph, "adjacencylist"):  # pragma: no cover - DOLFINx >= 0.7 (0.10 wraps it)
        adj = dolfinx.graph.adjacencylist(ents)
    else:
        adj = cpp.graph.AdjacencyList_int32(ents)
    return dmesh.meshtags_from_entities(msh, dim, adj, np.asarray(vals, dtype=np.int32))


def interval_mesh(comm: MPI.Comm, nodes: np.ndarray) -> Mesh:
    """A 1D mesh with the given (sorted) node coordinates; data provided on rank 0."""
    if comm.rank == 0:
        x = np.asarray(nodes, dtype=np.float64).reshape(-1, 1)
        n = x.shape[0] - 1
        cells = np.stack([np.arange(n), np.arange(1, n + 1)], axis=1).astype(np.int64)
    else:
        x = np.empty((0, 1), dtype=np.float64)
        cells = np.empty((0, 2), dtype=np.int64)
    if hasattr(ufl, "VectorElement"):
        domain = ufl.Mesh(ufl.VectorElement("Lagrange", "interval", 1))
    else:  # pragma: no cover - DOLFINx >= 0.7
        import basix.ufl
        domain = ufl.Mesh(basix.ufl.element("Lagrange", "interval", 1, shape=(1,)))
    return create_mesh(comm, cells, x, domain)


def meshtags(msh: Mesh, dim: int, entities: np.ndarray, values: np.ndarray):
    order = np.argsort(entities)
    return dmesh.meshtags(msh, dim, np.asarray(entities, dtype=np.int32)[order],
                          np.asarray(values, dtype=np.int32)[order])


def locate_boundary_entities(msh: Mesh, dim: int, marker: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    if dim == msh.topology.dim - 1:
        msh.topology.create_connectivity(dim, msh.topology.dim)
    return dmesh.locate_entities_boundary(msh, dim, marker)


def locate_dofs_on_facets(V: fem.FunctionSpace, facet_tags: Any, value: int) -> np.ndarray:
    """Local dof indices (incl. ghosts) on facets tagged `value`."""
    msh = V.mesh
    fdim = msh.topology.dim - 1
    msh.topology.create_connectivity(fdim, msh.topology.dim)
    facets = facet_tags.indices[facet_tags.values == value]
    return fem.locate_dofs_topological(V, fdim, facets)


def owned_size(V: fem.FunctionSpace) -> int:
    return V.dofmap.index_map.size_local * V.dofmap.index_map_bs


def global_offset(V: fem.FunctionSpace) -> int:
    """PETSc global index of the first owned dof."""
    return V.dofmap.index_map.local_range[0] * V.dofmap.index_map_bs


def locate_cells(msh: Mesh, marker: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return dmesh.locate_entities(msh, msh.topology.dim, marker)


def has_connectivity(msh: Mesh, d0: int, d1: int) -> bool:
    """True when the mesh's (d0, d1) connectivity has been built (DOLFINx 0.5 returns None for
    a missing one, 0.9 raises)."""
    try:
        return msh.topology.connectivity(d0, d1) is not None
    except RuntimeError:
        return False


def geometry_degree(msh: Mesh) -> int:
    """Polynomial degree of the coordinate element (2 for curved tetrahedra)."""
    cmap = msh.geometry.cmap if hasattr(msh.geometry, "cmap") else msh.geometry.cmaps[0]
    return int(cmap.degree)


# --- output ---------------------------------------------------------------------------------

class FieldWriter:
    """Collective XDMF time-series writer for a scalar P1 field (ParaView: open P.xdmf).

    The field is written on a linear (degree-1) copy of the mesh, built once from the vertices
    of the cells: DOLFINx 0.5's XDMF writer needs the function degree to match the geometry,
    and its higher-order path fails ("Newton method failed to converge for non-affine
    geometry") on curved tetrahedra. P1 values live at the vertices, so the copy carries them
    exactly (of P2 values, those at the vertices); values are routed by the vertices' global
    input indices (one allreduce per write).
    """

    def __init__(self, comm: MPI.Comm, path: str, u: fem.Function, name: str = "P"):
        msh = u.function_space.mesh
        self.comm = comm
        self._u = u
        tdim = msh.topology.dim
        nverts = tdim + 1
        nc = num_cells_local(msh, with_ghosts=False)
        gdofs = geometry_dofmap(msh)[:nc, :nverts]          # vertex nodes come first
        inputs = np.asarray(msh.geometry.input_global_indices, dtype=np.int64)
        cells_in = inputs[gdofs]
        used = np.unique(np.concatenate(comm.allgather(np.unique(cells_in))))
        self._nv = used.size
        cells = np.searchsorted(used, cells_in).astype(np.int64)
        # coordinates of every used vertex, assembled on all ranks, handed over by rank 0
        coords = np.zeros((self._nv, 3))
        have = np.zeros(self._nv)
        ids = np.searchsorted(used, inputs[gdofs.ravel()])
        coords[ids] = msh.geometry.x[gdofs.ravel()]
        have[ids] = 1.0
        coords = comm.allreduce(coords * 1.0, op=MPI.SUM)
        have = comm.allreduce(have, op=MPI.SUM)
        coords /= np.maximum(have, 1.0)[:, None]
        gdim = msh.geometry.dim
        if hasattr(ufl, "VectorElement"):
            cell = msh.ufl_cell().cellname()
            domain = ufl.Mesh(ufl.VectorElement("Lagrange", cell, 1))
        else:  # pragma: no cover - DOLFINx >= 0.7
            import basix.ufl
            domain = ufl.Mesh(basix.ufl.element("Lagrange", msh.topology.cell_name(), 1, shape=(gdim,)))
        gathered = comm.gather(cells, root=0)
        if comm.rank == 0:
            lin = create_mesh(comm, np.concatenate(gathered), coords[:, :gdim], domain)
        else:
            lin = create_mesh(comm, np.empty((0, nverts), dtype=np.int64), np.empty((0, gdim)), domain)
        self._lin = lin
        self._out = fem.Function(lagrange_space(lin, 1), name=name)
        # where each source dof's value goes: its vertex id; where each output dof reads
        Vs, Vo = u.function_space, self._out.function_space
        ncs = num_cells_local(msh)
        src_cd = cell_dofs(Vs, ncs)[:, :nverts]
        src_id = np.searchsorted(used, inputs[geometry_dofmap(msh)[:, :nverts]])
        self._src_dof = src_cd.ravel()
        self._src_vid = src_id.ravel()
        nco = num_cells_local(lin)
        out_cd = cell_dofs(Vo, nco)
        out_in = np.asarray(lin.geometry.input_global_indices, dtype=np.int64)
        self._out_dof = out_cd.ravel()
        self._out_vid = out_in[geometry_dofmap(lin)].ravel()
        self._file = XDMFFile(comm, path, "w")
        self._file.write_mesh(lin)

    def write(self, t: float) -> None:
        vals = np.zeros(self._nv)
        vals[self._src_vid] = self._u.x.array[self._src_dof]
        seen = np.zeros(self._nv)
        seen[self._src_vid] = 1.0
        vals = self.comm.allreduce(vals, op=MPI.SUM) / np.maximum(
            self.comm.allreduce(seen, op=MPI.SUM), 1.0)
        self._out.x.array[self._out_dof] = vals[self._out_vid]
        self._file.write_function(self._out, t)

    def close(self) -> None:
        self._file.close()


# --- geometry-layer helpers (added for the Gmsh builders and user meshes) -------------------

def geometry_dofmap(msh: Mesh) -> np.ndarray:
    """Geometry node indices (into msh.geometry.x) of each local cell incl. ghosts, shape
    (ncells, nodes_per_cell); an AdjacencyList on DOLFINx 0.5, an ndarray on >= 0.8."""
    dm = msh.geometry.dofmap
    if hasattr(dm, "array") and callable(getattr(dm, "links", None)):
        return np.asarray(dm.array).reshape(num_cells_local(msh), -1)
    return np.asarray(dm).reshape(num_cells_local(msh), -1)  # pragma: no cover - DOLFINx >= 0.8


def write_meshtags(xdmf: Any, tags: Any, msh: Mesh) -> None:
    """Write MeshTags to an open XDMFFile whose mesh was written (DOLFINx >= 0.8 also wants
    the geometry; pybind gives no signature to probe, so the one-argument call is tried)."""
    try:
        xdmf.write_meshtags(tags)
    except TypeError:  # pragma: no cover - DOLFINx >= 0.8
        xdmf.write_meshtags(tags, msh.geometry)
