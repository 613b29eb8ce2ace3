"""Broad-line model: the fast-eSD state against an independent spin-temperature solution on a
grid of conditions, the electron steady state's starts, the Gaussian agent line, and sweeps
over any continuous line.

The independent solution (`_spin_temperature_states`) writes the two balances of the fast-eSD
limit from their definitions (docs/reference/quantum.md, Eq. 94 of Wenckebach 2019): packets at one
rotating-frame spin temperature, P_i = tanh((b beta_L delta_i + c) / 2), with

    flips:   sum_i f_i [-W_i (P_i - tanh(b beta_L delta_i / 2)) - R1e (P_i - P0_i)] = 0
    energy:  -(2 R1e T1D / (M2 beta_L)) sum_i f_i delta_i (P_i - P0_i) - (b - 1) = 0,

and solves them by nested bracketed roots (regula falsi, Illinois: c for each b; then b), for
all points at once (the module uses Brent's method on a bracket it derives). The
grid: TEMPOL at 50 mM, 7.05 T, w1/2pi = 50 kHz, 15 temperatures from 1.2 to 100 K (log) by 15
microwave offsets from -400 to +400 MHz.
"""
from __future__ import annotations

import numpy as np
import pytest

from spindiff.physics.quantum import Conditions, lineshape, preset
from spindiff.physics.quantum.broadline import (
    BroadlineSettings,
    electron_model,
    electron_state,
    gaussian_line,
    nuclear_rates,
    user_line,
)
from spindiff.physics.quantum.broadline_sweep import broadline_sweep
from spindiff.physics.quantum.spectral_diffusion import bloch_rate, electron_steady, fast_sd_state, packet_grid

TWO_PI = 2.0 * np.pi
TEMPOL = preset("TEMPOL")
B0, WN = 7.05, TWO_PI * 300.13e6
#: bracket of beta_D / beta_L for the independent solution (the grid's roots lie within +-800)
B_MAX = 5e3


def _grid_and_model(cond, settings=BroadlineSettings()):
    """The packets electron_state would use, and the electron model."""
    model = electron_model(TEMPOL, cond, settings)
    line = lineshape(TEMPOL, cond)
    hole = 2.0 / model.t2e * np.sqrt(1.0 + model.omega1**2 * model.t1e * model.t2e)
    bw = min(TWO_PI * settings.bin_width, line.width(0.01, 0.99) / 60.0)
    return packet_grid(line.eps, line.density, cond.mw_offset, bw, hole, settings.n_fine), model


def _conditions():
    return [Conditions(b0=B0, temperature=t, concentration_mM=50, omega1=TWO_PI * 50e3,
                       mw_offset=TWO_PI * off * 1e6)
            for t in np.geomspace(1.2, 100.0, 15) for off in np.linspace(-400.0, 400.0, 15)]


