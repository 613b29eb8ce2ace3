"""Electron-polarization-controlled nuclear flip-flops near a paramagnetic centre.

Chessari, Cousin, Jannin, Stern, Phys. Rev. B 107, 224429 (2023), Eqs. 6 and 9-11;
docs/reference/physics.md section 3.3; the conventions are written out in docs/reference/diffusion_near_centre.md.
Figures of the model are in spindiff.physics.flipflop_plots.

Longer than 400 lines: Eq. 9, its limits (Eqs. 10, 11), the paramagnetic Gamma_1 (Eq. 6), the
couplings it needs and the orientation averages are one model and are verified together
(tests/test_flipflop.py); splitting them would scatter one set of conventions.

Model: nuclei 1 and 2 at distances r and r + a from an electron (the pair collinear with the
electron), flip-flop coupling D12, hyperfine difference Delta = A_z(r) - A_z(r + a). The electron
polarization fluctuates around its mean P̄ with correlation rate Gamma_c = 1/tau_c; the nuclear
zero-quantum coherence decays at Gamma_2. The flip-flop rate is

    W = (D12^2/2) [Gc (1-P̄^2) Δ^2 + G2 (Ḡ^2 + Δ^2)]
        / ([(1 - 2P̄^2) Δ^2 + G2 Ḡ]^2 + Δ^2 P̄^2 (G2 + Ḡ)^2),    Ḡ = Gc + G2      (Eq. 9)

and D = W a^2 (Bloembergen). Far from the electron W -> D12^2/(2 G2).

Units and conventions (internal: nm, s, rad/s):
- every coupling (A_z, A_pm, D12, Delta) and every rate (Gamma_2, Gamma_c, Gamma_1, W) is in
  rad/s, i.e. 1/s for rates. Eq. 9 is homogeneous of degree one in these, so W comes out in 1/s.
- Gamma_2 is the decay rate of the zero-quantum coherence = half width at half maximum (HWHM) of
  the Lorentzian of Eq. 8 in angular frequency. The paper's "Gamma_2 ≈ δν½/2 ≈ 11 kHz" is a
  cyclic HWHM, so the default reading is Gamma_2 = 2π · 11e3 rad/s = 6.91e4 1/s
  (`FlipFlopParams(gamma2=11e3, gamma2_unit="Hz")`); `gamma2_unit="1/s"` takes the number
  literally as a rate.
- D12 = (μ0/4π) γn^2 ħ / a^3 · (3cos²θ' - 1)/2, WITH the 1/2: then Eq. 1 of the paper,
  H_D = -½ D12 (σ+ + σ-), is the flip-flop part of the secular dipolar Hamiltonian and
  D12^2/(2 Γ2) is the golden-rule rate 2π |D12/2|^2 / (π Γ2).
- A_z(r) = (μ0/4π) γe γn ħ / r^3 · (3cos²θ - 1) (no 1/2; the coefficient of S_z I_z), and
  A_pm(r) = (μ0/4π) γe γn ħ / r^3 · 3 sinθ cosθ (the coefficient of S_z I_x), as docs/reference/physics.md.
  Delta enters Eq. 9 exactly as docs/reference/physics.md writes it (`delta_scale = 1`); `delta_scale` lets one
  rescale it (0.5 gives the |αβ>-|βα> splitting Δ P̄/2 of the secular Hamiltonian A S_z I_z with
  <S_z> = P̄/2, see the docs).
- Orientations, `orientation=`:
  "rms" (default): couplings replaced by their root-mean-square over the sphere,
      sqrt(<(3cos²θ-1)^2>) = sqrt(4/5) for A_z, sqrt(<((3cos²θ-1)/2)^2>) = sqrt(1/5) for D12,
      sqrt(<(3 sinθ cosθ)^2>) = sqrt(6/5) for A_pm; W then depends on r only (the paper's stated
      procedure: couplings averaged over orientations, then Eq. 9).
  "powder": W itself averaged over the orientation θ of the electron-nucleus vector relative
      to B0, on a composite Gauss-Legendre grid in cosθ graded toward the magic angle (see
      `powder_grid`). `pair="collinear"` (default): the nuclear pair lies along the
      electron-nucleus vector, so A_z(r), A_z(r + a), A_pm and D12 share the angle θ.
      `pair="independent"`: D12 has its own, uncorrelated angle, so <W> = D12_rms^2 <W/D12^2>.
- Small distances: r is floored at `params.r_min` (default 0.1 nm, about a bond length; the
  point-dipole model means nothing below it) so that r -> 0 gives finite, tiny rates
  (no division by zero or overflow). Negative or NaN distances raise ValueError.
- Paramagnetic contribution (Eq. 6): Gamma_1,i = ½ A_pm,i^2 (1 - P̄^2) Gc / (Gc^2 + ω0^2), ω0 the
  nuclear Larmor angular frequency at `params.b0`. As in the paper (Γ2 = Σ_i Γ1,i + Γ2^(II)),
  it is added to Gamma_2 when `include_gamma1=True` (default); it is negligible for the paper's
  case (< 1e-3 Γ2 for r > 0.3 nm).

This module is pure numpy; matplotlib is imported lazily inside the plot functions.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from .cells import sphere_cell_radius
from .constants import GAMMA_E, MILLIMOLAR_IN_PER_NM3, dipolar_prefactor, gamma_nucleus

ArrayLike = float | np.ndarray

#: sqrt(<(3cos²θ - 1)^2>) over the sphere: rms angular factor of the secular hyperfine A_z
RMS_SECULAR: float = float(np.sqrt(4.0 / 5.0))
#: sqrt(<((3cos²θ - 1)/2)^2>): rms angular factor of D12 (convention with the 1/2)
RMS_D12: float = float(np.sqrt(1.0 / 5.0))
#: sqrt(<(3 sinθ cosθ)^2>): rms angular factor of the pseudo-secular hyperfine A_pm
RMS_PSEUDO: float = float(np.sqrt(6.0 / 5.0))
#: cos of the magic angle
COS_MAGIC: float = float(1.0 / np.sqrt(3.0))

#: multipliers that turn a Gamma_2 value in the given unit into rad/s (1/s)
GAMMA2_UNITS: dict[str, float] = {
    "rad/s": 1.0, "1/s": 1.0, "s^-1": 1.0,
    "Hz": 2.0 * np.pi, "kHz": 2.0 * np.pi * 1e3,
}

Orientation = Literal["rms", "powder"]
Pair = Literal["collinear", "independent"]
Model = Literal["exact", "slow", "fast", "far"]


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlipFlopParams:
    """Parameters of the flip-flop model (all lengths in nm, times in s).

    a: inter-nuclear distance (nm). gamma2: nuclear zero-quantum decay rate Γ2^(II) in the unit
    `gamma2_unit` ("rad/s" == "1/s": taken as a rate; "Hz"/"kHz": a cyclic HWHM, multiplied by
    2π). tau_c: electron correlation time (s), Γc = 1/tau_c. nucleus: "1H", "2H", ...
    b0: field (T), used only for ω0 in Γ1 (Eq. 6). include_gamma1: add Σ_i Γ1,i to Γ2.
    orientation, pair: see the module docstring. r_min: distance floor (nm).
    delta_scale: multiplies Δ before Eq. 9 (1 = docs/reference/physics.md/paper). gamma_e: electron
    gyromagnetic ratio (rad/s/T). n_panels, n_gauss: powder grid (see `powder_grid`).
    """

    a: float = 0.66
    gamma2: float = 11e3
    gamma2_unit: str = "Hz"
    tau_c: float = 0.5e-6
    nucleus: str = "1H"
    b0: float = 7.05
    include_gamma1: bool = True
    orientation: Orientation = "rms"
    pair: Pair = "collinear"
    r_min: float = 0.1
    delta_scale: float = 1.0
    gamma_e: float = GAMMA_E
    n_panels: int = 24
    n_gauss: int = 8

    def __post_init__(self) -> None:
        if self.gamma2_unit not in GAMMA2_UNITS:
            raise ValueError(f"gamma2_unit must be one of {sorted(GAMMA2_UNITS)}, "
                             f"got {self.gamma2_unit!r}")
        for name in ("a", "gamma2", "tau_c", "r_min", "delta_scale", "b0"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        if self.orientation not in ("rms", "powder"):
            raise ValueError(f"orientation must be 'rms' or 'powder', got {self.orientation!r}")
        if self.pair not in ("collinear", "independent"):
            raise ValueError(f"pair must be 'collinear' or 'independent', got {self.pair!r}")
        gamma_nucleus(self.nucleus)  # validates the name

    @property
    def gamma2_rad_s(self) -> float:
        """Γ2^(II) in rad/s (= 1/s)."""
        return float(self.gamma2 * GAMMA2_UNITS[self.gamma2_unit])

    @property
    def gamma_c(self) -> float:
        """Electron correlation rate Γc = 1/τc in 1/s."""
        return 1.0 / self.tau_c

    @property
    def omega0(self) -> float:
        """Nuclear Larmor angular frequency |γn| B0 in rad/s."""
        return abs(gamma_nucleus(self.nucleus)) * self.b0

    @property
    def hyperfine_prefactor(self) -> float:
        """(μ0/4π) γe γn ħ in rad/s nm^3 (divide by r^3)."""
        return abs(dipolar_prefactor(self.gamma_e, gamma_nucleus(self.nucleus)))

    @property
    def d12_prefactor(self) -> float:
        """(μ0/4π) γn^2 ħ / a^3 in rad/s (D12 = this · (3cos²θ' - 1)/2)."""
        g = gamma_nucleus(self.nucleus)
        return dipolar_prefactor(g, g) / self.a**3

    def with_(self, **changes) -> FlipFlopParams:
        """Copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class PaperCase:
    """The Chessari et al. (2023) case: 50 mM TEMPOL in DNP juice, 7.05 T, 1.2 K (Fig. 3)."""

    params: FlipFlopParams
    b0: float = 7.05                 # T
    temperature: float = 1.2         # K
    concentration_mM: float = 50.0
    pbar_thermal: float = 0.9993     # thermal electron polarization (paper: 99.93 %)
    pbar_microwave: float = 0.5      # "P̄ ≈ 50 %" under microwaves
    r_h: float = 0.9                 # nm, hidden/visible interface
    r_mv: float = 1.99               # nm, radius of the mean volume per electron (50 mM)


def chessari2023(**changes) -> PaperCase:
    """Preset for the paper's Fig. 3: a = 0.66 nm, Γ2 = 11 kHz (cyclic HWHM -> 2π·11e3 rad/s),
    τc = 0.5 µs, 1H, 7.05 T; thermal P̄ = 0.9993 at 1.2 K (tanh gives 0.99926), r_h = 0.9 nm,
    r_MV = 1.99 nm (sphere of mean volume per centre at 50 mM).

    Keyword arguments override fields of FlipFlopParams (e.g. orientation="powder")."""

    params = FlipFlopParams(a=0.66, gamma2=11e3, gamma2_unit="Hz", tau_c=0.5e-6, nucleus="1H",
                            b0=7.05).with_(**changes)
    return PaperCase(params=params, r_mv=sphere_cell_radius(50.0 * MILLIMOLAR_IN_PER_NM3))


# --------------------------------------------------------------------------------------------
# closed-form rates (arrays broadcast; all frequencies in rad/s, rates in 1/s)
# --------------------------------------------------------------------------------------------
def rate_eq9(d12: ArrayLike, delta: ArrayLike, pbar: ArrayLike, gamma_c: ArrayLike,
             gamma2: ArrayLike) -> np.ndarray:
    """Flip-flop rate W (1/s) of Eq. 9 for coupling d12, hyperfine difference delta (rad/s),
    mean electron polarization pbar, correlation rate gamma_c and decay rate gamma2 (1/s)."""
    d12, delta, pbar, gc, g2 = (np.asarray(x, dtype=float) for x in
                                (d12, delta, pbar, gamma_c, gamma2))
    p2 = pbar * pbar
    d2 = delta * delta
    gbar = gc + g2
    num = gc * (1.0 - p2) * d2 + g2 * (gbar * gbar + d2)
    den = ((1.0 - 2.0 * p2) * d2 + g2 * gbar) ** 2 + d2 * p2 * (g2 + gbar) ** 2
    return 0.5 * d12 * d12 * num / den


def rate_slow(d12: ArrayLike, delta: ArrayLike, pbar: ArrayLike, gamma_c: ArrayLike,
              gamma2: ArrayLike) -> np.ndarray:
    """Slow-electron (long τc) limit, Eq. 10: W = W(+) + W(-),
    W(±) = (D12^2/4) (Γ2 + Γc/2) / [(ΔP̄ ± Δ sqrt(1 - P̄^2))^2 + (Γ2 + Γc/2)^2]. Exact at Γc = 0."""
    d12, delta, pbar, gc, g2 = (np.asarray(x, dtype=float) for x in
                                (d12, delta, pbar, gamma_c, gamma2))
    g = g2 + 0.5 * gc
    s = np.sqrt(np.clip(1.0 - pbar * pbar, 0.0, None))
    out = 0.0
    for sign in (1.0, -1.0):
        out = out + 0.25 * d12 * d12 * g / ((delta * (pbar + sign * s)) ** 2 + g * g)
    return out


def rate_fast(d12: ArrayLike, delta: ArrayLike, pbar: ArrayLike, gamma_c: ArrayLike,
              gamma2: ArrayLike) -> np.ndarray:
    """Fast-electron (short τc) limit, Eq. 11: W = (D12^2/2) Γ2* / (Δ^2 P̄^2 + Γ2*^2),
    Γ2* = Γ2 + (1 - P̄^2) Δ^2 / Γc (motional narrowing of the electron noise)."""
    d12, delta, pbar, gc, g2 = (np.asarray(x, dtype=float) for x in
                                (d12, delta, pbar, gamma_c, gamma2))
    g_star = g2 + (1.0 - pbar * pbar) * delta * delta / gc
    return 0.5 * d12 * d12 * g_star / ((delta * pbar) ** 2 + g_star * g_star)


def rate_far_field(d12: ArrayLike, gamma2: ArrayLike) -> np.ndarray:
    """Far-field limit (Δ -> 0) of Eqs. 9-11: W = D12^2 / (2 Γ2) in 1/s."""
    d12 = np.asarray(d12, dtype=float)
    return 0.5 * d12 * d12 / np.asarray(gamma2, dtype=float)


def paramagnetic_gamma1(a_pm: ArrayLike, pbar: ArrayLike, gamma_c: ArrayLike,
                        omega0: ArrayLike) -> np.ndarray:
    """Eq. 6: Γ1 = ½ A_pm^2 (1 - P̄^2) Γc / (Γc^2 + ω0^2) in 1/s (A_pm, ω0 in rad/s).

    This is the rate of each Lindblad term D(I+), D(I-) of the paper's Eq. 5."""
    a_pm, pbar, gc, w0 = (np.asarray(x, dtype=float) for x in (a_pm, pbar, gamma_c, omega0))
    return 0.5 * a_pm * a_pm * (1.0 - pbar * pbar) * gc / (gc * gc + w0 * w0)


_FORMULAS: dict[str, Callable[..., np.ndarray]] = {
    "exact": rate_eq9, "slow": rate_slow, "fast": rate_fast,
    "far": lambda d12, delta, pbar, gc, g2: rate_far_field(d12, g2) + 0.0 * delta * pbar,
}


# --------------------------------------------------------------------------------------------
# couplings
# --------------------------------------------------------------------------------------------
def hyperfine_prefactor_at(r: ArrayLike, nucleus: str = "1H", gamma_e: float = GAMMA_E) -> np.ndarray:
    """(μ0/4π) γe γn ħ / r^3 in rad/s for r in nm (no angular factor).

    Check: 1H at r = 0.9 nm -> 2π · 108.5 kHz = 6.81e5 rad/s."""
    k = abs(dipolar_prefactor(gamma_e, gamma_nucleus(nucleus)))
    return k / np.asarray(r, dtype=float) ** 3


def secular_hyperfine(r: ArrayLike, nucleus: str = "1H", angular: ArrayLike = RMS_SECULAR,
                      gamma_e: float = GAMMA_E) -> np.ndarray:
    """A_z(r) = (μ0/4π) γe γn ħ / r^3 · angular in rad/s, angular = 3cos²θ - 1 (or its rms)."""
    return hyperfine_prefactor_at(r, nucleus, gamma_e) * np.asarray(angular, dtype=float)


def pseudo_secular_hyperfine(r: ArrayLike, nucleus: str = "1H", angular: ArrayLike = RMS_PSEUDO,
                             gamma_e: float = GAMMA_E) -> np.ndarray:
    """A_pm(r) = (μ0/4π) γe γn ħ / r^3 · angular in rad/s, angular = 3 sinθ cosθ (or its rms)."""
    return hyperfine_prefactor_at(r, nucleus, gamma_e) * np.asarray(angular, dtype=float)


def hyperfine_difference(r: ArrayLike, a: float, nucleus: str = "1H",
                         angular: ArrayLike = RMS_SECULAR, gamma_e: float = GAMMA_E) -> np.ndarray:
    """Δ = A_z(r) - A_z(r + a) in rad/s for the pair collinear with the electron (same θ)."""
    r = np.asarray(r, dtype=float)
    k = abs(dipolar_prefactor(gamma_e, gamma_nucleus(nucleus)))
    return k * np.asarray(angular, dtype=float) * (1.0 / r**3 - 1.0 / (r + a) ** 3)


def d12_coupling(a: ArrayLike, nucleus: str = "1H", angular: ArrayLike = RMS_D12) -> np.ndarray:
    """D12 = (μ0/4π) γn^2 ħ / a^3 · angular in rad/s, angular = (3cos²θ' - 1)/2 (or its rms
    sqrt(1/5)): the convention WITH the 1/2 (see module docstring)."""
    g = gamma_nucleus(nucleus)
    return dipolar_prefactor(g, g) / np.asarray(a, dtype=float) ** 3 * np.asarray(angular, float)


def breakdown_radius(params: FlipFlopParams, angular: float = RMS_SECULAR) -> float:
    """Distance (nm) below which |A_z(r)| > Γc, where the paper's averaged-HFI assumption fails
    (grey area of Fig. 3a). Both sides in rad/s vs 1/s: r = (k · angular / Γc)^(1/3).

    The paper quotes 0.34 nm, which is what one gets comparing A/2π (Hz, angular = 1) with Γc;
    with consistent angular units and the rms factor this is 0.61 nm."""
    return float((params.hyperfine_prefactor * angular / params.gamma_c) ** (1.0 / 3.0))


# --------------------------------------------------------------------------------------------
# orientation grid
# --------------------------------------------------------------------------------------------
def powder_grid(n_panels: int = 24, n_gauss: int = 8, ratio: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Nodes c = cosθ in (0, 1) and weights (summing to 1) for the powder average <g(cosθ)>
    of a function even in cosθ (all couplings here depend on cos²θ).

    Composite Gauss-Legendre: on each side of the magic angle c_m = 1/sqrt(3), panel edges at
    distances L · ratio^k (k = 0 .. n_panels - 1) from c_m, plus c_m itself, with `n_gauss`
    points per panel. The geometric grading resolves the narrow features of W near the magic
    angle, where |3cos²θ - 1| Δ0 ~ Γ2 (relative width down to ~ ratio^n_panels ≈ 6e-8).
    """
    x, w = np.polynomial.legendre.leggauss(n_gauss)
    nodes, weights = [], []
    for length, sign in ((COS_MAGIC, -1.0), (1.0 - COS_MAGIC, 1.0)):
        edges = np.concatenate(([0.0], length * ratio ** np.arange(n_panels - 1, -1, -1)))
        lo, hi = edges[:-1], edges[1:]
        mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        d = mid[:, None] + half[:, None] * x[None, :]
        nodes.append(COS_MAGIC + sign * d.ravel())
        weights.append((half[:, None] * w[None, :]).ravel())
    c = np.concatenate(nodes)
    wt = np.concatenate(weights)
    return c, wt / wt.sum()


# --------------------------------------------------------------------------------------------
# W(r; P̄) with orientation handling
# --------------------------------------------------------------------------------------------
def _prepare(r: ArrayLike, pbar: ArrayLike, params: FlipFlopParams) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(r, dtype=float)
    pbar = np.asarray(pbar, dtype=float)
    if np.any(np.isnan(r)) or np.any(r < 0):
        raise ValueError("distances r must be >= 0 (nm) and not NaN")
    if np.any(np.isnan(pbar)) or np.any(np.abs(pbar) > 1.0 + 1e-12):
        raise ValueError("electron polarization P̄ must lie in [-1, 1]")
    r, pbar = np.broadcast_arrays(np.maximum(r, params.r_min), np.clip(pbar, -1.0, 1.0))
    return r, pbar


def _rate_oriented(r: np.ndarray, pbar: np.ndarray, params: FlipFlopParams, model: str,
                   f_sec: ArrayLike, f_pm: ArrayLike, f_d12: ArrayLike) -> np.ndarray:
    """W for given angular factors (arrays broadcast against r and pbar)."""
    gc = params.gamma_c
    g2 = params.gamma2_rad_s
    if params.include_gamma1:
        g1 = 0.0
        for ri in (r, r + params.a):
            a_pm = pseudo_secular_hyperfine(ri, params.nucleus, f_pm, params.gamma_e)
            g1 = g1 + paramagnetic_gamma1(a_pm, pbar, gc, params.omega0)
        g2 = g2 + g1
    delta = params.delta_scale * hyperfine_difference(r, params.a, params.nucleus, f_sec,
                                                      params.gamma_e)
    d12 = d12_coupling(params.a, params.nucleus, f_d12)
    return _FORMULAS[model](d12, delta, pbar, gc, g2)


def flipflop_rate(r: ArrayLike, pbar: ArrayLike, params: FlipFlopParams,
                  model: Model = "exact") -> np.ndarray:
    """Nuclear flip-flop rate W(r; P̄) in 1/s.

    r: distance (nm) of the closer nucleus from the electron (floored at params.r_min);
    pbar: mean electron polarization in [-1, 1]; r and pbar broadcast (e.g. r[:, None] with
    pbar[None, :]). model: "exact" (Eq. 9), "slow" (Eq. 10), "fast" (Eq. 11), "far" (D12^2/2Γ2).
    Orientation handling follows params.orientation / params.pair (module docstring).
    """
    if model not in _FORMULAS:
        raise ValueError(f"model must be one of {sorted(_FORMULAS)}, got {model!r}")
    r, pbar = _prepare(r, pbar, params)
    if params.orientation == "rms":
        return np.asarray(_rate_oriented(r, pbar, params, model, RMS_SECULAR, RMS_PSEUDO, RMS_D12))

    c, w = powder_grid(params.n_panels, params.n_gauss)
    f_sec = 3.0 * c * c - 1.0
    f_pm = 3.0 * c * np.sqrt(1.0 - c * c)
    f_d12 = 0.5 * f_sec if params.pair == "collinear" else RMS_D12
    shape = r.shape
    rf, pf = r.ravel(), pbar.ravel()
    out = np.empty(rf.size)
    chunk = max(1, (1 << 18) // c.size)  # bounds memory to ~ 2 MB per temporary
    for i in range(0, rf.size, chunk):
        sl = slice(i, i + chunk)
        wr = _rate_oriented(rf[sl, None], pf[sl, None], params, model, f_sec, f_pm, f_d12)
        out[sl] = wr @ w
    return out.reshape(shape)


def far_field_rate(params: FlipFlopParams) -> float:
    """W(∞) = <D12^2> / (2 Γ2) in 1/s, with <D12^2> = (μ0/4π γn^2 ħ / a^3)^2 / 5 for both
    orientation modes (the powder average of D12^2 equals the rms value squared)."""
    return float(rate_far_field(d12_coupling(params.a, params.nucleus, RMS_D12),
                                params.gamma2_rad_s))


def suppression_factor(r: ArrayLike, pbar: ArrayLike, params: FlipFlopParams,
                       model: Model = "exact") -> np.ndarray:
    """s_e(r; P̄) = W(r; P̄) / W(∞), dimensionless, -> 1 far from the centre.

    For FEM quadrature points: r is an array of distances in nm (any shape), pbar a scalar or an
    array broadcasting against r. Finite for r -> 0 (r floored at params.r_min). With
    orientation="powder" each call costs ~400 rate evaluations per point: tabulate once with
    `suppression_interpolator` instead.
    """
    return flipflop_rate(r, pbar, params, model) / far_field_rate(params)


def diffusion_coefficient(r: ArrayLike, pbar: ArrayLike, params: FlipFlopParams,
                          d0: float | None = None, model: Model = "exact") -> np.ndarray:
    """Spin-diffusion coefficient near the centre.

    d0 None: absolute D = W a^2 in nm^2/s (Bloembergen). d0 given (any unit): D0 · W(r)/W(∞),
    i.e. the bulk value of the material scaled by the suppression factor (docs/reference/physics.md section 3)."""
    if d0 is None:
        return flipflop_rate(r, pbar, params, model) * params.a**2
    return d0 * suppression_factor(r, pbar, params, model)


def suppression_interpolator(params: FlipFlopParams, pbar: float, r_max: float = 50.0,
                             n: int = 400) -> Callable[[ArrayLike], np.ndarray]:
    """Tabulate s_e(r; pbar) on n log-spaced distances in [r_min, r_max] (nm) and return a
    callable r -> s_e that interpolates log s_e linearly in log r (clamped outside the table:
    the r_min value below, the r_max value, ≈ 1, above). Cheap at many quadrature points,
    mainly for orientation="powder"."""
    rt = np.geomspace(params.r_min, r_max, n)
    log_s = np.log(np.maximum(suppression_factor(rt, pbar, params), 1e-300))
    log_rt = np.log(rt)

    def s_e(r: ArrayLike) -> np.ndarray:
        r = np.asarray(r, dtype=float)
        if np.any(np.isnan(r)) or np.any(r < 0):
            raise ValueError("distances r must be >= 0 (nm) and not NaN")
        x = np.log(np.clip(r, rt[0], rt[-1]))
        return np.exp(np.interp(x, log_rt, log_s))

    return s_e
