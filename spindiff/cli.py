"""Command line: thin wrappers over the Python API.

    spindiff check CASE             validate a case file without running it
    spindiff run CASE [--out DIR]   run it (also under mpirun -n N)
    spindiff compare CASE           conventional vs corrected (polarization-dependent) diffusion
    spindiff plot-diffusion CASE    D(r; P_e) near a centre for the case's electron model
    spindiff rates CASE             k(r), P_src(r), R1(r) of the case's agent (quantum module)
    spindiff sweep CASE             the variants of the case's [sweep] table, in MPI groups
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import SpindiffError


def _rank() -> int:
    try:
        from mpi4py import MPI
        return MPI.COMM_WORLD.rank
    except Exception:  # pragma: no cover
        return 0


def say(*args, **kwargs) -> None:
    """print on rank 0 only."""
    if _rank() == 0:
        print(*args, **kwargs, flush=True)


def _petsc_overrides(items: list[str] | None) -> dict:
    """--petsc KEY=VALUE pairs -> solver.petsc_options.KEY overrides."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpindiffError(f"--petsc {item!r}: expected KEY=VALUE, e.g. "
                                "pc_hypre_boomeramg_strong_threshold=0.7")
        out[f"solver.petsc_options.{key.strip().lstrip('-')}"] = value.strip()
    return out


def _parse_set(items: list[str]) -> dict:
    """--set key=value pairs; values are parsed as TOML scalars when possible."""
    import tomllib
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SpindiffError(f"--set {item!r}: expected KEY=VALUE, e.g. materials.glass.D0=\"50 nm^2/s\"")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def cmd_check(args) -> int:
    from .case import load_case
    case = load_case(args.case, _parse_set(args.set))
    say(f"{args.case}: ok ({case.case.name}: {case.geometry.kind}, R = {case.cell_radius:.4g} nm, "
        f"{len(case.protocol.stages)} stage(s), {case.end_time:g} s)")
    return 0


def cmd_run(args) -> int:
    from .case import load_case
    from .simulation import run
    overrides = {**_parse_set(args.set), **_petsc_overrides(args.petsc)}
    if args.radial:
        overrides["mesh.model"] = "radial"
    case = load_case(args.case, overrides)
    out = Path(args.out) if args.out else Path("results") / case.case.name
    if args.resume:
        from .io import checkpoint
        out = Path(args.resume)
        partial = out.with_name(out.name + ".partial")
        if (out / "summary.json").is_file() and not partial.exists():
            say(f"{out}/ is complete: nothing to resume")
            return 0
        if not checkpoint.exists(partial):
            raise SpindiffError(f"nothing to resume in {partial}: no {checkpoint.NAME} (runs write "
                                f"one at output.checkpoint_wall / checkpoint_simulated)")
    text = Path(args.case).read_text()
    if overrides:
        text += "\n# command-line overrides: " + ", ".join(f"{k}={v!r}" for k, v in overrides.items()) + "\n"
    say(f"spindiff {__version__}: {'resuming' if args.resume else 'running'} {args.case} -> {out}")
    res = run(case, out_dir=out, progress=not args.quiet, case_text=text, resume=bool(args.resume))
    s = res.summary
    fin = s["final"]
    say(f"done in {s['wall_time_s']:.1f} s on {s['ranks']} rank(s): {s['mesh']['dofs']} dofs "
        f"({s['mesh']['model']}), {s['time_stepping']['accepted']} steps "
        f"({s['time_stepping']['rejected_error']} rejected)")
    enh = fin["enhancement"]
    enh_text = f", enhancement {enh:.4g}" if enh == enh else ""
    say(f"final <P> = {fin['P']['sample']:.5g} (visible {fin['P']['visible']:.5g}){enh_text} "
        f"at t = {fin['time_s']:g} s")
    for name, fit in s["fits"].items():
        if fit.get("mono"):
            m, st = fit["mono"], fit.get("stretched")
            line = f"stage {name}: T_B = {m['T_B_s']:.4g} s, P_inf = {m['P_inf']:.4g}"
            if st:
                line += f"; stretched T_B = {st['T_B_s']:.4g} s, beta = {st['beta']:.3f}"
            say(line)
    say(f"results: {res.out_dir}/ (timeseries.csv, summary.json"
        + (", buildup.png" if case.output.plots else "") + ")")
    return 0


