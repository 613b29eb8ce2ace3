"""Validity of curved (second-order) Gmsh cells: Jacobian determinants, counted in chunks of
cells so that a mesh of millions of cells needs only a few tens of MB for the check."""
from __future__ import annotations

from typing import Iterator

import numpy as np

CHUNK = 50_000  # cells per getJacobians call
# gmsh 10-node tetrahedron: edge nodes 4..9 sit on edges (0,1), (1,2), (2,0), (3,0), (3,2), (3,1)
TET10_EDGES = [(0, 1), (1, 2), (2, 0), (3, 0), (3, 2), (3, 1)]


def jacobian_minima(gmsh) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(element type, node tags (cells x nodes), min det J over a degree-4 Gauss rule) for the
    3D cells of the current model, chunk by chunk: J = sum_a x_a grad N_a from the node
    coordinates and Gmsh's Lagrange basis gradients, in numpy."""
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    xyz = np.asarray(coords).reshape(-1, 3)
    index = np.zeros(int(np.max(node_tags)) + 1, dtype=np.int64)
    index[np.asarray(node_tags, dtype=np.int64)] = np.arange(len(node_tags))
    for etype in gmsh.model.mesh.getElementTypes(3):
        _, nodes = gmsh.model.mesh.getElementsByType(etype)
        npe = gmsh.model.mesh.getElementProperties(etype)[3]
        nodes = np.asarray(nodes, dtype=np.int64).reshape(-1, npe)
        points, _ = gmsh.model.mesh.getIntegrationPoints(etype, "Gauss4")
        _, grads, _ = gmsh.model.mesh.getBasisFunctions(etype, points, "GradLagrange")
        grads = np.asarray(grads).reshape(-1, npe, 3)  # (points, nodes, d/dxi)
        for start in range(0, len(nodes), CHUNK):
            chunk = nodes[start:start + CHUNK]
            x = xyz[index[chunk]]  # (cells, nodes, xyz)
            jac = np.einsum("can,pak->cpnk", x, grads)
            yield etype, chunk, np.linalg.det(jac).min(axis=1)


def inverted_cells(gmsh) -> int:
    """Number of 3D cells with a Jacobian determinant <= 0 at a point of a degree-4 Gauss rule
    (what quadrature sees; a cell may still fold slightly at a node, as the elastic optimiser
    sometimes leaves)."""
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
