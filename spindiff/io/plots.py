"""Figures of a run from its saved results (matplotlib, Agg backend; rank 0 only).

`plot_buildup` draws the averaged polarizations: one panel for a one-stage protocol, one
panel per stage otherwise (time measured from the stage start), each on a log time axis when
its outputs are log-spaced; the fits of each stage (sample: mono- and, when it fits better,
stretched exponential; each material's own fit in its colour) only over their stage;
saturation events as arrows from the value before to the value after; and an enhancement
axis P / P0 on the right. Radial profiles: spindiff.io.profile_plots; sweeps:
spindiff.io.sweep_plots. Every figure is written as PNG and, on request, PDF/SVG.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..figure_style import (is_log_spaced, log_ticks, panels_with_legend, pyplot, save,
                           thin_log_ticks)

#: colours and styles of the averaged curves
CURVES = {"P_sample": ("C0", "-", "<P> sample"), "P_visible": ("C1", "--", "<P> visible")}
MATERIAL_COLOURS = ("C2", "C3", "C4", "C5", "C6", "C8", "C9")
#: more stages than this: one panel on the absolute time axis instead of one per stage
MAX_PANELS = 4


def time_axes(height: float = 4.4):
    """(pyplot, figure, axes) for a curve-vs-time plot (6.4 in wide)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, height), dpi=120)
    return plt, fig, ax


def finish_time_plot(plt, fig, ax, path: str | Path, ylabel: str, title: str = "",
                     legend_size: int = 8) -> None:
    """Label the time axis, grid, legend, save to `path` and close."""
    t = np.concatenate([np.asarray(line.get_xdata(), float) for line in ax.get_lines()] or [[0]])
    if is_log_spaced(np.unique(t)):  # log-spaced outputs: a log axis (t = 0 is left out)
        ax.set_xscale("log", nonpositive="mask")
        ax.set_xlim(left=0.8 * t[t > 0].min())
        log_ticks(ax.xaxis)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def stages_from_series(series: dict[str, np.ndarray]) -> list[dict]:
    """Stage names, starts and ends from a timeseries (each stage ends at its last output;
    the next starts there) when summary.json has no "stages" list."""
    names = list(dict.fromkeys(series["stage"].tolist()))
    t = series["time_s"]
    out, start = [], 0.0
    for name in names:
        rows = t[series["stage"] == name]
        event = bool(out) and rows.min() == start  # a row at the start: an event (saturation)
        out.append({"name": name, "start_s": start, "end_s": float(rows.max()),
                    "saturate": "event" if event else "none",
                    "spacing": "log" if is_log_spaced(rows - start) else "linear"})
        start = float(rows.max())
    return out


def plot_buildup(series: dict[str, np.ndarray], path: str | Path, title: str = "",
                 fits: dict | None = None, stage_starts: dict[str, float] | None = None, *,
                 stages: Sequence[dict] | None = None, thermal_polarization: float | None = None,
                 formats: Iterable[str] = ("png",)) -> list[Path]:
    """buildup.png (and PDF/SVG on request) from a run's series, fits and stages (the
    "stages" list of summary.json; derived from the series when absent)."""
    stages = [dict(s) for s in (stages or stages_from_series(series))]
    if stage_starts:
        for s in stages:
            s["start_s"] = stage_starts.get(s["name"], s["start_s"])
    shown = [s for s in stages if np.any(series["stage"] == s["name"])]
    fits = fits or {}
    materials = [k for k in series if k.startswith("P_") and k not in CURVES]
    per_stage = 1 < len(shown) <= MAX_PANELS
    panels = shown if per_stage else [None]
    width = {1: 6.4, 2: 8.0}.get(len(panels), 10.0)
    with panels_with_legend(len(panels), width=width, sharey=False) as (fig, axes, legend_ax):
        for ax, stage in zip(axes, panels):
            if stage is None:
                _whole_run(ax, series, shown, fits, materials)
            else:
                _stage_panel(ax, series, stage, stages, fits.get(stage["name"]), materials)
        axes[0].set_ylabel("nuclear polarization <P>")
        if thermal_polarization:  # every panel has its own range: an enhancement axis each
            p0 = float(thermal_polarization)
            for ax in axes:
                sec = ax.secondary_yaxis("right", functions=(lambda p: p / p0,
                                                             lambda e: e * p0))
            sec.set_ylabel("enhancement <P> / P0")
        handles, labels = _legend_entries(axes)
        legend_ax.legend(handles, labels, loc="center", ncol=min(3, max(len(labels), 1)),
                         fontsize=7)
        if title:
            fig.suptitle(title)
        return save(fig, path, formats)


