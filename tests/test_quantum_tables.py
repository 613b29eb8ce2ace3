"""PDE terms: rate tables, C6 fits, decomposition, cache, plots, presets."""
import json

import numpy as np
import pytest

from spindiff.physics.quantum import (
    Conditions,
    load_table,
    plot_rate_table,
    plot_sweep_profile,
    preset,
    rate_table,
    save_table,
    sweep_profile,
)

TP = 2 * np.pi
TRITYL = Conditions(b0=7.05, temperature=1.2, nucleus="1H", omega1=TP * 20e3,
                    mw_offset=-TP * 300.0e6, concentration_mM=15.0)
R = np.array([0.5, 0.8, 1.3, 2.0])


@pytest.fixture(scope="module")
def trityl_table():
    return rate_table(preset("trityl"), TRITYL, R, n_theta=4, n_window=8)


def test_presets_exist_and_units():
    for name in ("TEMPOL", "trityl", "MnII"):
        a = preset(name)
        assert a.t1e > a.t2e > 0
    assert preset("MnII").a_iso == pytest.approx(TP * 229e6)
    assert preset("mnii", a_iso=TP * 245e6).a_iso == pytest.approx(TP * 245e6)
    with pytest.raises(ValueError):
        preset("nope")


def test_trityl_solid_effect_table(trityl_table):
    t = trityl_table
    assert t.meta["mechanism"] == "SE"
    assert np.all(t.k > 0) and np.all(t.r1_para >= 0)
    assert t.exponent_src == pytest.approx(-6, abs=0.15)
    # trityl (T1e ~ 1 s) at 1.2 K: paramagnetic relaxation (1 - p^2) R1e B^2/(4 w_n^2) ~ 0
    assert np.all(t.r1_para < 1e-6 / TRITYL.t1n)
    np.testing.assert_allclose(t.k_of_r(R, fitted=True), t.c6_src / R**6)
    # positive lobe: the source target is close to the electron polarization
    assert np.all(t.p_src > 0.9)
    np.testing.assert_allclose(t.p0, t.p_thermal, rtol=1e-3)


def test_decomposition_reproduces_small_system_steady_state(trityl_table):
    """Without diffusion the PDE gives P = (k P_src + R1 P0)/(k + R1) = <G_on P_on>/<G_on>."""
    t = trityl_table
    r1 = 1.0 / TRITYL.t1n + t.r1_para
    p_pde = (t.k * t.p_src + r1 * t.p0) / (t.k + r1)
    assert np.all(p_pde > t.p0)
    assert np.all(p_pde < t.p_src)


def test_cache_and_save_load(tmp_path, trityl_table):
    for suffix in (".json", ".npz"):
        p = save_table(trityl_table, tmp_path / f"t{suffix}")
        t2 = load_table(p)
        np.testing.assert_allclose(t2.k, trityl_table.k)
        assert t2.c6_src == pytest.approx(trityl_table.c6_src)
    kw = dict(n_theta=3, n_window=4, cache_dir=tmp_path / "cache")
    t1 = rate_table(preset("trityl"), TRITYL, R[:2], **kw)
    files = list((tmp_path / "cache").glob("rate_table_*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    data["k"] = [1.0, 2.0]  # prove the second call reads the cache
    files[0].write_text(json.dumps(data))
    t2 = rate_table(preset("trityl"), TRITYL, R[:2], **kw)
    assert t2.k.tolist() == [1.0, 2.0] and t2.meta["key"] == t1.meta["key"]


def test_mn_cross_effect_table_and_compare(tmp_path):
    c = Conditions(b0=14.1, temperature=100.0, nucleus="7Li", omega1=TP * 0.3e6,
                   mw_offset=-TP * 572.5e6, t1n=100.0, t2n=1e-3, r_ee=3.0)
    r = np.array([0.4, 0.8])
    kw = dict(n_theta=3, n_theta_ce=2, n_theta_ee=2)
    t = rate_table(preset("MnII"), c, r, compare=True, **kw)
    assert t.meta["mechanism"] == "CE"
    assert "CE" in t.components and np.all(np.array(t.components["CE"]["k"]) > 0)
    assert np.all(t.r1_para > 0) and t.exponent_rel == pytest.approx(-6, abs=0.05)
    assert t.validity["eta1_min"] > 10 and t.validity["gamma_over_r2_max"] < 0.1
    assert not t.validity["warnings"]
    # measured: ~10 % on k (dominated by the solid effect of the neighbouring line, T1e = 1 us),
    # < 0.01 on P_src; see docs/reference/quantum.md for the regime dependence
    assert t.errors["max_k"] < 0.15 and t.errors["max_p_src_abs"] < 0.01
    # a close partner (r_ee = 1.5 nm) makes e-e flip-flops coherent: the error is flagged
    with pytest.warns(UserWarning, match="Gamma/R2"):
        t2 = rate_table(preset("MnII"), c.with_(r_ee=1.5), r, method="effective", **kw)
    assert t2.validity["gamma_over_r2_max"] > 0.1
    assert plot_rate_table(t, tmp_path / "k.png").stat().st_size > 1000


def test_sweep_profile_plot(tmp_path):
    a = preset("MnII")
    c = Conditions(b0=14.1, temperature=100.0, nucleus="7Li", omega1=TP * 1e6)
    x = TP * np.array([-805.5e6, -572.5e6, 0.0, 805.5e6])
    sp = sweep_profile(a, c, x, n_theta=2, n_theta_ee=2)
    assert sp.eps_en[0] > 1 and sp.eps_en[-1] < -1   # SE lobes of the outermost lines
    assert sp.eps_en[2] == pytest.approx(1.0, abs=0.2)
    assert plot_sweep_profile(sp, tmp_path / "s.png").stat().st_size > 1000