def cmd_compare(args) -> int:
    from . import compare as cmp
    from .case import load_case
    overrides = _parse_set(args.set)
    if args.radial:
        overrides["mesh.model"] = "radial"
    case = load_case(args.case, overrides)
    out = Path(args.out) if args.out else Path("results") / f"{case.case.name}-compare"
    say(f"spindiff {__version__}: conventional vs corrected diffusion for {args.case} -> {out}")
    if args.vary:
        key, _, values = args.vary.partition("=")
        vals = list(_parse_set([f"v=[{values}]"])["v"])
        comps = cmp.vary(case, key.strip(), vals, progress=not args.quiet)
    else:
        comps = [cmp.compare(case, progress=not args.quiet)]
    cmp.write(comps, out, title=case.case.name)
    say(cmp.format_table(comps))
    say(f"results: {out}/ (compare.csv, compare.json, compare.png)")
    return 0


def cmd_plot_diffusion(args) -> int:
    """D(r) family of the case's [electron] model for P_e = 0, 0.1, ..., 1 (and the stages')."""
    import csv

    import numpy as np

    from .case import load_case
    from .model import flipflop_params, transport_model
    from .physics import flipflop
    case = load_case(args.case, _parse_set(args.set))
    params = flipflop_params(case)
    if params is None:
        from .errors import CaseError
        raise CaseError("electron", "(missing)", "plot-diffusion needs an [electron] table", args.case)
    out = Path(args.out) if args.out else Path("results") / f"{case.case.name}-diffusion"
    if _rank() != 0:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    model = transport_model(case)
    stage_pe = sorted({round(s.electron_polarization, 6) for s in model.stages})
    r = np.geomspace(0.2, max(10.0, 2 * case.cell_radius), 300)
    family = np.round(np.arange(0.0, 1.0001, 0.1), 10)
    D0 = next(iter(model.materials.values())).D0
    relative = case.electron.scale == "relative"
    flipflop.plot_diffusion_family(params, r, family, str(out / "diffusion_family.png"),
                                   relative=relative, r_h=case.visible_radius,
                                   r_mv=case.cell_radius, title=f"{case.case.name}: D(r; P_e)")
    with open(out / "diffusion_family.csv", "w", newline="") as f:
        w = csv.writer(f)
        pes = list(family) + [p for p in stage_pe if p not in family]
        w.writerow(["r_nm"] + [f"D_nm2_per_s_Pe={p:g}" for p in pes])
        cols = [D0 * flipflop.suppression_factor(r, p, params) if relative
                else flipflop.diffusion_coefficient(r, p, params) for p in pes]
        for i, ri in enumerate(r):
            w.writerow([repr(float(ri))] + [repr(float(c[i])) for c in cols])
    rh = case.visible_radius
    say(f"D(r) family for P_e = 0 ... 1 written to {out}/ (diffusion_family.png, .csv)")
    for p in stage_pe:
        s_rh = float(flipflop.suppression_factor(np.array([rh]), p, params)[0])
        say(f"  P_e = {p:.4f}: D(r_h = {rh:g} nm) = {D0 * s_rh:.4g} nm^2/s ({s_rh:.3g} D0)")
    if len(stage_pe) > 1:
        lo, hi = stage_pe[0], stage_pe[-1]
        ratio = (flipflop.suppression_factor(np.array([rh]), lo, params)[0]
                 / flipflop.suppression_factor(np.array([rh]), hi, params)[0])
        say(f"  D(r_h; P_e = {lo:.4f}) / D(r_h; P_e = {hi:.4f}) = {ratio:.3g}")
    return 0


def cmd_rates(args) -> int:
    """Source and relaxation terms of the case's [agent] from the quantum rate module."""
    import json

    from . import rates
    from .case import load_case
    from .errors import CaseError
    case = load_case(args.case, _parse_set(args.set))
    if case.agent is None or case.conditions is None:
        raise CaseError("agent", "(missing)", "spindiff rates needs [agent] and [conditions] tables",
                        args.case)
    from mpi4py import MPI
    tables = rates.tables_for_case(case, MPI.COMM_WORLD)
    if _rank() != 0:
        return 0
    out = Path(args.out) if args.out else Path("results") / f"{case.case.name}-rates"
    out.mkdir(parents=True, exist_ok=True)
    from .physics.quantum import plot_rate_table, plot_sweep_profile, sweep_profile
    say(rates.format_table(case, tables))
    written = []
    for i, table in enumerate({id(t): t for t in tables.values()}.values()):
        name = f"rates_{i}.png"
        plot_rate_table(table, str(out / name))
        (out / f"rates_{i}.json").write_text(json.dumps(table.to_dict(), indent=1) + "\n")
        written += [name, f"rates_{i}.json"]
    agent = rates.agent_of(case)
    if agent.discrete_lines and not args.no_sweep:
        settings = rates.microwave_settings(case)
        nu1, off = next(iter(settings.values()))
        say(f"computing the sweep profile ({case.agent.method} master equation; --no-sweep skips it)")
        prof = sweep_profile(agent, rates.conditions_of(case, nu1, off), method=case.agent.method)
        plot_sweep_profile(prof, str(out / "sweep_profile.png"))
        written.append("sweep_profile.png")
    elif not agent.discrete_lines:
        say("(sweep profile: the module draws it for agents with discrete EPR lines, e.g. MnII)")
    say(f"cache: {rates.cache_dir()}")
    say(f"results: {out}/ ({', '.join(written)})")
    return 0


