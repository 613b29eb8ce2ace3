"""Effective (Zeeman-projected) rate model against the full master equation."""
import warnings

import numpy as np
import pytest

from spindiff.physics.constants import nuclear_larmor
from spindiff.physics.electron import electron_larmor
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
WN = nuclear_larmor("1H", B0)
BASE = dict(omega_n=WN, omega_mw=electron_larmor(B0), temperature=T, t1e=1e-3, t2e=1e-6,
            t1n=100.0, t2n=1e-3)


def se_batch():
    a, b = hyperfine_from_angle(np.array([0.5, 0.8, 1.2]), np.array([0.3, 0.7, 0.9]), "1H")
    offs = np.array([WN, -WN, WN])[:, None]
    return SpinBatch(SpinSystem(1, 1), offs, a[:, None, None], b[:, None, None])


def ce_batch():
    return SpinBatch(SpinSystem(2, 1), [[0.0, WN]], [[[TP * 0.1e6], [0.0]]],
                     [[[TP * 0.3e6], [0.0]]], d_ee=TP * 0.3e6)


def rel_err(a, b):
    return np.max(np.abs(a - b) / np.abs(b))


@pytest.mark.parametrize("make", [se_batch, ce_batch])
def test_effective_agrees_with_full_for_large_eta1(make):
    """eta1 >> 1 (here >= 2e4): steady state and buildup rate within 0.5 %."""
    p = SpinParams(omega1=TP * 2e3, **BASE)
    batch = make()
    full = solve_steady(batch, p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no validity warning in range
        eff = solve_effective(batch, p)
    assert np.all(eff.eta1 > 1e3) and np.all(eff.valid)
    assert rel_err(eff.p_n, full.p_n) < 5e-3
    assert rel_err(eff.gamma, full.gamma) < 5e-3


def test_effective_error_grows_out_of_range_and_warns():
    batch = ce_batch()
    errs = []
    for w1 in (2e3, 20e3, 300e3):
        p = SpinParams(omega1=TP * w1, **BASE)
        full = solve_steady(batch, p)
        eff = solve_effective(batch, p, warn=False)
        errs.append((eff.eta1[0], rel_err(eff.p_n, full.p_n), rel_err(eff.gamma, full.gamma)))
    (e1a, pa, ga), (e1b, pb, gb), (e1c, pc, gc) = errs
    assert e1a > e1b > e1c and e1c < 10
    assert pc > 10 * pa and gc > 10 * ga
    assert gc > 0.05
    p = SpinParams(omega1=TP * 300e3, **BASE)
    with pytest.warns(UserWarning) as rec:
        res = solve_effective(batch, p)
    assert any("eta1" in str(w.message) for w in rec)
    assert not res.valid[0]
    assert res.extra["warnings"]
