"""Electron spin packets of a broad EPR line under CW microwaves: saturation, electron spectral
diffusion (eSD) and the electron dipolar (interaction) reservoir, beyond the high-temperature
approximation. Units: rad/s, s, K; offsets eps from g_iso mu_B B0 / hbar (rad/s).

The line is cut into packets i (frequency omega_i = omega_ref + eps_i, fraction f_i of the
electrons, polarization P_i, thermal sign positive). One inverse temperature beta_D describes
the e-e interaction reservoir (Provotorov; Wenckebach, JMR 2019, Eqs. 85, 94, 107, 113-114).
Stationary equations (delta_i = omega_i - omega_mw, y_ij = beta_D (omega_i - omega_j) / 2):

    0 = -W_i (P_i - tanh(beta_D delta_i / 2)) - R1e (P_i - P0_i)
        - sum_j G_ij [(P_i - P_j) - tanh(y_ij) (1 - P_i P_j)]                          (1)
    0 = -(2 R1e / M2) sum_i f_i delta_i (P_i - P0_i) - (beta_D - beta_L) / T1D          (2)

W_i: Bloch saturation rate omega1^2 T2e / (1 + delta^2 T2e^2), averaged over the packet; the
energy omega_i - omega_mw of each absorbed photon is taken from the interaction reservoir
(Provotorov, Eq. 113). eSD: flip-flops i <-> j with the population factors of the product
state and the energy omega_i - omega_j taken from the reservoir, so that (1) holds exactly in
thermal equilibrium and tends to Eq. 94 (one spin temperature) when eSD is fast. The kernel is
Provotorov's cross-relaxation kernel (Eq. 113): G_ij = s (pi/2) M2 (h*h)(omega_i - omega_j) f_j,
h the homogeneous e-e line = the Lorentzian g_D of Wenckebach's Appendix A (half width D_D),
h*h the Lorentzian of half width 2 D_D, cut at 2 D0; s = `esd_scale` (1 = computed, 0 = none).
(2) is the balance of the rotating-frame energy (microwaves and eSD conserve it): Zeeman
relaxation of the packets against the reservoir's own relaxation, heat capacity M2/4 per
electron (Eq. 107), T1D = T1e/2 by default (independent single-spin relaxation, Abragam &
Goldman, Rep. Prog. Phys. 41, 395 (1978)). `dipolar="lattice"` pins beta_D = beta_L instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..constants import HBAR, K_B, MILLIMOLAR_IN_PER_NM3
from .couplings import ee_prefactor

DEFAULT_R0 = 0.7  # nm, closest approach of two TEMPOL radicals (assumed, see docs/reference/quantum.md)


@dataclass(frozen=True)
class DipolarBath:
    """e-e dipolar parameters of randomly placed radicals (Wenckebach 2019, Appendix A).

    Attributes (rad/s): d_av = (1/sqrt5) (mu0/4pi) hbar gamma_e^2 n_S (A.7); d_d = 0.9366 d_av,
    half width of the Lorentzian g_D (A.9); d0 = (mu0/4pi) hbar gamma_e^2 / r0^3, its cut-off
    (A.6); m2 = (2/pi) d0 d_d, second moment (A.8, rad^2/s^2). n_s in nm^-3, r0 in nm.
    """

    n_s: float
    r0: float
    d_av: float
    d_d: float
    d0: float
    m2: float


def dipolar_bath(concentration_mM: float, r0: float = DEFAULT_R0, g: float = 2.0023) -> DipolarBath:
    """DipolarBath for `concentration_mM` (mM) radicals with closest distance r0 (nm)."""
    if not concentration_mM > 0 or not r0 > 0:
        raise ValueError("concentration and r0 must be > 0")
    n = concentration_mM * MILLIMOLAR_IN_PER_NM3
    pref = ee_prefactor(g)
    d_av = pref * n / np.sqrt(5.0)
    d_d = 4.0 * np.pi * np.sqrt(5.0) / 30.0 * d_av      # = 0.9366 d_av
    d0 = pref / r0**3
    return DipolarBath(n, r0, d_av, d_d, d0, 2.0 / np.pi * d0 * d_d)


@dataclass
class PacketGrid:
    """Spin packets: edges (n+1,), centres, widths (rad/s offsets eps) and fractions f (sum 1)."""

    edges: np.ndarray
    f: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)


def packet_grid(eps: np.ndarray, density: np.ndarray, mw_offset: float, bin_width: float,
                hole_width: float, n_fine: int = 24) -> PacketGrid:
    """Packets of width `bin_width` over the tabulated line (eps, density), refined
    geometrically around the microwave (from hole_width / 8 up to bin_width), so that the
    burnt hole is resolved. Fractions are exact integrals of the tabulated density."""
    eps, density = np.asarray(eps, float), np.asarray(density, float)
    if eps.shape != density.shape:
        raise ValueError(f"the line has {len(eps)} offsets and {len(density)} densities")
    lo, hi = float(eps[0]), float(eps[-1])
    n = max(int(np.ceil((hi - lo) / bin_width)), 8)
    edges = np.linspace(lo, hi, n + 1)
    if lo < mw_offset < hi:
        h0 = max(hole_width / 8.0, 1e-6 * bin_width)
        steps = np.geomspace(h0, 2.0 * bin_width, n_fine)
        fine = np.concatenate([mw_offset - steps[::-1], [mw_offset], mw_offset + steps])
        span = 2.0 * bin_width
        keep = np.abs(edges - mw_offset) > span * 1.01
        edges = np.unique(np.concatenate([edges[keep], fine[(fine > lo) & (fine < hi)]]))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(eps))])
    f = np.diff(np.interp(edges, eps, cdf))
    f = np.maximum(f, 0.0)
    return PacketGrid(edges, f / f.sum())


def _lorentz_h(x: np.ndarray, gam: float) -> np.ndarray:
    """Second antiderivative (up to a linear term) of the Lorentzian of half width gam."""
    return (x * np.arctan(x / gam) - 0.5 * gam * np.log(x * x + gam * gam)) / np.pi


def esd_kernel(grid: PacketGrid, bath: DipolarBath, scale: float = 1.0) -> np.ndarray:
    """G_ij (1/s): rate at which packet i flip-flops with packets j (Provotorov kernel,
    double-averaged over both packets; symmetric in f_i G_ij; zero on the diagonal)."""
    a, b, c, w = grid.edges[:-1], grid.edges[1:], grid.centres, grid.widths
    gam = 2.0 * bath.d_d
    dc = c[:, None] - c[None, :]
    near = np.abs(dc) < 6.0 * (w[:, None] + w[None, :]) + 20.0 * gam
    dbl = (_lorentz_h(b[:, None] - a[None, :], gam) - _lorentz_h(a[:, None] - a[None, :], gam)
           - _lorentz_h(b[:, None] - b[None, :], gam) + _lorentz_h(a[:, None] - b[None, :], gam))
    kbar = np.where(near, dbl / (w[:, None] * w[None, :]), gam / (np.pi * (dc * dc + gam * gam)))
    kbar[np.abs(dc) > 2.0 * bath.d0] = 0.0
    np.fill_diagonal(kbar, 0.0)
    return scale * 0.5 * np.pi * bath.m2 * np.maximum(kbar, 0.0) * grid.f[None, :]


def bloch_rate(grid: PacketGrid, mw_offset: float, omega1: float, t2e: float,
               shift: float = 0.0) -> np.ndarray:
    """Packet-averaged Bloch saturation rate omega1^2 T2 / (1 + (delta - shift)^2 T2^2) (1/s),
    delta = eps - mw_offset; `shift` = +-omega_n gives the solid-effect transitions."""
    lo = (grid.edges[:-1] - mw_offset - shift) * t2e
    hi = (grid.edges[1:] - mw_offset - shift) * t2e
    return omega1**2 * (np.arctan(hi) - np.arctan(lo)) / grid.widths


@dataclass(frozen=True)
class ElectronModel:
    """Electron-side parameters (rad/s, s, K). t1d None -> t1e / 2."""

    omega_ref: float
    temperature: float
    omega1: float
    t1e: float
    t2e: float
    bath: DipolarBath
    esd_scale: float = 1.0
    t1d: float | None = None
    dipolar: str = "provotorov"

    @property
    def beta_l(self) -> float:
        return HBAR / (K_B * self.temperature)

    @property
    def t1d_eff(self) -> float:
        return self.t1e / 2.0 if self.t1d is None else self.t1d


@dataclass
class ElectronState:
    """Stationary packet polarizations P (thermal sign positive), reservoir inverse temperature
    beta_d (s), thermal P0, the grid and solver information."""

    grid: PacketGrid
    p: np.ndarray
    beta_d: float
    p0: np.ndarray
    mw_offset: float
    info: dict = field(default_factory=dict)


def _residual(x, n, w_mw, r1, p0, gmat, delta, c, f, model, fixed_b):
    """Residual of Eqs. (1)-(2) (unknowns P and beta_D / beta_L) and its Jacobian."""
    p, bb = x[:n], (1.0 if fixed_b else x[n])
    beta = bb * model.beta_l
    th = np.tanh(0.5 * beta * delta)
    y = np.tanh(0.5 * beta * (c[:, None] - c[None, :]))
    pp = p[:, None] * p[None, :]
    s = (p[:, None] - p[None, :]) - y * (1.0 - pp)
    fi = -w_mw * (p - th) - r1 * (p - p0) - np.sum(gmat * s, axis=1)
    jac = np.zeros((n + (0 if fixed_b else 1),) * 2)
    jac[:n, :n] = gmat * (1.0 - y * p[:, None])
    jac[np.arange(n), np.arange(n)] = -w_mw - r1 - np.sum(gmat * (1.0 + y * p[None, :]), axis=1)
    if fixed_b:
        return fi, jac
    sech_y = 1.0 - y * y
    dyb = 0.5 * model.beta_l * (c[:, None] - c[None, :]) * sech_y
    jac[:n, n] = w_mw * (1.0 - th * th) * 0.5 * model.beta_l * delta + np.sum(gmat * dyb * (1.0 - pp), 1)
    gk = 2.0 * r1 / (model.bath.m2 * model.beta_l)
    g = -gk * np.sum(f * delta * (p - p0)) - (bb - 1.0) / model.t1d_eff
    jac[n, :n] = -gk * f * delta
    jac[n, n] = -1.0 / model.t1d_eff
    return np.concatenate([fi, [g]]), jac


def _newton(x, args, scale, n, tol, max_iter):
    """Damped Newton on the scaled residual; returns (x, max scaled residual, iterations)."""
    f, jac = _residual(x, *args)
    err = np.max(np.abs(f * scale))
    it = 0
    while err > tol and it < max_iter:
        it += 1
        try:
            dx = np.linalg.solve(jac, -f)
        except np.linalg.LinAlgError:
            break
        lam = 1.0
        while True:
            xn = x + lam * dx
            xn[:n] = np.clip(xn[:n], -1.0 + 1e-15, 1.0 - 1e-15)
            fn, jn = _residual(xn, *args)
            en = np.max(np.abs(fn * scale))
            if en < (1.0 - 1e-4 * lam) * err or lam < 1e-6:
                break
            lam *= 0.5
        if not en < err:
            break
        stalled = en > 0.5 * err
        x, f, jac, err = xn, fn, jn, en
        if stalled and err < 1e-10:   # rounding floor reached
            break
    return x, err, it


def _ptc(x, args, scale, n, t1e, steps: int = 400):
    """Pseudo-transient continuation: linearly implicit Euler steps of dx/dt = F(x) with a
    growing time step (robust for this stable system), until dt exceeds 1e6 T1e."""
    dt = 1e-6 * t1e
    f, jac = _residual(x, *args)
    err = np.max(np.abs(f * scale))
    eye = np.eye(len(x))
    for it in range(steps):
        dx = np.linalg.solve(eye / dt - jac, f)
        xn = x + dx
        xn[:n] = np.clip(xn[:n], -1.0 + 1e-15, 1.0 - 1e-15)
        fn, jn = _residual(xn, *args)
        en = np.max(np.abs(fn * scale))
        if np.all(np.isfinite(fn)) and en < 2.0 * err:
            x, f, jac, err = xn, fn, jn, en
            dt *= 2.0
        else:
            dt *= 0.25
        if dt > 1e6 * t1e:
            break
    return x, it


def electron_steady(grid: PacketGrid, model: ElectronModel, mw_offset: float,
                    tol: float = 1e-12, max_iter: int = 200, guess: tuple | None = None
                    ) -> ElectronState:
    """Stationary state of Eqs. (1)-(2) by damped Newton with an analytic Jacobian, from the
    packets saturating alone at the lattice temperature (`guess` if given); where that stalls,
    from the fast-eSD state (only a converged one: `fast_sd_state` raises otherwise), then by
    pseudo-transient continuation. info["start"] says which; RuntimeError if none converges."""
    c = grid.centres
    n = len(c)
    delta = c - mw_offset
    p0 = np.tanh(0.5 * model.beta_l * (model.omega_ref + c))
    w_mw = bloch_rate(grid, mw_offset, model.omega1, model.t2e)
    r1 = 1.0 / model.t1e
    gmat = esd_kernel(grid, model.bath, model.esd_scale)
    fixed_b = model.dipolar == "lattice"
    if guess is not None:
        x = np.concatenate([guess[0], [] if fixed_b else [guess[1]]])
    else:
        th = np.tanh(0.5 * model.beta_l * delta)
        x = np.concatenate([(w_mw * th + r1 * p0) / (w_mw + r1), [] if fixed_b else [1.0]])
    args = (n, w_mw, r1, p0, gmat, delta, c, grid.f, model, fixed_b)
    scale = 1.0 / (w_mw + r1 + gmat.sum(1))
    gk = 2.0 * r1 / (model.bath.m2 * model.beta_l) * np.sum(grid.f * np.abs(delta))
    scale = np.concatenate([scale, [] if fixed_b else [1.0 / (gk + 1.0 / model.t1d_eff)]])
    x, err, it = _newton(x, args, scale, n, tol, 40)
    start = "guess"
    if err > 1e-9 and not fixed_b and model.esd_scale > 0:   # start from the fast-eSD limit
        try:
            fs = fast_sd_state(grid, model, mw_offset)   # converged, or it raises
        except RuntimeError:
            fs = None
        if fs is not None:
            x2, err2, it2 = _newton(np.concatenate([fs.p, [fs.beta_d / model.beta_l]]), args,
                                    scale, n, tol, 40)
            if err2 < err:
                x, err, it, start = x2, err2, it + it2, "fast-eSD state"
    if err > 1e-9:                   # pseudo-transient continuation, then Newton again
        x, it2 = _ptc(x, args, scale, n, model.t1e)
        x, err, it = _newton(x, args, scale, n, tol, max_iter)
        it += it2
        start += ", pseudo-transient continuation"
    if err > 1e-9:
        raise RuntimeError(f"electron steady state did not converge (residual {err:.2e})")
    beta = model.beta_l * (1.0 if fixed_b else x[n])
    return ElectronState(grid, x[:n].copy(), beta, p0, mw_offset,
                         {"iterations": it, "residual": float(err), "n_packets": n,
                          "start": start})


def fast_sd_state(grid: PacketGrid, model: ElectronModel, mw_offset: float) -> ElectronState:
    """Infinitely fast eSD (Eq. 94): P_i = tanh((beta_D delta_i + c) / 2), one spin temperature
    in the rotating frame; c and beta_D from the balance of the number of flips (eSD conserves
    sum f_i P_i) and Eq. (2). Raises RuntimeError if no state is found (never returns one that
    does not solve the balances).

    Solved as nested scalar roots, each bracketed: for a given beta_D the flip balance
    e1(c) = sum f_i [-W_i (P_i - tanh(beta_D delta_i / 2)) - R1e (P_i - P0_i)] decreases
    monotonically in c from >= 0 (all P_i = -1) to <= 0 (all P_i = +1), so c(beta_D) is its
    one root; the energy balance (2) then bounds |beta_D / beta_L - 1| by
    B = 4 R1e T1D sum f_i |delta_i| / (M2 beta_L) (since |P_i - P0_i| <= 2), and its residual
    changes sign between 1 - B and 1 + B: the root in b = beta_D / beta_L is bracketed. (A
    Newton-type solver on both unknowns, started from b = 1, returned its start or b up to
    1e12 with a residual of order 1 at 89 of 225 TEMPOL points, 1.2-100 K, +-400 MHz.)"""
    from scipy.optimize import brentq
    cc = grid.centres
    f = grid.f
    delta = cc - mw_offset
    p0 = np.tanh(0.5 * model.beta_l * (model.omega_ref + cc))
    w_mw = bloch_rate(grid, mw_offset, model.omega1, model.t2e)
    r1 = 1.0 / model.t1e
    bl = model.beta_l
    c_thermal = bl * (model.omega_ref + mw_offset)      # the thermal state: b = 1, c = beta_L w_mw
    k_energy = 2.0 * r1 * model.t1d_eff / (model.bath.m2 * bl)

    def flips(cst, bb):
        p = np.tanh(0.5 * (bb * bl * delta + cst))
        th = np.tanh(0.5 * bb * bl * delta)
        return np.sum(f * (-w_mw * (p - th) - r1 * (p - p0))) / r1

    def c_of(bb):
        reach = abs(bb) * bl * np.max(np.abs(delta)) + abs(c_thermal) + 80.0   # tanh saturated
        lo, hi = -reach, reach
        e_lo, e_hi = flips(lo, bb), flips(hi, bb)
        if e_lo == 0.0 or e_hi == 0.0:
            return lo if e_lo == 0.0 else hi
        if not e_lo > 0.0 > e_hi:
            raise RuntimeError(f"fast-eSD state: the flip balance does not change sign "
                               f"(b = {bb:.6g}: {e_lo:.3g}, {e_hi:.3g})")
        return brentq(flips, lo, hi, args=(bb,), xtol=1e-14, rtol=1e-15, maxiter=500)

    def energy(bb):   # Eq. (2) times T1D / beta_L
        p = np.tanh(0.5 * (bb * bl * delta + c_of(bb)))
        return -k_energy * np.sum(f * delta * (p - p0)) - (bb - 1.0)

    bound = 2.0 * k_energy * np.sum(f * np.abs(delta)) * (1.0 + 1e-9) + 1e-12
    e_lo, e_hi = energy(1.0 - bound), energy(1.0 + bound)
    if e_lo == 0.0 or e_hi == 0.0:
        bb = 1.0 - bound if e_lo == 0.0 else 1.0 + bound
    elif e_lo > 0.0 > e_hi:
        bb = brentq(energy, 1.0 - bound, 1.0 + bound, xtol=1e-12,
                    rtol=1e-15, maxiter=500)
    else:
        raise RuntimeError(f"fast-eSD state: the energy balance does not change sign over "
                           f"beta_D / beta_L in 1 +- {bound:.3g}")
    cst = c_of(bb)
    p = np.tanh(0.5 * (bb * bl * delta + cst))
    res = max(abs(flips(cst, bb)), abs(energy(bb)) / max(1.0, abs(bb)))
    if not np.isfinite(res) or res > 1e-8:
        raise RuntimeError(f"fast-eSD state did not converge (residual {res:.2e})")
    return ElectronState(grid, p, bb * bl, p0, mw_offset, {"c": float(cst), "residual": float(res),
                                                            "method": "bracketed roots"})


def provotorov_high_t(omega_mw: float, mean_eps: float, var_eps: float, omega_ref: float,
                      m2: float, t1e: float, t1d: float) -> float:
    """beta_D / beta_L of the classical thermal-mixing result (high temperature, fast eSD,
    complete saturation: P(omega) = beta_D (omega - omega_mw) / 2):

        beta_D / beta_L = (omega_mw Delta + <delta^2> + M2') / (<delta^2> + M2'),
        Delta = omega_c - omega_mw, <delta^2> = Delta^2 + D_i^2, M2' = M2 / (R1e T1D)

    i.e. the Provotorov / Borghini enhancement ~ omega_e Delta / (Delta^2 + D^2) (Abragam &
    Goldman 1978), D^2 = D_i^2 + M2'. mean_eps, var_eps: mean and variance of the line."""
    delta = omega_ref + mean_eps - omega_mw
    d2 = delta**2 + var_eps
    m2p = m2 * t1e / t1d
    return (omega_mw * delta + d2 + m2p) / (d2 + m2p)
