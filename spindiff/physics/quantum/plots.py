"""PNG plots of rate tables and sweep profiles (matplotlib imported lazily, Agg backend), in
the spindiff figure style (spindiff.figure_style: its rc settings and DPI)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...figure_style import DPI, in_style, pyplot


def _plt():
    """pyplot on the Agg backend."""
    return pyplot()


@in_style
def plot_rate_table(table, path: str | Path, title: str | None = None) -> Path:
    """k(r) and R1_para(r) (log-log, with the C6/r^6 fits) and P_src(r); writes a PNG. The
    title gives the agent, mechanism, method, B0, T, nucleus, nutation and microwave offset."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    r = np.asarray(table.r)
    rr = np.geomspace(r.min(), r.max(), 200)
    ax.loglog(r, table.k, "o", color="C0", label="k (source)")
    ax.loglog(rr, table.c6_src / rr**6, "-", color="C0", alpha=0.6,
              label=f"C6_src/r^6, C6 = {table.c6_src:.3g} nm^6/s")
    ax.loglog(r, table.r1_para, "s", color="C3", label="R1_para")
    ax.loglog(rr, table.c6_rel / rr**6, "-", color="C3", alpha=0.6,
              label=f"C6_rel/r^6, C6 = {table.c6_rel:.3g} nm^6/s")
    ax.set_xlabel("distance from the centre r (nm)")
    ax.set_ylabel("rate (1/s)")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    _distance_ticks(ax.xaxis, r)
    from matplotlib.ticker import LogLocator
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=8))
    p_src = np.asarray(table.p_src, dtype=float)
    ax2.semilogx(r, p_src, "o-", color="C0", label="P_src (microwaves on)")
    spread = max(float(np.ptp(p_src)), 1e-3 * max(float(np.max(np.abs(p_src))), 1e-12))
    mid = 0.5 * (float(np.max(p_src)) + float(np.min(p_src)))
    ax2.set_ylim(mid - 0.75 * spread, mid + 0.75 * spread)
    ax2.ticklabel_format(axis="y", useOffset=False)
    p0 = np.asarray(table.p0, dtype=float)
    ax2.text(0.02, 0.04, f"P0 (microwaves off, thermal) = {float(np.mean(p0)):.3g}\n"
             f"P_src / P0 = {float(np.mean(p_src)) / float(np.mean(p0)):.4g}"
             if np.mean(p0) != 0 else "P0 = 0", transform=ax2.transAxes, fontsize=8)
    ax2.set_xlabel("distance from the centre r (nm)")
    ax2.set_ylabel("source polarization P_src")
    ax2.legend(fontsize=8, loc="upper right")
    ax2.grid(True, which="major", alpha=0.3)
    _distance_ticks(ax2.xaxis, r)
    fig.suptitle(title or _title(getattr(table, "meta", {}) or {}), fontsize=10)
    return _save(plt, fig, path)


def _title(meta: dict) -> str:
    """Agent, mechanism and method; B0, T, nucleus, nutation and offset when known."""
    head = (f"{meta.get('agent', {}).get('name', '')} {meta.get('mechanism', '')} "
            f"({meta.get('method', '')})").strip()
    c = meta.get("conditions") or {}
    if not c:
        return head
    return (f"{head}: B0 = {c['b0']:.4g} T, T = {c['temperature']:.4g} K, {c['nucleus']}, "
            f"w1/2pi = {c['omega1'] / (2 * np.pi) / 1e3:.4g} kHz, "
            f"offset = {c['mw_offset'] / (2 * np.pi) / 1e6:.5g} MHz")


def _distance_ticks(axis, r: np.ndarray) -> None:
    """Plain-number ticks (0.3, 0.5, 1, 2 nm) on a log distance axis, minor ones unlabelled."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 20, 50, 100)
             if r.min() * 0.999 <= t <= r.max() * 1.001]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_formatter(NullFormatter())


def _save(plt, fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


@in_style
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
