"""Polarization-dependent ("corrected", Takeda) spin diffusion D = D0 / sqrt(1 - P^2).

Kirchhoff steady state, manufactured solution of the nonlinear equation, the P -> 0 limit,
Newton near |P| -> 1, conservation in the periodic cube, 1 vs 2 ranks, cube vs sphere, and
the pulsed source. Derivations in tests/README.md.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import ufl
from test_mms import T_END, B, R, orders, run_mms

from conftest import make_case

CORRECTED = {"diffusion.model": "corrected", "diffusion.polarization": "local"}


# --- Kirchhoff transform: steady state in a shell with fixed P at both radii ------------------

PB, PR = 0.95, 0.2


def kirchhoff_exact(r):
    """arcsin P = alpha + beta / r with P(b) = PB, P(R) = PR."""
    a_b, a_R = math.asin(PB), math.asin(PR)
    beta = (a_b - a_R) / (1.0 / B - 1.0 / R)
    alpha = a_R - beta / R
    return np.sin(alpha + beta / np.asarray(r))


KIRCHHOFF = {**CORRECTED, "source.model": "fixed", "source.C6": None, "source.polarization": PB,
             "centres.visible_radius": f"{B} nm",
             "geometry.outer_boundary": "fixed", "geometry.outer_polarization": PR,
             "relaxation.C6": "0 nm^6/s", "materials.m.T1n": "inf"}


def _l2(disc, exact):
    from dolfinx import fem

    from spindiff.mesh import compat
    r = disc.domain.nearest_distance(compat.dof_coordinates(disc.V0))
    e = fem.Function(disc.V0)
    e.x.array[:] = disc.P.x.array[: r.size] - exact(r)
    num = compat.assemble_scalar(compat.form(e**2 * disc.weight * disc.dx), disc.comm)
    den = compat.assemble_scalar(compat.form(1.0 * disc.weight * disc.dx), disc.comm)
    return math.sqrt(num / den)


@pytest.mark.mpi
def test_kirchhoff_steady_state_radial_converges():
    from spindiff.simulation import steady_state
    errs, hs = [], []
    for n in (20, 40, 80):
        disc, _ = steady_state(make_case({**KIRCHHOFF, "mesh.radial_cells": n}))
        errs.append(_l2(disc, kirchhoff_exact))
        hs.append(1.0 / n)
    p = orders(hs, errs)
    print(f"Kirchhoff radial: L2 errors {errs}, orders {p}")
    assert errs[-1] < 2e-4
    assert np.all(np.abs(p - 2.0) < 0.25), p


@pytest.mark.slow
@pytest.mark.mpi
def test_kirchhoff_steady_state_3d_converges():
    from spindiff.simulation import steady_state
    errs, hs = [], []
    for h in (0.4, 0.2):
        disc, _ = steady_state(make_case({**KIRCHHOFF, "mesh.model": "3d",
                                          "mesh.size_barrier": f"{h / 2} nm",
                                          "mesh.size_bulk": f"{h} nm"}))
        errs.append(_l2(disc, kirchhoff_exact))
        hs.append(h)
    p = orders(hs, errs)
    print(f"Kirchhoff 3D: L2 errors {errs}, order {p}")
    # Pre-asymptotic: the 1/r profile curves hardest at the inner Dirichlet sphere (b = 0.8 nm,
    # h/b = 0.25..0.125 here). The same shell with uniform meshes (conventional, harmonic P)
    # measures orders 1.71 (h 0.2 -> 0.14) and 1.84 (0.14 -> 0.1): approaching 2.
    assert errs[-1] < 2e-3
    assert p[0] > 1.5, p


# --- manufactured solution of the nonlinear equation --------------------------------------------

def run_nonlinear_mms(changes, fixed_dt=None):
    """The manufactured solution of test_mms with P between 0.3 and 0.85 and the corrected
    diffusion D0 / sqrt(1 - P^2) in the forcing."""
    return run_mms({**CORRECTED, **changes}, fixed_dt, mean=0.55, amp=0.25,
                   factor=lambda P: 1.0 / ufl.sqrt(1.0 - P**2))


@pytest.mark.mpi
def test_nonlinear_mms_space_order_radial():
    errs, hs = [], []
    for n in (20, 40, 80):
        e, res = run_nonlinear_mms({"mesh.radial_cells": n, "solver.rtol": 1e-8,
                                    "solver.atol": 1e-10})
        errs.append(e)
        hs.append(1.0 / n)
    p = orders(hs, errs)
    print(f"nonlinear radial space: L2 errors {errs}, orders {p}, "
          f"f_max {res.summary['diffusion']['f_max_reached']:.3f}")
    assert np.all(np.abs(p - 2.0) < 0.25), p


@pytest.mark.slow
@pytest.mark.mpi
def test_nonlinear_mms_space_order_3d():
    errs, hs = [], []
    for h in (0.6, 0.42, 0.3):
        e, _ = run_nonlinear_mms({"mesh.model": "3d", "mesh.size_barrier": f"{h} nm",
                                  "mesh.size_bulk": f"{h} nm", "solver.rtol": 1e-5,
                                  "solver.atol": 1e-7})
        errs.append(e)
        hs.append(h)
    p = orders(hs, errs)
    print(f"nonlinear 3D space: L2 errors {errs}, orders {p}")
    assert np.all(np.abs(p - 2.0) < 0.35), p


@pytest.mark.mpi
def test_nonlinear_mms_time_order():
    errs, dts = [], []
    for n in (10, 20, 40):
        e, _ = run_nonlinear_mms({"mesh.radial_cells": 1000}, fixed_dt=T_END / n)
        errs.append(e)
        dts.append(T_END / n)
    p = orders(dts, errs)
    print(f"nonlinear time (fixed-step BDF2 + Newton): L2 errors {errs}, orders {p}")
    assert np.all(np.abs(p - 2.0) < 0.2), p


# --- limits and robustness ------------------------------------------------------------------------

SMALL = {"source.polarization": 1e-3, "protocol.initial_polarization": 0.0,
         "relaxation.P0": 0.0, "materials.m.D0": "1 nm^2/s", "solver.rtol": 1e-7,
         "solver.atol": 1e-12}


@pytest.mark.mpi
@pytest.mark.parametrize("polarization", ["local", "mean"])
def test_corrected_tends_to_conventional_at_low_polarization(polarization):
    from spindiff.runner import run
    conv = run(make_case(SMALL), progress=False).series["P_sample"]
    corr = run(make_case({**SMALL, "diffusion.model": "corrected",
                          "diffusion.polarization": polarization}), progress=False).series["P_sample"]
    rel = np.max(np.abs(corr[1:] - conv[1:]) / np.abs(conv[1:]))
    print(f"{polarization}: max relative difference at P_src = 1e-3: {rel:.2e}")
    assert rel < 1e-6
    assert corr[-1] > 0.3e-3  # it did build up


@pytest.mark.mpi
@pytest.mark.parametrize("psrc", [0.99, 0.999])
def test_newton_converges_near_full_polarization(psrc):
    from spindiff.runner import run
    case = make_case({**CORRECTED, "source.polarization": psrc, "materials.m.D0": "1 nm^2/s",
                      "protocol.initial_polarization": 0.0, "relaxation.P0": 0.0,
                      "protocol.stages.0.duration": "40 s"})
    res = run(case, progress=False)
    s = res.summary
    its = s["linear_solver"]["newton_its"] / max(s["time_stepping"]["accepted"], 1)
    print(f"P_src {psrc}: final {res.series['P_sample'][-1]:.5f}, Newton its/step {its:.2f}, "
          f"solver rejections {s['time_stepping']['rejected_solver']}, "
          f"f_max {s['diffusion']['f_max_reached']:.1f} (cap {s['diffusion']['f_cap']:.0f})")
    assert res.series["P_sample"][-1] == pytest.approx(psrc, abs=2e-3 * psrc)
    assert its < 3.0
    assert s["diffusion"]["f_max_reached"] > 0.9 / math.sqrt(1 - psrc**2)
    assert s["diffusion"]["f_cap"] == pytest.approx(100.0)
    assert np.all(np.abs(res.series["P_sample"]) < 1.0)


@pytest.mark.mpi
def test_failed_newton_steps_are_retried_not_accepted():
    """A first step of 20 s from P = 0 toward P_src = 0.999 makes Newton fail: the step is
    rejected, retried smaller, and the run ends on the same curve as a careful start."""
    from spindiff.runner import run
    base = {**CORRECTED, "source.polarization": 0.999, "protocol.initial_polarization": 0.0,
            "relaxation.P0": 0.0, "protocol.stages.0.duration": "40 s",
            "protocol.stages.0.outputs": 4, "protocol.stages.0.spacing": "linear"}
    careful = run(make_case(base), progress=False)
    reckless = run(make_case({**base, "solver.dt_initial": "10 s"}), progress=False)
    st = reckless.summary["time_stepping"]
    print(f"reckless start: {st}")
    assert st["rejected_solver"] + st["rejected_error"] >= 1
    assert np.allclose(reckless.series["P_sample"], careful.series["P_sample"], rtol=2e-3, atol=1e-5)
