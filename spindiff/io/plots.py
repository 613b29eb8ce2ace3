"""Figures of a run from its saved results (matplotlib, Agg backend; rank 0 only).

`plot_buildup` draws the averaged polarizations: one panel for a one-stage protocol, one
panel per stage otherwise (time measured from the stage start), each on a log time axis when
its outputs are log-spaced; the fits of each stage by its kind (spindiff.analysis.stages),
only over their stage and labelled with their uncertainties: a buildup's mono-exponential
T_B and, when the data prefer it, the stretched or bi-exponential one; a decay's T1 toward
P0; a resurgence's T_R on the visible curve; each material's own fit in its colour; a stage
that is not fitted says why in its title. Curves that coincide (the visible and the sample
average within 0.5 % of their range) are said to coincide. Saturation events are marked from
the value before to the value after, the right axis is the enhancement P / P0, and the
subtitle states the sample and its conditions. Radial profiles: spindiff.io.profile_plots;
sweeps: spindiff.io.sweep_plots. Every figure is written as PNG and, on request, PDF/SVG.
"""
from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..figure_style import (
    coincide,
    is_log_spaced,
    panels_with_legend,
    pyplot,
    save,
    subtitle,
    thin_log_ticks,
    value_error,
)

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
        thin_log_ticks(ax.xaxis, t[t > 0].min(), t.max())
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
                 formats: Iterable[str] = ("png",), conditions: dict | None = None) -> list[Path]:
    """buildup.png (and PDF/SVG on request) from a run's series, fits and stages (the
    "stages" list of summary.json; derived from the series when absent); conditions: the
    sample and its conditions for the subtitle (summary.json "conditions")."""
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
        p0 = thermal_polarization
        for ax, stage in zip(axes, panels):
            if stage is None:
                _whole_run(ax, series, shown, fits, materials, p0)
            else:
                _stage_panel(ax, series, stage, stages, fits.get(stage["name"]), materials, p0)
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
        subtitle(fig, conditions, title=title, fontsize=9)
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


def _flat_range(ax, series, sel) -> None:
    """A curve that does not change (to 1e-4 of its value) is shown flat on a range of 1 % of
    its value, with plain tick values, not an offset of 1e-11."""
    keys = [k for k in series if k.startswith("P_")]
    values = np.concatenate([series[k][sel] for k in keys])
    values = values[np.isfinite(values)]
    if not values.size:
        return
    mid, span = 0.5 * (values.max() + values.min()), float(np.ptp(values))
    if span <= 1e-4 * max(abs(mid), 1e-300):
        half = max(5e-3 * abs(mid), 1e-12)
        ax.set_ylim(mid - half, mid + half)
        ax.ticklabel_format(axis="y", useOffset=False)


def _coincide(series, sel) -> bool:
    """Whether <P> visible lies on <P> sample (within 0.5 % of their range) over `sel`."""
    return "P_visible" in series and int(sel.sum()) > 1 and coincide(
        series["P_sample"][sel], series["P_visible"][sel])


def _stage_panel(ax, series, stage: dict, stages: Sequence[dict], fit: dict | None,
                 materials: list[str], p0: float | None = None) -> None:
    """One stage against the time since its start."""
    name, t0 = stage["name"], float(stage["start_s"])
    sel = series["stage"] == name
    t = series["time_s"] - t0
    log = stage.get("spacing") == "log" and is_log_spaced(t[sel])
    _curves(ax, t, series, sel, materials, log)
    same = _coincide(series, sel)
    duration = float(stage.get("end_s", t0 + t[sel].max())) - t0
    if fit:
        _fits(ax, fit, materials, duration, log, t[sel & (t > 0)].min() if log else 0.0,
              prefix=f"{name}: ", starts=_starts(series, name, float(stage["start_s"])), p0=p0)
    if log:
        ax.set_xscale("log")
        positive = t[sel & (t > 0)]
        thin_log_ticks(ax.xaxis, positive.min(), positive.max())
    ax.yaxis.set_major_locator(MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]))
    _flat_range(ax, series, sel)
    ax.set_xlabel("time since stage start (s)")
    ax.set_title(f"{name} (from t = {t0:.4g} s)" + _stage_note(stage, series, fit)
                 + ("\n<P> visible and <P> sample coincide" if same else ""))


