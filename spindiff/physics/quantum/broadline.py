"""Broad-line radicals (TEMPOL, trityl, user lines): DNP by triple spin flips (cross effect and
thermal mixing, Wenckebach, JMR 2019, "B. Energy transport") driven by the burnt-in electron
polarization profile of `spectral_diffusion`, plus the solid effect, turned into PDE terms.

For a nucleus at distance r from its own electron (hyperfine pseudo-secular |B|^2 averaged over
orientations, <|B|^2> = (6/5) pref^2 / r^6, A^2 = <|B|^2> / 4 = |A_z+ / 2|^2 of Eq. 22):

* triple spin flips with a partner electron at frequency difference Delta (Eqs. 42-43, one
  nucleus, N_S / N_I -> 1):  dP/dt = -sum_ij f_i f_j W(Delta_ij) (1 - P_i P_j)/4 (P - tau_ij),
  W(Delta) = (pi/2) A^2 (u / w_n) g_D(u), u = sqrt(w_n^2 - Delta^2), D0' <= |Delta| <= w_n,
  tau_ij = tanh(Y_ij / 2), Y_ij = 2 artanh P_hi - 2 artanh P_lo + (w_n - |Delta|) beta_D
  (Eq. 87 for the pair, hi / lo the higher / lower electron frequency: the direction of a triple
  flip is set by the pair's eigenstates, not by which electron the nucleus sees). At
  |Delta| = w_n this is Eq. 90-91 (CE, scrambled states); with one rotating-frame temperature
  (Eq. 94) tau = tanh(beta_D w_n / 2) for every pair (Eq. 95). Energy split (Eqs. 59-60): a
  fraction Delta^2 / w_n^2 of each flip's energy is electron Zeeman (CE), the rest electron
  interaction (TM); `NuclearRates` reports both branches with their own stationary states.
* solid effect of the own electron (packet i, microwave): rate <|B|^2> omega1^2 T2e /
  (8 w_n^2 (1 + (delta_i -+ w_n)^2 T2e^2)) toward +-P_i (the second-order amplitude
  omega1 B / (4 w_n) of `effective`), and the direct paramagnetic relaxation by electron T1
  flips, (1 - P_i^2) R1e <|B|^2> / (4 w_n^2), toward the thermal nuclear polarization.

All rates scale as 1/r^6, so P_src is independent of r and k, R1_para are exact C6 / r^6 laws.
The nuclei do not act back on the electrons (no nuclear heat load on the reservoirs).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..constants import nuclear_larmor, nuclear_thermal_polarization
from .agents import Conditions, Lineshape, PolarizingAgent, electron_reference_frequency, lineshape
from .couplings import en_prefactor
from .spectral_diffusion import (
    DEFAULT_R0,
    DipolarBath,
    ElectronModel,
    ElectronState,
    bloch_rate,
    dipolar_bath,
    electron_steady,
    packet_grid,
)
from .tables import RateTable, default_r_grid, fit_c6

TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class BroadlineSettings:
    """Model parameters beyond the agent and conditions.

    r0: closest radical-radical distance (nm), sets the cut-off D0 of g_D (Appendix A).
    esd_scale: multiplies the computed eSD kernel (0: no spectral diffusion).
    t1d: relaxation time of the e-e interaction reservoir (s); None: T1e / 2.
    dipolar: "provotorov" (beta_D from the energy balance) or "lattice" (beta_D = beta_L).
    bin_width: packet width away from the microwave (Hz); n_fine: refined packets per side.
    """

    r0: float = DEFAULT_R0
    esd_scale: float = 1.0
    t1d: float | None = None
    dipolar: str = "provotorov"
    bin_width: float = 3e6
    n_fine: int = 24

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def electron_model(agent: PolarizingAgent, cond: Conditions, settings: BroadlineSettings
                   ) -> ElectronModel:
    """ElectronModel for the agent under the conditions (needs a concentration)."""
    if cond.concentration_mM is None:
        raise ValueError("the broad-line model needs the radical concentration (concentration_mM)")
    bath = dipolar_bath(cond.concentration_mM, settings.r0, agent.g)
    return ElectronModel(omega_ref=electron_reference_frequency(agent, cond),
                         temperature=cond.temperature, omega1=cond.omega1,
                         t1e=cond.t1e if cond.t1e is not None else agent.t1e,
                         t2e=cond.t2e if cond.t2e is not None else agent.t2e, bath=bath,
                         esd_scale=settings.esd_scale, t1d=settings.t1d, dipolar=settings.dipolar)


def electron_state(agent: PolarizingAgent, cond: Conditions, settings: BroadlineSettings,
                   line=None) -> tuple[ElectronState, ElectronModel]:
    """Stationary packet polarizations across the line at cond.mw_offset."""
    model = electron_model(agent, cond, settings)
    line = lineshape(agent, cond) if line is None else line
    if line.density is None:
        raise ValueError("the broad-line model needs a continuous EPR line; discrete hyperfine "
                         "lines (Mn(II)) are for method = \"full\" or \"effective\"")
    hole = 2.0 / model.t2e * np.sqrt(1.0 + model.omega1**2 * model.t1e * model.t2e)
    bw = min(TWO_PI * settings.bin_width, line.width(0.01, 0.99) / 60.0)   # resolve narrow lines
    grid = packet_grid(line.eps, line.density, cond.mw_offset, bw, hole,
                       settings.n_fine)
    return electron_steady(grid, model, cond.mw_offset), model


def _tsf_antiderivative(x: np.ndarray, omega_n: float, bath: DipolarBath) -> np.ndarray:
    """Q(x) = int_0^x W(Delta) dDelta for A^2 = 1 (odd in x); W = 0 outside D0' <= |D| <= w_n.

    Closed form with Delta = w_n cos(theta): int_theta^0 ... = (D_D / (2 w_n)) [theta -
    (D_D / c) arctan((c / D_D) tan theta)], c = sqrt(w_n^2 + D_D^2)."""
    dd = bath.d_d
    cc = np.sqrt(omega_n**2 + dd**2)
    th_max = np.arcsin(min(bath.d0 / omega_n, 1.0))

    def tail(theta):  # int over Delta in [w_n cos theta, w_n]
        return 0.5 * dd / omega_n * (theta - dd / cc * np.arctan(cc / dd * np.tan(theta)))
    q_tot = tail(th_max)
    ax = np.abs(x)
    theta = np.arccos(np.clip(ax / omega_n, np.cos(th_max), 1.0))
    q = q_tot - tail(theta)
    return np.sign(x) * q


def _tsf_second_antiderivative(omega_n: float, bath: DipolarBath, n: int = 4000):
    """(x, Q2) tabulated for x in [D0', w_n]: Q2(x) = int_0^x Q (even); beyond w_n it is
    Q2(w_n) + Q_tot (x - w_n), below D0' zero. Dense in theta near the CE peak (x -> w_n)."""
    th_max = np.arcsin(min(bath.d0 / omega_n, 1.0))
    theta = np.concatenate([[0.0], np.geomspace(1e-9, th_max, n)])[::-1]
    x = omega_n * np.cos(theta)                         # increasing
    q = _tsf_antiderivative(x, omega_n, bath)
    q2 = np.concatenate([[0.0], np.cumsum(0.5 * (q[1:] + q[:-1]) * np.diff(x))])
    return x, q2, float(_tsf_antiderivative(np.array([omega_n]), omega_n, bath)[0])


def tsf_weights(grid, omega_n: float, bath: DipolarBath) -> np.ndarray:
    """Mean of W(omega_i - omega_j) (A^2 = 1) over packets i and j (uniform within each):
    [Q2(b_i - a_j) - Q2(a_i - a_j) - Q2(b_i - b_j) + Q2(a_i - b_j)] / (w_i w_j), Q2'' = W,
    exact for piecewise-uniform packets however sharp the CE peak at |Delta| = w_n."""
    xt, q2t, q_tot = _tsf_second_antiderivative(omega_n, bath)

    def q2(v):
        a = np.abs(v)
        inner = np.interp(a, xt, q2t, left=0.0, right=q2t[-1])
        return np.where(a > omega_n, q2t[-1] + q_tot * (a - omega_n), inner)
    a, b, c, w = grid.edges[:-1], grid.edges[1:], grid.centres, grid.widths
    d = np.abs(c[:, None] - c[None, :])
    half = 0.5 * (w[:, None] + w[None, :])
    out = np.zeros_like(d)
    m = (d - half < omega_n) & (d + half > xt[0])
    ii, jj = np.nonzero(m)
    val = (q2(b[ii] - a[jj]) - q2(a[ii] - a[jj]) - q2(b[ii] - b[jj]) + q2(a[ii] - b[jj]))
    out[ii, jj] = np.maximum(val, 0.0) / (w[ii] * w[jj])
    return out


@dataclass
class NuclearRates:
    """Rates (1/s) and targets of one nucleus per unit <|B|^2> = 1 rad^2/s^2 (multiply the
    rates by <|B|^2>(r) = (6/5) pref^2 / r^6).

    tsf / tsf_target: triple spin flips (CE + TM); ce, tm: the Zeeman (CE, Eq. 59) and
    interaction (TM, Eq. 60) branches, each with its own stationary state (Eqs. 77, 78);
    se / se_target: solid effect; direct / p_thermal: electron-T1 relaxation; total / p_stat:
    all together. flows: energy flows (rad/s^2 per unit <|B|^2>) in the triple-spin-flip
    stationary state P = tsf_target: nuclear (sums to 0), CE (electron Zeeman), TM (interaction)."""

    tsf: float
    tsf_target: float
    ce: float
    ce_target: float
    tm: float
    tm_target: float
    se: float
    se_target: float
    direct: float
    p_thermal: float
    total: float
    p_stat: float
    flows: dict = field(default_factory=dict)


def nuclear_rates(state: ElectronState, model: ElectronModel, omega_n: float, p_thermal: float
                  ) -> NuclearRates:
    """Triple-spin-flip, solid-effect and direct rates of a nucleus for an electron state."""
    g, p, f = state.grid, state.p, state.grid.f
    c = g.centres
    wij = tsf_weights(g, omega_n, model.bath) * f[:, None] * f[None, :]
    pp = p[:, None] * p[None, :]
    gam = wij * (1.0 - pp) / 4.0
    at = np.arctanh(np.clip(p, -1 + 1e-16, 1 - 1e-16))
    d = c[:, None] - c[None, :]
    hi_minus_lo = np.sign(d) * (at[:, None] - at[None, :])
    # (w_n - |Delta|) unclipped: packet pairs whose centres lie just beyond w_n (the box
    # average of the sharp CE peak) keep exact detailed balance
    y = 2.0 * hi_minus_lo + (omega_n - np.abs(d)) * state.beta_d
    tau = np.tanh(0.5 * y)
    wz = np.minimum((d / omega_n) ** 2, 1.0)

    def branch(weight):
        rate = float(np.sum(gam * weight))
        return rate, (float(np.sum(gam * weight * tau)) / rate if rate > 0 else p_thermal)
    tsf, tsf_t = branch(1.0)
    ce, ce_t = branch(wz)
    tm, tm_t = branch(1.0 - wz)
    fac = 1.0 / (8.0 * omega_n**2)
    sp = f * bloch_rate(g, state.mw_offset, model.omega1, model.t2e, +omega_n) * fac
    sm = f * bloch_rate(g, state.mw_offset, model.omega1, model.t2e, -omega_n) * fac
    se = float(np.sum(sp + sm))
    se_t = float(np.sum((sp - sm) * p)) / se if se > 0 else 0.0
    direct = float(np.sum(f * (1.0 - p * p))) / model.t1e / (4.0 * omega_n**2)
    total = tsf + se + direct
    p_stat = (tsf * tsf_t + se * se_t + direct * p_thermal) / total
    dpn = gam * (tau - tsf_t)               # dP/dt per pair in the triple-flip stationary state
    du_n = -0.5 * omega_n * dpn             # nuclear Zeeman energy flow (Eq. 50)
    flows = {"nuclear": float(du_n.sum()), "zeeman_ce": float(-(wz * du_n).sum()),
             "interaction_tm": float(-((1.0 - wz) * du_n).sum())}
    return NuclearRates(tsf, tsf_t, ce, ce_t, tm, tm_t, se, se_t, direct, p_thermal, total,
                        p_stat, flows)


def b2_mean(r: np.ndarray | float, nucleus: str, g: float) -> np.ndarray:
    """Orientation average <|B|^2> = (6/5) pref^2 / r^6 (rad^2/s^2), r in nm."""
    return 1.2 * en_prefactor(nucleus, g) ** 2 / np.asarray(r, float) ** 6


@dataclass
class BroadlineResult:
    """Electron states and nuclear rates with microwaves on and off."""

    on: ElectronState
    off: ElectronState
    rates_on: NuclearRates
    rates_off: NuclearRates
    model: ElectronModel
    omega_n: float
    p_thermal: float


def solve_broadline(agent: PolarizingAgent, cond: Conditions,
                    settings: BroadlineSettings | None = None, line=None) -> BroadlineResult:
    """Electron profile and nuclear rates with the microwaves on (cond.omega1) and off."""
    settings = settings or BroadlineSettings()
    line = lineshape(agent, cond) if line is None else line
    wn = nuclear_larmor(cond.nucleus, cond.b0)
    pt = nuclear_thermal_polarization(cond.nucleus, cond.b0, cond.temperature)
    on, model = electron_state(agent, cond, settings, line)
    off, model_off = electron_state(agent, cond.with_(omega1=0.0), settings, line)
    return BroadlineResult(on, off, nuclear_rates(on, model, wn, pt),
                           nuclear_rates(off, model_off, wn, pt), model, wn, pt)


def broadline_table(agent: PolarizingAgent, cond: Conditions, r: np.ndarray | None = None,
                    settings: BroadlineSettings | None = None, result: BroadlineResult | None = None,
                    line=None):
    """RateTable (tables.RateTable) of k(r), P_src, R1_para(r) from the broad-line model.

    With Gamma_on / Gamma_off the total nuclear rates with microwaves on / off (per unit
    <|B|^2>) and P_on, P_off their stationary targets (P_off = thermal):
    R1_para = Gamma_off <|B|^2>(r), k = (Gamma_on - Gamma_off) <|B|^2>(r),
    P_src = (Gamma_on P_on - Gamma_off P_off) / (Gamma_on - Gamma_off), as in `tables`. line:
    any continuous EPR line (default the agent's, `agents.lineshape`)."""
    settings = settings or BroadlineSettings()
    res = result or solve_broadline(agent, cond, settings, line)
    r = default_r_grid(cond) if r is None else np.asarray(r, float)
    b2 = b2_mean(r, cond.nucleus, agent.g)
    on, off = res.rates_on, res.rates_off
    dk = max(on.total - off.total, 0.0)
    p_src = (on.total * on.p_stat - off.total * off.p_stat) / dk if dk > 0 else res.p_thermal
    k = dk * b2
    r1 = off.total * b2
    c6s, exs = fit_c6(r, k)
    c6r, exr = fit_c6(r, r1)
    comp = {name: {"rate_per_B2": getattr(on, name), "target": getattr(on, f"{name}_target")}
            for name in ("tsf", "ce", "tm", "se")}
    table = RateTable(r=r, k=k, p_src=np.full_like(r, p_src), r1_para=r1,
                      p0=np.full_like(r, off.p_stat), c6_src=c6s, c6_rel=c6r, exponent_src=exs,
                      exponent_rel=exr, p_thermal=res.p_thermal, components=comp)
    table.validity = {"warnings": []}
    table.meta.update({
        "method": "broadline", "mechanism": "CE+TM+SE (Wenckebach triple spin flips, eSD)",
        "agent": agent.to_dict(), "conditions": cond.to_dict(), "settings": settings.to_dict(),
        "beta_d_over_beta_l": res.on.beta_d / res.model.beta_l,
        "p_nuclear_stationary": on.p_stat, "n_packets": int(len(res.on.p)),
        "mean_p_e_on": float(np.sum(res.on.grid.f * res.on.p)),
        "bath": {"D_D_Hz": res.model.bath.d_d / TWO_PI, "D0_Hz": res.model.bath.d0 / TWO_PI,
                 "sqrt_M2_Hz": np.sqrt(res.model.bath.m2) / TWO_PI, "r0_nm": res.model.bath.r0}})
    return table


def user_line(eps: np.ndarray, density: np.ndarray):
    """A user-given EPR line: offsets eps (rad/s, uniform grid) and density (normalised here)."""
    eps = np.asarray(eps, float)
    dens = np.maximum(np.asarray(density, float), 0.0)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # renamed in numpy 2
    return Lineshape(eps, dens / trapezoid(dens, eps))


def gaussian_line(fwhm: float, center: float = 0.0, n: int = 801):
    """Gaussian EPR line of full width `fwhm` (rad/s) on +-3 FWHM, symmetric about `center`."""
    eps = center + np.linspace(-3.0, 3.0, n) * fwhm
    return user_line(eps, np.exp(-4.0 * np.log(2.0) * ((eps - center) / fwhm) ** 2))
