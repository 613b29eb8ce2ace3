"""Corrected vs conventional spin diffusion on the same mesh (Takeda, docs/physics.md section 3.2).

`compare(case)` runs the case twice, with D = D0 (conventional) and D = D0 / sqrt(1 - P~^2)
(corrected, with the case's choice of P~), on one mesh, and tabulates for each curve: buildup
times (mono- and stretched-exponential fits of the first source stage), final polarizations,
the times to reach 50 % and 90 % of the final change, and the ratios corrected/conventional.
`vary` repeats this over values of one case key (e.g. the source polarization).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from mpi4py import MPI

from .analysis.fits import time_to_fraction
from .case.schema import Case
from .io.results import dumps_json

MODELS = ("conventional", "corrected")
METRICS = ("T_B_s", "T_B_stretched_s", "beta", "P_final", "t50_s", "t90_s")


@dataclass
class Comparison:
    """Both curves and the metrics table of one comparison."""
    label: str
    time: np.ndarray
    curves: dict[str, dict[str, np.ndarray]]
    table: dict[str, dict[str, float | None]]
    summaries: dict[str, dict] = field(default_factory=dict)


def with_diffusion(case: Case, model: str) -> Case:
    return case.with_changes({"diffusion.model": model})


def metrics(series: dict[str, np.ndarray], summary: dict, key: str = "P_sample") -> dict:
    """Fits and characteristic times of the first stage with the source on (or the first)."""
    fits = summary["fits"]
    name = next((n for n, f in fits.items() if f.get("source_on")), next(iter(fits), None))
    out: dict[str, float | None] = {m: None for m in METRICS}
    if name is None:
        return out
    fit = fits[name]
    sel = series["stage"] == name
    t = series["time_s"][sel] - series["time_s"][sel][0]
    p = series[key][sel]
    if fit.get("mono"):
        out["T_B_s"] = fit["mono"]["T_B_s"]
    if fit.get("stretched"):
        out["T_B_stretched_s"] = fit["stretched"]["T_B_s"]
        out["beta"] = fit["stretched"]["beta"]
    out["P_final"] = float(series[key][-1])
    out["t50_s"] = time_to_fraction(t, p, 0.5)
    out["t90_s"] = time_to_fraction(t, p, 0.9)
    return out


def compare(case: Case, comm: MPI.Comm = MPI.COMM_WORLD, mesh_model: str | None = None,
            progress: bool = False, label: str = "") -> Comparison:
    """Run both diffusion models on the same mesh and tabulate the differences."""
    import sys

    from .io.progress import phase
    from .runner import run
    from .simulation import build_domain
    with phase(comm, "meshing (shared by both models)", progress):
        domain = build_domain(case, comm, mesh_model)
    curves, table, summaries = {}, {}, {}
    time = None
    for model in MODELS:
        if progress and comm.rank == 0:
            print(f"  {model} diffusion{' ' + label if label else ''}:", file=sys.stderr, flush=True)
        res = run(with_diffusion(case, model), comm=comm, domain=domain, progress=progress)
        time = res.series["time_s"]
        curves[model] = {k: v for k, v in res.series.items() if k.startswith("P_")}
        table[model] = metrics(res.series, res.summary)
        summaries[model] = res.summary
    ratio = {}
    for m in METRICS:
        a, b = table["corrected"][m], table["conventional"][m]
        ratio[m] = (a / b) if (a is not None and b not in (None, 0)) else None
    table["ratio"] = ratio
    return Comparison(label or case.case.name, time, curves, table, summaries)


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
    data = {c.label: {"table": c.table,
                      "diffusion_cap": c.summaries["corrected"].get("diffusion", {}).get("f_cap"),
                      "f_max_reached": c.summaries["corrected"].get("diffusion", {}).get("f_max_reached")}
            for c in comparisons}
    (out / "compare.json").write_text(dumps_json(data) + "\n")
    plot(comparisons, out / "compare.png", title)
    return out


def plot(comparisons: list[Comparison], path: Path, title: str = "") -> None:
    from .io.plots import finish_time_plot, time_axes
    plt, fig, ax = time_axes()
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, c in enumerate(comparisons):
        col = colours[i % len(colours)]
        ax.plot(c.time, c.curves["conventional"]["P_sample"], "--", color=col, lw=1.2)
        ax.plot(c.time, c.curves["corrected"]["P_sample"], "-", color=col, lw=1.5, label=c.label)
    ax.plot([], [], "k--", label="conventional D0")
    ax.plot([], [], "k-", label="corrected D0/sqrt(1-P^2)")
    finish_time_plot(plt, fig, ax, path, "<P> over the sample", title)


def format_table(comparisons: list[Comparison]) -> str:
    """A plain-text table: one block per comparison, one row per metric."""
    lines = []
    for c in comparisons:
        lines.append(f"{c.label}")
        lines.append(f"  {'metric':<17}{'conventional':>14}{'corrected':>14}{'ratio':>9}")
        for m in METRICS:
            row = [c.table[k][m] for k in ("conventional", "corrected", "ratio")]
            cells = [f"{v:14.5g}" if v is not None else f"{'-':>14}" for v in row[:2]]
            cells.append(f"{row[2]:9.4f}" if row[2] is not None else f"{'-':>9}")
            lines.append(f"  {m:<17}" + "".join(cells))
    return "\n".join(lines)
