"""Broad-line model (spindiff.physics.quantum.spectral_diffusion / broadline): closed-form limits.

Closed forms (tests/README.md, "Broad-line radicals"):
* microwaves off: P_i = tanh(beta_L omega_i / 2), beta_D = beta_L, P_n = tanh(beta_L w_n / 2);
* fast eSD: 2 artanh P_i = beta_D delta_i + c (Eq. 94), P_tsf = tanh(beta_D w_n / 2) (Eq. 95);
  high temperature + full saturation: beta_D / beta_L of `provotorov_high_t`;
* no eSD, reservoir at the lattice: P_i = (W_i tanh(beta_L delta_i / 2) + R1e P0_i)/(W_i + R1e);
  CE target = Eq. 91;
* narrow line: solid effect and paramagnetic relaxation of `rate_table` (isolated e-n problem).
"""
import numpy as np
import pytest

from spindiff.physics.constants import nuclear_larmor, nuclear_thermal_polarization
from spindiff.physics.quantum import Conditions, lineshape, preset, rate_table
from spindiff.physics.quantum.broadline import (
    BroadlineSettings,
    broadline_table,
    electron_state,
    gaussian_line,
    nuclear_rates,
)
from spindiff.physics.quantum.broadline_sweep import broadline_sweep
from spindiff.physics.quantum.spectral_diffusion import bloch_rate, dipolar_bath, fast_sd_state, provotorov_high_t

TWO_PI = 2.0 * np.pi
TEMPOL = preset("TEMPOL")


def _state(cond, settings=BroadlineSettings(), line=None, agent=TEMPOL):
    st, model = electron_state(agent, cond, settings, line)
    wn = nuclear_larmor(cond.nucleus, cond.b0)
    pt = nuclear_thermal_polarization(cond.nucleus, cond.b0, cond.temperature)
    return st, model, nuclear_rates(st, model, wn, pt), wn, pt


def test_dipolar_bath_appendix_a():
    """D_av = (1/sqrt5)(mu0/4pi) hbar gamma^2 n (A.7), D_D = 0.9366 D_av, M2 = (2/pi) D0 D_D."""
    b = dipolar_bath(50.0, 0.7)
    n = 50.0 * 6.02214076e23 * 1e-27
    assert b.d_av / TWO_PI == pytest.approx(52.04e6 * n / np.sqrt(5.0), rel=2e-3)
    assert b.d_d / b.d_av == pytest.approx(0.9366, rel=1e-4)
    assert b.d0 / TWO_PI == pytest.approx(52.04e6 / 0.343, rel=2e-3)
    assert b.m2 == pytest.approx(2.0 / np.pi * b.d0 * b.d_d, rel=1e-12)


@pytest.mark.parametrize("temperature", [1.2, 100.0])
def test_microwaves_off_is_thermal(temperature):
    cond = Conditions(b0=7.05, temperature=temperature, concentration_mM=50, omega1=0.0,
                      mw_offset=-TWO_PI * 100e6)
    st, model, nr, wn, pt = _state(cond)
    p0 = np.tanh(0.5 * model.beta_l * (model.omega_ref + st.grid.centres))
    assert np.max(np.abs(st.p - p0)) < 1e-10
    assert st.beta_d / model.beta_l == pytest.approx(1.0, abs=1e-10)
    for p in (nr.p_stat, nr.tsf_target, nr.ce_target, nr.tm_target):
        assert p == pytest.approx(pt, abs=1e-10)
    ref = 0.5 * wn * nr.tsf                            # flow scale at |P - tau| ~ 1
    assert all(abs(v) < 1e-9 * ref for v in nr.flows.values())


