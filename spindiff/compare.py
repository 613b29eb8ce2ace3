"""Corrected vs conventional spin diffusion on the same mesh (Takeda, docs/reference/physics.md section 3.2).

`compare(case)` runs the case twice, with D = D0 (conventional) and D = D0 / sqrt(1 - P~^2)
(corrected, with the case's choice of P~), on one mesh, and tabulates for each curve the
buildup of the first stage with the source on (its name in `stage`): T_B of the mono- and
stretched-exponential fits with their standard errors, the polarization and enhancement at
the end of that stage, the times to reach 50 % and 90 % of its change; the polarization after
the last stage; and the ratios corrected/conventional. compare.png shows both curves (the
conventional one wide and light, the corrected one thin and dark on top, so that both stay
visible where they coincide) and, below, their difference, absolute and relative. `vary`
repeats this over values of one case key (e.g. the source polarization).
"""
from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from .analysis.fits import time_to_fraction
from .case.schema import Case
from .figure_style import DPI, coincide, colours, is_log_spaced, log_ticks, quantity_name, styled, subtitle
from .io.progress import phase
from .io.results import dumps_json
from .runner import run
from .simulation import build_domain
from .spins.resolve import resolve

MODELS = ("conventional", "corrected")
METRICS = ("T_B_s", "T_B_stderr_s", "T_B_stretched_s", "beta", "P_end_buildup",
           "enhancement_end_buildup", "P_final", "t50_s", "t90_s")
#: what the printed table calls each metric
METRIC_LABELS = {"T_B_s": "T_B (s)", "T_B_stderr_s": "  stderr (s)",
                 "T_B_stretched_s": "stretched T_B (s)", "beta": "  beta",
                 "P_end_buildup": "P at its end", "enhancement_end_buildup": "enhancement at its end",
                 "P_final": "P after all stages", "t50_s": "t50 (s)", "t90_s": "t90 (s)"}


@dataclass
class Comparison:
    """Both curves and the metrics table of one comparison; stage: the buildup stage the
    metrics describe."""
    label: str
    time: np.ndarray
    curves: dict[str, dict[str, np.ndarray]]
    table: dict[str, dict[str, float | None]]
    summaries: dict[str, dict] = field(default_factory=dict)
    stage: str | None = None


def with_diffusion(case: Case, model: str) -> Case:
    """The case with diffusion.model = `model` (the corrected model's own keys are dropped
    for the conventional run, where they would have no effect)."""
    changes: dict = {"diffusion.model": model}
    if model == "conventional":
        changes.update({"diffusion.polarization": None, "diffusion.regularization": None})
    return case.with_changes(changes)


def buildup_stage(summary: dict) -> str | None:
    """The first stage with the source on that was fitted (else the first stage)."""
    fits = summary["fits"]
    return next((n for n, f in fits.items() if f.get("source_on") and f.get("fitted", True)),
                next(iter(fits), None))


def metrics(series: dict[str, np.ndarray], summary: dict, key: str = "P_sample") -> dict:
    """Fits, end values and characteristic times of the buildup stage (`buildup_stage`)."""
    fits = summary["fits"]
    name = buildup_stage(summary)
    out: dict[str, float | None] = {m: None for m in METRICS}
    if name is None:
        return out
    fit = fits[name]
    sel = series["stage"] == name
    t = series["time_s"][sel] - series["time_s"][sel][0]
    p = series[key][sel]
    if fit.get("mono"):
        out["T_B_s"] = fit["mono"]["T_B_s"]
        out["T_B_stderr_s"] = fit["mono"].get("T_B_stderr_s")
    if fit.get("stretched"):
        out["T_B_stretched_s"] = fit["stretched"]["T_B_s"]
        out["beta"] = fit["stretched"]["beta"]
    out["P_end_buildup"] = float(p[-1])
    P0 = summary.get("thermal_polarization")
    out["enhancement_end_buildup"] = float(p[-1] / P0) if P0 else None
    out["P_final"] = float(series[key][-1])
    out["t50_s"] = time_to_fraction(t, p, 0.5)
    out["t90_s"] = time_to_fraction(t, p, 0.9)
    return out