def _stage_note(stage: dict, series, fit: dict | None = None) -> str:
    notes = []
    if stage.get("saturate", "none") != "none":
        jump = _saturation_jump(series, stage)
        what = "saturation" if stage["saturate"] == "event" else f"saturate {stage['saturate']}"
        notes.append(what + (f": <P> visible {jump[0]:.3g} → {jump[1]:.3g}" if jump else ""))
    if stage.get("source_on") is False:
        notes.append("source off")
    if fit and fit.get("fitted") is False and fit.get("note"):
        notes.append(textwrap.fill(fit["note"], 44))
    return "".join("\n" + n for n in notes)


def _whole_run(ax, series, stages: Sequence[dict], fits: dict, materials,
               p0: float | None = None) -> None:
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
                  starts=_starts(series, stage["name"], t0), p0=p0)
        if float(stage["start_s"]) > 0:
            ax.axvline(float(stage["start_s"]), color="0.6", lw=0.8, ls="-", zorder=0)
        if stage.get("saturate", "none") != "none":
            _saturation(ax, series, stage, x=float(stage["start_s"]))
    if log:
        ax.set_xscale("log")
        thin_log_ticks(ax.xaxis, t[t > 0].min(), t.max())
    if _coincide(series, np.ones(t.size, bool)):
        ax.set_title("<P> visible and <P> sample coincide")
    ax.set_xlabel("time (s)")


def _fits(ax, fit: dict, materials, duration: float, log: bool, first: float,
          offset: float = 0.0, prefix: str = "", starts: dict | None = None,
          p0: float | None = None) -> None:
    """The stage's fits over the stage only (t from the stage start), by its kind (a stage
    whose sample curve is not fitted may still have its materials' fits)."""
    tt = np.geomspace(max(first, duration * 1e-6), duration, 300) if log else \
        np.linspace(0.0, duration, 300)
    starts = starts or {}
    p_start = fit.get("P_start", starts.get("P_sample"))
    if p_start is None:
        return
    kind = fit.get("kind", "buildup")
    target = fit.get("P_target", p0)
    if fit.get("fitted") is False:
        pass
    elif kind == "buildup":
        _buildup_fits(ax, fit, tt, offset, p_start, prefix, "k", "", main=True)
    else:
        _decay_fit(ax, fit, tt, offset, p_start, target, prefix, "k", "")
    if kind == "resurgence" and fit.get("resurgence") and "P_visible" in starts:
        _buildup_fits(ax, fit["resurgence"], tt, offset, starts["P_visible"], prefix, "C1",
                      "visible ", main=True, time_key="T_R")
    for i, key in enumerate(materials):
        mfit = (fit.get("materials") or {}).get(key[2:])
        if not mfit or mfit.get("fitted") is False:
            continue
        colour = MATERIAL_COLOURS[i % len(MATERIAL_COLOURS)]
        start = starts.get(key, 0.0)
        _buildup_fits(ax, mfit, tt, offset, start, prefix, colour, f"{key[2:]} ", main=False)


