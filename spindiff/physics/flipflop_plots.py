"""Figures of the flip-flop model (spindiff.physics.flipflop): the D(r; P_e) family near a
centre (Chessari Fig. 3a analogue) and Eq. 9 against its limits, in the spindiff figure style
(spindiff.figure_style: fonts, grid, DPI). matplotlib is imported lazily.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..figure_style import DPI, styled
from .flipflop import FlipFlopParams, breakdown_radius, diffusion_coefficient, suppression_factor


def _pbar_label(p: float) -> str:
    return f"{p:.4g}"


def _log_distance_axis(ax, r: np.ndarray) -> None:
    """Readable tick labels (0.2, 0.5, 1, 2, ... nm) on a log distance axis."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ticks = [t for t in (0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 20, 50, 100)
             if r.min() <= t <= r.max()]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_diffusion_family(params: FlipFlopParams, r: ArrayLike, pbar_values: ArrayLike | None,
                          path: str | None, relative: bool = True, *, r_h: float | None = 0.9,
                          r_mv: float | None = None, markers: tuple[float, float] | None = None,
                          shade_breakdown: bool = True, title: str | None = None):
    """Fig. 3a analogue: D(r) for each P̄ in pbar_values (default 0, 0.1, ..., 1), log-log.

    relative=True plots D/D0 = W(r)/W(∞); otherwise D = W a^2 in nm^2/s. r_h (nm) is marked
    with a grey vertical line, r_mv (nm) with a black one; markers=(p_on, p_off) draws hollow
    circles at r_h for two polarizations (the paper's 0.5 and 0.9993). The region where
    |A_z| > Γc (`breakdown_radius`) is shaded. Saves to `path` if given; returns the figure."""
    from matplotlib.figure import Figure

    r = np.asarray(r, dtype=float)
    if pbar_values is None:
        pbar_values = np.round(np.arange(0.0, 1.0001, 0.1), 10)
    pbar_values = np.atleast_1d(np.asarray(pbar_values, dtype=float))

    def curve(p):
        return suppression_factor(r, p, params) if relative else diffusion_coefficient(r, p, params)

    with styled():
        fig = Figure(figsize=(6.4, 4.8))
        _family(fig, params, r, pbar_values, curve, relative, r_h, r_mv, markers,
                shade_breakdown, title)
        if path is not None:
            fig.savefig(path, dpi=DPI)
    return fig


def _family(fig, params, r, pbar_values, curve, relative, r_h, r_mv, markers, shade_breakdown,
            title) -> None:
    from matplotlib import colormaps
    ax = fig.add_subplot()
    cmap = colormaps["viridis"]
    for i, p in enumerate(pbar_values):
        ax.loglog(r, curve(p), color=cmap(i / max(1, len(pbar_values) - 1)),
                  label=f"P̄ = {_pbar_label(p)}")
    if shade_breakdown:
        rb = breakdown_radius(params)
        if rb > r.min():
            ax.axvspan(r.min(), min(rb, r.max()), color="0.85", zorder=0,
                       label=f"|A_z| > Γc (r < {rb:.2f} nm)")
    if r_h is not None:
        ax.axvline(r_h, color="0.5", lw=1.2, label=f"r_h = {r_h:g} nm")
    if r_mv is not None:
        ax.axvline(r_mv, color="k", lw=1.2, label=f"r_MV = {r_mv:.2f} nm")
    if markers is not None and r_h is not None:
        at_rh = suppression_factor if relative else diffusion_coefficient
        vals = [float(at_rh(r_h, p, params)) for p in markers]
        ax.plot([r_h, r_h], vals, "o", mfc="none", mec="k", ms=8, zorder=5)
        ax.annotate("", xy=(r_h, vals[0]), xytext=(r_h, vals[1]),
                    arrowprops=dict(arrowstyle="->", color="k"))
        ax.text(r_h * 1.05, np.sqrt(vals[0] * vals[1]),
                f"×{vals[0] / vals[1]:.1f}\n(P̄ {markers[1]:g} → {markers[0]:g})", fontsize=8)
    ax.set_xlabel("distance of the closer nucleus to the electron r (nm)")
    ax.set_ylabel("D(r) / D0" if relative else "D = W a² (nm²/s)")
    ax.set_xlim(r.min(), r.max())
    _log_distance_axis(ax, r)
    ax.set_title(title or (f"Eq. 9, a = {params.a:g} nm, Γ2 = {params.gamma2_rad_s:.3g} 1/s, "
                           f"τc = {params.tau_c:.2g} s, {params.orientation}"), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()


def plot_limits_comparison(params: FlipFlopParams, r: ArrayLike, path: str | None,
                           pbar: float = 0.7, relative: bool = False, *,
                           r_h: float | None = 0.9, title: str | None = None):
    """Fig. 3b analogue: D(r) from Eq. 9 (exact) vs the slow-electron Eq. 10 and fast-electron
    Eq. 11 limits (and the far-field value) at one P̄ (default 0.7), log-log. relative=False
    plots D = W a^2 in nm^2/s. Saves to `path` if given; returns the figure."""
    from matplotlib.figure import Figure

    r = np.asarray(r, dtype=float)
    fn = (lambda m: suppression_factor(r, pbar, params, m)) if relative else \
        (lambda m: diffusion_coefficient(r, pbar, params, model=m))
    with styled():
        fig = Figure(figsize=(6.4, 4.8))
        _limits(fig, r, fn, pbar, params, relative, r_h, title)
        if path is not None:
            fig.savefig(path, dpi=DPI)
    return fig


def _limits(fig, r, fn, pbar, params, relative, r_h, title) -> None:
    ax = fig.add_subplot()
    ax.loglog(r, fn("exact"), "k-", lw=2.2, label="Eq. 9 (exact)")
    ax.loglog(r, fn("slow"), "C3--", lw=1.5, label="Eq. 10 (slow electron, long τc)")
    ax.loglog(r, fn("fast"), "C0:", lw=1.8, label="Eq. 11 (fast electron, short τc)")
    ax.loglog(r, fn("far"), "0.6", lw=1.0, label="far field D12²/(2Γ2)")
    if r_h is not None:
        ax.axvline(r_h, color="0.5", lw=1.0, label=f"r_h = {r_h:g} nm")
    ax.set_xlabel("distance of the closer nucleus to the electron r (nm)")
    ax.set_ylabel("D(r) / D0" if relative else "D = W a² (nm²/s)")
    ax.set_xlim(r.min(), r.max())
    _log_distance_axis(ax, r)
    ax.set_title(title or f"P̄ = {pbar:g}, τc = {params.tau_c:.2g} s, {params.orientation}",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
