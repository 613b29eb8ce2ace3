"""Implicit step equations for the semi-discrete system M dP/dt = g - K Phi(P) - Q P.

A BDF step of size dt with leading coefficient a0 and history h = (sum_j a_j P^{n-j}) / dt
solves, with c = a0 / dt,

    conventional:      (c M + K + Q) P = g - M h                         (linear)
    corrected, mean:   (c M + sum_m f(<P_pred>_m) K_m + Q) P = g - M h    (linear; f from the
                       material means of the second-order predictor, so the scheme stays
                       second order)
    corrected, local:  F(P) = M (c P + h) + K Phi(P) + Q P - g = 0       (Newton)
                       J = c M + Q + K diag(f(P))

each solved by its strategy object (spindiff.fem.step_equations), chosen from the diffusion
law of the model.

Every step matrix is a sum of the assembled M, K and Q (relaxation with volume source; with
conventional diffusion K is stored inside Q), one of them diagonally scaled
(spindiff.fem.step_operator): nothing is re-assembled when dt or P change. With hypre's
preconditioner and at least MATRIX_FREE_MIN_DOFS dofs the sum is applied without being stored
and assembled only when the preconditioner is rebuilt, into hypre's own format; otherwise it
is formed in one stored matrix (each matrix costs as much memory as the mesh's sparsity).
The algebraic multigrid preconditioner is rebuilt only when c has drifted
by more than `PC_REBUILD_RATIO` since it was built, or when the Krylov iteration count has
doubled (the Krylov method then absorbs the mismatch). Dirichlet rows (fixed source, fixed
outer polarization) are imposed symmetrically (as MatZeroRowsColumns does); periodic
constraints by back-substitution of slave dofs after every solve.
"""
from __future__ import annotations

from collections.abc import Callable

from mpi4py import MPI
from petsc4py import PETSc

from ..mesh import compat
from ..mesh.heap import trim_heap
from ..model import StageSpec
from . import linear_solver
from .stage_assembly import StageAssembly, StageOperators
from .step_equations import step_equation
from .step_operator import SAME, StepOperator, Term

PC_REBUILD_RATIO = 3.0
#: from this many dofs on, a hypre-preconditioned step matrix is not stored (StepOperator);
#: below it the Python-applied operator's per-iteration overhead outweighs a small matrix
MATRIX_FREE_MIN_DOFS = 100_000


class WorkVectors:
    """Work vectors of P's layout, each made on first use: a linear run without Dirichlet rows
    uses one (the load), the Newton iteration six (about 8 bytes per dof each)."""

    def __init__(self, base: PETSc.Vec):
        self._base = base

    def __getattr__(self, name: str) -> PETSc.Vec:  # only for a vector not made yet
        if name.startswith("_"):
            raise AttributeError(name)
        v = self._base.duplicate()
        setattr(self, name, v)
        return v


