"""Curved (second-order) Gmsh cells: Jacobian determinants, computed in chunks of cells so that
a mesh of millions of cells needs only a few tens of MB for the check; a deterministic repair of
the cells that curving folded; Gmsh on one thread. The Gmsh differences between releases are
handled here.

Curving a tetrahedral mesh to second order puts the edge nodes of boundary and interface edges
on the curved surfaces; a flat cell next to a concave surface can then fold (det J <= 0). The
repair does not use Gmsh's high-order optimisers: their results change from run to run (thread
scheduling) and between releases, and the fast one aborts the whole process from inside a
parallel region on Gmsh 4.13. Instead, in numpy: (1) the displacement of the curved edge nodes
off their straight edges is spread harmonically over the edge nodes inside the volume around a
folded cell, one to six rings of cells wide, as long as a wider region repairs more cells; (2) a
cell that still folds (a cap whose curved edges all lie on one sphere, say) gives up part of its
curvature, in tenths, the least that makes it well shaped and its neighbours valid. The
result is a function of the second-order mesh Gmsh produced only: the same on every run.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import sparse

CHUNK = 50_000  # cells per batch of Jacobians
# gmsh 10-node tetrahedron: edge nodes 4..9 sit on edges (0,1), (1,2), (2,0), (3,0), (3,2), (3,1)
TET10_EDGES = [(0, 1), (1, 2), (2, 0), (3, 0), (3, 2), (3, 1)]
TET10 = 11  # Gmsh element type of the 10-node tetrahedron
#: harmonic-spreading rounds: (rings of cells around the folded ones, Jacobi sweeps)
RELAX_ROUNDS = ((1, 20), (2, 40), (3, 80), (4, 160), (6, 320))
#: fractions of its curvature a cell that spreading cannot repair keeps, tried in turn
FLATTEN = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)
#: a flattened cell's smallest det J, relative to its straight (affine) self: a barely valid
#: cell is nearly singular, which costs P1 accuracy
FLATTEN_QUALITY = 0.2
#: Gmsh's thread counts: one thread everywhere makes meshing reproducible from run to run
THREAD_OPTIONS = ("General.NumThreads", "Mesh.MaxNumThreads1D", "Mesh.MaxNumThreads2D",
                  "Mesh.MaxNumThreads3D")


def single_thread(gmsh) -> None:
    """Run every Gmsh mesher on one thread (an option a Gmsh release lacks is skipped)."""
    for name in THREAD_OPTIONS:
        try:
            gmsh.option.setNumber(name, 1)
        except Exception:  # noqa: BLE001 - Gmsh reports an unknown option as Exception
            pass


def _node_table(gmsh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node tags, coordinates (n, 3), tag -> row index array) of the current model."""
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    tags = np.asarray(node_tags, dtype=np.int64)
    xyz = np.asarray(coords, dtype=float).reshape(-1, 3)
    index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
    index[tags] = np.arange(len(tags))
    return tags, xyz, index


def _gauss_gradients(gmsh, etype: int, npe: int) -> np.ndarray:
    """Lagrange basis gradients at a degree-4 Gauss rule, shape (points, nodes, 3)."""
    points, _ = gmsh.model.mesh.getIntegrationPoints(etype, "Gauss4")
    _, grads, _ = gmsh.model.mesh.getBasisFunctions(etype, points, "GradLagrange")
    return np.asarray(grads).reshape(-1, npe, 3)