def compare(case: Case, comm: MPI.Comm = MPI.COMM_WORLD, mesh_model: str | None = None,
            progress: bool = False, label: str = "") -> Comparison:
    """Run both diffusion models on the same mesh and tabulate the differences."""
    case = resolve(case, comm, progress)  # "derived" keys as numbers, before the mesh

    with phase(comm, "meshing (shared by both models)", progress):
        domain = build_domain(case, comm, mesh_model)
    curves, table, summaries = {}, {}, {}
    time, stage = None, None
    for model in MODELS:
        if progress and comm.rank == 0:
            print(f"  {model} diffusion{' ' + label if label else ''}:", file=sys.stderr, flush=True)
        res = run(with_diffusion(case, model), comm=comm, domain=domain, progress=progress)
        time = res.series["time_s"]
        curves[model] = {k: v for k, v in res.series.items() if k.startswith("P_")}
        table[model] = metrics(res.series, res.summary)
        summaries[model] = res.summary
        stage = buildup_stage(res.summary)
    ratio = {}
    for m in METRICS:
        a, b = table["corrected"][m], table["conventional"][m]
        ratio[m] = (a / b) if (a is not None and b not in (None, 0)) else None
    ratio["T_B_stderr_s"] = None  # not a quantity to compare
    table["ratio"] = ratio
    return Comparison(label or case.case.name, time, curves, table, summaries, stage)


def vary(case: Case, key: str, values: Sequence[Any], **kwargs) -> list[Comparison]:
    """`compare` for each value of one case key (dotted), e.g. source.polarization."""
    out = []
    for value in values:
        out.append(compare(case.with_changes({key: value}), label=f"{key}={value}", **kwargs))
    return out


def write(comparisons: list[Comparison], out_dir: str | Path, comm: MPI.Comm = MPI.COMM_WORLD,
          title: str = "") -> Path:
    """compare.csv (both curves), compare.json (tables), compare.png (overlay); rank 0 only."""
    out = Path(out_dir)
    if comm.rank != 0:
        return out
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "compare.csv", "w", newline="") as f:
        w = csv.writer(f)
        for c in comparisons:
            keys = [k for k in c.curves["conventional"]]
            w.writerow(["label", "time_s"] + [f"{k}_{m}" for m in MODELS for k in keys])
            for i, t in enumerate(c.time):
                w.writerow([c.label, repr(float(t))] +
                           [repr(float(c.curves[m][k][i])) for m in MODELS for k in keys])
    data = {c.label: {"table": c.table, "buildup_stage": c.stage,
                      "difference": difference(c),
                      "diffusion_cap": c.summaries["corrected"].get("diffusion", {}).get("f_cap"),
                      "f_max_reached": c.summaries["corrected"].get("diffusion", {}).get("f_max_reached")}
            for c in comparisons}
    (out / "compare.json").write_text(dumps_json(data) + "\n")
    plot(comparisons, out / "compare.png", title,
         comparisons[0].summaries["corrected"].get("conditions"))
    return out


CONVENTIONAL = "conventional, D = D0 (wide, light)"
CORRECTED = "corrected, D = D0/√(1−P̃²) (dashed)"


