"""The implicit step equation of each diffusion law (strategies of spindiff.fem.systems).

With c = a0 / dt and the BDF history h (see spindiff.fem.systems):

    LinearStep        conventional:     (c M + K + Q) P = g - M h
    MaterialMeanStep  corrected, mean:  (c M + sum_m f(<P_pred>_m) K_m + Q) P = g - M h
    KirchhoffNewton   corrected, local: F(P) = M (c P + h) + K Phi(P) + Q P - g = 0,
                                        J = c M + Q + K diag(f(P))

`step_equation` picks one from the law's `nonlinear` and `per_material` flags
(spindiff.model.DiffusionLaw). Each works on the StepSystem it is given: its stage operators,
work vectors, Krylov solver and statistics.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from . import linear_solver
from .step_operator import Term

if TYPE_CHECKING:
    from .systems import StepSystem

#: chord (simplified) Newton keeps the Jacobian while updates shrink at least this fast
CHORD_RATE = 0.3
CHORD_KSP_RTOL = 1e-2


class LinearStep:
    """Conventional diffusion (f = 1): one linear solve per step."""

    #: the step matrix is symmetric (CG may be used)
    symmetric = True

    def __init__(self, system: StepSystem):
        self.system = system

    def stiffness_terms(self, P: PETSc.Vec) -> list[tuple[float, PETSc.Mat]]:
        """K_eff as (factor, matrix) terms: K (none when K is held in the reaction matrix)."""
        K = self.system.assembly.K
        return [] if K is None else [(1.0, K)]

    def apply_stiffness(self, P: PETSc.Vec, out: PETSc.Vec) -> None:
        """out = K_eff P."""
        s = self.system
        out.set(0.0)
        for fac, K in self.stiffness_terms(P):
            K.mult(P, s.vec.MP)
            out.axpy(fac, s.vec.MP)

    def solve(self, c: float, hist: PETSc.Vec, guess: PETSc.Vec, out: PETSc.Vec,
              t: float | None) -> bool:
        s = self.system
        parts = self.stiffness_terms(guess)
        return s._linear_solve(parts, c, s._rhs(hist, t), guess, out)

    def note_accepted(self, P: PETSc.Vec) -> float:
        """The largest diffusion factor f of an accepted state (1 here)."""
        return 1.0


class MaterialMeanStep(LinearStep):
    """Corrected diffusion with f of each material's mean P: sum_m f(<P>_m) K_m, linear (f from
    the material means of the second-order predictor, so the scheme stays second order)."""

    def factors(self, P: PETSc.Vec) -> dict[str, float]:
        law = self.system.law
        return {name: float(law.f(p)) for name, p in self.system.material_means(P).items()}

    def stiffness_terms(self, P: PETSc.Vec) -> list[tuple[float, PETSc.Mat]]:
        parts = self.system.assembly.K_parts
        return [(fac, parts[name]) for name, fac in self.factors(P).items()]

    def note_accepted(self, P: PETSc.Vec) -> float:
        return max(self.factors(P).values())


class KirchhoffNewton:
    """Corrected diffusion with f of the local P: Newton on the Kirchhoff-interpolated
    equation, Phi(P) and f(P) at the nodes (the stiffness matrix stays constant)."""

    symmetric = False

    def __init__(self, system: StepSystem):
        self.system = system

    def kirchhoff(self, P: PETSc.Vec) -> None:
        """Nodal Phi(P) and f(P) into the system's work vectors phi and f."""
        s = self.system
        p = P.array_r
        s.vec.phi.array[:] = s.law.kirchhoff(p)
        s.vec.f.array[:] = s.law.f(p)

    def apply_stiffness(self, P: PETSc.Vec, out: PETSc.Vec) -> None:
        """out = K Phi(P) (f(P) kept for the Jacobian)."""
        self.kirchhoff(P)
        self.system.assembly.K.mult(self.system.vec.phi, out)

    def note_accepted(self, P: PETSc.Vec) -> float:
        f = self.system.law.f(P.array_r)
        return float(f.max()) if f.size else 1.0  # rank-local; see StepSystem.f_max

    def solve(self, c: float, hist: PETSc.Vec, guess: PETSc.Vec, out: PETSc.Vec,
              t: float | None) -> bool:
        """Newton iteration for the Kirchhoff-interpolated corrected diffusion.

        The Jacobian J(P) = c M + Q + K diag(f(P)) is formed at the predictor; later iterations
        reuse it and its preconditioner or factorisation (a chord, or simplified-Newton,
        iteration as in stiff ODE codes) while the updates shrink by a factor
        < CHORD_RATE; otherwise J is re-formed at the current iterate. Converged when the update
        is below `newton_tol` in the error norm of the time stepper; a failure (divergence,
        stall, Krylov failure, non-finite values) returns False and the step is retried with a
        smaller dt, never accepted."""
        s = self.system
        disc, ops = s.disc, s.ops
        if guess is not out:
            guess.copy(out)
        # an extrapolated guess can leave (-1, 1) after a discontinuity: pull it back in
        lim = 1.0 - 0.5 * s.law.eps
        np.clip(out.array, -lim, lim, out=out.array)
        s.apply_dirichlet(out)
        disc.constrain(out)
        base = s._rhs(hist, t)  # g - M h (+ forcing)
        F, delta = s.vec.F, s.vec.delta
        colsum = self._column_sums(c) if not ops.has_bc else None
        previous = math.inf
        fresh = False
        for it in range(s.newton_max_it):
            # F = -(c M P + K Phi(P) + Q P - (g - M h))
            s.apply_operator(out, F)
            if c != 0.0:
                disc.M.mult(out, s.vec.MP)
                F.axpy(c, s.vec.MP)
            F.axpy(-1.0, base)
            F.array[ops.bc_local] = 0.0
            disc.homogenize(F)
            F.scale(-1.0)
            delta.set(0.0)
            if it == 0 or not fresh:
                self.form_jacobian(c)
                # inexact Newton: the iteration itself removes the linear-solve error
                ok = s._krylov(c, F, delta, s.newton_ksp_rtol)
                fresh = True
            else:
                ok = self._chord_solve(F, delta)
            s.stats["newton_its"] += 1
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
            size = s.norm(delta, out) if s.norm is not None else delta.norm() / math.sqrt(delta.getSize())
            if not math.isfinite(size):
                break
            if size <= s.newton_tol:
                return True
            if it >= 2 and size > previous and alpha == 1.0:
                break  # diverging or stalled
            if it >= 1 and size > CHORD_RATE * previous:
                fresh = False  # slow: re-form the Jacobian at the current iterate
            previous = size
        s.stats["newton_failures"] += 1
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
        return self.system.disc.comm.allreduce(min(alpha, 1.0), op=MPI.MIN)

    def _column_sums(self, c: float) -> PETSc.Vec:
        """1^T J = c 1^T M + 1^T Q for every Jacobian (1^T K = 0 whatever f is), slaves zeroed."""
        sys = self.system
        s = getattr(self, "_colsum", None)
        if s is None:
            self._colsum = s = sys.vec.F.duplicate()
            self._ones = sys.vec.F.duplicate()
            self._ones.set(1.0)
        sys.ops.Q[0].mult(self._ones, s)
        for Q in sys.ops.Q[1:]:
            Q.multAdd(self._ones, s, s)
        sys.disc.M.mult(self._ones, sys.vec.MP)
        s.axpy(c, sys.vec.MP)
        sys.disc.homogenize(s)
        return s

    def _balance(self, delta: PETSc.Vec, rhs: PETSc.Vec, colsum: PETSc.Vec) -> None:
        """Add a constant to the Newton update so that the global balance 1^T (J delta - rhs)
        = 0 holds exactly: an inexact Krylov solve then cannot create or destroy
        magnetization (the nonlinear terms enter only through K Phi, and 1^T K = 0)."""
        total = colsum.sum()
        if total != 0.0:
            delta.shift((rhs.sum() - colsum.dot(delta)) / total)
            self.system.disc.homogenize(delta)

    def form_jacobian(self, c: float) -> None:
        """The step operator becomes J = K diag(f(P)) + Q + c M with f at the last P given to
        apply_stiffness (K diag(f) first: no copy of K is kept)."""
        s = self.system
        ops = s.ops
        terms: list[Term] = [(1.0, s.assembly.K, s.vec.f)] + [(1.0, Q, None) for Q in ops.Q]
        if c != 0.0:
            terms.append((c, s.disc.M, None))
        s.op.set(terms, ops.bc_global, ops.bc_local, ops.has_bc)

    def _chord_solve(self, rhs: PETSc.Vec, x: PETSc.Vec) -> bool:
        """Solve with the operator and preconditioner already in the KSP (no set-up)."""
        s = self.system
        s.ksp.getPC().setReusePreconditioner(True)
        if s.kind != "direct":
            # the correction is already small: a relative accuracy of 1e-2 on it suffices
            # (inexact Newton, Eisenstat-Walker style); the next iteration sees the rest
            s.ksp.setTolerances(rtol=max(s.newton_ksp_rtol, CHORD_KSP_RTOL))
        s.ksp.solve(rhs, x)
        s.stats["solves"] += 1
        s.stats["krylov_its"] += s.ksp.getIterationNumber()
        return linear_solver.converged(s.ksp)


def step_equation(system: StepSystem, law) -> LinearStep | MaterialMeanStep | KirchhoffNewton:
    """The step equation of a diffusion law (spindiff.model.DiffusionLaw) for `system`."""
    if law.nonlinear:
        return KirchhoffNewton(system)
    if law.per_material:
        return MaterialMeanStep(system)
    return LinearStep(system)
