"""The periodic constraint matched by coordinates equals dolfinx_mpc's geometrical one.

spindiff pairs each upper-face dof with the dof at its wrapped position by a k-d tree over the
lower faces (spindiff.mesh.periodic); dolfinx_mpc's `create_periodic_constraint_geometrical`
finds the same masters by searching a bounding-box tree over every cell and evaluating the
basis there. The constrained matrices must agree, on one and on two ranks; faces that are not
meshed alike must give one line, not a wrong constraint.
"""
from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from conftest import CASES

BOX = {"mesh.size_barrier": "0.4 nm", "mesh.size_bulk": "1.2 nm"}


def _geometrical_constraint(V, lower, period):
    """The constraint as dolfinx_mpc builds it from an indicator and a relation."""
    import dolfinx_mpc
    lo, L = np.asarray(lower, float), np.asarray(period, float)
    tol = 1e-8 * float(L.max())

    def on_upper(x):
        return np.logical_or.reduce([np.isclose(x[i], lo[i] + L[i], atol=tol) for i in range(3)])

    def wrap(x):
        out = x.copy()
        for i in range(3):
            out[i] = np.where(np.isclose(x[i], lo[i] + L[i], atol=tol), x[i] - L[i], x[i])
        return out

    mpc = dolfinx_mpc.MultiPointConstraint(V)
    mpc.create_periodic_constraint_geometrical(V, on_upper, wrap, [])
    mpc.finalize()
    return mpc


@pytest.mark.mpi
@pytest.mark.parametrize("degree", [1, 2])
def test_matched_constraint_equals_dolfinx_mpc_geometrical(degree):
    import ufl

    from spindiff.case import load_case
    from spindiff.mesh import compat
    from spindiff.simulation import build_domain

    case = load_case(CASES / "many_centres_box.toml", BOX)
    domain = build_domain(case, MPI.COMM_WORLD)
    V = compat.lagrange_space(domain.mesh, degree)
    mine = compat.periodic_constraint(V, domain.box_lower, domain.period)
    ref = _geometrical_constraint(V, domain.box_lower, domain.period)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    x = ufl.SpatialCoordinate(domain.mesh)
    a = compat.form((1.0 + x[0] * x[1]) * u * v * ufl.dx
                    + ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
    A, B = compat.assemble_matrix_mpc(a, mine), compat.assemble_matrix_mpc(a, ref)
    scale = MPI.COMM_WORLD.allreduce(float(np.abs(B.getValuesCSR()[2]).max(initial=0.0)),
                                     op=MPI.MAX)
    A.axpy(-1.0, B)
    diff = MPI.COMM_WORLD.allreduce(float(np.abs(A.getValuesCSR()[2]).max(initial=0.0)),
                                    op=MPI.MAX)
    assert diff <= 1e-12 * scale
    n_slaves = MPI.COMM_WORLD.allreduce(len(mine.slaves), op=MPI.SUM)
    assert n_slaves == MPI.COMM_WORLD.allreduce(len(ref.slaves), op=MPI.SUM) > 0


def test_pairs_of_a_grid_wrap_edges_and_corners_to_the_lower_faces():
    from spindiff.mesh.periodic import match_faces
    g = np.linspace(0.0, 2.0, 5)
    x = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3) - 1.0
    pairs = match_faces(x, len(x), 100, np.array([-1.0] * 3), np.array([2.0] * 3), MPI.COMM_SELF)
    assert len(pairs.slaves) == 5 ** 3 - 4 ** 3
    masters = x[pairs.masters - 100]
    expected = np.where(np.isclose(x[pairs.slaves], 1.0), -1.0, x[pairs.slaves])
    assert np.array_equal(masters, expected)
    assert not np.isclose(masters, 1.0).any()        # no master is itself a slave
    corner = np.flatnonzero((x == 1.0).all(axis=1))[0]
    assert masters[list(pairs.slaves).index(corner)].tolist() == [-1.0, -1.0, -1.0]
    assert (pairs.owners == 0).all()


def test_faces_not_meshed_alike_give_one_line():
    from spindiff.errors import MeshError
    from spindiff.mesh.periodic import match_faces
    x = np.array([[0.0, 0.5, 0.5], [1.0, 0.3, 0.5], [0.5, 0.5, 0.5]])
    with pytest.raises(MeshError, match="not meshed alike: 1 points"):
        match_faces(x, len(x), 0, np.zeros(3), np.ones(3), MPI.COMM_SELF)
