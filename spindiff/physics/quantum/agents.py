"""Polarizing agents, experimental conditions and presets (user-facing parameter containers).

Units are SI with angular frequencies in rad/s (a frequency f in Hz is 2 pi f rad/s, e.g.
A_iso = 229 MHz -> 2 pi 229e6 rad/s), times in s, B0 in T, temperature in K, distances in nm.
Preset values are approximate literature values meant as sensible defaults, not measurements of
a particular sample: override them for quantitative work (see docs/reference/quantum.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import numpy as np

from ..cells import mean_intercentre_distance
from ..constants import HBAR, K_B, MILLIMOLAR_IN_PER_NM3, MU_B, nuclear_larmor
from .model import SpinParams
from .powder import fibonacci

TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class PolarizingAgent:
    """A paramagnetic polarizing agent.

    Attributes:
        name: label.
        g: isotropic g-factor; sets the reference electron frequency g mu_B B0 / hbar.
        t1e: electron spin-lattice relaxation time T1e (s) at the intended conditions.
        t2e: electron coherence decay time T2e (s).
        g_tensor: principal g values (radicals) for the inhomogeneous EPR lineshape, or None.
        a_tensor: principal hyperfine values (rad/s) to an intrinsic nucleus of spin
            `a_spin` (e.g. 14N of a nitroxide), for the lineshape; None if absent.
        a_spin: spin of that intrinsic nucleus (1 for 14N).
        a_iso: isotropic hyperfine coupling (rad/s) to the metal nucleus (55Mn); 0 if none.
        metal_spin: nuclear spin I of the metal (5/2 for 55Mn): discrete EPR lines at m_I a_iso,
            m_I = -I..I, equal probability (Livni Eq. 2).
        electron_spin: electron spin S (5/2 for Mn(II)); only the central transition
            m_S = -1/2 <-> +1/2 is used, as an effective spin-1/2.
        ct_scaling: if True, scale omega1 by (S + 1/2) and the e-e flip-flop by (S + 1/2)^2 for
            the central transition of a high-spin ion (Livni treat it as a bare spin-1/2: False).
        line_fwhm: extra Gaussian inhomogeneous broadening (rad/s FWHM) of the lineshape.
        mechanism: "SE", "CE" or "auto" (CE when the EPR spread exceeds ~omega_n, or for
            discrete hyperfine lines).
        reference: where the preset numbers come from (approximate).
    """

    name: str
    g: float
    t1e: float
    t2e: float
    g_tensor: tuple[float, float, float] | None = None
    a_tensor: tuple[float, float, float] | None = None
    a_spin: float = 1.0
    a_iso: float = 0.0
    metal_spin: float | None = None
    electron_spin: float = 0.5
    ct_scaling: bool = False
    line_fwhm: float = TWO_PI * 5e6
    mechanism: str = "auto"
    reference: str = ""

    def with_(self, **kw) -> PolarizingAgent:
        return replace(self, **kw)

    @property
    def discrete_lines(self) -> bool:
        """True for agents whose EPR line is a set of narrow hyperfine lines (Mn(II))."""
        return self.metal_spin is not None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Conditions:
    """Experimental conditions.

    Attributes:
        b0: static field (T).
        temperature: lattice temperature (K).
        nucleus: observed nucleus ("1H", "2H", "7Li", "13C", "31P", "19F").
        omega1: microwave nutation frequency gamma_e B1 (rad/s).
        mw_offset: microwave frequency minus the reference electron frequency
            (omega_mw - g mu_B B0/hbar, rad/s). With this sign the positive solid-effect lobe
            of an electron at the reference is at mw_offset = -omega_n.
        t1n: bulk nuclear T1 without paramagnetic contribution (s).
        t2n: nuclear T2 (s).
        concentration_mM: centre concentration (mM) -> r_ee = 2 (3/(4 pi c))^(1/3) (Livni Eq. 6).
        r_ee: electron-electron distance (nm); overrides the concentration.
        t1e, t2e: optional overrides of the agent's T1e, T2e (s).
    """

    b0: float
    temperature: float
    nucleus: str = "1H"
    omega1: float = TWO_PI * 20e3
    mw_offset: float = 0.0
    t1n: float = 100.0
    t2n: float = 1e-3
    concentration_mM: float | None = None
    r_ee: float | None = None
    t1e: float | None = None
    t2e: float | None = None

    def with_(self, **kw) -> Conditions:
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return asdict(self)


def electron_reference_frequency(agent: PolarizingAgent, cond: Conditions) -> float:
    """g_iso mu_B B0 / hbar in rad/s."""
    return agent.g * MU_B * cond.b0 / HBAR


def ee_distance(cond: Conditions) -> float | None:
    """Electron-electron distance (nm): r_ee if given, else the Wigner-Seitz mean distance of
    the concentration (40 mM -> 4.3 nm), else None."""
    if cond.r_ee is not None:
        return float(cond.r_ee)
    if cond.concentration_mM is not None:
        return mean_intercentre_distance(cond.concentration_mM * MILLIMOLAR_IN_PER_NM3)
    return None


def spin_params(agent: PolarizingAgent, cond: Conditions, omega1: float | None = None
                ) -> SpinParams:
    """SpinParams of the small-system model for this agent and these conditions."""
    w1 = cond.omega1 if omega1 is None else omega1
    if agent.ct_scaling:
        w1 = w1 * (agent.electron_spin + 0.5)
    return SpinParams(omega_n=nuclear_larmor(cond.nucleus, cond.b0),
                      omega_mw=electron_reference_frequency(agent, cond) + cond.mw_offset,
                      temperature=cond.temperature, omega1=w1,
                      t1e=cond.t1e if cond.t1e is not None else agent.t1e,
                      t2e=cond.t2e if cond.t2e is not None else agent.t2e,
                      t1n=cond.t1n, t2n=cond.t2n)


def flipflop_scale(agent: PolarizingAgent) -> float:
    """Factor on the e-e flip-flop part for central transitions ((S+1/2)^2 if ct_scaling)."""
    return (agent.electron_spin + 0.5) ** 2 if agent.ct_scaling else 1.0


# ---------------------------------------------------------------------------------------------
# EPR lineshape: distribution of electron frequency offsets eps from the reference (rad/s)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lineshape:
    """Normalised EPR lineshape. Discrete lines: `lines` (eps, weight); continuous: density
    `g(eps)` in 1/(rad/s) tabulated on `eps` (uniform grid)."""

    eps: np.ndarray
    density: np.ndarray | None = None
    lines: tuple[tuple[float, float], ...] = field(default_factory=tuple)

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        if self.density is None:
            raise ValueError("discrete lineshape has no density")
        return np.interp(x, self.eps, self.density, left=0.0, right=0.0)

    @property
    def extent(self) -> tuple[float, float]:
        if self.density is None:
            e = [l[0] for l in self.lines]
            return min(e), max(e)
        nz = np.nonzero(self.density > 1e-6 * self.density.max())[0]
        return float(self.eps[nz[0]]), float(self.eps[nz[-1]])

    def width(self, lo: float = 0.05, hi: float = 0.95) -> float:
        """Spread between the lo and hi quantiles (rad/s)."""
        if self.density is None:
            e = [l[0] for l in self.lines]
            return max(e) - min(e)
        cdf = np.cumsum(self.density) * (self.eps[1] - self.eps[0])
        return float(np.interp(hi, cdf, self.eps) - np.interp(lo, cdf, self.eps))


@lru_cache(maxsize=64)
def _lineshape_cached(g_tensor, a_tensor, a_spin, g_iso, b0, fwhm, n_orient, step) -> Lineshape:
    grid = fibonacci(n_orient).dirs
    g = np.asarray(g_tensor)
    geff = np.sqrt(np.sum((g[None] * grid) ** 2, axis=1))
    w_ref = g_iso * MU_B * b0 / HBAR
    w = geff * MU_B * b0 / HBAR - w_ref
    freqs = [w]
    if a_tensor is not None:
        a = np.asarray(a_tensor)
        aeff = np.sqrt(np.sum((a[None] * g[None] * grid) ** 2, axis=1)) / geff
        ms = np.arange(-a_spin, a_spin + 0.5, 1.0)
        freqs = [w + m * aeff for m in ms]
    allf = np.concatenate(freqs)
    sig = fwhm / 2.3548
    lo, hi = allf.min() - 5 * sig, allf.max() + 5 * sig
    eps = np.arange(lo, hi + step, step)
    hist, _ = np.histogram(allf, bins=len(eps), range=(eps[0] - step / 2, eps[-1] + step / 2))
    half = int(5 * sig / step) + 1
    ker = np.exp(-0.5 * (np.arange(-half, half + 1) * step / sig) ** 2)
    # the kernel's centre on each bin, one density per offset (np.convolve's "same" mode has the
    # length and centre of the longer input: a kernel wider than the histogram shifted the line)
    dens = np.convolve(hist.astype(float), ker / ker.sum(), mode="full")[half:half + len(eps)]
    dens /= dens.sum() * step
    return Lineshape(eps, dens)


@lru_cache(maxsize=64)
def _gaussian_lineshape(fwhm: float, step: float) -> Lineshape:
    """A Gaussian line of full width fwhm (rad/s) centred at 0, on offsets k step to +-5 sigma
    (one density per offset, normalised so that sum(density) step = 1)."""
    sig = fwhm / 2.3548
    half = int(np.ceil(5 * sig / step))
    eps = np.arange(-half, half + 1) * step
    dens = np.exp(-0.5 * (eps / sig) ** 2)
    return Lineshape(eps, dens / (dens.sum() * step))


def lineshape(agent: PolarizingAgent, cond: Conditions, n_orient: int = 20000) -> Lineshape:
    """EPR lineshape of the agent at cond.b0 (offsets from g_iso mu_B B0/hbar, rad/s).

    Radicals: powder histogram of g_eff(n) mu_B B0/hbar + m A_eff(n) over a Fibonacci sphere,
    convolved with a Gaussian of FWHM `line_fwhm`; without a g tensor, that Gaussian centred at
    0. Mn(II): discrete lines m_I A_iso.
    """
    if agent.discrete_lines:
        i = agent.metal_spin
        ms = np.arange(-i, i + 0.5, 1.0)
        lines = tuple((float(m * agent.a_iso), 1.0 / len(ms)) for m in ms)
        return Lineshape(np.array([l[0] for l in lines]), None, lines)
    if agent.g_tensor is None:
        return _gaussian_lineshape(float(agent.line_fwhm), float(agent.line_fwhm) / 20)
    return _lineshape_cached(tuple(agent.g_tensor), None if agent.a_tensor is None
                             else tuple(agent.a_tensor), agent.a_spin, agent.g, cond.b0,
                             agent.line_fwhm, n_orient, TWO_PI * 0.5e6)


def resolve_mechanism(agent: PolarizingAgent, cond: Conditions) -> str:
    """'SE' or 'CE' for mechanism='auto': CE for discrete hyperfine lines whose spacing is within
    25 % of omega_n, or for a continuous line whose 5-95 % spread exceeds omega_n."""
    if agent.mechanism in ("SE", "CE"):
        return agent.mechanism
    wn = nuclear_larmor(cond.nucleus, cond.b0)
    if agent.discrete_lines:
        return "CE" if abs(agent.a_iso - wn) < 0.25 * wn else "SE"
    return "CE" if lineshape(agent, cond).width() > wn else "SE"


# ---------------------------------------------------------------------------------------------
# Presets (approximate literature values)
# ---------------------------------------------------------------------------------------------
PRESETS: dict[str, PolarizingAgent] = {
    "TEMPOL": PolarizingAgent(
        name="TEMPOL", g=2.006, t1e=0.1, t2e=1e-6,
        g_tensor=(2.0094, 2.0061, 2.0021), a_tensor=(TWO_PI * 17e6, TWO_PI * 17e6, TWO_PI * 101e6),
        a_spin=1.0, line_fwhm=TWO_PI * 10e6, mechanism="auto",
        reference=("nitroxide g and 14N A principal values typical of TEMPO/TEMPOL (g ~ 2.0094, "
                   "2.0061, 2.0021; A ~ 17, 17, 101 MHz); T1e ~ 0.1 s and T2e ~ 1 us are order-of-"
                   "magnitude values for 20-50 mM glasses at ~1.2 K (T1e ~ 0.1-1 ms at 100 K)")),
    "trityl": PolarizingAgent(
        name="trityl", g=2.0030, t1e=1.0, t2e=2e-6,
        g_tensor=(2.00319, 2.00319, 2.00258), a_tensor=None, line_fwhm=TWO_PI * 10e6,
        mechanism="auto",
        reference=("OX063-type trityl: nearly axial g (2.0032, 2.0032, 2.0026), narrow line; "
                   "T1e ~ 1 s, T2e ~ 2 us at ~1.2 K (approximate)")),
    "MnII": PolarizingAgent(
        name="MnII", g=2.001, t1e=1e-6, t2e=50e-9, a_iso=TWO_PI * 229e6, metal_spin=2.5,
        electron_spin=2.5, ct_scaling=False, mechanism="auto",
        reference=("Mn(II) central transition as effective spin-1/2 with 55Mn lines m_I A_iso; "
                   "A_iso = 229 MHz (LTO), T1e = 1 us, T2e = 50 ns (Livni et al. 2025, "
                   "simulation parameters at 100 K)")),
}


def preset(name: str, **overrides) -> PolarizingAgent:
    """Preset agent by name ("TEMPOL", "trityl", "MnII"), with optional field overrides
    (e.g. ``preset("MnII", a_iso=2*np.pi*245e6)``)."""
    key = {k.lower(): k for k in PRESETS}.get(name.lower().replace("(", "").replace(")", ""))
    if key is None:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[key].with_(**overrides) if overrides else PRESETS[key]


def central_transition_fraction(spin: float, b0: float, temperature: float, g: float = 2.0
                                ) -> float:
    """Boltzmann fraction of a spin-S ion in its m_S = +-1/2 levels (no zero-field splitting)."""
    ms = np.arange(-spin, spin + 0.5, 1.0)
    x = g * MU_B * b0 / (K_B * temperature)
    p = np.exp(-x * (ms - ms.min()))
    p /= p.sum()
    return float(p[np.abs(np.abs(ms) - 0.5) < 1e-9].sum())
