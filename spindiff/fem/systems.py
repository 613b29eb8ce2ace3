"""Implicit step equations for the semi-discrete system M dP/dt = g - K Phi(P) - Q P.

A BDF step of size dt with leading coefficient a0 and history h = (sum_j a_j P^{n-j}) / dt
solves, with c = a0 / dt,

    conventional:      (c M + K + Q) P = g - M h                         (linear)
    corrected, mean:   (c M + sum_m f(<P_pred>_m) K_m + Q) P = g - M h    (linear; f from the
                       material means of the second-order predictor, so the scheme stays
                       second order)
    corrected, local:  F(P) = M (c P + h) + K Phi(P) + Q P - g = 0       (Newton)
                       J = c M + Q + K diag(f(P))

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

import math
from typing import Callable

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from ..model import StageSpec
from . import linear_solver
from ..mesh import compat
from ..mesh.heap import trim_heap
from .operators import Discretization, StageOperators
from .step_operator import SAME, StepOperator, Term

PC_REBUILD_RATIO = 3.0
#: from this many dofs on, a hypre-preconditioned step matrix is not stored (StepOperator);
#: below it the Python-applied operator's per-iteration overhead outweighs a small matrix
MATRIX_FREE_MIN_DOFS = 100_000
#: chord (simplified) Newton keeps the Jacobian while updates shrink at least this fast
CHORD_RATE = 0.3
CHORD_KSP_RTOL = 1e-2


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
    """Step solver for the transport equation with conventional or corrected diffusion."""

    def __init__(self, disc: Discretization, kind: str = "auto", ksp_rtol: float = 1e-10,
                 petsc_options: dict | None = None, newton_tol: float = 1e-3,
                 newton_max_it: int = 12, newton_ksp_rtol: float = 1e-6):
        self.disc = disc
        self.spec = disc.model.diffusion
        self.mode = self.spec.mode
        comm = disc.comm
        self.kind = linear_solver.choose_kind(kind, disc.ndofs, disc.domain.serial)
        symmetric = self.mode != "local"
        self.ksp = linear_solver.make_ksp(comm, self.kind, ksp_rtol, symmetric, petsc_options, "step")
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
        self.norm: Callable[[PETSc.Vec, PETSc.Vec], float] | None = None
        self.f_max_seen = 1.0
        self.stats = {"solves": 0, "krylov_its": 0, "pc_setups": 0, "failures": 0,
                      "newton_its": 0, "newton_failures": 0}

    # --- stage ---------------------------------------------------------------------------

    def set_stage(self, stage: StageSpec) -> None:
        disc = self.disc
        self.ops = None  # the last stage's reaction matrix is freed before the next is made
        self.ops = disc.stage_operators(stage)
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

    def _mean_factors(self, P: PETSc.Vec) -> dict[str, float]:
        means = self.disc.material_means(P)
        return {name: float(self.spec.f(p)) for name, p in means.items()}

    def _stiffness_parts(self, P: PETSc.Vec) -> list[tuple[float, PETSc.Mat]]:
        """K_eff as (factor, matrix) terms for the linear modes: K in the conventional mode
        (none when K is held in the reaction matrix), sum_m f(<P>_m) K_m with the material
        means of P in the mean mode."""
        if self.mode == "conventional":
            return [] if self.disc.K is None else [(1.0, self.disc.K)]
        return [(fac, self.disc.K_parts[name]) for name, fac in self._mean_factors(P).items()]

    def apply_operator(self, P: PETSc.Vec, out: PETSc.Vec) -> None:
        """out = K Phi(P) + Q P (the spatial operator applied to P)."""
        if self.mode == "local":
            self._kirchhoff(P)
            self.disc.K.mult(self.vec.phi, out)
        else:
            out.set(0.0)
            for fac, K in self._stiffness_parts(P):
                K.mult(P, self.vec.MP)
                out.axpy(fac, self.vec.MP)
        for Q in self.ops.Q:
            Q.multAdd(P, out, out)

    def _kirchhoff(self, P: PETSc.Vec) -> None:
        """Nodal Phi(P) and f(P) into self.vec.phi, self.vec.f."""
        p = P.array_r
        self.vec.phi.array[:] = self.spec.kirchhoff(p)
        self.vec.f.array[:] = self.spec.f(p)

    # --- solves --------------------------------------------------------------------------

    def solve(self, c: float, hist: PETSc.Vec, guess: PETSc.Vec, out: PETSc.Vec,
              t: float | None = None) -> bool:
        """One implicit step: returns success (never raises on non-convergence)."""
        if self.mode == "local":
            return self._newton(c, hist, guess, out, t)
        parts = self._stiffness_parts(guess)
        rhs = self._rhs(hist, t)
        return self._linear_solve(parts, c, rhs, guess, out)

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

    def _newton(self, c: float, hist: PETSc.Vec, guess: PETSc.Vec, out: PETSc.Vec,
                t: float | None) -> bool:
        """Newton iteration for the Kirchhoff-interpolated corrected diffusion.

        The Jacobian J(P) = c M + Q + K diag(f(P)) is formed at the predictor; later iterations
        reuse it and its preconditioner or factorisation (a chord, or simplified-Newton,
        iteration as in stiff ODE codes) while the updates shrink by a factor
        < CHORD_RATE; otherwise J is re-formed at the current iterate. Converged when the update
        is below `newton_tol` in the error norm of the time stepper; a failure (divergence,
        stall, Krylov failure, non-finite values) returns False and the step is retried with a
        smaller dt, never accepted."""
        disc, ops = self.disc, self.ops
        if guess is not out:
            guess.copy(out)
        # an extrapolated guess can leave (-1, 1) after a discontinuity: pull it back in
        lim = 1.0 - 0.5 * self.spec.eps
        np.clip(out.array, -lim, lim, out=out.array)
        self.apply_dirichlet(out)
        disc.constrain(out)
        base = self._rhs(hist, t)  # g - M h (+ forcing)
        F, delta = self.vec.F, self.vec.delta
        colsum = self._column_sums(c) if not ops.has_bc else None
        previous = math.inf
        fresh = False
        for it in range(self.newton_max_it):
            # F = -(c M P + K Phi(P) + Q P - (g - M h))
            self.apply_operator(out, F)
            if c != 0.0:
                disc.M.mult(out, self.vec.MP)
                F.axpy(c, self.vec.MP)
            F.axpy(-1.0, base)
            F.array[ops.bc_local] = 0.0
            disc.homogenize(F)
            F.scale(-1.0)
            delta.set(0.0)
            if it == 0 or not fresh:
                self._form_jacobian(c)
                # inexact Newton: the iteration itself removes the linear-solve error
                ok = self._krylov(c, F, delta, self.newton_ksp_rtol)
                fresh = True
            else:
                ok = self._chord_solve(F, delta)
            self.stats["newton_its"] += 1
            if not ok:
                break
            disc.homogenize(delta)
            if colsum is not None:
                self._balance(delta, F, colsum)
            alpha = self._damping(out, delta)
            if alpha < 1.0:
                delta.scale(alpha)
                fresh = False
            out.axpy(1.0, delta)
            disc.constrain(out)
            size = self.norm(delta, out) if self.norm is not None else delta.norm() / math.sqrt(delta.getSize())
            if not math.isfinite(size):
                break
            if size <= self.newton_tol:
                return True
            if it >= 2 and size > previous and alpha == 1.0:
                break  # diverging or stalled
            if it >= 1 and size > CHORD_RATE * previous:
                fresh = False  # slow: re-form the Jacobian at the current iterate
            previous = size
        self.stats["newton_failures"] += 1
        return False

    def _damping(self, P: PETSc.Vec, delta: PETSc.Vec) -> float:
        """Largest alpha <= 1 that keeps every |P + alpha delta| below 1: Newton iterates stay
        physical (far from the fixed point a full step can overshoot past |P| = 1, where f is
        capped and convergence crawls)."""
        p, d = P.array_r, delta.array_r
        out = np.abs(p + d) >= 1.0
        alpha = 1.0
        if out.any():
            room = 1.0 - np.abs(p[out])
            alpha = float(np.min(0.9 * np.maximum(room, 0.0) / np.abs(d[out])))
        return self.disc.comm.allreduce(min(alpha, 1.0), op=MPI.MIN)

    def _column_sums(self, c: float) -> PETSc.Vec:
        """1^T J = c 1^T M + 1^T Q for every Jacobian (1^T K = 0 whatever f is), slaves zeroed."""
        s = self._colsum if hasattr(self, "_colsum") else None
        if s is None:
            self._colsum = s = self.vec.F.duplicate()
            self._ones = self.vec.F.duplicate()
            self._ones.set(1.0)
        self.ops.Q[0].mult(self._ones, s)
        for Q in self.ops.Q[1:]:
            Q.multAdd(self._ones, s, s)
        self.disc.M.mult(self._ones, self.vec.MP)
        s.axpy(c, self.vec.MP)
        self.disc.homogenize(s)
        return s

    def _balance(self, delta: PETSc.Vec, rhs: PETSc.Vec, colsum: PETSc.Vec) -> None:
        """Add a constant to the Newton update so that the global balance 1^T (J delta - rhs)
        = 0 holds exactly: an inexact Krylov solve then cannot create or destroy
        magnetization (the nonlinear terms enter only through K Phi, and 1^T K = 0)."""
        total = colsum.sum()
        if total != 0.0:
            delta.shift((rhs.sum() - colsum.dot(delta)) / total)
            self.disc.homogenize(delta)

    def _form_jacobian(self, c: float) -> None:
        """The step operator becomes J = K diag(f(P)) + Q + c M with f at the last P given to
        apply_operator (K diag(f) first: no copy of K is kept)."""
        disc, ops = self.disc, self.ops
        terms: list[Term] = [(1.0, disc.K, self.vec.f)] + [(1.0, Q, None) for Q in ops.Q]
        if c != 0.0:
            terms.append((c, disc.M, None))
        self.op.set(terms, ops.bc_global, ops.bc_local, ops.has_bc)

    def _chord_solve(self, rhs: PETSc.Vec, x: PETSc.Vec) -> bool:
        """Solve with the operator and preconditioner already in the KSP (no set-up)."""
        self.ksp.getPC().setReusePreconditioner(True)
        if self.kind != "direct":
            # the correction is already small: a relative accuracy of 1e-2 on it suffices
            # (inexact Newton, Eisenstat-Walker style); the next iteration sees the rest
            self.ksp.setTolerances(rtol=max(self.newton_ksp_rtol, CHORD_KSP_RTOL))
        self.ksp.solve(rhs, x)
        self.stats["solves"] += 1
        self.stats["krylov_its"] += self.ksp.getIterationNumber()
        return linear_solver.converged(self.ksp)

    def note_accepted(self, P: PETSc.Vec) -> None:
        """Record the diffusion factor f of an accepted state (Newton iterates of rejected
        steps do not count): nodal f(P) in local mode, f(<P>_material) in mean mode."""
        if self.mode == "local":
            f = self.spec.f(P.array_r)
            if f.size:
                self.f_max_seen = max(self.f_max_seen, float(f.max()))  # rank-local; see f_max()
        elif self.mode == "mean":
            self.f_max_seen = max(self.f_max_seen, *self._mean_factors(P).values())

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
