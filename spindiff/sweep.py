"""Parameter sweeps over MPI: `mpirun -n N spindiff sweep CASE`.

The [sweep] table of a case lists variants (a grid of parameter values and/or explicit
tables). The world communicator is split into groups of `group_size` ranks; group g runs
variants g, g + G, g + 2G, ... each with its own results folder DIR/variants/<id>/ (the usual
contract: timeseries.csv, summary.json, ...). When all are done, rank 0 gathers one table
(sweep.csv, sweep.json) and one figure (sweep.png: the curves coloured by the swept
value, T_B and the enhancement at the end of the buildup stage against each swept
parameter). The buildup stage of a variant is its first fitted stage with the source on
(`buildup_stage` in the table): its T_B and the enhancement at its end, not after later
stages (a decay), are what the table and figure show; `enhancement` is the value after the
last stage. A sweep can be resumed: finished variants are skipped, an interrupted one
continues from its checkpoint.
"""
from __future__ import annotations

import csv
import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpi4py import MPI

from .case.load import check_mesh_file
from .case.schema import Case
from .errors import CaseError
from .io.folders import SweepFolder, partial_of
from .io.identity import case_identity
from .io.results import dumps_json, read_timeseries
from .io.sweep_plots import plot_sweep

#: largest number of variants in one sweep
MAX_VARIANTS = 10_000
#: the columns of sweep.csv that are results (the others are the swept keys)
RESULT_COLUMNS = ("variant", "P_final", "P_visible_final", "enhancement", "buildup_stage",
                  "P_end_buildup", "enhancement_end_buildup", "T_B_s", "T_B_stderr_s",
                  "T_B_stretched_s", "beta", "dofs", "steps", "wall_time_s", "ranks")


@dataclass
class Variant:
    index: int
    changes: dict[str, Any]
    case: Case

    @property
    def label(self) -> str:
        return f"v{self.index:03d}"

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.changes.items()) or "(base case)"


def expand(case: Case, source: str | None = None) -> list[Variant]:
    """The validated variants of a case's [sweep] (the grid crossed with the list).

    At most MAX_VARIANTS variants; every variant is validated like a case file (CaseError
    naming the variant, its changes and the offending key)."""
    sw = case.sweep
    if sw is None or (not sw.parameters and not sw.variants):
        raise CaseError("sweep", "(missing)", "spindiff sweep needs a [sweep] table with "
                        "parameters = {key = [values]} or variants = [{...}]", source)
    keys = list(sw.parameters)
    for key, values in sw.parameters.items():
        if not isinstance(values, list) or not values:
            raise CaseError(f"sweep.parameters.{key}", values, "a non-empty list of values", source)
    count = math.prod(len(v) for v in sw.parameters.values()) * max(1, len(sw.variants))
    if count > MAX_VARIANTS:
        raise CaseError("sweep", f"{count} variants",
                        f"allowed: at most {MAX_VARIANTS} variants (grid size times list length)",
                        source)
    grid = [dict(zip(keys, combo)) for combo in itertools.product(*(sw.parameters[k] for k in keys))]
    listed = sw.variants or [{}]
    changes = [{**g, **v} for g in grid for v in listed]
    base = case.with_changes({"sweep": None})
    out = []
    for i, ch in enumerate(changes):
        try:
            variant_case = base.with_changes(ch)
            check_mesh_file(variant_case)
        except CaseError as exc:
            raise CaseError(f"sweep variant {i} ({', '.join(f'{k}={v}' for k, v in ch.items())})",
                            exc.value, f"{exc.key}: {exc.allowed}", source) from None
        out.append(Variant(i, ch, variant_case))
    return out


def run_sweep(case: Case, out_dir: str | Path, comm: MPI.Comm = MPI.COMM_WORLD,
              group_size: int | None = None, case_text: str = "", progress: bool = False,
              say=print, overwrite: bool = False, resume_hint: str | None = None) -> dict:
    """Run every variant; returns the gathered table (rank 0; {} elsewhere). `out_dir` must be
    new, empty, or this sweep's folder (continued); another sweep's only with `overwrite`.
    resume_hint: the command that continues the sweep (an interrupted variant's STATUS)."""
    variants = expand(case)
    g = group_size or case.sweep.group_size
    if comm.size % g:
        raise CaseError("sweep.group_size", g, f"must divide the number of ranks ({comm.size})")
    folder = SweepFolder(out_dir, comm, case_identity(case), overwrite=overwrite)
    try:
        table = _run_variants(variants, folder.path, comm, g, case_text, progress, say,
                              resume_hint)
    except BaseException:
        folder.release()
        raise
    folder.finish()
    return table


