"""PNG plots of rate tables and sweep profiles (matplotlib imported lazily, Agg backend)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    return plt


def plot_rate_table(table, path: str | Path, title: str | None = None) -> Path:
    """k(r) and R1_para(r) (log-log, with the C6/r^6 fits) and P_src(r); writes a PNG."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    r = np.asarray(table.r)
    rr = np.geomspace(r.min(), r.max(), 200)
    ax.loglog(r, table.k, "o", color="C0", label="k (source)")
    ax.loglog(rr, table.c6_src / rr**6, "-", color="C0", alpha=0.6,
              label=f"C6_src/r^6, C6 = {table.c6_src:.3g} nm^6/s")
    ax.loglog(r, table.r1_para, "s", color="C3", label="R1_para")
    ax.loglog(rr, table.c6_rel / rr**6, "-", color="C3", alpha=0.6,
              label=f"C6_rel/r^6, C6 = {table.c6_rel:.3g} nm^6/s")
    ax.set_xlabel("r (nm)")
    ax.set_ylabel("rate (1/s)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax2.semilogx(r, table.p_src, "o-", label="P_src")
    ax2.semilogx(r, table.p0, "--", label="P0 (microwave off)")
    ax2.set_xlabel("r (nm)")
    ax2.set_ylabel("polarization")
    ax2.legend(fontsize=8)
    ax2.grid(True, which="both", alpha=0.3)
    meta = getattr(table, "meta", {}) or {}
    fig.suptitle(title or f"{meta.get('agent', {}).get('name', '')} "
                          f"{meta.get('mechanism', '')} ({meta.get('method', '')})")
    return _save(plt, fig, path)


def _save(plt, fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_sweep_profile(profile, path: str | Path, title: str | None = None) -> Path:
    """Sweep profile (enhancement vs microwave offset in MHz) with the EPR line positions."""
    plt = _plt()
    x = np.asarray(profile.mw_offset) / (2 * np.pi * 1e6)
    fig, (ax0, ax) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                  gridspec_kw={"height_ratios": [1, 3]})
    lines = np.asarray(profile.lines)
    ax0.vlines(lines[:, 0] / (2 * np.pi * 1e6), 0, lines[:, 1], color="k")
    ax0.set_ylabel("EPR lines")
    ax0.set_yticks([])
    ax.plot(x, profile.eps_en, "-", color="C1", label="e-n (solid effect)")
    if np.all(np.isfinite(profile.eps_een)):
        ax.plot(x, profile.eps_een, "-", color="C2", label="e-e-n (solid + cross effect)")
        ax.plot(x, profile.eps_een - profile.eps_en, ":", color="C0", label="cross-effect part")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.axhline(0.0, color="0.5", lw=0.5)
    ax.set_xlabel("microwave offset from g_iso line centre (MHz)")
    ax.set_ylabel("enhancement P_n / P_thermal")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    m = profile.meta
    fig.suptitle(title or (f"sweep profile: r_en = {m.get('r_en')} nm, r_ee = {m.get('r_ee')} nm,"
                           f" {m.get('method')}"))
    return _save(plt, fig, path)