def min_det(x: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Smallest Jacobian determinant over the rule of each cell; x (cells, nodes, 3)."""
    out = np.empty(len(x))
    for start in range(0, len(x), CHUNK):
        # J[c, p, n, k] = sum_a x[c, a, n] dN_a/dxi_k (p)
        j = np.einsum("can,pak->cpnk", x[start:start + CHUNK], grads, optimize=True)
        det = (j[..., 0, 0] * (j[..., 1, 1] * j[..., 2, 2] - j[..., 1, 2] * j[..., 2, 1])
               - j[..., 0, 1] * (j[..., 1, 0] * j[..., 2, 2] - j[..., 1, 2] * j[..., 2, 0])
               + j[..., 0, 2] * (j[..., 1, 0] * j[..., 2, 1] - j[..., 1, 1] * j[..., 2, 0]))
        out[start:start + CHUNK] = det.min(axis=1)
    return out


def jacobian_minima(gmsh) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(element type, node tags (cells x nodes), min det J over a degree-4 Gauss rule) for the
    3D cells of the current model, chunk by chunk: J = sum_a x_a grad N_a from the node
    coordinates and Gmsh's Lagrange basis gradients, in numpy."""
    _, xyz, index = _node_table(gmsh)
    for etype in gmsh.model.mesh.getElementTypes(3):
        _, nodes = gmsh.model.mesh.getElementsByType(etype)
        npe = gmsh.model.mesh.getElementProperties(etype)[3]
        nodes = np.asarray(nodes, dtype=np.int64).reshape(-1, npe)
        grads = _gauss_gradients(gmsh, etype, npe)
        for start in range(0, len(nodes), CHUNK):
            chunk = nodes[start:start + CHUNK]
            yield etype, chunk, min_det(xyz[index[chunk]], grads)


def inverted_cells(gmsh) -> int:
    """Number of 3D cells with a Jacobian determinant <= 0 at a point of a degree-4 Gauss rule
    (what quadrature sees)."""
    return sum(int(np.sum(dmin <= 0)) for _, _, dmin in jacobian_minima(gmsh))


def straighten_inverted(gmsh) -> int:
    """Put the edge nodes of every still-inverted curved tetrahedron back on its straight edges
    (a valid affine cell; the neighbours sharing those nodes lose a little curvature there).
    Returns the number of cells straightened."""
    bad_rows = [nodes[dmin <= 0] for _, nodes, dmin in jacobian_minima(gmsh) if nodes.shape[1] == 10]
    count = 0
    for row in (r for rows in bad_rows for r in rows):
        for k, (i, j) in enumerate(TET10_EDGES):
            xi = np.asarray(gmsh.model.mesh.getNode(int(row[i]))[0])
            xj = np.asarray(gmsh.model.mesh.getNode(int(row[j]))[0])
            gmsh.model.mesh.setNode(int(row[4 + k]), list(0.5 * (xi + xj)), [])
        count += 1
    return count


# --- deterministic repair ---------------------------------------------------------------------

def _grow(cells: np.ndarray, seed: np.ndarray, rings: int) -> np.ndarray:
    """Boolean mask of the cells within `rings` vertex-sharing rings of the `seed` mask."""
    verts = cells[:, :4]
    mask = seed.copy()
    for _ in range(rings):
        touched = np.zeros(int(cells.max()) + 1, dtype=bool)
        touched[verts[mask].ravel()] = True
        mask = touched[verts].any(axis=1)
    return mask


def _spread(cells: np.ndarray, region: np.ndarray, movable: np.ndarray, disp: np.ndarray,
            sweeps: int) -> np.ndarray:
    """Edge nodes of the region's cells that may move, after `sweeps` Jacobi sweeps of the
    graph Laplacian (edge nodes of a common cell are neighbours) on their displacement off the
    straight edge; every other edge node keeps its displacement. Returns the moved rows."""

    mids = cells[region, 4:]
    free = np.unique(mids[movable[mids]])
    if free.size == 0:
        return free
    rows = np.repeat(mids, 6, axis=1).ravel()
    cols = np.tile(mids, (1, 6)).ravel()
    keep = (rows != cols) & movable[rows]
    n = len(disp)
    adj = sparse.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))
    adj.data[:] = 1.0  # duplicates summed by csr: count each neighbour once
    adj = adj[free]
    degree = np.asarray(adj.sum(axis=1)).ravel()
    for _ in range(sweeps):
        disp[free] = (adj @ disp) / degree[:, None]
    return free


