"""The step matrix of an implicit step, A = sum_i a_i T_i diag(s_i), with Dirichlet rows.

The terms are the stored operators (c M, the reaction matrix Q, the stiffness K or its material
parts, K diag(f(P)) for the Newton Jacobian). A Dirichlet row is imposed symmetrically, as
PETSc's MatZeroRowsColumns does: its row and column are zeroed, 1 is put on the diagonal and
the load is lifted, b <- b - A x_bc and b_bc = x_bc.

Two ways to hold A:

* assembled: one more sparse matrix, re-formed by copies and AXPYs whenever a term changes (a
  direct solver factorises it; PETSc's own preconditioners read it);
* matrix-free, for hypre's preconditioners: A is assembled only when the preconditioner is
  rebuilt, converted to hypre's own format (which hypre would otherwise copy A into) and the
  PETSc copy freed; the time loop then holds one matrix less (about 180 bytes per dof with
  linear elements, 350 with quadratic ones). Between rebuilds only the coefficients change
  (c = a0 / dt, the material factors of the mean mode), so the Krylov method applies
  A x = A_pc x + sum_i (a_i - a_i,pc) T_i x with A_pc the preconditioner's matrix: two sparse
  products per iteration in a conventional run. The Newton Jacobian, whose scaling diag(f)
  changes, is applied term by term.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from petsc4py import PETSc

from ..mesh.heap import trim_heap

SAME = PETSc.Mat.Structure.SAME_NONZERO_PATTERN
#: one term a T diag(s) of the step matrix: (a, T, s or None)
Term = tuple[float, PETSc.Mat, "PETSc.Vec | None"]


class StepOperator:
    """A = sum_i a_i T_i diag(s_i) with Dirichlet rows (PETSc global indices `bc_global`, owned
    local indices `bc_local`); only the first term may have a diagonal scaling s. `template`:
    a matrix of A's sizes and sparsity (the mass matrix)."""

    def __init__(self, template: PETSc.Mat, matrix_free: bool):
        self.matrix_free = matrix_free
        self.terms: list[Term] = []
        self.bc_global = np.empty(0, dtype=PETSc.IntType)
        self.bc_local = np.empty(0, dtype=np.int32)
        self.has_bc = False
        self._pmat: PETSc.Mat | None = None
        self._pc_terms: list[Term] = []  # the terms the preconditioner's matrix was made of
        #: A - A_pc as terms (a_i - a_i,pc, T_i), or None when A is applied term by term
        self._delta: list[Term] | None = None
        self._acc: PETSc.Vec | None = None
        self._scale: PETSc.Vec | None = None
        self._sx, self._tmp = template.createVecs()  # work vectors of the products
        self._masked_work: PETSc.Vec | None = None  # input with the Dirichlet entries zeroed
        if matrix_free:
            self.A = PETSc.Mat().createPython(template.getSizes(), self, comm=template.getComm())
            self.A.setUp()
            self.A.assemble()
        else:
            self.A = template.copy()

    def set(self, terms: list[Term], bc_global: np.ndarray, bc_local: np.ndarray, has_bc: bool,
            rhs: PETSc.Vec | None = None, x_bc: PETSc.Vec | None = None) -> None:
        """Make A the sum of `terms` with the Dirichlet rows; with `rhs` and `x_bc` (the
        Dirichlet values at their rows, 0 elsewhere) also lift the load `rhs` in place."""
        assert all(s is None for _, _, s in terms[1:]), "only the first term can be scaled"
        a0, T0, s0 = terms[0]
        if s0 is not None:  # a copy: the caller reuses its vector for the next residual
            if self._scale is None:
                self._scale = s0.duplicate()
            s0.copy(self._scale)
            s0 = self._scale
        self.terms = [(a0, T0, s0), *terms[1:]]
        self.bc_global, self.bc_local, self.has_bc = bc_global, bc_local, has_bc
        self._delta = self._difference()
        if not self.matrix_free:
            self._form(self.A, into=True)
            if has_bc:
                if rhs is not None:
                    self.A.zeroRowsColumns(bc_global, 1.0, x_bc, rhs)
                else:
                    self.A.zeroRowsColumns(bc_global, 1.0)
        elif has_bc and rhs is not None:
            lifted = self._masked_vector()
            self._apply_terms(self.terms, x_bc, lifted)
            rhs.axpy(-1.0, lifted)
            rhs.array[bc_local] = x_bc.array_r[bc_local]

    def operators(self, rebuild: bool, release: Callable[[], None] | None = None
                  ) -> tuple[PETSc.Mat, PETSc.Mat]:
        """(operator, preconditioner matrix) for the Krylov solver. Matrix-free, `rebuild`
        assembles the preconditioner matrix from the present terms (after `release()`, which
        makes the solver drop the previous one, so that the two never coexist)."""
        if not self.matrix_free:
            return self.A, self.A
        if rebuild or self._pmat is None:
            if self._pmat is not None:
                if release is not None:
                    release()
                self._pmat.destroy()
                self._pmat = None
                trim_heap()
            A = self.assembled()
            self._pmat = A.convert("hypre", PETSc.Mat())
            A.destroy()
            del A
            trim_heap()
            self._pc_terms = list(self.terms)
            self._delta = self._difference()
        return self.A, self._pmat

    def _difference(self) -> list[Term] | None:
        """A - A_pc as terms when A differs from the preconditioner's matrix only in the
        coefficients (same matrices, no diagonal scaling, same Dirichlet rows: a rebuild follows
        every stage change); None when A must be applied term by term."""
        now, then = self.terms, self._pc_terms
        if (self._pmat is None or len(now) != len(then)
                or any(T is not Tp or s is not None or sp is not None
                       for (_, T, s), (_, Tp, sp) in zip(now, then))):
            return None
        return [(a - ap, T, None) for (a, T, _), (ap, _, _) in zip(now, then) if a != ap]

    def assembled(self) -> PETSc.Mat:
        """A new assembled (AIJ) matrix equal to A."""
        A = self.terms[0][1].copy()
        self._form(A, into=False)
        if self.has_bc:
            A.zeroRowsColumns(self.bc_global, 1.0)
        return A

    def _form(self, A: PETSc.Mat, into: bool) -> None:
        """A <- the sum of the terms (`into`: A is overwritten with the first term first)."""
        (a0, T0, s0), *rest = self.terms
        if into:
            T0.copy(A, structure=SAME)
        if s0 is not None:
            A.diagonalScale(R=s0)
        if a0 != 1.0:
            A.scale(a0)
        for a, T, _ in rest:
            A.axpy(a, T, structure=SAME)

    # --- the operator, applied term by term (petsc4py's Python matrix context) -------------

    def _apply_terms(self, terms: list[Term], x: PETSc.Vec, y: PETSc.Vec) -> None:
        """y = sum_i a_i T_i diag(s_i) x (no Dirichlet rows)."""
        (a0, T0, s0), *rest = terms
        if s0 is not None:
            self._sx.pointwiseMult(s0, x)
            T0.mult(self._sx, y)
        else:
            T0.mult(x, y)
        if a0 != 1.0:
            y.scale(a0)
        for a, T, _ in rest:
            if a == 1.0:
                T.multAdd(x, y, y)
            else:
                T.mult(x, self._tmp)
                y.axpy(a, self._tmp)

    def mult(self, mat: PETSc.Mat, x: PETSc.Vec, y: PETSc.Vec) -> None:
        if self._delta is not None:
            self._pmat.mult(x, y)  # its Dirichlet rows and columns are those of A
            if self._delta:
                if self._acc is None:
                    self._acc = self._tmp.duplicate()
                self._apply_terms(self._delta, self._masked(x), self._acc)
                if self.has_bc:
                    self._acc.array[self.bc_local] = 0.0
                y.axpy(1.0, self._acc)
            return
        self._apply_terms(self.terms, self._masked(x), y)
        if self.has_bc:
            y.array[self.bc_local] = x.array_r[self.bc_local]

    def _masked(self, x: PETSc.Vec) -> PETSc.Vec:
        """x with its Dirichlet entries zeroed (x itself when there are none)."""
        if not self.has_bc:
            return x
        masked = self._masked_vector()
        x.copy(masked)
        masked.array[self.bc_local] = 0.0
        return masked

    def _masked_vector(self) -> PETSc.Vec:
        if self._masked_work is None:
            self._masked_work = self._tmp.duplicate()
        return self._masked_work


def lump(M: PETSc.Mat) -> PETSc.Mat:
    """M row-sum lumped in place, its sparsity pattern kept (so AXPYs with the other operators
    keep SAME_NONZERO_PATTERN). Keeps every row total, hence int n P; makes backward Euler
    positivity preserving after a discontinuity (no consistent-mass undershoot)."""
    ones, rowsum = M.createVecs()
    ones.set(1.0)
    M.mult(ones, rowsum)
    M.zeroEntries()
    M.setDiagonal(rowsum)
    M.assemble()
    return M
