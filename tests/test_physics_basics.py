"""Physics-layer checks against the numbers in docs/reference/physics.md (no MPI, no dolfinx)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from spindiff.physics import cells, constants, electron


def test_thermal_polarizations():
    assert electron.thermal_electron_polarization(7.05, 1.2) == pytest.approx(0.99926, abs=5e-6)
    assert constants.nuclear_thermal_polarization("1H", 7.05, 1.2) == pytest.approx(0.0060, abs=5e-5)
    assert electron.thermal_electron_polarization(9.4, 100.0) == pytest.approx(0.0631, abs=5e-5)


def test_bloch_saturation():
    assert electron.saturation_factor(0.0, 1e-3, 1e-6) == 1.0
    z = electron.saturation_factor(1e6, 1e-3, 1e-6)
    assert z == pytest.approx(1 / (1 + 1e12 * 1e-9))
    far = electron.saturation_factor(1e6, 1e-3, 1e-6, offset=1e9)
    assert far > 0.99


def test_wigner_seitz_radii():
    mM = constants.MILLIMOLAR_IN_PER_NM3
    assert cells.sphere_cell_radius(10 * mM) == pytest.approx(3.41, abs=5e-3)
    assert cells.sphere_cell_radius(50 * mM) == pytest.approx(1.99, abs=5e-3)
    assert cells.mean_intercentre_distance(40 * mM) == pytest.approx(4.3, abs=5e-3)
    L = cells.cube_cell_side(10 * mM)
    assert L**3 == pytest.approx(1 / (10 * mM))


def test_hyperfine_prefactor_at_0p9nm():
    pref = constants.dipolar_prefactor(constants.GAMMA_E, constants.gamma_nucleus("1H"))
    assert pref / 0.9**3 / (2 * np.pi) == pytest.approx(108e3, rel=0.01)


def test_buildup_fits_recover_parameters():
    from spindiff.analysis.fits import fit_buildup, time_to_fraction
    t = np.concatenate([[0.0], np.logspace(-2, 2.5, 80)])
    mono = 0.7 - (0.7 - 0.01) * np.exp(-t / 12.0)
    fit = fit_buildup(t, mono)
    assert fit["mono"]["T_B_s"] == pytest.approx(12.0, rel=1e-6)
    assert fit["mono"]["P_inf"] == pytest.approx(0.7, rel=1e-6)
    st = 0.5 - 0.5 * np.exp(-np.sqrt(t / 30.0))
    fit = fit_buildup(t, st)
    assert fit["stretched"]["beta"] == pytest.approx(0.5, rel=1e-4)
    assert fit["stretched"]["T_B_s"] == pytest.approx(30.0, rel=1e-3)
    # linear interpolation between log-spaced samples: ~0.1 % here
    assert time_to_fraction(t, mono, 0.5) == pytest.approx(12.0 * np.log(2), rel=5e-3)


def test_physics_layer_imports_no_dolfinx():
    code = ("import sys, spindiff.physics.constants, spindiff.physics.electron, "
            "spindiff.physics.cells, spindiff.model, spindiff.analysis.fits, spindiff.case; "
            "bad = [m for m in ('dolfinx', 'petsc4py', 'mpi4py', 'ufl') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
