"""The adaptive BDF2 stepper on scalar ODEs with known solutions (no mesh, no dolfinx).

A step system solves  c x + h = f(t, x)  for x (the implicit BDF/BE equation with M = 1), and
time_derivative gives f(t, P). Closed forms (tests/README.md):
    y' = -lam y + s         y = s/lam + (y0 - s/lam) exp(-lam t)
    y' = -y^2               y = y0 / (1 + y0 t)
    y' = cos(t)             y = y0 + sin(t)
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from petsc4py import PETSc

from spindiff.fem.stepper import AdaptiveBDF2


class ScalarSystem:
    """y' = f(t, y) for one unknown, as the stepper sees a StepSystem."""

    def __init__(self, f, solve_x, fail_above_dt: float | None = None):
        self.f, self.solve_x = f, solve_x
        self.fail_above_dt = fail_above_dt
        self.solves = 0

    def solve(self, c, hist, guess, out, t=None) -> bool:
        self.solves += 1
        if self.fail_above_dt is not None and 1.0 / c > self.fail_above_dt:
            return False
        out.array[0] = self.solve_x(c, hist.array_r[0], t)
        return True

    def time_derivative(self, P, out, t=None) -> None:
        out.array[0] = self.f(t, P.array_r[0])


def vec(value: float) -> PETSc.Vec:
    v = PETSc.Vec().createSeq(1, comm=PETSc.COMM_SELF)
    v.array[0] = value
    return v


def linear(lam: float, s: float) -> ScalarSystem:
    return ScalarSystem(lambda t, y: -lam * y + s, lambda c, h, t: (s - h) / (c + lam))


def riccati() -> ScalarSystem:
    # c x + h = -x^2  ->  x = (-c + sqrt(c^2 - 4 h)) / 2 (the root near the solution)
    return ScalarSystem(lambda t, y: -y * y, lambda c, h, t: (-c + math.sqrt(c * c - 4 * h)) / 2)


def forced() -> ScalarSystem:
    return ScalarSystem(lambda t, y: math.cos(t), lambda c, h, t: (math.cos(t) - h) / c)


def integrate(system, y0, t_end, rtol=1e-6, atol=1e-9, dt0=1e-3, fixed_dt=None, outputs=()):
    P = vec(y0)
    st = AdaptiveBDF2(system, P, rtol, atol, dt0, fixed_dt=fixed_dt)
    st.restart(0.0)
    landed = []
    for t in [*outputs, t_end]:
        st.advance_to(t)
        landed.append((st.t, P.array_r[0]))
    return st, landed


