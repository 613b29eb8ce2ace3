"""PNG figures of the broad-line model: EPR line with its burnt-in electron polarization
profile, and the DNP sweep profile with its extrema (matplotlib imported lazily, Agg), in the
spindiff figure style (spindiff.figure_style)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...figure_style import DPI, in_style
from .plots import _plt

TWO_PI = 2.0 * np.pi
MHZ = TWO_PI * 1e6


@in_style
def plot_electron_profile(state, line, path: str | Path, omega_n: float | None = None,
                          title: str = "", thermal_state=None) -> Path:
    """EPR line g(eps) (shaded) and the stationary packet polarization P_e(eps) under CW
    microwaves (thermal profile dashed); the microwave position and +-omega_n marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax2 = ax.twinx()
    x = np.asarray(line.eps) / MHZ
    dens = np.asarray(line.density)[: len(x)]
    ax2.fill_between(x[: len(dens)], dens * MHZ, color="0.85", label=r"EPR line $g(\epsilon)$")
    ax2.set_ylabel(r"EPR line $g$ (1/MHz)", color="0.4")
    ax2.set_ylim(0, 1.15 * float(dens.max() * MHZ))
    c = state.grid.centres / MHZ
    ax.plot(c, state.p, "-", color="C3", lw=1.6, label=r"$P_e(\epsilon)$, microwaves on")
    ax.plot(c, state.p0, "--", color="k", lw=1.0, label=r"thermal $P_{e0}$")
    mw = state.mw_offset / MHZ
    ax.axvline(mw, color="C0", lw=1.0, label=f"microwave ({mw:.0f} MHz)")
    if omega_n is not None:
        for s in (-1, 1):
            ax.axvline(mw + s * omega_n / MHZ, color="C0", ls=":", lw=0.9)
        ax.plot([], [], ":", color="C0", label=r"microwave $\pm\,\omega_n/2\pi$")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlabel(r"electron offset $\epsilon = (\omega_e - g_{\rm iso}\mu_B B_0/\hbar)/2\pi$ (MHz)")
    ax.set_ylabel(r"electron polarization $P_e$")
    lo = min(float(state.p.min()), 0.0)
    ax.set_ylim(lo - 0.05, 1.05)
    ax.grid(True, alpha=0.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)


@in_style
def plot_broadline_sweep(sweep, line, path: str | Path, title: str = "",
                         branches: bool = True) -> Path:
    """Nuclear polarization against microwave offset (all mechanisms; triple spin flips alone
    dashed) with the two extrema marked, over the EPR line; as the enhancement P_n / P_thermal
    when |P_n| < 0.2 everywhere."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax2 = ax.twinx()
    x = np.asarray(line.eps) / MHZ
    dens = np.asarray(line.density)[: len(x)]
    ax2.fill_between(x[: len(dens)], dens * MHZ, color="0.88")
    ax2.set_ylabel(r"EPR line $g$ (1/MHz)", color="0.4")
    ax2.set_ylim(0, 1.15 * float(dens.max() * MHZ))
    o = sweep.offsets / MHZ
    small = float(np.max(np.abs(sweep.p_n))) < 0.2      # show the enhancement instead
    f = 1.0 / sweep.p_thermal if small else 1.0
    ax.plot(o, f * sweep.p_n, "-", color="C3", lw=1.8, label=r"$P_n$ stationary (CE + TM + SE)")
    if branches:
        ax.plot(o, f * sweep.p_tsf, "--", color="C2", lw=1.0, label="triple spin flips alone")
    e = sweep.extrema
    for key, mk in (("max", "^"), ("min", "v")):
        xo, yv = e[key]
        ax.plot(xo / MHZ, f * yv, mk, color="k", ms=8)
        txt = f"{f * yv:+.3g}" if small else f"{yv:+.3f}"
        ax.annotate(f"{txt} at {xo / MHZ:.0f} MHz", (xo / MHZ, f * yv), fontsize=8,
                    xytext=(12, -12 if key == "max" else 6), textcoords="offset points")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlabel(r"microwave offset $(\omega_{\rm mw} - g_{\rm iso}\mu_B B_0/\hbar)/2\pi$ (MHz)")
    ax.set_ylabel(r"enhancement $P_n / P_{n,\rm thermal}$" if small else r"nuclear polarization $P_n$")
    if not small:
        ax.set_ylim(-1.08, 1.08)
    else:
        ax.margins(y=0.08)  # the extrema's markers inside the axes
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title or f"extrema separated by {e['separation'] / MHZ:.0f} MHz "
                          rf"($\omega_n/2\pi$ = {sweep.omega_n / MHZ:.0f} MHz)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)
