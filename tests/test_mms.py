"""Manufactured solutions: measured convergence orders in space and in time.

Exact solution (zero radial flux at r = b and r = R, as the solver's boundaries require):

    P(x, t) = p(t) + a(t) cos(pi (r - b) / (R - b)) g(x),
    p(t) = 0.3 + 0.1 sin(2 t),  a(t) = 0.2 exp(-t / 2),
    g = 1 (radial) or 1 + 0.5 z / r (3D: not radially symmetric; g does not depend on r)

with the full model (volume source C6 / r^6 toward P_src, paramagnetic and bulk relaxation
toward P0). The forcing f = dP/dt - D lap P + k (P - P_src) + R1 (P - P0) is generated
symbolically by UFL from the same expression. Errors are L2 norms at t = T (quadrature of the
exact expression, not of its interpolant). Theory: P1 elements give order 2 in space, P2
elements (mesh.element_degree = 2) order 3; BDF2 gives order 2 in time.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import ufl

from conftest import make_case

B, R = 0.8, 3.0
D0, C6S, C6R, T1N = 10.0, 4.0, 0.5, 2.0
PSRC, P0 = 0.9, 0.01
T_END = 1.0

MMS_CASE = {
    "geometry.radius": f"{R} nm",
    "materials.m.D0": f"{D0} nm^2/s",
    "materials.m.T1n": f"{T1N} s",
    "source.C6": f"{C6S} nm^6/s",
    "relaxation.C6": f"{C6R} nm^6/s",
    "protocol.stages.0.duration": f"{T_END} s",
    "protocol.stages.0.outputs": 1,
    "protocol.stages.0.spacing": "linear",
}


def _radius_and_shape(x, m, radial):
    if radial:
        return x[0], 1.0
    r = m.sqrt(x[0] ** 2 + x[1] ** 2 + x[2] ** 2)
    return r, 1.0 + 0.5 * x[2] / r


def exact(x, t, m, radial, mean=0.3, amp=0.2):
    """The manufactured solution with math module `m` (ufl or numpy); `mean` and `amp` set
    p(t) = mean + 0.1 sin 2t and a(t) = amp exp(-t/2)."""
    r, g = _radius_and_shape(x, m, radial)
    return mean + 0.1 * m.sin(2 * t) + amp * m.exp(-t / 2) * m.cos(math.pi * (r - B) / (R - B)) * g


def exact_dt(x, t, m, radial, mean=0.3, amp=0.2):
    r, g = _radius_and_shape(x, m, radial)
    return 0.2 * m.cos(2 * t) - 0.5 * amp * m.exp(-t / 2) * m.cos(math.pi * (r - B) / (R - B)) * g


def forcing_for(radial, mean=0.3, amp=0.2, factor=lambda P: 1.0):
    """f = dP/dt - div(D0 factor(P) grad P) + k (P - P_src) + R1 (P - P0), built by UFL."""
    def forcing(t, x):
        P = exact(x, t, ufl, radial, mean, amp)
        f = factor(P)
        if radial:
            r = x[0]
            div = ufl.grad(r**2 * D0 * f * ufl.grad(P)[0])[0] / r**2
        else:
            r = ufl.sqrt(ufl.dot(x, x))
            div = ufl.div(D0 * f * ufl.grad(P))
        k = C6S / r**6
        R1 = 1.0 / T1N + C6R / r**6
        return exact_dt(x, t, ufl, radial, mean, amp) - div + k * (P - PSRC) + R1 * (P - P0)
    return forcing


def run_mms(changes, fixed_dt=None, mean=0.3, amp=0.2, factor=lambda P: 1.0):
    """Run MMS_CASE + changes with the manufactured forcing; (L2 error at T_END, result)."""
    from dolfinx import fem
    from mpi4py import MPI

    from spindiff.mesh import compat
    from spindiff.runner import run
    from spindiff.simulation import build_domain
    case = make_case({**MMS_CASE, **changes})
    radial = case.mesh.model == "radial"
    domain = build_domain(case, MPI.COMM_WORLD)
    res = run(case, domain=domain, progress=False, forcing=forcing_for(radial, mean, amp, factor),
              initial=lambda x: exact(x, 0.0, np, radial, mean, amp), fixed_dt=fixed_dt)
    V = compat.lagrange_space(domain.mesh, case.mesh.element_degree)
    Ph = fem.Function(V)
    Ph.x.array[:] = res.final_field[: Ph.x.array.size]
    x = ufl.SpatialCoordinate(domain.mesh)
    w = 4 * math.pi * x[0] ** 2 if radial else 1.0
    dx = ufl.Measure("dx", domain=domain.mesh, metadata={"quadrature_degree": 8})
    err2 = compat.assemble_scalar(
        compat.form((Ph - exact(x, T_END, ufl, radial, mean, amp)) ** 2 * w * dx), domain.comm)
    vol = compat.assemble_scalar(compat.form(w * dx), domain.comm)
    return math.sqrt(err2 / vol), res


def orders(h, e):
    h, e = np.asarray(h, float), np.asarray(e, float)
    return np.log(e[:-1] / e[1:]) / np.log(h[:-1] / h[1:])


@pytest.mark.mpi
def test_space_order_radial():
    errs, hs = [], []
    for n in (20, 40, 80):
        e, _ = run_mms({"mesh.radial_cells": n, "solver.rtol": 1e-8, "solver.atol": 1e-10})
        errs.append(e)
        hs.append(1.0 / n)
    p = orders(hs, errs)
    print(f"radial space: L2 errors {errs}, orders {p}")
    assert np.all(np.abs(p - 2.0) < 0.2), p


@pytest.mark.mpi
def test_space_order_radial_quadratic():
    errs, hs = [], []
    for n in (20, 40, 80):
        e, _ = run_mms({"mesh.radial_cells": n, "mesh.element_degree": 2, "solver.rtol": 1e-9,
                        "solver.atol": 1e-11})
        errs.append(e)
        hs.append(1.0 / n)
    p = orders(hs, errs)
    print(f"radial space, quadratic elements: L2 errors {errs}, orders {p}")
    assert np.all(np.abs(p - 3.0) < 0.2), p


@pytest.mark.slow
@pytest.mark.mpi
def test_space_order_3d():
    errs, hs, dofs = [], [], []
    for h in (0.6, 0.42, 0.3):
        e, res = run_mms({"mesh.model": "3d", "mesh.size_barrier": f"{h} nm",
                          "mesh.size_bulk": f"{h} nm", "solver.rtol": 1e-5, "solver.atol": 1e-7})
        errs.append(e)
        hs.append(h)
        dofs.append(res.summary["mesh"]["dofs"])
    p = orders(hs, errs)
    print(f"3D space: h {hs} nm, dofs {dofs}, L2 errors {errs}, orders {p}")
    assert np.all(np.abs(p - 2.0) < 0.35), p


@pytest.mark.slow
@pytest.mark.mpi
def test_space_order_3d_quadratic():
    """Quadratic elements on curved (isoparametric) tetrahedra: order 3, on nested meshes (one
    Gmsh mesh refined 0 and 1 times, new nodes on the spheres), so h halves exactly; and a
    smaller error than linear elements on the same nodes (the mesh refined once more)."""
    errs, dofs = [], []
    for k in (0, 1):
        e, res = run_mms({**_nested(k), "mesh.element_degree": 2})
        errs.append(e)
        dofs.append(res.summary["mesh"]["dofs"])
    e1, res1 = run_mms(_nested(1))
    p = math.log2(errs[0] / errs[1])
    print(f"3D space, quadratic elements: dofs {dofs}, L2 errors {errs}, order {p:.2f}; linear "
          f"elements on the nodes of the finer: dofs {res1.summary['mesh']['dofs']}, L2 error {e1:.3e}")
    assert abs(p - 3.0) < 0.35, p
    assert res1.summary["mesh"]["dofs"] == dofs[0]
    assert errs[0] < e1 / 3


def _nested(k: int) -> dict:
    """The 3D MMS mesh of level k: Gmsh at 0.3 nm (barrier) / 0.9 nm, refined k times."""
    return {"mesh.model": "3d", "mesh.size_barrier": f"{0.3 / 2**k} nm",
            "mesh.size_bulk": f"{0.9 / 2**k} nm", "mesh.refine": k, "solver.rtol": 1e-6,
            "solver.atol": 1e-8}


@pytest.mark.mpi
def test_time_order_bdf2():
    errs, dts = [], []
    for n in (10, 20, 40):
        dt = T_END / n
        e, _ = run_mms({"mesh.radial_cells": 1000}, fixed_dt=dt)
        errs.append(e)
        dts.append(dt)
    p = orders(dts, errs)
    print(f"time (fixed-step BDF2): L2 errors {errs}, orders {p}")
    assert np.all(np.abs(p - 2.0) < 0.2), p


@pytest.mark.mpi
def test_adaptive_error_follows_tolerance():
    """Tightening rtol and atol by 100 should shrink the time error by ~100^(2/3) (a BDF2
    controller with error-per-step control): assert at least 10x and more steps."""
    loose, r1 = run_mms({"mesh.radial_cells": 1000, "solver.rtol": 1e-4, "solver.atol": 1e-6})
    tight, r2 = run_mms({"mesh.radial_cells": 1000, "solver.rtol": 1e-6, "solver.atol": 1e-8})
    print(f"adaptive: rtol 1e-4 -> {loose:.3e} ({r1.summary['time_stepping']['accepted']} steps); "
          f"rtol 1e-6 -> {tight:.3e} ({r2.summary['time_stepping']['accepted']} steps)")
    assert tight < loose / 10
    assert r2.summary["time_stepping"]["accepted"] > r1.summary["time_stepping"]["accepted"]
