"""Slave-master pairs of a periodic box, matched by coordinates at a cost linear in its faces.

A periodic box's mesh has identical triangulations on opposite faces (Gmsh's periodic meshing,
kept by the uniform refinement), so every degree of freedom on an upper face x_i = lo_i + L_i
sits exactly, up to rounding, on one dof of the opposite face. The dof is a slave of the dof at
its position with every upper coordinate wrapped to the lower face: masters lie on no upper
face, so edges and corners are covered by one constraint in three directions, with coefficient
1 and no chains.

The masters are found with a k-d tree over the lower-face dofs of every rank (gathered: their
number grows like the box's surface, N^(2/3)), never with a search over the cells. Every rank
pairs its owned and its ghost slaves alike (dolfinx_mpc expects both), so no further exchange is
needed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mpi4py import MPI
from scipy.spatial import cKDTree

from ..errors import MeshError

#: coordinates within this fraction of the largest side of a face count as on it
FACE_TOL = 1e-8


@dataclass(frozen=True)
class PeriodicPairs:
    """Slave dofs (local indices, owned then ghosts) and their masters (global indices,
    owning ranks)."""

    slaves: np.ndarray    # int32, local
    masters: np.ndarray   # int64, global
    owners: np.ndarray    # int32, rank owning each master


def match_faces(x_local: np.ndarray, n_owned: int, first_global: int, lower: np.ndarray,
                period: np.ndarray, comm: MPI.Comm) -> PeriodicPairs:
    """Pair every local dof on an upper face with the dof at its wrapped position.

    x_local: coordinates of this rank's dofs (n x 3, nm), the n_owned owned ones first, then
    the ghosts; first_global: global index of the first owned one; lower, period: the box's
    lower corner and sides (nm). Collective.
    Raises MeshError when an upper-face dof has no dof at its wrapped position (the opposite
    faces are not meshed alike).
    """
    lo = np.asarray(lower, dtype=float)
    L = np.asarray(period, dtype=float)
    tol = FACE_TOL * float(L.max())
    x = np.asarray(x_local, dtype=float)[:, :3]
    upper = np.abs(x - (lo + L)) <= tol
    on_upper = upper.any(axis=1)
    on_lower = (np.abs(x[:n_owned] - lo) <= tol).any(axis=1) & ~on_upper[:n_owned]

    local = np.flatnonzero(on_lower)
    cand_x = np.concatenate(comm.allgather(x[local]))
    cand_g = np.concatenate(comm.allgather(local.astype(np.int64) + int(first_global)))
    cand_r = np.concatenate([np.full(n, r, dtype=np.int32)
                             for r, n in enumerate(comm.allgather(len(local)))])

    slaves = np.flatnonzero(on_upper).astype(np.int32)
    target = np.where(upper[slaves], x[slaves] - L, x[slaves])
    dist, nearest = np.full(len(slaves), np.inf), np.zeros(len(slaves), dtype=int)
    if len(slaves) and len(cand_x):
        dist, nearest = cKDTree(cand_x).query(target)
    unmatched = comm.allreduce(int(np.count_nonzero(dist > 1e3 * tol)), op=MPI.SUM)
    if unmatched:
        worst = comm.allreduce(float(dist.max()) if len(dist) else 0.0, op=MPI.MAX)
        far = f" (up to {worst:.3g} nm away)" if np.isfinite(worst) else ""
        raise MeshError(f"the periodic box's opposite faces are not meshed alike: {unmatched} "
                        f"points on an upper face have no mesh point on the lower face{far}; "
                        f"mesh it with Gmsh's periodic faces or use a closed box")
    return PeriodicPairs(slaves=slaves, masters=cand_g[nearest], owners=cand_r[nearest])