def _buildup_fits(ax, fit: dict, tt, offset, p_start, prefix, colour, what: str, main: bool,
                  time_key: str = "T_B") -> None:
    """The mono-exponential fit and, when the data prefer another, that one too (for a
    material: the preferred one only)."""
    mono, stretched, bi = fit.get("mono"), fit.get("stretched"), fit.get("bi")
    best = fit.get("preferred")
    if "preferred" not in fit:  # a summary written before the model choice
        best = "stretched" if stretched and mono and _better(stretched, mono) else "mono"
    style = (0, (4, 2)) if main else (0, (5, 1, 1, 1))
    other = "0.45" if colour == "k" else colour  # the preferred model, when not the mono one
    tk = f"{time_key}_s"
    if mono and (main or best in (None, "mono")):
        label = f"{prefix}{what}mono: {time_key} = {value_error(mono[tk], mono.get(tk[:-2] + '_stderr_s'))} s"
        ax.plot(tt + offset, _mono(tt, mono, p_start, tk), color=colour, lw=0.9, ls=style,
                label=label + ("" if mono.get("determined", True) else " (not determined)"))
    if best == "stretched" and stretched:
        ax.plot(tt + offset, _stretched(tt, stretched, p_start, tk), color=other, lw=1.1,
                ls=(0, (1, 1.5)),
                label=f"{prefix}{what}stretched (preferred): {time_key} = "
                      f"{value_error(stretched[tk], stretched.get(tk[:-2] + '_stderr_s'))} s, "
                      f"β = {value_error(stretched['beta'], stretched.get('beta_stderr'))}")
    if best == "bi" and bi:
        ax.plot(tt + offset, _bi(tt, bi, p_start), color=other, lw=1.1, ls=(0, (1, 1.5)),
                label=f"{prefix}{what}bi-exponential (preferred): T_fast = "
                      f"{value_error(bi['T_B_fast_s'], bi.get('T_B_fast_stderr_s'))} s, T_slow = "
                      f"{value_error(bi['T_B_slow_s'], bi.get('T_B_slow_stderr_s'))} s, "
                      f"a = {bi['fraction_fast']:.2f}")


def _decay_fit(ax, fit: dict, tt, offset, p_start, target, prefix, colour, what: str) -> None:
    """T1 toward P0 (end value fixed) over the stage."""
    t1 = fit.get("T1")
    if not t1 or target is None:
        return
    initial = fit.get("initial")
    extra = (f"; initial {value_error(initial['T1_s'], initial['T1_stderr_s'])} s"
             if initial else "")
    ax.plot(tt + offset, target + (p_start - target) * np.exp(-tt / t1["T1_s"]), color=colour,
            lw=0.9, ls=(0, (4, 2)),
            label=f"{prefix}{what}T1 toward P0 = {value_error(t1['T1_s'], t1['T1_stderr_s'])} s"
                  + extra)


def _starts(series, name: str, t0: float | None = None) -> dict[str, float]:
    """Each curve's value at the start of stage `name`: its first row, or the last row
    before it when that row is at the stage start (no event there)."""
    first = int(np.nonzero(series["stage"] == name)[0][0])
    t = series["time_s"]
    if t0 is not None and first > 0 and t[first] > t0 and t[first - 1] == t0:
        first -= 1
    return {k: float(v[first]) for k, v in series.items() if k.startswith("P_")}


def _better(stretched: dict, mono: dict) -> bool:
    """For summaries without a model choice: the stretched fit is worth drawing when beta
    differs from 1 and the residual is smaller."""
    return abs(stretched["beta"] - 1.0) > 0.05 and stretched["rms"] < 0.8 * mono["rms"]


def _mono(t, fit: dict, p_start: float, key: str = "T_B_s") -> np.ndarray:
    return fit["P_inf"] - (fit["P_inf"] - p_start) * np.exp(-t / fit[key])


def _stretched(t, fit: dict, p_start: float, key: str = "T_B_s") -> np.ndarray:
    return fit["P_inf"] - (fit["P_inf"] - p_start) * np.exp(-np.power(t / fit[key], fit["beta"]))


def _bi(t, fit: dict, p_start: float) -> np.ndarray:
    a = fit["fraction_fast"]
    return fit["P_inf"] - (fit["P_inf"] - p_start) * (a * np.exp(-t / fit["T_B_fast_s"])
                                                      + (1 - a) * np.exp(-t / fit["T_B_slow_s"]))


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
