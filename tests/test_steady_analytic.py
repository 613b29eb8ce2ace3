"""Closed-form steady states of the linear source/relaxation problem in a spherical shell.

Derivations in tests/README.md. Both solutions are checked against their ODE first (so a typo
in the closed form cannot pass), then against the FEM steady state on the 1D radial mesh (two
refinements: error and observed order) and on the 3D mesh.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from conftest import make_case

B, R = 0.8, 3.0
D0 = 10.0
P_SRC, P0 = 0.9, 0.01


# --- closed forms ---------------------------------------------------------------------------

def fixed_source_with_relaxation(r, T1n):
    """P(b) = P_src, zero flux at R, uniform relaxation 1/T1n toward P0 (no volume source)."""
    kap = 1.0 / np.sqrt(D0 * T1n)

    def shape(x):
        return (np.cosh(kap * (R - x)) - np.sinh(kap * (R - x)) / (kap * R)) / x

    return P0 + (P_SRC - P0) * shape(r) / shape(B)


def volume_source_fixed_outer(r, C6, P_R):
    """k = C6/r^6 toward P_src for r > b, zero flux at b, P(R) = P_R, no relaxation:
    P - P_src = r^(-1/2) [A I_1/4(z) + C K_1/4(z)], z = beta / (2 r^2), beta = sqrt(C6 / D0)."""
    beta = np.sqrt(C6 / D0)

    def parts(x):
        z = beta / (2 * x**2)
        dz = -beta / x**3
        f = np.array([special.iv(0.25, z), special.kv(0.25, z)])
        df = np.array([special.ivp(0.25, z), special.kvp(0.25, z)])
        value = x**-0.5 * f
        slope = -0.5 * x**-1.5 * f + x**-0.5 * df * dz
        return value, slope

    vR, _ = parts(R)
    _, sb = parts(B)
    A, C = np.linalg.solve(np.array([vR, sb]), np.array([P_R - P_SRC, 0.0]))
    v, _ = parts(np.asarray(r, dtype=float))
    return P_SRC + A * v[0] + C * v[1]


def _radial_laplacian_residual(f, r, h=1e-4):
    d1 = (f(r + h) - f(r - h)) / (2 * h)
    d2 = (f(r + h) - 2 * f(r) + f(r - h)) / h**2
    return d2 + 2 * d1 / r


def test_closed_forms_solve_their_odes():
    r = np.linspace(B + 0.01, R - 0.01, 50)
    T1n = 0.5
    f1 = lambda x: fixed_source_with_relaxation(x, T1n)
    res1 = D0 * _radial_laplacian_residual(f1, r) - (f1(r) - P0) / T1n
    assert np.max(np.abs(res1)) < 1e-5 * np.max(np.abs(f1(r) - P0) / T1n)
    assert f1(np.array([B]))[0] == pytest.approx(P_SRC)
    C6, PR = 4.0, 0.2
    f2 = lambda x: volume_source_fixed_outer(x, C6, PR)
    res2 = D0 * _radial_laplacian_residual(f2, r) + C6 / r**6 * (P_SRC - f2(r))
    assert np.max(np.abs(res2)) < 1e-5 * np.max(np.abs(C6 / r**6 * (P_SRC - f2(r))))
    assert f2(np.array([R]))[0] == pytest.approx(PR)
    h = 1e-6
    assert abs((f2(np.array([B + h]))[0] - f2(np.array([B]))[0]) / h) < 1e-4


# --- FEM vs closed form -----------------------------------------------------------------------

FIXED = {"source.model": "fixed", "source.C6": None, "materials.m.T1n": "0.5 s",
         "geometry.radius": f"{R} nm"}
VOLUME = {"source.C6": "4 nm^6/s", "geometry.outer_boundary": "fixed",
          "geometry.outer_polarization": 0.2}


def _l2_error(disc, exact):
    """Relative-volume L2 norm of (P_h - I_h P_exact), sqrt(int e^2 / int 1)."""
    from dolfinx import fem

    from spindiff.mesh import compat
    r = disc.domain.nearest_distance(compat.dof_coordinates(disc.V))
    e = fem.Function(disc.V)
    e.x.array[:] = disc.P.x.array - exact(r)
    num = compat.assemble_scalar(compat.form(e**2 * disc.weight * disc.dx), disc.comm)
    den = compat.assemble_scalar(compat.form(1.0 * disc.weight * disc.dx), disc.comm)
    return float(np.sqrt(num / den))


def _nodal_error(disc, exact):
    from mpi4py import MPI

    from spindiff.mesh import compat
    x = compat.dof_coordinates(disc.V)
    r = disc.domain.nearest_distance(x)
    n = compat.owned_size(disc.V)
    err = np.max(np.abs(disc.P.x.array[:n] - exact(r[:n])), initial=0.0)
    return disc.comm.allreduce(err, op=MPI.MAX)


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["fixed_source", "volume_source"])
def test_radial_steady_state_converges(which):
    from spindiff.simulation import steady_state
    changes, exact = {
        "fixed_source": (FIXED, lambda r: fixed_source_with_relaxation(r, 0.5)),
        "volume_source": (VOLUME, lambda r: volume_source_fixed_outer(r, 4.0, 0.2)),
    }[which]
    errors = []
    for ncells in (40, 80, 160):
        case = make_case({**changes, "mesh.radial_cells": ncells})
        disc, _ = steady_state(case)
        errors.append(_nodal_error(disc, exact))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(f"{which}: radial max nodal errors {errors}, orders {orders}")
    assert errors[-1] < 1e-4
    assert np.all(orders > 1.8), orders


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["fixed_source", "volume_source"])
def test_3d_steady_state_matches_closed_form(which):
    from spindiff.simulation import steady_state
    changes, exact = {
        "fixed_source": (FIXED, lambda r: fixed_source_with_relaxation(r, 0.5)),
        "volume_source": (VOLUME, lambda r: volume_source_fixed_outer(r, 4.0, 0.2)),
    }[which]
    case = make_case({**changes, "mesh.model": "3d", "mesh.size_barrier": "0.15 nm",
                      "mesh.size_bulk": "0.6 nm"})
    disc, _ = steady_state(case)
    err = _l2_error(disc, exact)
    scale = abs(P_SRC - P0)
    print(f"{which}: 3D L2 error {err:.3e} ({disc.ndofs} dofs), max nodal "
          f"{_nodal_error(disc, exact):.3e}")
    # P1 interpolation error of the 1/r-like profile near b: h^2 |P''| / 8 ~ 5e-3 here
    assert err < 1e-2 * scale
