"""Implicit step equations for the semi-discrete system M dP/dt = g - S P.

A BDF step of size dt with leading coefficient a0 and history h = (sum_j a_j P^{n-j}) / dt
solves (c M + S) P = g - M h with c = a0 / dt. The matrix only changes with c and the stage, so
it is formed from the assembled M and S by one AXPY (no re-assembly), and the algebraic
multigrid preconditioner is rebuilt only when c has drifted by more than a factor
`PC_REBUILD_RATIO` since it was built (the Krylov iteration then corrects the mismatch).
Dirichlet rows (fixed source, fixed outer polarization) are imposed symmetrically
(MatZeroRowsColumns) so that CG still applies.
"""
from __future__ import annotations

import numpy as np
from petsc4py import PETSc

from ..model import StageSpec
from . import linear_solver
from .operators import SAME, Discretization, StageOperators

PC_REBUILD_RATIO = 3.0


class LinearStepSystem:
    """Step solver for the linear (conventional-diffusion) transport equation."""

    def __init__(self, disc: Discretization, kind: str = "auto", ksp_rtol: float = 1e-10,
                 petsc_options: dict | None = None):
        self.disc = disc
        comm = disc.comm
        self.kind = linear_solver.choose_kind(kind, disc.ndofs, disc.domain.radial)
        self.ksp = linear_solver.make_ksp(comm, self.kind, ksp_rtol, True, petsc_options, "step")
        mass_kind = "direct" if self.kind == "direct" else "mass"
        self.mass_ksp = linear_solver.make_ksp(comm, mass_kind, 1e-13, True, None, "mass")
        self.A = disc.M.copy()
        self.M_bc = disc.M.copy()
        self.ops: StageOperators | None = None
        self._pc_c: float | None = None
        self._work = disc.M.createVecLeft()
        self._xbc = disc.M.createVecLeft()
        self.stats = {"solves": 0, "krylov_its": 0, "pc_setups": 0, "failures": 0}

    # --- stage ---------------------------------------------------------------------------

    def set_stage(self, stage: StageSpec) -> None:
        self.ops = self.disc.stage_operators(stage)
        self._pc_c = None
        self._xbc.set(0.0)
        self._xbc.array[self.ops.bc_local] = self.ops.bc_values
        self.disc.M.copy(self.M_bc, structure=SAME)
        if self.ops.has_bc:
            self.M_bc.zeroRowsColumns(self.ops.bc_global, 1.0)
        self.mass_ksp.setOperators(self.M_bc)

    def apply_dirichlet(self, P: PETSc.Vec) -> None:
        """Put the stage's Dirichlet values into P (at the stage start)."""
        P.array[self.ops.bc_local] = self.ops.bc_values

    # --- solves --------------------------------------------------------------------------

    def solve(self, c: float, hist: PETSc.Vec, guess: PETSc.Vec, out: PETSc.Vec,
              t: float | None = None) -> bool:
        """Solve (c M + S) out = g(t) - M hist, starting from `guess`. Returns success."""
        ops, disc = self.ops, self.disc
        ops.S.copy(self.A, structure=SAME)
        if c != 0.0:
            self.A.axpy(c, disc.M, structure=SAME)
        rhs = self._work
        disc.M.mult(hist, rhs)
        rhs.aypx(-1.0, ops.g)
        self._add_forcing(rhs, t)
        if ops.has_bc:
            self.A.zeroRowsColumns(ops.bc_global, 1.0, self._xbc, rhs)
        rebuild = (self._pc_c is None or self.kind == "direct" or c == 0.0
                   or max(c / self._pc_c, self._pc_c / c) > PC_REBUILD_RATIO)
        self.ksp.setOperators(self.A)
        self.ksp.getPC().setReusePreconditioner(not rebuild)
        if rebuild:
            self._pc_c = c
            self.stats["pc_setups"] += 1
        if guess is not out:
            guess.copy(out)
        self.ksp.solve(rhs, out)
        self.stats["solves"] += 1
        self.stats["krylov_its"] += self.ksp.getIterationNumber()
        ok = linear_solver.converged(self.ksp)
        if not ok:
            self.stats["failures"] += 1
            self._pc_c = None
        return ok

    def steady_state(self, out: PETSc.Vec) -> bool:
        """Solve S P = g (the stage's steady state; needs a relaxing or fixed boundary)."""
        zero = out.duplicate()
        zero.set(0.0)
        return self.solve(0.0, zero, out, out)

    def time_derivative(self, P: PETSc.Vec, out: PETSc.Vec, t: float | None = None) -> None:
        """dP/dt = M^-1 (g - S P), zero on Dirichlet rows."""
        rhs = self._work
        self.ops.S.mult(P, rhs)
        rhs.aypx(-1.0, self.ops.g)
        self._add_forcing(rhs, t)
        rhs.array[self.ops.bc_local] = 0.0
        out.set(0.0)
        self.mass_ksp.solve(rhs, out)

    def _add_forcing(self, rhs: PETSc.Vec, t: float | None) -> None:
        if self.disc.forcing is not None:
            rhs.axpy(1.0, self.disc.forcing_vector(t))