class StepSystem:
    """Step solver for the transport equation with conventional or corrected diffusion.

    assembly: the stage assembly (its Discretization and model); material_means: <P> per
    material of a field (spindiff.fem.observables.Observables.material_means), needed by the
    mean corrected law; norm: the error norm the Newton iteration measures its updates in (the
    stepper's, spindiff.fem.stepper.WeightedRMS; default the plain RMS)."""

    def __init__(self, assembly: StageAssembly, kind: str = "auto", ksp_rtol: float = 1e-10,
                 petsc_options: dict | None = None, newton_tol: float = 1e-3,
                 newton_max_it: int = 12, newton_ksp_rtol: float = 1e-6,
                 material_means: Callable[[PETSc.Vec], dict[str, float]] | None = None,
                 norm: Callable[[PETSc.Vec, PETSc.Vec], float] | None = None):
        self.assembly = assembly
        self.disc = disc = assembly.disc
        self.material_means = material_means
        self.law = assembly.model.diffusion
        if self.law.per_material and material_means is None:
            raise ValueError("the mean corrected diffusion law needs the material means")
        #: the step equation of the diffusion law (spindiff.fem.step_equations)
        self.equation = step_equation(self, self.law)
        comm = disc.comm
        self.kind = linear_solver.choose_kind(kind, disc.ndofs, disc.domain.serial)
        self.ksp = linear_solver.make_ksp(comm, self.kind, ksp_rtol, self.equation.symmetric,
                                          petsc_options, "step")
        mass_kind = "direct" if self.kind == "direct" else "mass"
        self.mass_ksp = linear_solver.make_ksp(comm, mass_kind, 1e-13, True, None, "mass")
        #: the step matrix (M with Dirichlet rows is made only when there are Dirichlet rows)
        self.op = StepOperator(disc.M, linear_solver.hypre_preconditioned(self.ksp)
                               and disc.ndofs >= MATRIX_FREE_MIN_DOFS)
        self.M_bc: PETSc.Mat | None = None
        self.ops: StageOperators | None = None
        self._pc_c: float | None = None
        self._pc_its: int | None = None
        self.vec = WorkVectors(compat.petsc_vector(disc.P))
        self.ksp_rtol = ksp_rtol
        self.newton_ksp_rtol = max(newton_ksp_rtol, ksp_rtol)
        self.newton_tol = newton_tol
        self.newton_max_it = newton_max_it
        self.norm = norm
        self.f_max_seen = 1.0
        self.stats = {"solves": 0, "krylov_its": 0, "pc_setups": 0, "failures": 0,
                      "newton_its": 0, "newton_failures": 0}

    # --- stage ---------------------------------------------------------------------------

    def set_stage(self, stage: StageSpec) -> None:
        disc = self.disc
        self.ops = None  # the last stage's reaction matrix is freed before the next is made
        self.ops = self.assembly.stage_operators(stage)
        self._pc_c = None
        if self.ops.has_bc:
            self.vec.xbc.set(0.0)
            self.vec.xbc.array[self.ops.bc_local] = self.ops.bc_values
            if self.M_bc is None:
                self.M_bc = disc.M.copy()
            else:
                disc.M.copy(self.M_bc, structure=SAME)
            self.M_bc.zeroRowsColumns(self.ops.bc_global, 1.0)
            self.mass_ksp.setOperators(self.M_bc)
        else:
            self.mass_ksp.setOperators(disc.M)

    def reset_preconditioner(self) -> None:
        """Build the preconditioner afresh at the next solve."""
        self._pc_c = None

    def apply_dirichlet(self, P: PETSc.Vec) -> None:
        """Put the stage's Dirichlet values into P (at the stage start)."""
        P.array[self.ops.bc_local] = self.ops.bc_values

    # --- operators -----------------------------------------------------------------------

    def apply_operator(self, P: PETSc.Vec, out: PETSc.Vec) -> None:
        """out = K Phi(P) + Q P (the spatial operator applied to P)."""
        self.equation.apply_stiffness(P, out)
        for Q in self.ops.Q:
            Q.multAdd(P, out, out)

    # --- solves --------------------------------------------------------------------------

    def solve(self, c: float, hist: PETSc.Vec, guess: PETSc.Vec, out: PETSc.Vec,
              t: float | None = None) -> bool:
        """One implicit step: returns success (never raises on non-convergence)."""
        return self.equation.solve(c, hist, guess, out, t)

    def _rhs(self, hist: PETSc.Vec, t: float | None) -> PETSc.Vec:
        rhs = self.vec.work
        self.disc.M.mult(hist, rhs)
        rhs.aypx(-1.0, self.ops.g)
        if self.disc.forcing is not None:
            rhs.axpy(1.0, self.disc.forcing_vector(t))
        return rhs

    def _linear_solve(self, parts: list[tuple[float, PETSc.Mat]], c: float, rhs: PETSc.Vec,
                      guess: PETSc.Vec, out: PETSc.Vec) -> bool:
        """Solve (c M + sum of parts + Q) out = rhs."""
        ops, disc = self.ops, self.disc
        terms: list[Term] = [(1.0, Q, None) for Q in ops.Q]
        terms += [(fac, K, None) for fac, K in parts]
        if c != 0.0:
            terms.append((c, disc.M, None))
        self.op.set(terms, ops.bc_global, ops.bc_local, ops.has_bc, rhs,
                    self.vec.xbc if ops.has_bc else None)
        if guess is not out:
            guess.copy(out)
        ok = self._krylov(c, rhs, out)
        disc.constrain(out)
        return ok

    def _release_pc(self) -> None:
        """Make the preconditioner drop its matrix and hierarchy before the next matrix is
        made."""
        linear_solver.drop_preconditioner(self.ksp)

    def _krylov(self, c: float, rhs: PETSc.Vec, x: PETSc.Vec, rtol: float | None = None) -> bool:
        """Solve with the step operator `self.op`; the preconditioner is rebuilt when c has
        drifted or the iteration count has doubled since it was built."""
        if self.kind != "direct":
            self.ksp.setTolerances(rtol=rtol or self.ksp_rtol)
        rebuild = (self._pc_c is None or self.kind == "direct" or c == 0.0
                   or max(c / self._pc_c, self._pc_c / c) > PC_REBUILD_RATIO)
        self.ksp.setOperators(*self.op.operators(rebuild, self._release_pc))
        self.ksp.getPC().setReusePreconditioner(not rebuild)
        self.ksp.solve(rhs, x)
        its = self.ksp.getIterationNumber()
        ok = linear_solver.converged(self.ksp)
        if not rebuild and (not ok or its > max(2 * self._pc_its, self._pc_its + 10)):
            # the reused preconditioner has gone stale: rebuild and solve again
            self.ksp.setOperators(*self.op.operators(True, self._release_pc))
            self.ksp.getPC().setReusePreconditioner(False)
            self.ksp.solve(rhs, x)
            its = self.ksp.getIterationNumber()
            ok = linear_solver.converged(self.ksp)
            rebuild = True
        if rebuild:
            self._pc_c, self._pc_its = c, max(its, 1)
            self.stats["pc_setups"] += 1
            trim_heap()  # BoomerAMG's set-up work space and the previous hierarchy
        self.stats["solves"] += 1
        self.stats["krylov_its"] += its
        if not ok:
            self.stats["failures"] += 1
            self._pc_c = None
        return ok

    def note_accepted(self, P: PETSc.Vec) -> None:
        """Record the diffusion factor f of an accepted state (Newton iterates of rejected
        steps do not count): nodal f(P) for the local law, f(<P>_material) for the mean one."""
        self.f_max_seen = max(self.f_max_seen, self.equation.note_accepted(P))

    def f_max(self) -> float:
        """Largest diffusion factor f of any accepted state so far (all ranks)."""
        return self.disc.comm.allreduce(self.f_max_seen, op=MPI.MAX)

    def steady_state(self, out: PETSc.Vec) -> bool:
        """Solve K Phi(P) + Q P = g (the stage's steady state; needs a relaxing or fixed
        boundary to be well posed)."""
        zero = out.duplicate()
        zero.set(0.0)
        max_it, self.newton_max_it = self.newton_max_it, max(self.newton_max_it, 60)
        try:
            return self.solve(0.0, zero, out, out)
        finally:
            self.newton_max_it = max_it

    def time_derivative(self, P: PETSc.Vec, out: PETSc.Vec, t: float | None = None) -> None:
        """dP/dt = M^-1 (g - K Phi(P) - Q P), zero on Dirichlet rows."""
        rhs = self.vec.work
        self.apply_operator(P, rhs)
        rhs.aypx(-1.0, self.ops.g)
        if self.disc.forcing is not None:
            rhs.axpy(1.0, self.disc.forcing_vector(t))
        rhs.array[self.ops.bc_local] = 0.0
        out.set(0.0)
        self.mass_ksp.solve(rhs, out)
        self.disc.constrain(out)