def test_fast_spectral_diffusion_single_spin_temperature():
    """Huge eSD -> one rotating-frame spin temperature (Eq. 94) and beta_I = beta_D (Eq. 95);
    the CE and TM energy flows vanish separately."""
    cond = Conditions(b0=3.4, temperature=1.2, concentration_mM=40, omega1=TWO_PI * 20e3,
                      mw_offset=-TWO_PI * 100e6)
    st, model, nr, wn, pt = _state(cond, BroadlineSettings(esd_scale=1e6))
    fs = fast_sd_state(st.grid, model, cond.mw_offset)
    assert np.max(np.abs(st.p - fs.p)) < 1e-6
    assert st.beta_d == pytest.approx(fs.beta_d, rel=1e-6)
    x = 2.0 * np.arctanh(st.p)
    fit = np.polyval(np.polyfit(st.grid.centres, x, 1), st.grid.centres)
    assert np.max(np.abs(fit - x)) < 1e-6
    assert st.beta_d / model.beta_l > 10.0            # a cold interaction reservoir
    assert nr.tsf_target == pytest.approx(np.tanh(0.5 * st.beta_d * wn), abs=1e-6)
    flows = nr.flows
    big = abs(flows["zeeman_ce"]) + abs(flows["interaction_tm"])
    ref = 0.5 * wn * nr.tsf * 1.0                      # flow scale at |P - tau| ~ 1
    assert big < 1e-5 * ref


def test_provotorov_borghini_high_temperature():
    """300 K, fast eSD, complete saturation (w1/2pi = 20 MHz: a limit, not an experiment):
    beta_D / beta_L = the classical thermal-mixing result
    (omega_mw Delta + <delta^2> + M2') / (<delta^2> + M2'), P_n / P_n0 = beta_D / beta_L."""
    cond = Conditions(b0=3.4, temperature=300.0, concentration_mM=40, omega1=TWO_PI * 20e6,
                      mw_offset=-TWO_PI * 80e6, t1e=1e-3)
    line = lineshape(TEMPOL, cond)
    st, model, nr, wn, pt = _state(cond, BroadlineSettings(esd_scale=1e6), line)
    c, f = st.grid.centres, st.grid.f
    mean = np.sum(f * c)
    var = np.sum(f * (c - mean) ** 2)
    ratio = provotorov_high_t(model.omega_ref + cond.mw_offset, mean, var, model.omega_ref,
                              model.bath.m2, model.t1e, model.t1d_eff)
    assert ratio > 50.0
    assert st.beta_d / model.beta_l == pytest.approx(ratio, rel=2e-4)
    assert nr.tsf_target / pt == pytest.approx(ratio, rel=1e-3)


def test_no_spectral_diffusion_packets_saturate_alone():
    cond = Conditions(b0=7.05, temperature=1.2, concentration_mM=50, omega1=TWO_PI * 5e3,
                      mw_offset=-TWO_PI * 150e6)
    st, model, nr, wn, pt = _state(cond, BroadlineSettings(esd_scale=0.0, dipolar="lattice"))
    w = bloch_rate(st.grid, cond.mw_offset, model.omega1, model.t2e)
    r1 = 1.0 / model.t1e
    delta = st.grid.centres - cond.mw_offset
    expect = (w * np.tanh(0.5 * model.beta_l * delta) + r1 * st.p0) / (w + r1)
    assert np.max(np.abs(st.p - expect)) < 1e-12
    assert st.p.min() < 0.2                           # a deep, narrow hole


def test_cross_effect_stationary_state_is_scrambled_state_eq91():
    """No eSD, small D0 (r0 = 2 nm: D0 << w_n, only |Delta| ~ w_n pairs): the triple-spin-flip
    target is Eq. 91, int g(w) g(w - w_n) [P(w) - P(w - w_n)] / int g g [1 - P(w) P(w - w_n)]."""
    cond = Conditions(b0=3.4, temperature=1.2, concentration_mM=50, omega1=TWO_PI * 5e3,
                      mw_offset=-TWO_PI * 60e6)
    line = lineshape(TEMPOL, cond)
    st, model, nr, wn, pt = _state(cond, BroadlineSettings(esd_scale=0.0, dipolar="lattice",
                                                           r0=2.0, bin_width=0.5e6), line)
    assert model.bath.d0 < 0.05 * wn
    c, p = st.grid.centres, st.p
    dens = line(c)
    edges = st.grid.edges
    # partner at w - w_n: mass-weighted packet polarization via the cumulative sums
    cum_f = np.concatenate([[0.0], np.cumsum(st.grid.f)])
    cum_fp = np.concatenate([[0.0], np.cumsum(st.grid.f * p)])
    lo_f = np.diff(np.interp(edges - wn, edges, cum_f))
    lo_p = np.diff(np.interp(edges - wn, edges, cum_fp)) / np.maximum(lo_f, 1e-300)
    g_lo = lo_f / st.grid.widths                       # partner density over the shifted packet
    num = np.sum(st.grid.f * g_lo * (p - lo_p))
    den = np.sum(st.grid.f * g_lo * (1.0 - p * lo_p))
    assert np.sum(dens > 0) > 10
    assert nr.ce_target == pytest.approx(num / den, abs=3e-4)
    assert nr.ce_target > 0.1                          # low-frequency partner saturated