def _legend_entries(axes) -> tuple[list, list]:
    seen: dict[str, object] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if not label.startswith("_") and label not in seen:
                seen[label] = h
    return list(seen.values()), list(seen)


def _curves(ax, t, series, sel, materials, log: bool) -> None:
    """The averaged curves; a jump at one time (an event) is a break, not a vertical line."""
    keep = np.nonzero(sel & (t > 0) if log else sel)[0]
    tt = t[keep]
    breaks = np.nonzero(np.diff(tt) <= 0)[0] + 1

    def broken(y):
        return np.insert(tt, breaks, np.nan), np.insert(y[keep], breaks, np.nan)
    for key, (colour, style, label) in CURVES.items():
        if key in series:
            ax.plot(*broken(series[key]), style, color=colour, label=label)
    for i, key in enumerate(materials):
        ax.plot(*broken(series[key]), ":", lw=1.8,
                color=MATERIAL_COLOURS[i % len(MATERIAL_COLOURS)], label=f"<P> {key[2:]}")


def _stage_panel(ax, series, stage: dict, stages: Sequence[dict], fit: dict | None,
                 materials: list[str]) -> None:
    """One stage against the time since its start."""
    name, t0 = stage["name"], float(stage["start_s"])
    sel = series["stage"] == name
    t = series["time_s"] - t0
    log = stage.get("spacing") == "log" and is_log_spaced(t[sel])
    _curves(ax, t, series, sel, materials, log)
    duration = float(stage.get("end_s", t0 + t[sel].max())) - t0
    if fit:
        _fits(ax, fit, materials, duration, log, t[sel & (t > 0)].min() if log else 0.0,
              prefix=f"{name}: ", starts=_starts(series, name))
    if log:
        ax.set_xscale("log")
        positive = t[sel & (t > 0)]
        thin_log_ticks(ax.xaxis, positive.min(), positive.max())
    ax.yaxis.set_major_locator(MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]))
    ax.set_xlabel("time since stage start (s)")
    ax.set_title(f"{name} (from t = {t0:.4g} s)" + _stage_note(stage, series))


def _stage_note(stage: dict, series) -> str:
    notes = []
    if stage.get("saturate", "none") != "none":
        jump = _saturation_jump(series, stage)
        what = "saturation" if stage["saturate"] == "event" else f"saturate {stage['saturate']}"
        notes.append(what + (f": <P> visible {jump[0]:.3g} → {jump[1]:.3g}" if jump else ""))
    if stage.get("source_on") is False:
        notes.append("source off")
    return "".join("\n" + n for n in notes)


def _whole_run(ax, series, stages: Sequence[dict], fits: dict, materials) -> None:
    """One panel on the absolute time axis (one stage, or too many stages for panels)."""
    t = series["time_s"]
    log = len(stages) == 1 and stages[0].get("spacing") == "log" and is_log_spaced(t)
    _curves(ax, t, series, np.ones(t.size, bool), materials, log)
    for stage in stages:
        fit = fits.get(stage["name"])
        if fit:
            t0 = float(stage["start_s"])
            _fits(ax, fit, materials, float(stage["end_s"]) - t0, log,
                  t[t > 0].min() if log else 0.0, offset=t0,
                  prefix=f"{stage['name']}: " if len(stages) > 1 else "",
                  starts=_starts(series, stage["name"]))
        if float(stage["start_s"]) > 0:
            ax.axvline(float(stage["start_s"]), color="0.6", lw=0.8, ls="-", zorder=0)
        if stage.get("saturate", "none") != "none":
            _saturation(ax, series, stage, x=float(stage["start_s"]))
    if log:
        ax.set_xscale("log")
        thin_log_ticks(ax.xaxis, t[t > 0].min(), t.max())
    ax.set_xlabel("time (s)")


