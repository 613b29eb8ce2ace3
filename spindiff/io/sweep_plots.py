"""sweep.png: the curves of every variant, coloured by the swept value, and the buildup time
T_B and the enhancement at the end of the buildup stage (both labelled with that stage's name)
against each swept parameter, under a subtitle with the sample and the conditions that are not
swept (from sweep.csv and the variants' timeseries). Axes are labelled with the physical
names of the swept keys and their units. Values such as "5 mM" are read as number and unit;
a parameter whose values are not numbers is shown by position.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..figure_style import colours, figure, is_log_spaced, quantity_label, quantity_name, save, subtitle, thin_log_ticks

_NUMBER_UNIT = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*?)\s*$")
LINESTYLES = ("-", "--", ":", "-.")


def numeric(values: Sequence) -> tuple[np.ndarray | None, str]:
    """(numbers, unit) of values like "5 mM" or 0.5 (one unit for all), or (None, "")."""
    nums, unit_set = [], set()
    for v in values:
        if isinstance(v, bool):
            return None, ""
        m = _NUMBER_UNIT.match(str(v))
        if m is None:
            return None, ""
        nums.append(float(m[1]))
        unit_set.add(m[2])
    if len(unit_set) > 1:
        return None, ""
    return np.array(nums), (unit_set.pop() if unit_set else "")


#: the conditions a swept key replaces in the subtitle
SWEPT_CONDITIONS = {"geometry.concentration": "concentration_mM", "conditions.B0": "B0_T",
                    "conditions.temperature": "temperature_K"}


def plot_sweep(rows: Sequence[dict], keys: Sequence[str], curves: dict, path: str | Path,
               title: str = "", formats: Iterable[str] = ("png",),
               conditions: dict | None = None) -> list[Path]:
    """rows: sweep.csv as dicts; keys: the swept (dotted) keys; curves: variant label ->
    (time_s, P_sample, description); conditions: the first variant's summary.json
    "conditions" (the swept ones are left out of the subtitle)."""
    keys = list(keys) or ["variant"]
    nrows = 1 + len(keys)
    stages = sorted({str(r.get("buildup_stage") or "") for r in rows} - {""})
    at = f" {stages[0]!r}" if len(stages) == 1 else ""
    per_stage = rows and "enhancement_end_buildup" in rows[0]
    enh_col = "enhancement_end_buildup" if per_stage else "enhancement"
    enh_label = (f"enhancement <P>/P0 at the end\nof the buildup stage{at}" if per_stage
                 else "enhancement <P>/P0\nafter the last stage")
    tb_label = f"T_B of the buildup\nstage{at} (s)" if per_stage else "buildup time T_B (s)"
    with figure(nrows, 2, width=7.5, height=2.9 * nrows + 0.4) as (fig, axes):
        _curves(axes[0][0], rows, keys, curves)
        axes[0][1].axis("off")
        handles, labels = axes[0][0].get_legend_handles_labels()
        axes[0][1].legend(handles, labels, loc="center left", fontsize=7,
                          title=_legend_title(keys))
        for i, key in enumerate(keys):
            _against(axes[1 + i][0], rows, keys, key, "T_B_s", tb_label)
            _against(axes[1 + i][1], rows, keys, key, enh_col, enh_label)
        shown = dict(conditions or {})
        for key in keys:
            if key in SWEPT_CONDITIONS:
                shown[SWEPT_CONDITIONS[key]] = None
        swept = "swept: " + ", ".join(quantity_name(k) for k in keys if k != "variant")
        subtitle(fig, shown if conditions else None, title=title,
                 extra=swept if conditions and keys != ["variant"] else "", fontsize=9)
        return save(fig, path, formats)


def _legend_title(keys: Sequence[str]) -> str:
    title = f"colour: {quantity_name(keys[0])}"
    if len(keys) > 1:
        title += f"\nline: {quantity_name(keys[1])}"
    return title


def _curves(ax, rows, keys, curves) -> None:
    """Every variant's <P>_sample: colour by the first swept value, line style by the second."""
    first = _levels(rows, keys[0])
    second = _levels(rows, keys[1]) if len(keys) > 1 else [None]
    palette = colours(len(first))
    times = []
    for row in rows:
        t, p, _ = curves[row["variant"]]
        i = first.index(row.get(keys[0]))
        j = second.index(row.get(keys[1])) if len(keys) > 1 else 0
        label = f"{row.get(keys[0])}" + (f", {row.get(keys[1])}" if len(keys) > 1 else "")
        ax.plot(t, p, LINESTYLES[j % len(LINESTYLES)], color=palette[i], label=label)
        times.append(t)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("<P> over the sample")
    ax.set_title("<P> of every variant")
    if times and is_log_spaced(times[0]):  # t = 0 is left out of a log axis
        ax.set_xscale("log", nonpositive="mask")
        lo = min(float(t[t > 0].min()) for t in times)
        ax.set_xlim(left=0.8 * lo)
        thin_log_ticks(ax.xaxis, lo, max(float(t.max()) for t in times))


def _levels(rows, key) -> list:
    """The distinct values of `key` in order (numbers sorted)."""
    values = list(dict.fromkeys(r.get(key) for r in rows))
    nums, _ = numeric(values)
    return [values[i] for i in np.argsort(nums)] if nums is not None else values


def _against(ax, rows, keys, key, column: str, ylabel: str) -> None:
    """`column` against the values of `key`, one line per combination of the other keys."""
    others = [k for k in keys if k != key]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in others), []).append(r)
    levels = _levels(rows, key)
    nums, unit = numeric(levels)
    palette = colours(len(groups), "plasma", 0.8)
    for g, (combo, members) in enumerate(groups.items()):
        members = sorted(members, key=lambda r: levels.index(r.get(key)))
        x = [nums[levels.index(r.get(key))] if nums is not None else levels.index(r.get(key))
             for r in members]
        y = [_float(r.get(column)) for r in members]
        label = ", ".join(f"{quantity_name(k)} = {v}" for k, v in zip(others, combo)) or None
        ax.plot(x, y, "o-", color=palette[g], ms=4, label=label)
    if nums is not None and nums.min() > 0 and nums.max() / nums.min() >= 10:
        ax.set_xscale("log")
        thin_log_ticks(ax.xaxis, nums.min(), nums.max())
    elif nums is None:
        ax.set_xticks(range(len(levels)), [str(v) for v in levels])
    ys = [_float(r.get(column)) for r in rows]
    ys = [y for y in ys if np.isfinite(y)]
    if ys and min(ys) > 0 and max(ys) / min(ys) >= 10:
        ax.set_yscale("log")
        thin_log_ticks(ax.yaxis, min(ys), max(ys))
    ax.set_xlabel(quantity_label(key, unit))
    ax.set_ylabel(ylabel)
    if others:
        ax.legend(fontsize=7)


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")