@pytest.mark.parametrize("temperature,t1e", [(1.2, 0.1), (100.0, 1e-3)])
def test_narrow_line_reduces_to_solid_effect_of_rate_module(temperature, t1e):
    """g anisotropy and 14N hyperfine set to zero (3 MHz Gaussian line): no pair matches
    |Delta| >= D0', the model is the solid effect plus electron-T1 relaxation, and agrees with
    the isolated e-n master equation of `rate_table` (k, R1_para within 3 %, P_src 5e-4)."""
    agent = TEMPOL.with_(g_tensor=(2.006,) * 3, a_tensor=None, line_fwhm=TWO_PI * 3e6,
                         mechanism="SE")
    wn = nuclear_larmor("1H", 7.05)
    cond = Conditions(b0=7.05, temperature=temperature, concentration_mM=50,
                      omega1=TWO_PI * 20e3, mw_offset=-wn, t1e=t1e, t1n=1e7)
    r = np.array([0.5, 0.8, 1.2])
    tb = broadline_table(agent, cond, r)
    tf = rate_table(agent, cond, r, method="full")
    assert tb.components["tsf"]["rate_per_B2"] == 0.0
    np.testing.assert_allclose(tb.k, tf.k, rtol=0.03)
    np.testing.assert_allclose(tb.r1_para, tf.r1_para, rtol=0.03)
    np.testing.assert_allclose(tb.p_src, tf.p_src, atol=5e-4)


def test_sweep_symmetry_symmetric_line():
    """Symmetric (Gaussian) line: P_n(+Delta) = -P_n(-Delta) up to the asymmetry of the lab
    Boltzmann factors across the line, (1 - P0^2) beta_L FWHM / 2 ~ 5e-4 here: tolerance 3e-3."""
    line = gaussian_line(TWO_PI * 300e6)
    for off in (100e6, 250e6):
        ps = []
        for s in (1, -1):
            cond = Conditions(b0=3.4, temperature=1.2, concentration_mM=40,
                              omega1=TWO_PI * 20e3, mw_offset=s * TWO_PI * off)
            ps.append(_state(cond, line=line)[2].p_stat)
        assert abs(ps[0]) > 0.3
        assert abs(ps[0] + ps[1]) < 3e-3 * abs(ps[0])


@pytest.mark.slow
def test_sweep_bound_flows_and_extrema():
    """|P_n| never exceeds the most polarized electron packet; the nuclear energy flow of the
    triple-flip stationary state vanishes; extrema of opposite sign, separated by about the
    line width for 13C (>> 2 w_n)."""
    cond = Conditions(b0=7.05, temperature=1.2, concentration_mM=50, omega1=TWO_PI * 20e3,
                      nucleus="13C")
    line = lineshape(TEMPOL, cond)
    offs = np.linspace(line.extent[0] - TWO_PI * 100e6, line.extent[1] + TWO_PI * 100e6, 25)
    for off in offs[::4]:
        st, model, nr, wn, pt = _state(cond.with_(mw_offset=off), line=line)
        assert abs(nr.p_stat) <= np.max(np.abs(st.p)) + 1e-12
        assert abs(nr.flows["nuclear"]) < 1e-9 * (abs(nr.flows["zeeman_ce"]) + 1e-300) + 1e-30
    sw = broadline_sweep(TEMPOL, cond, offsets=offs)
    e = sw.extrema
    assert e["max"][1] > 0.3 and e["min"][1] < -0.3
    assert e["max"][0] < e["min"][0]                   # positive DNP below the line centre
    assert e["separation"] > 2.5 * 2.0 * sw.omega_n
    assert 0.5 * line.width() < e["separation"] < 1.5 * line.width()