def relax_inverted(gmsh) -> int:
    """Repair folded second-order tetrahedra (see the module docstring); deterministic. Edge
    nodes on flat surfaces (box faces, periodic or not) never move. Returns the number of cells
    still inverted afterwards (0 on success)."""
    if TET10 not in gmsh.model.mesh.getElementTypes(3):
        return inverted_cells(gmsh)
    tags, xyz, index = _node_table(gmsh)
    _, nodes = gmsh.model.mesh.getElementsByType(TET10)
    cells = index[np.asarray(nodes, dtype=np.int64).reshape(-1, 10)]
    grads = _gauss_gradients(gmsh, TET10, 10)
    bad = min_det(xyz[cells], grads) <= 0
    if not bad.any():
        return 0
    inner_tags, _, _ = gmsh.model.mesh.getNodes(3, -1)
    movable = np.zeros(len(tags), dtype=bool)
    movable[index[np.asarray(inner_tags, dtype=np.int64)]] = True
    ends = cells[:, np.array(TET10_EDGES)]  # (cells, 6, 2)
    straight = np.zeros_like(xyz)
    straight[cells[:, 4:].ravel()] = 0.5 * (xyz[ends[..., 0]] + xyz[ends[..., 1]]).reshape(-1, 3)
    x, moved = xyz, np.zeros(len(tags), dtype=bool)
    left = int(bad.sum())
    for rings, sweeps in RELAX_ROUNDS:
        # a wider region only while it repairs more cells: spreading cannot unfold a cell whose
        # curved edges all lie on surfaces, and moving more nodes than needed costs accuracy
        x_try, moved_try, bad_try = _spread_round(cells, bad, movable, xyz, straight, grads,
                                                  rings, sweeps)
        if int(bad_try.sum()) >= left:
            break
        x, moved, left = x_try, moved_try, int(bad_try.sum())
        if not left:
            break
        bad = bad | bad_try
    bad = np.flatnonzero(min_det(x[cells], grads) <= 0)
    if bad.size:
        x = x.copy()
        # straight edges (on flat faces) have nothing to give up: keep them bit for bit
        fixed = ~movable & np.all(xyz == straight, axis=1)
        moved |= _flatten(cells, bad, x, straight, grads, fixed)
        bad = np.flatnonzero(min_det(x[cells], grads) <= 0)
    for row in np.flatnonzero(moved):
        gmsh.model.mesh.setNode(int(tags[row]), x[row].tolist(), [])
    return int(bad.size)


def _spread_round(cells: np.ndarray, bad: np.ndarray, movable: np.ndarray, xyz: np.ndarray,
                  straight: np.ndarray, grads: np.ndarray, rings: int, sweeps: int):
    """One spreading attempt around the `bad` cells: (coordinates, moved-row mask, mask of the
    cells inverted afterwards)."""
    disp = xyz - straight
    free = _spread(cells, _grow(cells, bad, rings), movable, disp, sweeps)
    x = xyz.copy()
    x[free] = straight[free] + disp[free]
    moved = np.zeros(len(xyz), dtype=bool)
    moved[free] = True
    check = np.flatnonzero(moved[cells].any(axis=1) | bad)
    still = np.zeros(len(cells), dtype=bool)
    still[check[min_det(x[cells[check]], grads) <= 0]] = True
    return x, moved, still


def _flatten(cells: np.ndarray, bad: np.ndarray, x: np.ndarray, straight: np.ndarray,
             grads: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Pull the edge nodes of each still-folded cell (one whose curved edges all lie on
    surfaces, say) toward its straight edges, keeping the largest fraction of FLATTEN that makes
    its neighbours valid and itself well shaped (det J at least FLATTEN_QUALITY of its straight
    self's; none: straight); a neighbour that still folds is queued in turn, each cell handled
    once. Rows in the `fixed` mask stay. x is updated in place. Returns the moved-row mask."""
    moved = np.zeros(len(x), dtype=bool)
    queue = [int(c) for c in bad]
    done: set[int] = set()
    while queue:
        c = queue.pop(0)
        if c in done:
            continue
        done.add(c)
        rows = cells[c, 4:][~fixed[cells[c, 4:]]]
        if rows.size == 0:
            continue
        near = np.flatnonzero(np.isin(cells, rows).any(axis=1))
        own = int(np.flatnonzero(near == c)[0])
        affine = x[cells[c]].copy()
        affine[4:] = straight[cells[c, 4:]]
        floor = FLATTEN_QUALITY * min_det(affine[None], grads)[0]
        curved_x = x[rows].copy()
        for t in FLATTEN:
            x[rows] = straight[rows] + t * (curved_x - straight[rows])
            dmin = min_det(x[cells[near]], grads)
            if (dmin > 0).all() and dmin[own] >= floor:
                break
        moved[rows] = True
        queue.extend(int(n) for n in near[dmin <= 0] if n != c)
    return moved
