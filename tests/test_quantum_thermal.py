"""Thermal equilibrium of the small-system models (docs/reference/physics.md section 1, 4, 6)."""
import numpy as np
import pytest

from spindiff.physics.constants import nuclear_larmor, thermal_polarization
from spindiff.physics.electron import electron_larmor, saturation_factor, thermal_electron_polarization
from spindiff.physics.quantum import (
    SpinBatch,
    SpinParams,
    SpinSystem,
    hyperfine_from_angle,
    solve_effective,
    solve_steady,
)

TP = 2 * np.pi
B0, T = 7.05, 1.2


def params(**kw) -> SpinParams:
    base = dict(omega_n=nuclear_larmor("1H", B0), omega_mw=electron_larmor(B0), temperature=T,
                omega1=TP * 20e3, t1e=1e-3, t2e=1e-6, t1n=100.0, t2n=1e-3)
    base.update(kw)
    return SpinParams(**base)


def test_thermal_polarizations_reference_values():
    assert thermal_electron_polarization(B0, T) == pytest.approx(0.99926, abs=5e-6)
    assert float(thermal_polarization(nuclear_larmor("1H", B0), T)) == pytest.approx(0.0060, abs=5e-5)
    assert thermal_electron_polarization(9.4, 100.0) == pytest.approx(0.0631, abs=5e-5)


@pytest.mark.parametrize("n_e", [1, 2])
def test_microwaves_off_is_thermal(n_e):
    """With microwaves off the nucleus sits at its thermal target and electrons at theirs."""
    p = params()
    rng = np.random.default_rng(1)
    n = 20
    a, b = hyperfine_from_angle(rng.uniform(0.5, 1.0, n), rng.uniform(-1, 1, n), "1H")
    s = SpinSystem(n_e, 1)
    offs = np.zeros((n, n_e))
    if n_e == 2:
        offs[:, 1] = p.omega_n + TP * rng.normal(0, 1e6, n)
        aa = np.stack([a, 0.5 * a], 1)[:, :, None]
        bb = np.stack([b, -0.3 * b], 1)[:, :, None]
        batch = SpinBatch(s, offs, aa, bb, d_ee=TP * rng.normal(0, 2e6, n))
    else:
        batch = SpinBatch(s, offs, a[:, None, None], b[:, None, None])
    pn_th = float(thermal_polarization(p.omega_n, T))
    full = solve_steady(batch, p, microwaves=False)
    for res in (full, solve_effective(batch, p, microwaves=False, warn=False)):
        # the hyperfine field (|A| <= 0.4 % of omega_n here) shifts the small system's target
        np.testing.assert_allclose(res.p_n[:, 0], pn_th, rtol=5e-3)
        np.testing.assert_allclose(res.p_n, full.p_n_gibbs, rtol=1e-4)
        pe_th = np.tanh(0.5 * p.beta * (p.omega_mw + offs))
        np.testing.assert_allclose(res.p_e, pe_th, rtol=1e-5)
    # exactly the Gibbs state of the coupled system
    np.testing.assert_allclose(full.p_n, full.p_n_gibbs, rtol=1e-9)
    # and the nuclear relaxation rate is at least the bulk 1/T1n
    assert np.all(full.gamma >= p.r1n * (1 - 1e-9))


@pytest.mark.parametrize("offset_khz", [0.0, 150.0, 600.0])
def test_single_electron_matches_bloch_saturation(offset_khz):
    """Uncoupled electron: P_e = P_e0 Z with Z from the Bloch equations (T2e is the total
    coherence decay time)."""
    p = params(omega1=TP * 100e3)
    s = SpinSystem(1, 1)
    d = TP * offset_khz * 1e3
    res = solve_steady(SpinBatch(s, [[d]], 0.0, 0.0), p)
    pe0 = np.tanh(0.5 * p.beta * (p.omega_mw + d))
    z = saturation_factor(p.omega1, p.t1e, p.t2e, d)
    assert res.p_e[0, 0] == pytest.approx(pe0 * z, rel=1e-6)