def _run_variants(variants: list[Variant], out: Path, comm: MPI.Comm, g: int, case_text: str,
                  progress: bool, say, resume_hint: str | None = None) -> dict:
    from .runner import run  # the CLI builds its parser from this module: keep it light
    ngroups = comm.size // g
    color = comm.rank // g
    sub = comm.Split(color, comm.rank)
    wall0 = time.perf_counter()
    timings = {}
    for v in variants[color::ngroups]:
        folder = out / "variants" / v.label
        if (folder / "summary.json").is_file():
            if comm.rank == 0:
                say(f"  {v.label} ({v.describe()}): done before, skipped")
            continue
        resume = partial_of(folder).is_dir()
        t0 = time.perf_counter()
        text = case_text + "\n# sweep variant " + v.label + ": " + v.describe() + "\n"
        run(v.case, out_dir=folder, comm=sub, progress=progress and comm.rank == 0,
            case_text=text, resume=resume,
            resume_hint=resume_hint or f"spindiff sweep CASE --out {out}")
        timings[v.label] = time.perf_counter() - t0
        if sub.rank == 0:
            (folder / "variant.json").write_text(json.dumps(
                {"index": v.index, "changes": v.changes, "group": color, "ranks": sub.size,
                 "wall_time_s": timings[v.label]}, indent=2) + "\n")
        if comm.rank == 0:
            say(f"  {v.label} ({v.describe()}) done in {timings[v.label]:.1f} s")
    comm.barrier()
    sub.Free()
    wall = time.perf_counter() - wall0
    table = {}
    if comm.rank == 0:
        table = gather(variants, out, wall, ngroups, g)
    return comm.bcast(table, root=0)


def gather(variants: list[Variant], out: Path, wall: float, ngroups: int, group_size: int) -> dict:
    """sweep.csv, sweep.json and sweep.png from the variants' folders."""
    rows, curves = [], {}
    keys = sorted({k for v in variants for k in v.changes})
    for v in variants:
        folder = out / "variants" / v.label
        s = json.loads((folder / "summary.json").read_text())
        stage = buildup_stage(s)
        fit = s["fits"].get(stage, {}) if stage else {}
        mono = fit.get("mono") or {}
        st = fit.get("stretched") or {}
        end = next((x for x in s.get("stages", []) if x["name"] == stage), {})
        row = {"variant": v.label, **{k: v.changes.get(k, "") for k in keys},
               "P_final": s["final"]["P"]["sample"], "P_visible_final": s["final"]["P"]["visible"],
               "enhancement": s["final"]["enhancement"], "buildup_stage": stage or "",
               "P_end_buildup": (end.get("P_end") or {}).get("sample"),
               "enhancement_end_buildup": end.get("enhancement_end"),
               "T_B_s": mono.get("T_B_s"), "T_B_stderr_s": mono.get("T_B_stderr_s"),
               "T_B_stretched_s": st.get("T_B_s"), "beta": st.get("beta"),
               "dofs": s["mesh"]["dofs"], "steps": s["time_stepping"]["accepted"],
               "wall_time_s": s["wall_time_s"], "ranks": s["ranks"]}
        rows.append(row)
        ts = read_timeseries(folder)
        curves[v.label] = (ts["time_s"], ts["P_sample"], v.describe())
    with open(out / "sweep.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    info = {"variants": rows, "wall_time_s": wall, "groups": ngroups, "group_size": group_size,
            "variants_per_minute": 60.0 * len(rows) / wall if wall > 0 else None}
    (out / "sweep.json").write_text(dumps_json(info) + "\n")
    plot_sweep(rows, keys, curves, out / "sweep.png", title=out.name,
               conditions=_conditions(out, variants))
    return info


def _conditions(out: Path, variants: list[Variant]) -> dict | None:
    """The sample and conditions of the sweep (the first variant's; sweep_plots leaves the
    swept ones out)."""
    s = json.loads((out / "variants" / variants[0].label / "summary.json").read_text())
    return s.get("conditions")


def buildup_stage(summary: dict) -> str | None:
    """The first fitted stage with the source on (the buildup whose T_B and enhancement a
    sweep reports), else None."""
    return next((n for n, f in summary["fits"].items()
                 if f.get("source_on") and f.get("fitted", True)), None)


def format_table(info: dict) -> str:
    rows = info["variants"]
    keys = [k for k in rows[0] if k not in RESULT_COLUMNS]
    stages = sorted({r["buildup_stage"] for r in rows if r["buildup_stage"]})
    at = f" ({', '.join(stages)})" if stages else ""
    head = f"{'variant':<8}" + "".join(f"{k[-24:]:>26}" for k in keys) + \
        f"{'P_final':>10}{'T_B (s)':>10}{'enh. end':>10}{'steps':>7}{'wall (s)':>9}"
    lines = [f"T_B and the enhancement at the end of the buildup stage{at}; P_final after "
             "the last stage", head]
    for r in rows:
        tb = f"{r['T_B_s']:10.4g}" if r["T_B_s"] is not None else f"{'-':>10}"
        en = (f"{r['enhancement_end_buildup']:10.4g}" if r["enhancement_end_buildup"] is not None
              else f"{'-':>10}")
        lines.append(f"{r['variant']:<8}" + "".join(f"{str(r[k])[:24]:>26}" for k in keys) +
                     f"{r['P_final']:10.4g}{tb}{en}{r['steps']:7d}{r['wall_time_s']:9.1f}")
    lines.append(f"{len(rows)} variants in {info['wall_time_s']:.1f} s on {info['groups']} group(s) "
                 f"of {info['group_size']} rank(s): {info['variants_per_minute']:.2f} variants/min")
    return "\n".join(lines)