def cmd_sweep(args) -> int:
    from . import sweep
    from .case import load_case
    from mpi4py import MPI
    case = load_case(args.case, {**_parse_set(args.set), **_petsc_overrides(args.petsc)})
    variants = sweep.expand(case, args.case)
    out = Path(args.out) if args.out else Path("results") / f"{case.case.name}-sweep"
    size = MPI.COMM_WORLD.size
    g = args.group_size or case.sweep.group_size
    say(f"spindiff {__version__}: sweep of {args.case}: {len(variants)} variants on {size} rank(s), "
        f"{size // g if size % g == 0 else '?'} group(s) of {g} -> {out}")
    info = sweep.run_sweep(case, out, group_size=args.group_size,
                           case_text=Path(args.case).read_text(), progress=not args.quiet, say=say)
    if _rank() == 0:
        say(sweep.format_table(info))
        say(f"results: {out}/ (sweep.csv, sweep.json, sweep.png, variants/)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spindiff",
                                description="Nuclear spin diffusion in hyperpolarized solids (DNP).")
    p.add_argument("--version", action="version", version=f"spindiff {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="validate a case file")
    c.add_argument("case")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a case key")
    c.set_defaults(func=cmd_check)

    r = sub.add_parser("run", help="run a case")
    r.add_argument("case")
    r.add_argument("--out", help="results folder (default results/<case name>)")
    r.add_argument("--radial", action="store_true", help="use the 1D radial reduction")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a case key")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--petsc", action="append", metavar="KEY=VALUE",
                   help="PETSc option for the step solver, e.g. ksp_type=gmres")
    r.add_argument("--resume", metavar="DIR", help="continue an interrupted run of CASE whose "
                   "results folder is DIR (from DIR.partial/checkpoint.h5)")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="run conventional and corrected diffusion on one mesh")
    c.add_argument("case")
    c.add_argument("--out", help="output folder (default results/<case name>-compare)")
    c.add_argument("--vary", metavar="KEY=V1,V2,...",
                   help="repeat for several values of one key, e.g. source.polarization=0.5,0.9")
    c.add_argument("--radial", action="store_true", help="use the 1D radial reduction")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a case key")
    c.add_argument("--quiet", action="store_true", help="no progress output")
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("plot-diffusion", help="plot D(r; P_e) of the case's [electron] model")
    d.add_argument("case")
    d.add_argument("--out", help="output folder (default results/<case name>-diffusion)")
    d.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a case key")
    d.set_defaults(func=cmd_plot_diffusion)

    q = sub.add_parser("rates", help="source and relaxation terms from the quantum rate module")
    q.add_argument("case")
    q.add_argument("--out", help="output folder (default results/<case name>-rates)")
    q.add_argument("--no-sweep", action="store_true", help="skip the Mn(II) sweep profile")
    q.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a case key")
    q.set_defaults(func=cmd_rates)

    w = sub.add_parser("sweep", help="run the variants of the case's [sweep] table (MPI groups)")
    w.add_argument("case")
    w.add_argument("--out", help="output folder (default results/<case name>-sweep)")
    w.add_argument("--group-size", type=int, help="MPI ranks per variant (default: [sweep] group_size)")
    w.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a case key")
    w.add_argument("--petsc", action="append", metavar="KEY=VALUE",
                   help="PETSc option for the step solvers, e.g. pc_hypre_boomeramg_strong_threshold=0.7")
    w.add_argument("--quiet", action="store_true", help="no progress output")
    w.set_defaults(func=cmd_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SpindiffError as exc:
        if _rank() == 0:
            print(f"spindiff: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        if _rank() == 0:
            print("spindiff: interrupted; computed rows are kept in the .partial results folder",
                  file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