def _spin_temperature_states(points):
    """(b, c, P) of every point by nested bracketed roots, b in [-B_MAX, B_MAX]."""
    n = max(len(g.f) for g, _, _ in points)

    def pad(rows):
        out = np.zeros((len(rows), n))
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return out
    f = pad([g.f for g, _, _ in points])
    delta = pad([g.centres - off for g, _, off in points])
    w = pad([bloch_rate(g, off, m.omega1, m.t2e) for g, m, off in points])
    p0 = pad([np.tanh(0.5 * m.beta_l * (m.omega_ref + g.centres)) for g, m, _ in points])
    bl = np.array([m.beta_l for _, m, _ in points])[:, None]
    r1 = np.array([1.0 / m.t1e for _, m, _ in points])[:, None]
    k = np.array([2.0 * T1e_over(m) / (m.bath.m2 * m.beta_l) for _, m, _ in points])

    def states(b, c):
        return np.tanh(0.5 * (b[:, None] * bl * delta + c[:, None]))

    def flips(b, c, th):          # th = tanh(b beta_L delta / 2)
        p = states(b, c)
        return np.sum(f * (-w * (p - th) - r1 * (p - p0)), axis=1)

    def root(fun, lo, hi, tol):
        """Bracketed root of a decreasing fun, for every point at once: regula falsi with the
        Illinois modification (the end kept twice in a row has its value halved)."""
        flo, fhi, kept = fun(lo), fun(hi), np.zeros(len(lo))
        assert np.all(flo > 0) and np.all(fhi < 0)
        for _ in range(200):
            x = (lo * fhi - hi * flo) / (fhi - flo)
            fx = fun(x)
            up = fx > 0.0                  # the root lies above x
            lo, flo = np.where(up, x, lo), np.where(up, fx, flo)
            hi, fhi = np.where(up, hi, x), np.where(up, fhi, fx)
            fhi = np.where(up & (kept > 0), 0.5 * fhi, fhi)
            flo = np.where(~up & (kept < 0), 0.5 * flo, flo)
            kept = np.where(up, 1.0, -1.0)
            if np.all((hi - lo < tol) | (fx == 0.0)):
                break
        return x

    reach = bl[:, 0] * np.max(np.abs(delta), axis=1)

    def c_of(b):                 # beyond +-(|b| beta_L max|delta| + 300) every tanh is +-1
        wide = np.abs(b) * reach + 300.0
        th = np.tanh(0.5 * b[:, None] * bl * delta)
        return root(lambda c: flips(b, c, th), -wide, wide, 1e-10)

    def energy(b):
        p = states(b, c_of(b))
        return -k * np.sum(f * delta * (p - p0), axis=1) - (b - 1.0)

    b = root(energy, np.full(len(points), -B_MAX), np.full(len(points), B_MAX), 1e-6)
    c = c_of(b)
    return b, c, states(b, c)


def T1e_over(model):
    """R1e T1D (= 1/2 by default: T1D = T1e / 2)."""
    return model.t1d_eff / model.t1e


@pytest.fixture(scope="module")
def grid_points():
    return [(*_grid_and_model(cond), cond.mw_offset) for cond in _conditions()]


def test_fast_sd_state_agrees_with_an_independent_spin_temperature_solution(grid_points):
    """At all 225 points: P_n = tanh(beta_D w_n / 2) within 1e-6, every packet within 1e-6."""
    b_ref, _, p_ref = _spin_temperature_states(grid_points)
    assert np.all(np.abs(b_ref) < 0.99 * B_MAX)           # inside the bracket
    bad = []
    for i, (grid, model, off) in enumerate(grid_points):
        fs = fast_sd_state(grid, model, off)
        pn, pn_ref = np.tanh(0.5 * fs.beta_d * WN), np.tanh(0.5 * b_ref[i] * model.beta_l * WN)
        dp = np.max(np.abs(fs.p - p_ref[i, :len(fs.p)]))
        if not (abs(pn - pn_ref) < 1e-6 and dp < 1e-6):
            bad.append((i, pn, pn_ref, dp))
    assert not bad, f"{len(bad)} of {len(grid_points)} points differ, e.g. {bad[:3]}"
    # the grid spans cold and hot reservoirs of both signs
    assert b_ref.max() > 400 and b_ref.min() < -400


def test_fast_sd_state_raises_rather_than_returning_a_wrong_state(grid_points):
    grid, model, off = grid_points[0]
    broken = type(model)(**{**model.__dict__, "t1e": float("nan")})
    with pytest.raises(RuntimeError, match="fast-eSD state"):
        fast_sd_state(grid, broken, off)


def test_electron_steady_starts_only_from_a_converged_fast_state(monkeypatch):
    """A guess from which Newton stalls: the fast-eSD start is taken (it is converged); when
    fast_sd_state cannot give one (it raises), pseudo-transient continuation; the same state.
    (Coarse packets, 12 MHz, for speed: the pseudo-transient continuation solves dense
    systems.)"""
    import spindiff.physics.quantum.spectral_diffusion as sd
    cond = _conditions()[0]                  # 1.2 K, -400 MHz
    grid, model = _grid_and_model(cond, BroadlineSettings(bin_width=12e6, n_fine=12))
    off = cond.mw_offset
    ref = electron_steady(grid, model, off)
    assert ref.info["start"] == "guess"
    bad_guess = (np.full(len(grid.f), -0.999), 1e6)
    st = electron_steady(grid, model, off, guess=bad_guess)
    assert st.info["start"].startswith("fast-eSD state")
    assert np.max(np.abs(st.p - ref.p)) < 1e-9

    def no_state(*args, **kwargs):
        raise RuntimeError("fast-eSD state did not converge")
    monkeypatch.setattr(sd, "fast_sd_state", no_state)
    st = electron_steady(grid, model, off, guess=bad_guess)
    assert "pseudo-transient continuation" in st.info["start"]
    assert "fast-eSD" not in st.info["start"]
    assert np.max(np.abs(st.p - ref.p)) < 1e-9


