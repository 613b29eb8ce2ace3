"""Adaptive, variable-step BDF2 time integration with a local error estimate.

Scheme (step dt = t_{n+1} - t_n, ratio w = dt / dt_prev):
    a0 P^{n+1} + a1 P^n + a2 P^{n-1} = dt F(P^{n+1}),
    a0 = (1 + 2w) / (1 + w),  a1 = -(1 + w),  a2 = w^2 / (1 + w).
The first step after a (re)start is backward Euler. Each step is predicted by extrapolation
(quadratic through the last three solutions, or Hermite through the restart point and its
derivative); Milne's device turns the corrector-predictor difference into an estimate of the
local error:
    BDF2:  e = c_B / (c_B + c_P) (P - P_pred),  c_B = dt^3 (1+w)^2 / (6 w (1+2w)),
                                                c_P = dt (dt + h1)(dt + h1 + h2) / 6,
    BE:    e = dt / 2 (dP/dt|_{n+1} - dP/dt|_n).
The error is measured in the weighted RMS norm ||e / (atol + rtol |P|)||_rms; a step with
error > 1 (or a failed solve) is rejected and retried with a smaller dt, never accepted. The
next step is dt * clip(0.9 err^(-1/(q+1)), 0.2, 2) (the ratio bound 2 keeps variable-step BDF2
zero-stable). Steps land exactly on output times and stage boundaries.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from petsc4py import PETSc

from ..errors import SolverError

MAX_GROWTH = 2.0
#: after a restart (a discontinuity), backward-Euler steps may grow this fast until the
#: controller asks for less than MAX_GROWTH; then BDF2 takes over with ratios <= MAX_GROWTH
STARTUP_GROWTH = 10.0
STARTUP_MAX_STEPS = 12
MIN_SHRINK = 0.2
SAFETY = 0.9
FAIL_SHRINK = 0.25


class StepSystem(Protocol):
    def solve(self, c: float, hist: PETSc.Vec, guess: PETSc.Vec, out: PETSc.Vec,
              t: float | None = None) -> bool: ...
    def time_derivative(self, P: PETSc.Vec, out: PETSc.Vec, t: float | None = None) -> None: ...


@dataclass
class StepStats:
    accepted: int = 0
    rejected_error: int = 0
    rejected_solver: int = 0
    dt_min: float = math.inf
    dt_max: float = 0.0

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "rejected_error": self.rejected_error,
                "rejected_solver": self.rejected_solver,
                "dt_min_s": self.dt_min if self.accepted else None,
                "dt_max_s": self.dt_max if self.accepted else None}


class WeightedRMS:
    """The error norm ||e / (atol + rtol |P|)||_rms of the stepper, shared with the Newton
    iteration of a step system (which measures its updates in it)."""

    def __init__(self, rtol: float, atol: float):
        self.rtol, self.atol = rtol, atol
        self._w: PETSc.Vec | None = None

    def __call__(self, e: PETSc.Vec, P: PETSc.Vec) -> float:
        if self._w is None:
            self._w = P.duplicate()
        w = self._w
        P.copy(w)
        w.abs()
        w.scale(self.rtol)
        w.shift(self.atol)
        w.pointwiseDivide(e, w)
        return w.norm() / math.sqrt(w.getSize())


@dataclass
class _History:
    times: list = field(default_factory=list)
    states: list = field(default_factory=list)
    dP0: PETSc.Vec | None = None  # derivative at the restart point


class AdaptiveBDF2:
    """Integrates M dP/dt = F(P) for a `StepSystem`, holding the solution in `P` (a PETSc Vec).

    `on_step(t, dt)` is called after every accepted step (progress reporting);
    `between_steps()` once the step and the next step size are settled, i.e. where the state
    is complete (checkpoints, interruption). norm: the error norm (default WeightedRMS(rtol,
    atol); give the system the same object to make its Newton iteration use it). With
    `fixed_dt` every step has that size (for convergence studies): no error control.
    """

    def __init__(self, system: StepSystem, P: PETSc.Vec, rtol: float, atol: float,
                 dt_initial: float, dt_max: float | None = None, dt_min: float = 1e-14,
                 on_step: Callable[[float, float], None] | None = None,
                 fixed_dt: float | None = None,
                 between_steps: Callable[[], None] | None = None,
                 norm: WeightedRMS | None = None):
        self.system, self.P = system, P
        self.rtol, self.atol = rtol, atol
        self.norm = norm if norm is not None else WeightedRMS(rtol, atol)
        self.dt_initial = dt_initial
        self.dt_max = dt_max if dt_max is not None else math.inf
        self.dt_min = dt_min
        self.on_step = on_step
        self.between_steps = between_steps
        self.fixed_dt = fixed_dt
        self.first_step_dt: float | None = None
        self._since_restart = 0
        self.t = 0.0
        self.dt = dt_initial
        self.stats = StepStats()
        self._hist = _History()
        self._new, self._pred, self._err, self._tmp, self._dP = (P.duplicate() for _ in range(5))
        self._startup = False

    # --- public --------------------------------------------------------------------------

    def restart(self, t: float, dt: float | None = None) -> None:
        """Forget the history (after a discontinuity in P or in the equations) at time t."""
        self.t = t
        self.dt = min(dt if dt is not None else self.dt_initial, self.dt_max)
        self._since_restart = 0
        self._startup = self.fixed_dt is None
        for v in self._hist.states + ([self._hist.dP0] if self._hist.dP0 is not None else []):
            self._give(v)
        self._hist = _History(times=[t], states=[self._take_copy(self.P)])
        dP = self._take()
        self.system.time_derivative(self.P, dP, t)
        self._hist.dP0 = dP

    def advance_to(self, t_target: float) -> None:
        """Integrate until exactly t_target."""
        while self.t < t_target:
            remaining = t_target - self.t
            if remaining <= 1e-13 * max(1.0, abs(t_target)):
                self.t = t_target  # round-off, not a step
                return
            if self.fixed_dt is not None:
                landing = self.fixed_dt >= remaining * (1 - 1e-9)
                dt = remaining if landing else self.fixed_dt
                ok, _, _ = self._step(dt)
                if not ok:
                    raise SolverError(f"linear/nonlinear solve failed at t = {self.t:.6g} s "
                                      f"with fixed dt = {dt:.3g} s")
                self._accept(t_target if landing else self.t + dt, dt)
            else:
                dt = min(self.dt, self.dt_max)
                if dt >= remaining * (1 - 1e-12):
                    dt, landing = remaining, True
                elif dt * 1.5 > remaining:
                    dt, landing = 0.5 * remaining, False
                else:
                    landing = False
                self._attempt(dt, landing, t_target)
            if self.between_steps is not None:
                self.between_steps()

    # --- checkpoint ----------------------------------------------------------------------

    def state(self) -> tuple[dict, dict]:
        """(scalars, {name: Vec}) that `set_state` restores exactly."""
        h = self._hist
        scalars = {"t": self.t, "dt": self.dt, "times": list(h.times), "startup": self._startup,
                   "since_restart": self._since_restart, "first_step_dt": self.first_step_dt,
                   "has_dP0": h.dP0 is not None, "stats": self.stats.__dict__.copy()}
        vectors = {f"hist{i}": v for i, v in enumerate(h.states)}
        if h.dP0 is not None:
            vectors["dP0"] = h.dP0
        return scalars, vectors

    def set_state(self, scalars: dict, arrays: dict) -> None:
        """Restore from `state()` output (arrays: name -> this rank's owned values)."""
        for v in self._hist.states + ([self._hist.dP0] if self._hist.dP0 is not None else []):
            self._give(v)
        states = []
        for i in range(len(scalars["times"])):
            v = self._take()
            v.array[:] = arrays[f"hist{i}"]
            states.append(v)
        dP0 = None
        if scalars["has_dP0"]:
            dP0 = self._take()
            dP0.array[:] = arrays["dP0"]
        self._hist = _History(times=list(scalars["times"]), states=states, dP0=dP0)
        self.t, self.dt = scalars["t"], scalars["dt"]
        self._startup = scalars["startup"]
        self._since_restart = scalars["since_restart"]
        self.first_step_dt = scalars["first_step_dt"]
        for key, value in scalars["stats"].items():
            setattr(self.stats, key, value)

    # --- internals -----------------------------------------------------------------------

    def _attempt(self, dt: float, landing: bool, t_target: float) -> None:
        while True:
            if dt < self.dt_min * max(1.0, abs(self.t)):
                raise SolverError(f"time step underflow at t = {self.t:.6g} s (dt = {dt:.3g} s); "
                                  "the solver keeps failing: check the case parameters or "
                                  "loosen solver.rtol/atol")
            ok, err, order = self._step(dt)
            if not ok:
                self.stats.rejected_solver += 1
                dt *= FAIL_SHRINK
                landing = False
                continue
            if err > 1.0:
                self.stats.rejected_error += 1
                dt *= max(MIN_SHRINK, SAFETY * err ** (-1.0 / (order + 1)))
                landing = False
                continue
            break
        self._accept(t_target if landing else self.t + dt, dt)
        raw = math.inf if err == 0 else SAFETY * err ** (-1.0 / (order + 1))
        if self._startup and (raw <= MAX_GROWTH or self._since_restart >= STARTUP_MAX_STEPS):
            self._startup = False
        growth = STARTUP_GROWTH if self._startup else MAX_GROWTH
        factor = min(growth, max(MIN_SHRINK, raw))
        proposal = dt * factor
        self.dt = min(self.dt, proposal) if landing else proposal

    def _step(self, dt: float) -> tuple[bool, float, int]:
        h = self._hist
        sys = self.system
        hist_vec = self._tmp
        if len(h.states) == 1 or self._startup:
            # backward Euler; predictor P_n + dt dP_n, with dP_n the derivative at the restart
            # point or the backward-Euler identity (P_n - P_{n-1}) / h1
            P_n = h.states[-1]
            dP_n = self._dP
            if len(h.states) == 1:
                h.dP0.copy(dP_n)
            else:
                dP_n.set(0.0)
                h1 = h.times[-1] - h.times[-2]
                dP_n.axpy(1.0 / h1, P_n)
                dP_n.axpy(-1.0 / h1, h.states[-2])
            c = 1.0 / dt
            hist_vec.set(0.0)
            hist_vec.axpy(-1.0 / dt, P_n)
            self._pred.set(0.0)
            self._pred.axpy(1.0, P_n)
            self._pred.axpy(dt, dP_n)
            ok = sys.solve(c, hist_vec, self._pred, self._new, t=self.t + dt)
            if not ok:
                return False, math.inf, 1
            # e = dt/2 (dP_{n+1} - dP_n) with dP_{n+1} = (P_{n+1} - P_n) / dt
            self._err.set(0.0)
            self._err.axpy(0.5, self._new)
            self._err.axpy(-0.5, P_n)
            self._err.axpy(-0.5 * dt, dP_n)
            return True, self.norm(self._err, self._new), 1
        t_n, t_m = h.times[-1], h.times[-2]
        h1 = t_n - t_m
        w = dt / h1
        a0, a1, a2 = (1 + 2 * w) / (1 + w), -(1 + w), w * w / (1 + w)
        P_n, P_m = h.states[-1], h.states[-2]
        hist_vec.set(0.0)
        hist_vec.axpy(a1 / dt, P_n)
        hist_vec.axpy(a2 / dt, P_m)
        if len(h.states) >= 3:
            h2 = t_m - h.times[-3]
            self._extrapolate3(dt, h1, h2, h.states[-3], P_m, P_n)
        else:
            h2 = 0.0
            self._hermite(dt, h1, P_m, h.dP0, P_n)
        ok = sys.solve(a0 / dt, hist_vec, self._pred, self._new, t=self.t + dt)
        if not ok:
            return False, math.inf, 2
        c_b = dt**3 * (1 + w) ** 2 / (6 * w * (1 + 2 * w))
        c_p = dt * (dt + h1) * (dt + h1 + h2) / 6.0
        self._err.set(0.0)
        self._err.axpy(c_b / (c_b + c_p), self._new)
        self._err.axpy(-c_b / (c_b + c_p), self._pred)
        return True, self.norm(self._err, self._new), 2

    def _extrapolate3(self, dt, h1, h2, P0, P1, P2) -> None:
        """Quadratic through (t_{n-2}, P0), (t_{n-1}, P1), (t_n, P2) evaluated at t_n + dt."""
        # Lagrange weights with nodes at -(h1 + h2), -h1, 0 and evaluation point dt
        x0, x1, x2, s = -(h1 + h2), -h1, 0.0, dt
        l0 = (s - x1) * (s - x2) / ((x0 - x1) * (x0 - x2))
        l1 = (s - x0) * (s - x2) / ((x1 - x0) * (x1 - x2))
        l2 = (s - x0) * (s - x1) / ((x2 - x0) * (x2 - x1))
        self._pred.set(0.0)
        self._pred.axpy(l0, P0)
        self._pred.axpy(l1, P1)
        self._pred.axpy(l2, P2)

    def _hermite(self, dt, h1, P0, dP0, P1) -> None:
        """Quadratic with value and slope at the restart point and value at t_n, at t_n + dt."""
        s = h1 + dt
        # p(s) = P0 + dP0 s + c s^2, c = (P1 - P0 - dP0 h1) / h1^2
        cfac = s * s / (h1 * h1)
        self._pred.set(0.0)
        self._pred.axpy(1.0 - cfac, P0)
        self._pred.axpy(s - cfac * h1, dP0)
        self._pred.axpy(cfac, P1)

    def _accept(self, t_new: float, dt: float) -> None:
        h = self._hist
        self.t = t_new
        self._new.copy(self.P)
        if len(h.states) == 3:  # the oldest state's vector takes the new one
            h.times.pop(0)
            h.states.append(h.states.pop(0))
            self._new.copy(h.states[-1])
        else:
            h.states.append(self._take_copy(self._new))
        h.times.append(self.t)
        if len(h.states) == 3 and h.dP0 is not None:  # only the first two steps use it
            self._give(h.dP0)
            h.dP0 = None
        if self._since_restart == 0:
            self.first_step_dt = dt
        self._since_restart += 1
        st = self.stats
        st.accepted += 1
        st.dt_min = min(st.dt_min, dt)
        st.dt_max = max(st.dt_max, dt)
        if hasattr(self.system, "note_accepted"):
            self.system.note_accepted(self.P)
        if self.on_step is not None:
            self.on_step(self.t, dt)

    def _take(self) -> PETSc.Vec:
        """A new vector of P's layout for the history (freed by `_give`: a history holds at
        most three states and, at its start, the derivative there)."""
        return self.P.duplicate()

    def _take_copy(self, v: PETSc.Vec) -> PETSc.Vec:
        out = self._take()
        v.copy(out)
        return out

    @staticmethod
    def _give(v: PETSc.Vec) -> None:
        v.destroy()
