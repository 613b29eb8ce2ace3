"""Uniform refinement of a tetrahedral mesh held as arrays, with edge midpoints on spheres put
back on the sphere.

Each refinement halves every edge: a tetrahedron (v0, v1, v2, v3) becomes its four corner
tetrahedra and the four tetrahedra around the shortest diagonal of the inner octahedron (the
"red" refinement of Bey 1995, whose shortest-diagonal choice keeps the cells' shape within a
few similarity classes), so a graded mesh keeps its grading with every size halved. Triangles
(tagged facets, surfaces) split into four the same way, so a facet tag, a conforming interface
and a periodic face pair (identical triangulations on opposite faces) stay exactly as they were.

A midpoint of an edge of a triangle lying on a sphere (a hole, an interface or the outer sphere
of a cell) is moved radially onto that sphere: the refined mesh approximates a curved surface
as well as a mesh generated at the fine size would, not only as well as the coarse one.

Why: a mesher that inserts points one by one (Gmsh's Delaunay, about 9,000 tetrahedra per
second here, on one rank, with about 0.7 kB of memory per tetrahedron) is the serial wall of a
large run; refining its coarse mesh with numpy costs about 1 s and 60 bytes per fine cell.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

#: a vertex lies on a sphere when | |x - c| - rho | < SPHERE_TOL * rho
SPHERE_TOL = 1e-6

#: local vertex pairs of the six edges of a tetrahedron, and of the three of a triangle
TET_EDGES = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])
TRI_EDGES = np.array([(0, 1), (0, 2), (1, 2)])
# children by local index: 0..3 the vertices, 4..9 the midpoints of TET_EDGES in order
# (4 = m01, 5 = m02, 6 = m03, 7 = m12, 8 = m13, 9 = m23)
_CORNERS = [(0, 4, 5, 6), (4, 1, 7, 8), (5, 7, 2, 9), (6, 8, 9, 3)]
# the octahedron around each of its three diagonals (m01-m23, m02-m13, m03-m12): the
# diagonal's ends with consecutive vertices of the equator around it
_OCTAHEDRON = {
    0: [(4, 9, 5, 6), (4, 9, 6, 8), (4, 9, 8, 7), (4, 9, 7, 5)],
    1: [(5, 8, 4, 6), (5, 8, 6, 9), (5, 8, 9, 7), (5, 8, 7, 4)],
    2: [(6, 7, 4, 5), (6, 7, 5, 9), (6, 7, 9, 8), (6, 7, 8, 4)],
}
_DIAGONALS = [(4, 9), (5, 8), (6, 7)]
# triangle children: 0..2 the vertices, 3..5 the midpoints of TRI_EDGES (m01, m02, m12)
_TRI_CHILDREN = np.array([(0, 3, 4), (1, 3, 5), (2, 4, 5), (3, 5, 4)])


@dataclass
class TetMesh:
    """A tetrahedral mesh as arrays (lengths in nm).

    x: (n, 3) vertex coordinates; cells: (N, 4) vertex indices; cell_values: (N,) cell tags;
    facets: (F, 3) tagged triangles with facet_values (F,); surfaces: (S, 3) triangles of the
    surfaces that may lie on a sphere (every surface of the geometry)."""
    x: np.ndarray
    cells: np.ndarray
    cell_values: np.ndarray
    facets: np.ndarray = field(default_factory=lambda: np.empty((0, 3), dtype=np.int64))
    facet_values: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    surfaces: np.ndarray = field(default_factory=lambda: np.empty((0, 3), dtype=np.int64))


def refine_uniform(mesh: TetMesh, spheres: Sequence[tuple[Sequence[float], float]] = (),
                   levels: int = 1) -> TetMesh:
    """`levels` uniform refinements (8^levels times the cells); spheres: (centre, radius) in nm
    of the curved surfaces whose new vertices are projected onto them."""
    for _ in range(levels):
        mesh = _refine_once(mesh, spheres)
    return mesh


def _edge_keys(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return lo.astype(np.int64) * n + hi


def _edges(mesh: TetMesh, spheres) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted edge keys, (N, 6) edge numbers of the cells in TET_EDGES order, the edges'
    midpoints with those of edges on spheres put on them)."""
    x, cells = mesh.x, np.asarray(mesh.cells, dtype=np.int64)
    n = x.shape[0]
    keys = _edge_keys(cells[:, TET_EDGES[:, 0]], cells[:, TET_EDGES[:, 1]], n)
    edges, cell_edges = np.unique(keys.ravel(), return_inverse=True)
    del keys
    midpoints = 0.5 * (x[edges // n] + x[edges % n])
    _project(midpoints, edges, n, x, mesh.surfaces, spheres)
    return edges, cell_edges.reshape(-1, 6), midpoints


def _refine_once(mesh: TetMesh, spheres) -> TetMesh:
    x, cells = mesh.x, np.asarray(mesh.cells, dtype=np.int64)
    n = x.shape[0]
    edges, cell_edges, midpoints = _edges(mesh, spheres)
    cell_edges += n
    new_x = np.concatenate([x, midpoints])
    del midpoints

    local = np.concatenate([cells, cell_edges], axis=1)  # (N, 10): vertices, then midpoints
    del cell_edges
    d = np.stack([np.linalg.norm(new_x[local[:, p]] - new_x[local[:, q]], axis=1)
                  for p, q in _DIAGONALS], axis=1)
    choice = np.argmin(d, axis=1)
    del d
    children = np.empty((cells.shape[0], 8, 4), dtype=np.int64)
    for k, corner in enumerate(_CORNERS):
        children[:, k] = local[:, corner]
    for diag, tets in _OCTAHEDRON.items():
        sel = np.flatnonzero(choice == diag)
        for k, tet in enumerate(tets):
            children[sel, 4 + k] = local[np.ix_(sel, tet)]
    del local, choice
    return TetMesh(x=new_x, cells=children.reshape(-1, 4),
                   cell_values=np.repeat(mesh.cell_values, 8),
                   facets=_split_triangles(mesh.facets, edges, n),
                   facet_values=np.repeat(mesh.facet_values, 4),
                   surfaces=_split_triangles(mesh.surfaces, edges, n))


def _split_triangles(tri: np.ndarray, edges: np.ndarray, n: int) -> np.ndarray:
    """The four children of each triangle, given the sorted edge keys of the mesh (an edge's
    midpoint is vertex n + its index among them)."""
    tri = np.asarray(tri, dtype=np.int64)
    if tri.size == 0:
        return np.empty((0, 3), dtype=np.int64)
    keys = _edge_keys(tri[:, TRI_EDGES[:, 0]], tri[:, TRI_EDGES[:, 1]], n)
    mids = np.searchsorted(edges, keys) + n
    local = np.concatenate([tri, mids], axis=1)
    return local[:, _TRI_CHILDREN].reshape(-1, 3)


def _project(midpoints: np.ndarray, edges: np.ndarray, n: int,
             x: np.ndarray, surfaces: np.ndarray, spheres) -> None:
    """Move, in place, the midpoints of edges of surface triangles lying on a sphere onto it.
    Each triangle is tested against the spheres of the few centres nearest to it (a k-d
    tree), so the cost does not grow with surfaces x spheres."""
    if not len(spheres) or surfaces.size == 0:
        return
    tri = np.asarray(surfaces, dtype=np.int64)
    centres = np.array([np.asarray(c, dtype=float) for c, _ in spheres])
    radii = np.array([float(r) for _, r in spheres])
    _, cand = cKDTree(centres).query(x[tri].mean(axis=1), k=min(8, len(spheres)))
    cand = cand.reshape(len(tri), -1)
    sphere_of = np.full(len(tri), -1)
    for j in range(cand.shape[1]):
        s = cand[:, j]
        r = np.linalg.norm(x[tri] - centres[s][:, None, :], axis=2)
        on = (sphere_of < 0) & np.all(np.abs(r - radii[s, None]) < SPHERE_TOL * radii[s, None],
                                      axis=1)
        sphere_of[on] = s[on]
    on = sphere_of >= 0
    if not on.any():
        return
    keys = _edge_keys(tri[on][:, TRI_EDGES[:, 0]], tri[on][:, TRI_EDGES[:, 1]], n)
    idx, first = np.unique(np.searchsorted(edges, keys.ravel()), return_index=True)
    which = np.repeat(sphere_of[on], 3)[first]
    v = midpoints[idx] - centres[which]
    midpoints[idx] = centres[which] + radii[which, None] * v / np.linalg.norm(v, axis=1)[:, None]


# DOLFINx (basix) order of a second-order tetrahedron's edges and of a triangle's edges
_P2_TET_EDGES = [5, 4, 3, 2, 1, 0]      # (2,3), (1,3), (1,2), (0,3), (0,2), (0,1) in TET_EDGES
_P2_TRI_EDGES = np.array([(1, 2), (0, 2), (0, 1)])
#: a curved cell whose Jacobian determinant falls below this fraction of its straight one at
#: a vertex, an edge midpoint or the centroid is made straight (its edges' midpoints go back
#: on the chords)
MIN_JACOBIAN_RATIO = 0.1


@dataclass
class CurvedTetMesh:
    """Second-order tetrahedra: x (n, 3); cells (N, 10) and facets (F, 6) in DOLFINx's node
    order (vertices, then edge midpoints); straightened: cells made affine to stay valid."""
    x: np.ndarray
    cells: np.ndarray
    cell_values: np.ndarray
    facets: np.ndarray
    facet_values: np.ndarray
    straightened: int = 0


def second_order(mesh: TetMesh, spheres: Sequence[tuple[Sequence[float], float]] = ()) -> CurvedTetMesh:
    """Second-order (10-node) cells from first-order ones: the edge midpoints, on the spheres
    for edges of triangles lying on them; cells that this would fold are kept straight."""
    x, cells = mesh.x, np.asarray(mesh.cells, dtype=np.int64)
    n = x.shape[0]
    edges, cell_edges, midpoints = _edges(mesh, spheres)
    chords = 0.5 * (x[edges // n] + x[edges % n])
    curved = np.flatnonzero(np.any(midpoints != chords, axis=1))
    straightened = 0
    for _ in range(10):
        cand = np.flatnonzero(np.isin(cell_edges, curved).any(axis=1))
        bad = cand[_folded(x, cells[cand], midpoints[cell_edges[cand]])]
        if not bad.size:
            break
        straightened += bad.size
        fix = np.unique(cell_edges[bad])
        midpoints[fix] = chords[fix]
        curved = np.setdiff1d(curved, fix)
    new_x = np.concatenate([x, midpoints])
    cells10 = np.concatenate([cells, cell_edges[:, _P2_TET_EDGES] + n], axis=1)
    tri = np.asarray(mesh.facets, dtype=np.int64).reshape(-1, 3)
    keys = _edge_keys(tri[:, _P2_TRI_EDGES[:, 0]], tri[:, _P2_TRI_EDGES[:, 1]], n)
    facets6 = np.concatenate([tri, np.searchsorted(edges, keys) + n], axis=1)
    return CurvedTetMesh(new_x, cells10, mesh.cell_values, facets6, mesh.facet_values,
                         straightened)


def _p2_gradients() -> np.ndarray:
    """Reference gradients (points, 10 nodes in TET_EDGES order after the vertices, 3) of the
    P2 basis at the vertices, edge midpoints and centroid."""
    lam_grad = np.array([[-1.0, -1.0, -1.0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    pts = [np.eye(4)[i] for i in range(4)]
    pts += [0.5 * (np.eye(4)[i] + np.eye(4)[j]) for i, j in TET_EDGES]
    pts.append(np.full(4, 0.25))
    out = np.empty((len(pts), 10, 3))
    for p, lam in enumerate(pts):
        for i in range(4):
            out[p, i] = (4 * lam[i] - 1) * lam_grad[i]
        for k, (i, j) in enumerate(TET_EDGES):
            out[p, 4 + k] = 4 * (lam[i] * lam_grad[j] + lam[j] * lam_grad[i])
    return out


_GRADIENTS = _p2_gradients()


def _folded(x: np.ndarray, cells: np.ndarray, mids: np.ndarray) -> np.ndarray:
    """Cells whose curved Jacobian determinant drops below MIN_JACOBIAN_RATIO of the straight
    one somewhere (or changes sign)."""
    nodes = np.concatenate([x[cells], mids], axis=1)  # (N, 10, 3)
    p = x[cells]
    straight = np.einsum("ij,ij->i", p[:, 1] - p[:, 0], np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]))
    J = np.einsum("nak,pal->npkl", nodes, _GRADIENTS)
    det = np.linalg.det(J)
    return np.any(det / straight[:, None] < MIN_JACOBIAN_RATIO, axis=1)


def volume(mesh: TetMesh) -> float:
    """Total volume of the cells (nm^3)."""
    p = mesh.x[mesh.cells]
    return float(np.abs(np.einsum("ij,ij->i", p[:, 1] - p[:, 0],
                                  np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]))).sum() / 6.0)