CASES = {
    "linear": (lambda: linear(2.0, 1.0), 0.1, lambda t: 0.5 + (0.1 - 0.5) * math.exp(-2.0 * t)),
    "riccati": (riccati, 1.0, lambda t: 1.0 / (1.0 + t)),
    "forced": (forced, 0.3, lambda t: 0.3 + math.sin(t)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fixed_step_order_two(name):
    """Halving a fixed dt divides the error at t = 2 by 4 (BDF2; the backward-Euler first step
    contributes O(dt^2) too)."""
    make, y0, exact = CASES[name]
    errors = []
    for dt in (0.04, 0.02, 0.01, 0.005):
        _, landed = integrate(make(), y0, 2.0, fixed_dt=dt)
        errors.append(abs(landed[-1][1] - exact(2.0)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(f"{name}: errors {errors}, orders {orders}")
    assert np.all(orders > 1.85) and np.all(orders < 2.3), orders


@pytest.mark.parametrize("name", list(CASES))
def test_error_control_follows_the_tolerance(name):
    """The global error falls with rtol, as rtol^(2/3) for error-per-step control of a
    second-order method (the number of steps grows as rtol^(-1/3), each adding ~rtol), and
    stays below 5 rtol^(2/3)."""
    make, y0, exact = CASES[name]
    errs, steps = [], []
    for rtol in (1e-4, 1e-5, 1e-6, 1e-7):
        st, landed = integrate(make(), y0, 2.0, rtol=rtol, atol=rtol * 1e-3)
        errs.append(abs(landed[-1][1] - exact(2.0)) / abs(exact(2.0)))
        steps.append(st.stats.accepted)
        assert errs[-1] < 5 * rtol ** (2 / 3), (rtol, errs[-1])
    slope = np.polyfit(np.log10([1e-4, 1e-5, 1e-6, 1e-7]), np.log10(errs), 1)[0]
    print(f"{name}: errors {errs}, steps {steps}, slope {slope:.2f}")
    assert 0.45 < slope < 1.1
    assert steps == sorted(steps)


def test_outputs_land_exactly():
    outputs = [1e-3, 0.0137, 0.1, 0.33333, 1.0, 1.7]
    rtol = 1e-6
    _, landed = integrate(linear(3.0, 0.0), 1.0, 2.0, rtol=rtol, atol=1e-15, outputs=outputs)
    for t, (t_hit, y) in zip([*outputs, 2.0], landed):
        assert t_hit == t
        # relative error of pure decay ~ 0.83 (lam t) rtol^(2/3) (measured 5.0 at lam t = 6)
        assert y == pytest.approx(math.exp(-3.0 * t), rel=(1 + 3.0 * t) * rtol ** (2 / 3))


def test_failed_solves_are_rejected_never_accepted():
    """A solver that fails above dt = 0.05 makes the stepper shrink; the answer is unchanged."""
    exact = 0.5 + (0.1 - 0.5) * math.exp(-4.0)
    sys = linear(2.0, 1.0)
    sys.fail_above_dt = 0.05
    st, landed = integrate(sys, 0.1, 2.0, dt0=1.0)
    assert st.stats.rejected_solver >= 1
    assert st.stats.dt_max <= 0.05
    assert landed[-1][1] == pytest.approx(exact, rel=1e-4)


def test_reckless_first_step_is_rejected_by_the_error_test():
    st, landed = integrate(linear(50.0, 0.0), 1.0, 1.0, dt0=0.5, rtol=1e-6)
    assert st.stats.rejected_error >= 1
    assert landed[-1][1] == pytest.approx(math.exp(-50.0), abs=1e-8)


def test_restart_after_a_discontinuity():
    """A jump in y at t = 1 (as a saturation does): restart, and the solution follows the new
    initial value exactly."""
    P = vec(1.0)
    sys = linear(1.0, 0.0)
    rtol = 1e-7
    st = AdaptiveBDF2(sys, P, rtol, 1e-10, 1e-3)
    st.restart(0.0)
    st.advance_to(1.0)
    assert P.array_r[0] == pytest.approx(math.exp(-1.0), rel=5 * rtol ** (2 / 3))
    P.array[0] = 2.0
    st.restart(1.0)
    st.advance_to(3.0)
    assert P.array_r[0] == pytest.approx(2.0 * math.exp(-2.0), rel=5 * rtol ** (2 / 3))


def test_state_round_trip_reproduces_the_steps():
    """state()/set_state() (the checkpoint) mid-integration: the continued run takes the same
    steps as the uninterrupted one, to the last bit."""
    ref_sys, P_ref = riccati(), vec(1.0)
    ref = AdaptiveBDF2(ref_sys, P_ref, 1e-6, 1e-9, 1e-3)
    ref.restart(0.0)
    ref.advance_to(5.0)

    sys, P = riccati(), vec(1.0)
    saved = {}

    def snapshot():
        if a.stats.accepted == 17 and not saved:
            scalars, vectors = a.state()
            saved["s"] = scalars
            saved["v"] = {k: v.array_r.copy() for k, v in vectors.items()}
            saved["P"] = P.array_r.copy()
    a = AdaptiveBDF2(sys, P, 1e-6, 1e-9, 1e-3, between_steps=snapshot)
    a.restart(0.0)
    a.advance_to(5.0)

    P2 = vec(0.0)
    b = AdaptiveBDF2(riccati(), P2, 1e-6, 1e-9, 1e-3)
    P2.array[:] = saved["P"]
    b.set_state(saved["s"], saved["v"])
    b.advance_to(5.0)
    assert P2.array_r[0] == P_ref.array_r[0]
    assert b.stats.accepted == ref.stats.accepted
