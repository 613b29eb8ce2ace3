"""The step operator applied term by term (with hypre's preconditioner) equals the assembled step
matrix: the same products, the same Dirichlet rows and lifted load, the same solution."""
import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from spindiff.fem import linear_solver
from spindiff.fem.step_operator import StepOperator

N = 60


def _tridiagonal(diag: float, off: float) -> PETSc.Mat:
    """An N x N tridiagonal matrix distributed over the ranks (a 1D stiffness or mass)."""
    A = PETSc.Mat().createAIJ([N, N], nnz=3, comm=MPI.COMM_WORLD)
    lo, hi = A.getOwnershipRange()
    for i in range(lo, hi):
        A.setValue(i, i, diag * (1.0 + 0.01 * i))
        for j in (i - 1, i + 1):
            if 0 <= j < N:
                A.setValue(i, j, off)
    A.assemble()
    return A


def _setting(with_bc: bool):
    K, M, Q = _tridiagonal(2.0, -1.0), _tridiagonal(4.0 / 6, 1.0 / 6), _tridiagonal(0.3, 0.05)
    f, _ = K.createVecs()
    lo, hi = K.getOwnershipRange()
    f.array[:] = 1.0 + 0.5 * np.sin(np.arange(lo, hi))
    bc_global = np.array([i for i in (0, N - 1) if lo <= i < hi] if with_bc else [],
                         dtype=PETSc.IntType)
    bc_local = (bc_global - lo).astype(np.int32)
    x_bc = f.duplicate()
    x_bc.set(0.0)
    x_bc.array[bc_local] = 0.7
    terms = [(1.0, K, f), (1.0, Q, None), (37.0, M, None)]
    return terms, M, bc_global, bc_local, x_bc


@pytest.mark.mpi
@pytest.mark.parametrize("with_bc", [False, True])
def test_term_by_term_operator_equals_the_assembled_step_matrix(with_bc):
    terms, M, bc_global, bc_local, x_bc = _setting(with_bc)
    assembled, free = StepOperator(M, False), StepOperator(M, True)
    rhs = {}
    for op in (assembled, free):
        b, _ = M.createVecs()
        b.array[:] = np.cos(np.arange(b.array.size))
        op.set(terms, bc_global, bc_local, bool(with_bc), b, x_bc)
        rhs[op.matrix_free] = b
    terms[0][2].scale(3.0)  # the caller's scaling vector may change: the operator kept a copy
    diff = assembled.A.copy()
    diff.axpy(-1.0, free.assembled())
    assert diff.norm(PETSc.NormType.INFINITY) <= 1e-14 * assembled.A.norm(PETSc.NormType.INFINITY)
    lifted = rhs[True].copy()
    lifted.axpy(-1.0, rhs[False])
    assert lifted.norm() <= 1e-14 * rhs[False].norm()
    x, y = M.createVecs()
    x.array[:] = np.linspace(-1.0, 2.0, x.array.size)
    y_free = y.duplicate()
    assembled.A.mult(x, y)
    free.A.mult(x, y_free)
    y_free.axpy(-1.0, y)
    assert y_free.norm() <= 1e-14 * y.norm()


@pytest.mark.mpi
def test_solve_with_the_hypre_matrix_built_from_the_terms():
    """CG + BoomerAMG on the term-by-term operator, its preconditioner from the hypre matrix
    assembled from the terms, solves the step equation as the assembled matrix does."""
    terms, M, bc_global, bc_local, x_bc = _setting(True)
    solutions = []
    for matrix_free in (False, True):
        ksp = linear_solver.make_ksp(MPI.COMM_WORLD, "iterative", 1e-12)
        assert linear_solver.hypre_preconditioned(ksp)
        op = StepOperator(M, matrix_free)
        b, x = M.createVecs()
        b.set(1.0)
        x.set(0.0)
        op.set(terms, bc_global, bc_local, True, b, x_bc)
        Amat, Pmat = op.operators(True, ksp.getPC().reset)
        assert (Pmat.getType() == "hypre") == matrix_free
        ksp.setOperators(Amat, Pmat)
        ksp.solve(b, x)
        assert linear_solver.converged(ksp)
        solutions.append(x)
        # a rebuild drops the previous hypre matrix before the next one is made
        ksp.setOperators(*op.operators(True, ksp.getPC().reset))
        x2 = x.duplicate()
        x2.set(0.0)
        ksp.solve(b, x2)
        x2.axpy(-1.0, x)
        assert x2.norm() <= 1e-9 * x.norm()
    assert np.allclose(solutions[0].array[bc_local], 0.7)
    solutions[1].axpy(-1.0, solutions[0])
    assert solutions[1].norm() <= 1e-9 * solutions[0].norm()


@pytest.mark.mpi
@pytest.mark.parametrize("with_bc", [False, True])
def test_operator_after_a_rebuild_is_the_preconditioner_matrix_plus_the_change(with_bc):
    """Between rebuilds A x = A_pc x + (c - c_pc) M x (two products per iteration): the same
    result as the new A assembled; a scaled (Jacobian) term is applied term by term."""
    terms, M, bc_global, bc_local, x_bc = _setting(with_bc)
    (_, K, f), Q_term, _ = terms
    free = StepOperator(M, True)
    linear = [(1.0, K, None), Q_term, (37.0, M, None)]
    free.set(linear, bc_global, bc_local, bool(with_bc))
    free.operators(True)
    x, y = M.createVecs()
    x.array[:] = np.linspace(-1.0, 2.0, x.array.size)
    for new in ([(1.0, K, None), Q_term, (5.0, M, None)], [(2.5, K, None), Q_term, (37.0, M, None)],
                linear, [(1.0, K, f), Q_term, (5.0, M, None)]):
        free.set(new, bc_global, bc_local, bool(with_bc))
        assert (free._delta is None) == (new[0][2] is not None)
        reference = StepOperator(M, False)
        reference.set(new, bc_global, bc_local, bool(with_bc))
        reference.A.mult(x, y)
        applied = y.duplicate()
        free.A.mult(x, applied)
        applied.axpy(-1.0, y)
        assert applied.norm() <= 1e-13 * y.norm()
