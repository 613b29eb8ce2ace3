"""Plots from saved results (matplotlib, Agg backend; rank 0 only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def time_axes(height: float = 4.4):
    """(pyplot, figure, axes) for a curve-vs-time plot (6.4 in wide)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, height), dpi=120)
    return plt, fig, ax


def finish_time_plot(plt, fig, ax, path: str | Path, ylabel: str, title: str = "",
                     legend_size: int = 8) -> None:
    """Label the time axis, grid, legend, save to `path` and close."""
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_buildup(series: dict[str, np.ndarray], path: str | Path, title: str = "",
                 fits: dict | None = None, stage_starts: dict[str, float] | None = None) -> None:
    """Averaged polarizations vs time (linear time axis), with fitted curves if given."""
    plt, fig, ax = time_axes(4.2)
    t = series["time_s"]
    for key, style in (("P_sample", "-"), ("P_visible", "--")):
        if key in series:
            ax.plot(t, series[key], style, label=key.replace("P_", "<P> "))
    for key in series:
        if key.startswith("P_") and key not in ("P_sample", "P_visible"):
            ax.plot(t, series[key], ":", label=f"<P> {key[2:]}")
    for name, start in (stage_starts or {}).items():
        if start > 0:
            ax.axvline(start, color="0.7", lw=0.8)
    if fits:
        for name, fit in fits.items():
            mono = fit.get("mono") if fit else None
            if mono and stage_starts is not None and name in stage_starts:
                t0 = stage_starts[name]
                sel = t >= t0
                tt = np.linspace(t0, t[sel][-1], 200)
                p_start = fit["P_start"]
                ax.plot(tt, mono["P_inf"] - (mono["P_inf"] - p_start) * np.exp(-(tt - t0) / mono["T_B_s"]),
                        color="0.3", lw=0.8, label=f"fit {name}: T_B = {mono['T_B_s']:.3g} s")
    finish_time_plot(plt, fig, ax, path, "nuclear polarization", title)