def difference(c: Comparison) -> dict:
    """The largest difference corrected - conventional of <P>_sample: absolute, relative to
    the conventional value, and when."""
    a, b = c.curves["corrected"]["P_sample"], c.curves["conventional"]["P_sample"]
    d = a - b
    i = int(np.argmax(np.abs(d)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(b != 0, d / np.abs(b), np.nan)
    j = int(np.nanargmax(np.abs(rel))) if np.any(np.isfinite(rel)) else i
    return {"max_abs": float(d[i]), "time_of_max_abs_s": float(c.time[i]),
            "max_relative": float(rel[j]) if np.isfinite(rel[j]) else None,
            "time_of_max_relative_s": float(c.time[j]),
            "end_abs": float(d[-1]), "end_relative": float(rel[-1]) if np.isfinite(rel[-1]) else None}


def plot(comparisons: list[Comparison], path: Path, title: str = "",
         conditions: dict | None = None) -> None:
    """compare.png: both curves of every comparison (conventional wide and light, corrected
    thin and dark on top) and, below, corrected - conventional in absolute terms (left axis)
    and relative to the conventional value (right axis, %)."""
    single = len(comparisons) == 1
    with styled() as plt:
        fig, (ax, axd) = plt.subplots(2, 1, figsize=(6.6, 6.2), sharex=True,
                                      gridspec_kw={"height_ratios": [2.2, 1]},
                                      layout="constrained")
        axr = axd.twinx()
        palette = ["C0"] if single else colours(len(comparisons))
        notes = []
        for c, col in zip(comparisons, palette):
            t = c.time
            keep = t > 0
            conv, corr = c.curves["conventional"]["P_sample"], c.curves["corrected"]["P_sample"]
            lab = "" if single else f"{_pretty(c.label)}: "
            ax.plot(t[keep], conv[keep], "-", color=col, lw=3.2, alpha=0.35,
                    label=CONVENTIONAL if single else "_")
            ax.plot(t[keep], corr[keep], "--", color=col, lw=1.2,
                    label=CORRECTED if single else _pretty(c.label))
            diff = difference(c)
            axd.plot(t[keep], (corr - conv)[keep], "-", color=col, lw=1.2)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(conv != 0, 100 * (corr - conv) / np.abs(conv), np.nan)
            axr.plot(t[keep], rel[keep], ":", color=col, lw=1.2)
            same = coincide(conv, corr)
            rel_text = (f" ({100 * diff['max_relative']:+.2g} % at most)"
                        if diff["max_relative"] is not None else "")
            notes.append(f"{lab}{'the curves coincide: ' if same else ''}largest difference "
                         f"{diff['max_abs']:+.3g} at t = {diff['time_of_max_abs_s']:.3g} s"
                         f"{rel_text}")
        if is_log_spaced(np.unique(comparisons[0].time)):
            ax.set_xscale("log", nonpositive="mask")
            log_ticks(ax.xaxis)
        ax.set_ylabel("<P> over the sample")
        if not single:  # one entry per comparison (its colour), the line styles once
            ax.plot([], [], "-", color="0.5", lw=3.2, alpha=0.35, label=CONVENTIONAL)
            ax.plot([], [], "--", color="0.3", lw=1.2, label=CORRECTED)
        ax.legend(fontsize=7, loc="best")
        axd.axhline(0, color="0.5", lw=0.6)
        axd.set_ylabel("ΔP = corrected − conv.")
        axr.set_ylabel("relative ΔP (%, dotted)")
        axr.grid(False)
        axr.spines["right"].set_visible(True)
        axd.set_xlabel("time (s)")
        axd.set_title("; ".join(notes) if single else "\n".join(notes), fontsize=7)
        subtitle(fig, conditions, title=title or "conventional vs corrected spin diffusion",
                 fontsize=9)
        fig.savefig(path, dpi=DPI)
        plt.close(fig)


def _pretty(label: str) -> str:
    """ "source.polarization=0.5" -> "source polarization P_src = 0.5" for a legend."""
    key, sep, value = label.partition("=")
    return f"{quantity_name(key.strip())} = {value.strip()}" if sep else label


def format_table(comparisons: list[Comparison]) -> str:
    """A plain-text table: one block per comparison (the buildup stage it describes named),
    one row per metric, and the largest difference of the curves."""
    lines = []
    for c in comparisons:
        lines.append(f"{c.label}: buildup stage {c.stage!r}")
        lines.append(f"  {'metric':<24}{'conventional':>14}{'corrected':>14}{'ratio':>9}")
        for m in METRICS:
            row = [c.table[k][m] for k in ("conventional", "corrected", "ratio")]
            cells = [f"{v:14.5g}" if v is not None else f"{'-':>14}" for v in row[:2]]
            cells.append(f"{row[2]:9.4f}" if row[2] is not None else f"{'-':>9}")
            lines.append(f"  {METRIC_LABELS[m]:<24}" + "".join(cells))
        d = difference(c)
        rel = f" ({100 * d['max_relative']:+.3g} % at most)" if d["max_relative"] is not None else ""
        lines.append(f"  largest difference corrected - conventional: {d['max_abs']:+.4g} at "
                     f"t = {d['time_of_max_abs_s']:.4g} s{rel}")
    return "\n".join(lines)
