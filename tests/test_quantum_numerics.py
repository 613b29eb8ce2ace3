"""Numerical machinery: real basis, Liouvillian, slow eigenvalue, powder grids, imports."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg as sla

from spindiff.physics.constants import nuclear_larmor
from spindiff.physics.electron import electron_larmor
from spindiff.physics.quantum import SpinBatch, SpinParams, SpinSystem, fibonacci, gauss_legendre_cos, solve_steady, zcw
from spindiff.physics.quantum.liouville import assemble, density_to_real, real_basis, real_to_density

TP = 2 * np.pi
B0 = 7.05
P = SpinParams(omega_n=nuclear_larmor("1H", B0), omega_mw=electron_larmor(B0), temperature=1.2,
               omega1=TP * 50e3, t1e=1e-3, t2e=1e-6, t1n=100.0, t2n=1e-3)
ROOT = Path(__file__).resolve().parents[1]


def batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return SpinBatch(SpinSystem(2, 1), np.stack([np.zeros(n), np.full(n, P.omega_n)], 1),
                     TP * rng.normal(0, 1e5, (n, 2, 1)),
                     TP * (rng.normal(0, 2e5, (n, 2, 1)) + 1j * rng.normal(0, 1e5, (n, 2, 1))),
                     d_ee=TP * rng.normal(0, 1e6, n))


def test_real_basis_round_trip():
    s = SpinSystem(2, 1)
    rng = np.random.default_rng(3)
    m = rng.normal(size=(2, 8, 8)) + 1j * rng.normal(size=(2, 8, 8))
    h = m + np.conj(np.swapaxes(m, 1, 2))
    basis = real_basis(s)
    x = density_to_real(h, basis)
    np.testing.assert_allclose(real_to_density(x, basis), h, atol=1e-12)
    np.testing.assert_allclose(np.sum(x**2, 1), np.sum(np.abs(h) ** 2, (1, 2)))


def test_liouvillian_preserves_trace():
    m = assemble(batch(), P)
    assert np.abs(m[:, 0, :]).max() < 1e-9 * np.abs(m).max()


def test_gamma_is_slowest_eigenvalue_and_residual_small():
    b = batch(3)
    res = solve_steady(b, P)
    assert np.all(res.residual < 1e-12)
    m = np.ascontiguousarray(assemble(b, P))
    for i in range(len(b)):
        k = -m[i, 1:, 1:]
        # reference: dominant eigenvalue of K^-1 (an eigen-solver on K itself is only accurate
        # to ~eps |K| / Gamma ~ 1e-5 relative here, rates spanning 1e-2 ... 1e9 1/s)
        ev = sla.eigvals(np.linalg.solve(k, np.eye(k.shape[0])))
        slowest = 1.0 / ev[np.argmax(np.abs(ev))]
        assert abs(slowest.imag) < 1e-9 * abs(slowest)
        assert res.gamma[i] == pytest.approx(slowest.real, rel=1e-7)
        assert res.extra["gamma_change"][i] < 1e-4
        assert res.slow_weight[i] == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("g", [zcw(100), zcw(50, hemisphere=True), fibonacci(200), gauss_legendre_cos(6)])
def test_powder_grid_moments(g):
    assert np.sum(g.weights) == pytest.approx(1.0)
    np.testing.assert_allclose(np.linalg.norm(g.dirs, axis=1), 1.0)
    assert np.sum(g.weights * g.cos_theta**2) == pytest.approx(1 / 3, abs=2e-3)


def test_module_imports_no_dolfinx_petsc_mpi():
    code = ("import sys, spindiff.physics.quantum as q; q.rate_table; "
            "bad = [m for m in ('dolfinx', 'petsc4py', 'mpi4py') if m in sys.modules]; "
            "print('BAD', bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout + out.stderr
