"""Cross effect in the e-e-n system and the Mn(II) isotropic-hyperfine variant."""
import numpy as np
import pytest

from spindiff.physics.constants import nuclear_larmor
from spindiff.physics.electron import electron_larmor
from spindiff.physics.quantum import (
    Conditions,
    SpinBatch,
    SpinParams,
    SpinSystem,
    matching_fraction,
    mismatch_scan,
    preset,
    solve_steady,
)

TP = 2 * np.pi
B0, T = 7.05, 1.2
WN = nuclear_larmor("1H", B0)
P = SpinParams(omega_n=WN, omega_mw=electron_larmor(B0), temperature=T, omega1=TP * 100e3,
               t1e=1e-3, t2e=1e-6, t1n=100.0, t2n=1e-3)
S = SpinSystem(2, 1)


def een(delta_mismatch, d=TP * 1e6, b=TP * 0.5e6):
    # n-e1-e2: nucleus coupled to the irradiated electron 1 only (pure CE, no SE). The microwave
    # sits on e1's line for its partner in the (dominant) down state: Delta1 + 2 d m2 = 0; the CE
    # degeneracy E(dud) = E(udu) needs Delta2 - Delta1 = omega_n (the 2 d m1 m2 terms are equal).
    return SpinBatch(S, [[d, d + WN + delta_mismatch]], [[[0.0], [0.0]]], [[[b], [0.0]]], d_ee=d)


def test_matched_ce_reaches_electron_polarization_difference():
    """At Delta2 - Delta1 = omega_n with e1 saturated and the CE rate >> 1/T1n, the nucleus
    reaches the spin-temperature limit P_n = (p2 - p1) / (1 - p1 p2) of the steady-state electron
    polarizations (-> p2 ~ p_e when p1 -> 0)."""
    res = solve_steady(een(0.0), P)
    p1, p2 = res.p_e[0]
    pe0 = np.tanh(0.5 * P.beta * P.omega_mw)
    assert p1 < 0.05 * pe0            # first electron saturated
    assert p2 > 0.95 * pe0            # second electron not
    assert res.gamma[0] > 100 * P.r1n  # CE dominates nuclear relaxation
    limit = (p2 - p1) / (1 - p1 * p2)
    assert res.p_n[0, 0] == pytest.approx(limit, rel=0.02)
    assert res.p_n[0, 0] > 0.95 * pe0


def test_ce_vanishes_far_from_matching():
    matched = solve_steady(een(0.0), P).p_n[0, 0]
    far = solve_steady(een(TP * 100e6), P).p_n[0, 0]
    pth = np.tanh(0.5 * P.beta * WN)
    assert abs(far - pth) < 0.01 * abs(matched)


def test_mn_matching_fraction():
    a = preset("MnII")
    c = Conditions(b0=14.1, temperature=100.0, nucleus="7Li")
    f = matching_fraction(a, c)
    assert f["matched_pairs"] == pytest.approx(10 / 36)
    assert f["outermost_pairs_one_end"] == pytest.approx(2 / 36)
    # delta = A_iso - omega_n(7Li, 14.1 T) = 229 - 233.3 MHz
    assert f["mismatch"] == pytest.approx(TP * 229e6 - nuclear_larmor("7Li", 14.1))
    assert f["mismatch"] / TP == pytest.approx(-4.3e6, abs=0.1e6)
    # Livni: ~0.6 % of pairs are both in the central transition on the outermost adjacent lines
    assert f["outermost_ct_pairs_one_end"] == pytest.approx(0.006, abs=0.001)


def test_mn_ce_efficiency_drops_with_mismatch():
    a = preset("MnII")
    c = Conditions(b0=14.1, temperature=100.0, nucleus="7Li", omega1=TP * 1e6)
    out = mismatch_scan(a, c, TP * np.array([0.0, 5e6, 20e6, 60e6]), r_en=0.3, r_ee=1.5,
                        n_theta=3, n_theta_ee=2)
    ce = out["eps_ce"]
    assert ce[0] > 10
    assert np.all(np.diff(ce) < 0)
    assert ce[-1] < 0.2 * ce[0]
