"""User-supplied meshes (docs/reference/physics.md section 7): Gmsh .msh files, or any format meshio reads
that carries integer cell tags.

Every file goes through Gmsh on rank 0 and is distributed by DOLFINx
(`compat.gmsh_model_to_mesh`; DOLFINx 0.5's own read_from_msh is broken). Other formats are
converted by meshio into a temporary MSH 2.2 file first (cell tags from the first of
MESHIO_TAG_KEYS present, or the only integer cell-data array; names from meshio's field_data
when the format has them). model_to_mesh keeps only the cells of physical groups of the top
dimension, so every cell must belong to a group that the `materials` mapping names; the checks
below turn every way this can go wrong into a one-line MeshError naming the file.

Tags: cell tags are the physical-group tags of the file (Domain.region_names gives their
names). Facet tags: only the surface groups listed in `outer` / `barrier_surfaces` are kept,
renumbered FACET_OUTER (10) / FACET_BARRIER (11); other facet groups are dropped so that their
numbers cannot be mistaken for those.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.io import XDMFFile
from mpi4py import MPI

from ..errors import MeshError
from ..mesh import compat
from ..mesh.domain import FACET_BARRIER, FACET_OUTER, Domain
from .gmsh_tools import gmsh_session

GroupRef = str | int
#: integer cell-data keys tried, in order, for meshio-read formats
MESHIO_TAG_KEYS = ("gmsh:physical", "medit:ref", "cell_tags", "CellEntityIds", "tags",
                   "subdomains", "markers")
_MESHIO_TOP = {3: ("tetra", "tetra10", "hexahedron", "hexahedron27"),
               2: ("triangle", "triangle6", "quad", "quad9")}
_MESHIO_FACETS = {3: ("triangle", "triangle6", "quad", "quad9"),
                  2: ("line", "line3")}


def read_user_mesh(comm: MPI.Comm, path: str | os.PathLike,
                   materials: dict[str, GroupRef | Sequence[GroupRef]],
                   centres: np.ndarray | None = None, barrier_radius: float | None = None,
                   dim: int = 3, outer: Sequence[GroupRef] = (),
                   barrier_surfaces: Sequence[GroupRef] = ()) -> Domain:
    """Read a user mesh (lengths in nm) and map its physical groups to materials.

    materials: material name -> physical groups (names or integer tags) whose cells are made of
        it; every cell of the mesh must be covered.
    centres: optional (N, 3) centre positions (nm); with `barrier_radius` the barrier balls are
        kept by distance (Domain.barrier_by_distance): the solver suppresses D where r < b.
    dim: topological dimension expected; 3 (default) or 2 for a planar mesh (z = 0).
    outer, barrier_surfaces: facet physical groups (names or tags) to tag FACET_OUTER /
        FACET_BARRIER (e.g. for a fixed polarization); all other facets are zero-flux.

    Domain.exact_volume is the volume of the mesh itself (the ideal shape is unknown).
    Raises MeshError (one line naming the file) when the file is missing or unreadable, has no
    physical groups of the top dimension, names a group the file lacks, leaves cells without a
    material, has the wrong dimension or mixed cell types, or has inverted or degenerate cells.
    """
    path = Path(path)
    if dim not in (2, 3):
        raise MeshError(f"{path}: dim = {dim} is not allowed (allowed: 3, or 2 for planar meshes)")
    mapping = {name: ([refs] if isinstance(refs, (str, int, np.integer)) else list(refs))
               for name, refs in materials.items()}
    if not mapping or any(not refs for refs in mapping.values()):
        raise MeshError(f"{path}: every material needs at least one physical group "
                        f"(got {materials!r})")
    with gmsh_session() as gmsh:
        err, info = None, None
        if comm.rank == 0:
            err, info = _prepare_or_error(gmsh, path, mapping, dim, list(outer),
                                          list(barrier_surfaces))
        err, info = comm.bcast((err, info), root=0)
        if err is not None:
            raise MeshError(err)
        msh, ct, ft = compat.gmsh_model_to_mesh(gmsh.model, comm, 0, gdim=dim)
    _check_jacobians(msh, path)
    c = np.empty((0, 3)) if centres is None else np.asarray(centres, dtype=float).reshape(-1, 3)
    if len(c):
        x = msh.geometry.x
        lo, hi = np.empty(3), np.empty(3)
        comm.Allreduce(np.ascontiguousarray(x.min(axis=0, initial=np.inf)), lo, op=MPI.MIN)
        comm.Allreduce(np.ascontiguousarray(x.max(axis=0, initial=-np.inf)), hi, op=MPI.MAX)
        out = np.any((c < lo - 1e-9) | (c > hi + 1e-9), axis=1)
        if out.any():
            raise MeshError(f"{path}: centre {c[out][0].tolist()} nm lies outside the mesh "
                            f"bounding box {lo.tolist()} - {hi.tolist()} nm")
    volume = compat.assemble_scalar(compat.form(_one(msh) * ufl.dx(domain=msh)), comm)
    return Domain(mesh=msh, cell_tags=ct, facet_tags=ft, radial=False, centres=c,
                  materials=info["materials"],
                  barrier_by_distance=bool(len(c)) and barrier_radius is not None,
                  exact_volume=volume, region_names=info["names"],
                  description=f"user mesh {path.name}: {info['ncells']} cells ({info['cell']}), "
                              f"groups {info['summary']}, {len(c)} centres")


def inspect_user_mesh(path: str | os.PathLike, materials: dict[str, GroupRef | Sequence[GroupRef]],
                      centres: np.ndarray | None = None, dim: int = 3) -> dict[str, Any]:
    """Check a user mesh file without building the mesh (on the calling process only): the
    reading and group checks of `read_user_mesh` and the centres inside its bounding box.
    Returns a summary (cells, cell type, groups, bounding box); raises MeshError (one line
    naming the file) on every problem `read_user_mesh` reports before the Jacobian check."""
    path = Path(path)
    mapping = {name: ([refs] if isinstance(refs, (str, int, np.integer)) else list(refs))
               for name, refs in materials.items()}
    with gmsh_session() as gmsh:
        err, info = _prepare_or_error(gmsh, path, mapping, dim, [], [])
    if err is not None:
        raise MeshError(err)
    c = np.empty((0, 3)) if centres is None else np.asarray(centres, dtype=float).reshape(-1, 3)
    lo, hi = np.asarray(info["bbox"][0]), np.asarray(info["bbox"][1])
    out = np.any((c < lo - 1e-9) | (c > hi + 1e-9), axis=1)
    if out.any():
        raise MeshError(f"{path}: centre {c[out][0].tolist()} nm lies outside the mesh "
                        f"bounding box {lo.tolist()} - {hi.tolist()} nm")
    return info


def write_domain_xdmf(domain: Domain, path: str | os.PathLike) -> None:
    """Write the mesh with its cell and facet tags to XDMF for ParaView (collective)."""
    msh = domain.mesh
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    with XDMFFile(msh.comm, str(path), "w") as xdmf:
        xdmf.write_mesh(msh)
        domain.cell_tags.name = "cell_tags"
        compat.write_meshtags(xdmf, domain.cell_tags, msh)
        ft = domain.facets()
        # an empty MeshTags makes the parallel HDF5 write fail
        if ft is not None and msh.comm.allreduce(len(ft.indices), op=MPI.SUM) > 0:
            ft.name = "facet_tags"
            compat.write_meshtags(xdmf, ft, msh)


# --- rank 0: reading and checking the Gmsh model ----------------------------------------------

def _prepare_or_error(gmsh, path: Path, mapping: dict[str, list[GroupRef]], dim: int,
                      outer: list[GroupRef], barrier: list[GroupRef]) -> tuple[str | None, Any]:
    """(None, info) from `_prepare_model`, or (one-line message, None) for any failure to read
    or check the file (Gmsh, meshio and OS errors included)."""
    try:
        return None, _prepare_model(gmsh, path, mapping, dim, outer, barrier)
    except MeshError as exc:
        return " ".join(str(exc).split()), None
    except Exception as exc:  # noqa: BLE001 - Gmsh/meshio failures on a bad file
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        return (f"{path}: cannot read the file as a mesh ({detail}); allowed: Gmsh .msh, or a "
                f"meshio format with integer cell tags"), None


def _prepare_model(gmsh, path: Path, mapping: dict[str, list[GroupRef]], dim: int,
                   outer: list[GroupRef], barrier: list[GroupRef]) -> dict[str, Any]:
    """Load the file into the current Gmsh model, check it and keep only the physical groups
    that model_to_mesh must see. Returns what every rank needs to build the Domain."""
    if path.is_dir():
        raise MeshError(f"{path}: a directory, not a mesh file")
    if not path.is_file():
        raise MeshError(f"{path}: file not found")
    if path.suffix.lower() == ".msh":
        gmsh.merge(str(path))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_msh = os.path.join(tmp, "converted.msh")
            _meshio_to_msh(path, tmp_msh, dim)
            gmsh.merge(tmp_msh)
    model = gmsh.model
    top = max((d for d in (3, 2, 1) if len(model.mesh.getElements(d)[0])), default=0)
    if top == 0:
        raise MeshError(f"{path}: no mesh cells found (not a mesh file, or an empty mesh)")
    if top != dim:
        hint = {2: "pass dim=2 to read a planar mesh", 3: "read it with dim=3, the default"}.get(
            top, "allowed: 3D meshes, or 2D meshes with dim=2")
        raise MeshError(f"{path}: the mesh is {top}D but a {dim}D mesh was expected ({hint})")
    types = {t for _, e in model.getEntities(top) for t in model.mesh.getElements(top, e)[0]}
    if len(types) > 1:
        names = sorted(model.mesh.getElementProperties(t)[0] for t in types)
        raise MeshError(f"{path}: mixed cell types {names} (allowed: one cell type per mesh)")
    cell_name = model.mesh.getElementProperties(types.pop())[0]

    groups = {tag: model.getPhysicalName(top, tag) for _, tag in model.getPhysicalGroups(top)}
    if not groups:
        raise MeshError(f"{path}: no physical groups of dimension {top}, so every cell would be "
                        f"dropped; define physical {'volumes' if top == 3 else 'surfaces'} "
                        f"for all regions")
    shown = ", ".join(f"{n or '(unnamed)'}={t}" for t, n in sorted(groups.items()))
    tag_of_material: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    for material, refs in mapping.items():
        tags = []
        for ref in refs:
            tag = _resolve(ref, groups, path, top, shown)
            if tag in owner and owner[tag] != material:
                raise MeshError(f"{path}: physical group {groups[tag] or tag!r} is mapped to both "
                                f"{owner[tag]!r} and {material!r}")
            owner[tag] = material
            tags.append(tag)
        tag_of_material[material] = sorted(set(tags))

    counts = {"unmapped": 0, "ungrouped": 0, "total": 0}
    unmapped_names = set()
    for _, ent in model.getEntities(top):
        n = sum(len(t) for t in model.mesh.getElements(top, ent)[1])
        counts["total"] += n
        ent_groups = list(model.getPhysicalGroupsForEntity(top, ent))
        if len(ent_groups) > 1:
            raise MeshError(f"{path}: {n} cells (entity {ent}) belong to several physical groups "
                            f"{[groups.get(g) or g for g in ent_groups]}; each cell must be in one")
        if not ent_groups:
            counts["ungrouped"] += n
        elif ent_groups[0] not in owner:
            counts["unmapped"] += n
            unmapped_names.add(groups[ent_groups[0]] or str(ent_groups[0]))
    missing = counts["unmapped"] + counts["ungrouped"]
    if missing:
        parts = []
        if counts["ungrouped"]:
            parts.append(f"{counts['ungrouped']} are in no physical group")
        if counts["unmapped"]:
            parts.append(f"{counts['unmapped']} are in groups not mapped to a material "
                         f"({', '.join(sorted(unmapped_names))})")
        raise MeshError(f"{path}: {missing} of {counts['total']} cells are not assigned to any "
                        f"material: {'; '.join(parts)} (groups in the file: {shown})")

    facet_groups = {tag: model.getPhysicalName(top - 1, tag)
                    for _, tag in model.getPhysicalGroups(top - 1)}
    fshown = ", ".join(f"{n or '(unnamed)'}={t}" for t, n in sorted(facet_groups.items())) or "none"
    facet_sel = {FACET_OUTER: [_resolve(r, facet_groups, path, top - 1, fshown) for r in outer],
                 FACET_BARRIER: [_resolve(r, facet_groups, path, top - 1, fshown) for r in barrier]}
    facet_entities = {k: sorted({e for g in v
                                 for e in model.getEntitiesForPhysicalGroup(top - 1, g)})
                      for k, v in facet_sel.items()}
    cell_entities = {t: list(model.getEntitiesForPhysicalGroup(top, t)) for t in owner}
    # rebuild the groups model_to_mesh sees (removing single groups of a merged file fails in
    # Gmsh 4.8, removing all works)
    model.removePhysicalGroups()
    for tag, ents in cell_entities.items():
        model.addPhysicalGroup(top, ents, tag)
        if groups[tag]:
            model.setPhysicalName(top, tag, groups[tag])
    for value, ents in facet_entities.items():
        if ents:
            model.addPhysicalGroup(top - 1, ents, value)
    # model_to_mesh indexes nodes by tag - 1: make tags contiguous
    model.mesh.renumberNodes()
    model.mesh.renumberElements()
    coords = np.asarray(model.mesh.getNodes()[1], dtype=float).reshape(-1, 3)
    bbox = (coords.min(axis=0).tolist(), coords.max(axis=0).tolist())
    summary = "; ".join(f"{m}: {', '.join(groups[t] or str(t) for t in tags)}"
                        for m, tags in tag_of_material.items())
    return {"materials": tag_of_material,
            "names": {t: (groups[t] or f"group {t}") for t in owner},
            "ncells": counts["total"], "cell": cell_name, "summary": summary, "bbox": bbox}


def _resolve(ref: GroupRef, groups: dict[int, str], path: Path, dim: int, shown: str) -> int:
    """Physical-group tag for a name or tag; MeshError listing the groups if absent."""
    kind = {3: "volume", 2: "surface", 1: "curve"}.get(dim, f"dim-{dim}")
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        if int(ref) in groups:
            return int(ref)
        raise MeshError(f"{path}: no physical {kind} group with tag {int(ref)} "
                        f"(the file has: {shown})")
    matches = [t for t, n in groups.items() if n == str(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise MeshError(f"{path}: physical {kind} name {ref!r} is used by several groups "
                        f"{sorted(matches)}; refer to them by tag")
    raise MeshError(f"{path}: no physical {kind} group named {ref!r} (the file has: {shown})")


def _meshio_to_msh(path: Path, out: str, dim: int) -> None:
    """Convert a meshio-readable mesh with integer cell tags into MSH 2.2 for Gmsh."""
    import meshio
    m = _meshio_read(path)
    tops = {b.type for b in m.cells if b.type in _MESHIO_TOP[3] + _MESHIO_TOP[2]}
    top = 3 if tops & set(_MESHIO_TOP[3]) else (2 if tops else 0)
    if top == 0:
        raise MeshError(f"{path}: no tetrahedra, hexahedra, triangles or quadrilaterals found")
    keys = [k for k in MESHIO_TAG_KEYS if k in m.cell_data]
    if not keys:
        ints = [k for k, v in m.cell_data.items()
                if all(np.issubdtype(np.asarray(a).dtype, np.integer) for a in v)]
        keys = ints if len(ints) == 1 else []
    if not keys:
        raise MeshError(f"{path}: no integer cell tags found (looked for cell data "
                        f"{', '.join(MESHIO_TAG_KEYS)}); every cell needs a region tag")
    key = keys[0]
    wanted = set(_MESHIO_TOP[top]) | set(_MESHIO_FACETS[top])
    cells, phys = [], []
    for block, tags in zip(m.cells, m.cell_data[key]):
        if block.type in wanted:
            cells.append((block.type, block.data))
            phys.append(np.asarray(tags, dtype=int).ravel())
    field_data = {name: np.asarray(v, dtype=int) for name, v in (m.field_data or {}).items()}
    points = m.points if m.points.shape[1] == 3 else np.column_stack(
        [m.points, np.zeros((len(m.points), 3 - m.points.shape[1]))])
    out_mesh = meshio.Mesh(points, cells,
                           cell_data={"gmsh:physical": phys, "gmsh:geometrical": phys},
                           field_data=field_data)
    meshio.write(out, out_mesh, file_format="gmsh22", binary=False)


def _meshio_read(path: Path):
    """meshio.read without meshio's console output, and MeshError instead of the exit meshio
    takes on a file it cannot read."""

    import meshio
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return meshio.read(str(path))
    except SystemExit:
        detail = " ".join(sink.getvalue().split())[:200]
        raise MeshError(f"{path}: cannot read the file as a mesh ({detail}); allowed: Gmsh .msh, "
                        f"or a meshio format with integer cell tags") from None


# --- collective checks ------------------------------------------------------------------------

def _one(msh):
    return fem.Constant(msh, 1.0)


def _check_jacobians(msh, path: Path) -> None:
    """MeshError unless detJ > 0 at every quadrature point of every cell (all ranks).

    Degenerate: |detJ| <= 1e-10 h^d with h the cell's longest vertex-to-vertex distance;
    inverted: detJ < 0 otherwise. Counts are summed over ranks on owned cells.
    """
    tdim = msh.topology.dim
    nown = compat.num_cells_local(msh, with_ghosts=False)
    detj = compat.eval_at_quadrature(ufl.JacobianDeterminant(msh), msh, 2)[:nown, :, 0]
    x = msh.geometry.x
    nodes = compat.geometry_dofmap(msh)[:nown]
    nverts = {"interval": 2, "triangle": 3, "tetrahedron": 4, "quadrilateral": 4,
              "hexahedron": 8}[msh.topology.cell_type.name]
    X = x[nodes[:, :nverts]]
    h = np.zeros(nown)
    for i in range(nverts):
        for j in range(i + 1, nverts):
            h = np.maximum(h, np.linalg.norm(X[:, i] - X[:, j], axis=1))
    degenerate = np.any(np.abs(detj) <= 1e-10 * h[:, None] ** tdim, axis=1)
    inverted = ~degenerate & np.any(detj < 0, axis=1)
    n_deg = msh.comm.allreduce(int(degenerate.sum()), op=MPI.SUM)
    n_inv = msh.comm.allreduce(int(inverted.sum()), op=MPI.SUM)
    if n_deg or n_inv:
        total = msh.topology.index_map(tdim).size_global
        raise MeshError(f"{path}: {n_inv} inverted and {n_deg} degenerate cells of {total} "
                        f"(zero or negative Jacobian determinant); allowed: cells with positive "
                        f"volume and consistent orientation")