def test_concentration_speeds_buildup_and_temperature_lowers_enhancement():
    rates = []
    for c in (10.0, 40.0):
        cond = Conditions(b0=9.4, temperature=100.0, concentration_mM=c, omega1=TWO_PI * 100e3,
                          mw_offset=-TWO_PI * 200e6, t1e=3e-4)
        tb = broadline_table(TEMPOL, cond, np.array([1.0]))
        rates.append(tb.k[0])
    # per nucleus the source rate grows (D_D ~ c); per volume (x c) more than 4-fold
    assert rates[1] > 1.3 * rates[0]
    assert 40.0 * rates[1] > 4.0 * 10.0 * rates[0]
    eps = []
    for temp, t1e in ((1.2, 0.1), (20.0, 0.1 * (1.2 / 20.0) ** 1.31), (100.0, 3e-4)):
        cond = Conditions(b0=7.05, temperature=temp, concentration_mM=50, omega1=TWO_PI * 50e3,
                          mw_offset=-TWO_PI * 200e6, t1e=t1e)
        nr = _state(cond)[2]
        eps.append(nr.p_stat / nuclear_thermal_polarization("1H", 7.05, temp))
    assert eps[0] > eps[1] > eps[2] > 1.0


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPINDIFF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_case_takes_its_source_from_the_broadline_model(cache):
    """cases/hypres_tempol_computed.toml: the PDE laws are the broad-line table (C6/r^6 exact,
    r-independent P_src), computed once and then read from the disk cache."""
    from conftest import CASES
    from spindiff import rates
    from spindiff.case import load_case
    from spindiff.model import transport_model
    case = load_case(CASES / "hypres_tempol_computed.toml", {"mesh.model": "radial"})
    tables = rates.tables_for_case(case)
    table = tables["dnp"]
    assert table.meta["method"] == "broadline"
    assert table.exponent_src == pytest.approx(-6.0, abs=1e-9)
    assert 0.0 < table.p_src[0] < 1.0 and np.ptp(table.p_src) == 0.0
    assert len(list(cache.glob("broadline_table_*.json"))) == 1
    again = rates.tables_for_case(case)["dnp"]
    np.testing.assert_array_equal(again.k, table.k)
    model = transport_model(case, tables)
    laws = model.laws(model.stages[0])
    r = np.array([0.5, 1.0, 1.5])
    np.testing.assert_allclose(laws.source_rate(r), table.k_of_r(r))
    np.testing.assert_allclose(laws.source_target(r), table.p_src_of_r(r))
    # the table's R1_para is used as it is (not scaled again by [electron]'s 1 - P_e^2)
    for stage in model.stages:
        np.testing.assert_allclose(model.laws(stage).paramagnetic_rate(r), tables[stage.name].r1_para_of_r(r))


def test_broadline_rejects_mn_and_missing_concentration(cache):
    from conftest import CASES
    from spindiff import rates
    from spindiff.case import load_case
    from spindiff.errors import CaseError
    case = load_case(CASES / "hypres_tempol_computed.toml", {"agent.preset": "MnII"})
    with pytest.raises(CaseError, match="agent.preset"):
        rates.tables_for_case(case)


@pytest.mark.parametrize("key, value", [("ee_min_distance", "0.7 nm"),
                                        ("spectral_diffusion_scale", 1.0), ("T1D", "50 ms")])
def test_broadline_keys_refused_with_another_method(key, value):
    """A broad-line key with agent.method = "full" or "effective" would be ignored: the case is
    refused in one line naming the key."""
    from conftest import CASES
    from spindiff.case import load_case
    from spindiff.errors import CaseError
    for method in ("full", "effective"):
        changes = {"agent.method": method, "agent.ee_min_distance": None,
                   "agent.spectral_diffusion_scale": None, f"agent.{key}": value}
        with pytest.raises(CaseError, match=f"agent.{key}.*broadline"):
            load_case(CASES / "hypres_tempol_computed.toml", changes)
    load_case(CASES / "hypres_tempol_computed.toml", {f"agent.{key}": value})  # broadline: fine