@pytest.mark.parametrize("fwhm_mhz", [5.0, 20.0, 60.0])
def test_gaussian_agent_line_is_centred_with_one_density_per_offset(fwhm_mhz):
    agent = TEMPOL.with_(g_tensor=None, a_tensor=None, line_fwhm=TWO_PI * fwhm_mhz * 1e6)
    line = lineshape(agent, Conditions(b0=B0, temperature=1.2))
    assert len(line.eps) == len(line.density)
    step = line.eps[1] - line.eps[0]
    mean = np.sum(line.eps * line.density) * step
    var = np.sum((line.eps - mean) ** 2 * line.density) * step
    assert abs(mean) < 1e-12 * agent.line_fwhm
    assert np.sum(line.density) * step == pytest.approx(1.0, rel=1e-12)
    assert np.sqrt(var) == pytest.approx(agent.line_fwhm / 2.3548, rel=1e-3)  # cut at 5 sigma


def _asymmetric_user_line():
    eps = np.linspace(-TWO_PI * 400e6, TWO_PI * 400e6, 1601)
    dens = (np.exp(-0.5 * ((eps + TWO_PI * 80e6) / (TWO_PI * 60e6)) ** 2)
            + 0.4 * np.exp(-0.5 * ((eps - TWO_PI * 150e6) / (TWO_PI * 40e6)) ** 2))
    return user_line(eps, dens)


@pytest.mark.parametrize("which", ["gaussian", "user", "gaussian agent"])
def test_broadline_sweep_takes_any_continuous_line(which):
    """The sweep over a given line equals electron_state + nuclear_rates with that line, point by
    point; the default offsets follow the line's extent; a symmetric line gives an
    antisymmetric profile (up to the lab Boltzmann factors across the line, 3e-3)."""
    from spindiff.physics.quantum.broadline_sweep import default_offsets
    cond = Conditions(b0=3.4, temperature=1.2, concentration_mM=40, omega1=TWO_PI * 20e3)
    agent, given = TEMPOL, None
    if which == "gaussian":
        given = line = gaussian_line(TWO_PI * 150e6)
    elif which == "user":
        given = line = _asymmetric_user_line()
    else:
        agent = TEMPOL.with_(g_tensor=None, a_tensor=None, line_fwhm=TWO_PI * 150e6)
        line = lineshape(agent, cond)
    offsets = TWO_PI * 1e6 * np.array([-120.0, -50.0, 50.0, 120.0])
    coarse = BroadlineSettings(bin_width=6e6, n_fine=12)    # fewer packets: faster
    sw = broadline_sweep(agent, cond, coarse, offsets=offsets, line=given)
    for i, off in enumerate(offsets):
        st, model = electron_state(agent, cond.with_(mw_offset=float(off)), coarse, line)
        nr = nuclear_rates(st, model, sw.omega_n, sw.p_thermal)
        assert sw.p_n[i] == pytest.approx(nr.p_stat, abs=1e-12)
    assert sw.p_n[1] > 0.1 and sw.p_n[2] < -0.1          # positive DNP below the centre
    if which != "user":
        for i in (0, 1):
            assert abs(sw.p_n[i] + sw.p_n[3 - i]) < 3e-3 * abs(sw.p_n[i])
    lo, hi = line.extent
    auto = default_offsets(agent, cond, n=5, line=given)
    assert auto[0] == pytest.approx(lo - sw.omega_n) and auto[-1] == pytest.approx(hi + sw.omega_n)


def test_broadline_refuses_a_discrete_line():
    cond = Conditions(b0=B0, temperature=1.2, concentration_mM=40)
    mn = preset("MnII")
    with pytest.raises(ValueError, match="continuous EPR line"):
        broadline_sweep(TEMPOL, cond, offsets=[0.0], line=lineshape(mn, cond))
