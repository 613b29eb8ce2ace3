"""`spindiff plot RESULTS_DIR`: redraw the figures of a results folder from its files alone.

    from spindiff.io.replot import plot_results
    plot_results("results/default", what=("buildup", "profile"), formats=("png", "pdf"))

A run folder (timeseries.csv, summary.json, [profile.csv]) gives buildup.png and, with a
profile, profile.png; a sweep folder (sweep.csv and variants/) gives sweep.png. Nothing is
recomputed: the fits, stages and P0 come from summary.json (older folders without its
"stages" list get them from the stage column of timeseries.csv).
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import SpindiffError
from ..figure_style import FORMATS
from .folders import MARKER, read_marker
from .profile_plots import plot_profile
from .results import read_profile, read_timeseries
from .sweep_plots import plot_sweep

#: what `plot_results` can draw
FIGURES = ("buildup", "profile", "sweep")


def available(folder: Path) -> list[str]:
    """The figures the files of `folder` allow."""
    out = []
    if (folder / "timeseries.csv").is_file() and (folder / "summary.json").is_file():
        out.append("buildup")
    if (folder / "profile.csv").is_file():
        out.append("profile")
    if (folder / "sweep.csv").is_file() and (folder / "variants").is_dir():
        out.append("sweep")
    return out


def plot_results(folder: str | Path, what: Sequence[str] | None = None,
                 formats: Iterable[str] = ("png",)) -> list[Path]:
    """Draw `what` (default: every figure the folder allows) in `formats`; returns the files.
    SpindiffError (one line) for a folder without results or a figure it cannot give."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpindiffError(f"{folder}: no such results folder")
    if read_marker(folder) is None:  # figures are written into the folder: only spindiff's own
        raise SpindiffError(f"{folder}: not a results folder made by spindiff (no {MARKER}); "
                            "spindiff plot writes only into its own folders")
    formats = list(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise SpindiffError(f"--format {bad[0]!r}: allowed: {', '.join(FORMATS)}")
    can = available(folder)
    wanted = list(what) if what else can
    for name in wanted:
        if name not in FIGURES:
            raise SpindiffError(f"--what {name!r}: allowed: {', '.join(FIGURES)}")
        if name not in can:
            raise SpindiffError(f"{folder}: cannot draw {name!r} (needs "
                                f"{_NEEDS[name]}); this folder allows: {', '.join(can) or 'none'}")
    if not wanted:
        raise SpindiffError(f"{folder}: no results to plot (expected timeseries.csv and "
                            "summary.json, or sweep.csv)")
    written = []
    for name in wanted:
        try:
            written += _DRAW[name](folder, formats)
        except (KeyError, ValueError, IndexError) as exc:  # files edited or cut short
            raise SpindiffError(f"{folder}: cannot draw {name!r} from its files "
                                f"({type(exc).__name__}: {exc})") from None
    return written


_NEEDS = {"buildup": "timeseries.csv and summary.json", "profile": "profile.csv",
          "sweep": "sweep.csv and variants/"}


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def _stages(folder: Path, series) -> list[dict]:
    from .plots import stages_from_series  # matplotlib only when a figure is drawn
    summary = _summary(folder) if (folder / "summary.json").is_file() else {}
    return summary.get("stages") or stages_from_series(series)


def _buildup(folder: Path, formats) -> list[Path]:
    from .plots import plot_buildup
    series = read_timeseries(folder)
    s = _summary(folder)
    return plot_buildup(series, folder / "buildup.png", title=s.get("case", folder.name),
                        fits=s.get("fits"), stages=_stages(folder, series),
                        thermal_polarization=s.get("thermal_polarization"), formats=formats,
                        conditions=s.get("conditions"))


def _profile(folder: Path, formats) -> list[Path]:
    stages = _stages(folder, read_timeseries(folder)) if (folder / "timeseries.csv").is_file() \
        else None
    summary = _summary(folder) if (folder / "summary.json").is_file() else {}
    return plot_profile(read_profile(folder), folder / "profile.png",
                        title=summary.get("case", folder.name), stages=stages, formats=formats,
                        conditions=summary.get("conditions"))


def _sweep(folder: Path, formats) -> list[Path]:
    with open(folder / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    fixed = {"variant", "P_final", "P_visible_final", "enhancement", "buildup_stage",
             "P_end_buildup", "enhancement_end_buildup", "T_B_s", "T_B_stderr_s",
             "T_B_stretched_s", "beta", "dofs", "steps", "wall_time_s", "ranks"}
    keys = [k for k in (rows[0] if rows else {}) if k not in fixed]
    curves = {}
    for r in rows:
        ts = read_timeseries(folder / "variants" / r["variant"])
        curves[r["variant"]] = (ts["time_s"], ts["P_sample"], "")
    first = folder / "variants" / rows[0]["variant"] / "summary.json" if rows else None
    conditions = (json.loads(first.read_text()).get("conditions")
                  if first is not None and first.is_file() else None)
    return plot_sweep(rows, keys, curves, folder / "sweep.png", title=folder.name,
                      formats=formats, conditions=conditions)


_DRAW = {"buildup": _buildup, "profile": _profile, "sweep": _sweep}