def _fits(ax, fit: dict, materials, duration: float, log: bool, first: float,
          offset: float = 0.0, prefix: str = "", starts: dict | None = None) -> None:
    """The stage's fits over the stage only (t from the stage start)."""
    tt = np.geomspace(max(first, duration * 1e-6), duration, 300) if log else \
        np.linspace(0.0, duration, 300)
    p_start = fit.get("P_start")
    if p_start is None:
        return
    mono, stretched = fit.get("mono"), fit.get("stretched")
    if mono:
        ax.plot(tt + offset, _mono(tt, mono, p_start), color="k", lw=0.9, ls=(0, (4, 2)),
                label=f"{prefix}mono fit: T_B = {mono['T_B_s']:.3g} s")
    if stretched and (not mono or _better(stretched, mono)):
        ax.plot(tt + offset, _stretched(tt, stretched, p_start), color="0.45", lw=0.9,
                ls=(0, (1, 1.5)), label=f"{prefix}stretched: T_B = {stretched['T_B_s']:.3g} s, "
                                        f"β = {stretched['beta']:.2f}")
    for i, key in enumerate(materials):
        mfit = (fit.get("materials") or {}).get(key[2:])
        if not mfit:
            continue
        colour = MATERIAL_COLOURS[i % len(MATERIAL_COLOURS)]
        m, s = mfit.get("mono"), mfit.get("stretched")
        start = (starts or {}).get(key, 0.0)
        if s and (not m or _better(s, m)):
            curve, text = _stretched(tt, s, start), f"T_B = {s['T_B_s']:.3g} s, β = {s['beta']:.2f}"
        elif m:
            curve, text = _mono(tt, m, start), f"T_B = {m['T_B_s']:.3g} s"
        else:
            continue
        ax.plot(tt + offset, curve, color=colour, lw=0.9, ls=(0, (5, 1, 1, 1)),
                label=f"{prefix}{key[2:]} fit: {text}")


def _starts(series, name: str) -> dict[str, float]:
    """Each curve's value in the first row of stage `name` (its start, after any event)."""
    first = int(np.nonzero(series["stage"] == name)[0][0])
    return {k: float(v[first]) for k, v in series.items() if k.startswith("P_")}


def _better(stretched: dict, mono: dict) -> bool:
    """The stretched fit is worth drawing: beta differs from 1 and the residual is smaller."""
    return abs(stretched["beta"] - 1.0) > 0.05 and stretched["rms"] < 0.8 * mono["rms"]


def _mono(t, fit: dict, p_start: float) -> np.ndarray:
    return fit["P_inf"] - (fit["P_inf"] - p_start) * np.exp(-t / fit["T_B_s"])


def _stretched(t, fit: dict, p_start: float) -> np.ndarray:
    return fit["P_inf"] - (fit["P_inf"] - p_start) * np.exp(-np.power(t / fit["T_B_s"],
                                                                      fit["beta"]))


def _saturation_jump(series, stage: dict) -> tuple[float, float] | None:
    """<P>_visible (or sample) just before and just after a stage-start event."""
    key = "P_visible" if "P_visible" in series else "P_sample"
    t, names = series["time_s"], series["stage"]
    t0 = float(stage["start_s"])
    at = np.isclose(t, t0, rtol=1e-12, atol=1e-12)
    after = np.nonzero((names == stage["name"]) & at)[0]
    before = np.nonzero((names != stage["name"]) & at)[0]
    if not len(after) or not len(before):
        return None
    return float(series[key][before[-1]]), float(series[key][after[0]])


def _saturation(ax, series, stage: dict, x: float) -> None:
    """The stage-start event on an absolute time axis: a red dotted drop from before to after."""
    jump = _saturation_jump(series, stage)
    if jump is not None:
        ax.plot([x, x], jump, ":", color="C3", lw=1.2, label="saturation")
        ax.plot([x], [jump[1]], "v", color="C3", ms=5)
