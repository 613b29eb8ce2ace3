"""Solid effect in the e-n system (full master equation)."""
import numpy as np
import pytest

from spindiff.physics.constants import nuclear_larmor
from spindiff.physics.electron import electron_larmor
from spindiff.physics.quantum import SpinBatch, SpinParams, SpinSystem, hyperfine_from_angle, solve_steady

TP = 2 * np.pi
B0, T = 7.05, 1.2
WN = nuclear_larmor("1H", B0)
P = SpinParams(omega_n=WN, omega_mw=electron_larmor(B0), temperature=T, omega1=TP * 2e3,
               t1e=1e-3, t2e=1e-6, t1n=100.0, t2n=1e-3)
S = SpinSystem(1, 1)


def se_rate(r, cos_t, params, offset=WN):
    a, b = hyperfine_from_angle(np.atleast_1d(r), cos_t, "1H")
    n = a.size
    batch = SpinBatch(S, np.full((n, 1), offset), a[:, None, None], b[:, None, None])
    on, off = solve_steady(batch, params, True), solve_steady(batch, params, False)
    return on.gamma - off.gamma, on


def test_lobes_have_opposite_signs():
    a, b = hyperfine_from_angle(0.6, np.cos(np.pi / 4), "1H")
    batch = SpinBatch(S, [[WN], [-WN]], a, b)
    res = solve_steady(batch, P.with_(omega1=TP * 20e3))
    pos, neg = res.p_n[:, 0]
    pth = np.tanh(0.5 * P.beta * WN)
    assert pos > 10 * pth and neg < -10 * pth  # positive lobe at Delta = +omega_n
    assert abs(pos + neg) < 0.1 * abs(pos)


def test_rate_scales_as_omega1_squared():
    w1 = TP * np.array([0.5e3, 1e3, 2e3, 4e3])
    k = np.array([se_rate(0.8, 0.7, P.with_(omega1=w))[0][0] for w in w1])
    slope = np.polyfit(np.log(w1), np.log(k), 1)[0]
    assert slope == pytest.approx(2.0, abs=0.02)


def test_rate_scales_as_r_minus_six():
    r = np.array([0.6, 0.8, 1.1, 1.5, 2.0])
    k, _ = se_rate(r, np.full(r.size, 0.7), P)
    slope = np.polyfit(np.log(r), np.log(k), 1)[0]
    assert slope == pytest.approx(-6.0, abs=0.05)


def test_paramagnetic_relaxation_matches_spectral_density():
    """Microwaves off: R1_para = (1 - p^2) R1e B^2 / (4 omega_n^2) for omega_n >> R1e, A."""
    r, c = 1.0, np.cos(np.pi / 4)
    a, b = hyperfine_from_angle(r, c, "1H")
    res = solve_steady(SpinBatch(S, [[0.0]], a, b), P, microwaves=False)
    pe = np.tanh(0.5 * P.beta * P.omega_mw)
    expected = (1 - pe**2) * P.r1e * abs(b) ** 2 / (4 * WN**2)
    assert res.gamma[0] - P.r1n == pytest.approx(expected, rel=1e-2)
