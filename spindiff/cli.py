"""Command line: thin wrappers over the Python API.

    spindiff check CASE             validate a case file without running it
    spindiff run CASE [--out DIR]   run it (also under mpirun -n N)
    spindiff compare CASE           conventional vs corrected (polarization-dependent) diffusion
    spindiff plot-diffusion CASE    D(r; P_e) near a centre for the case's electron model
    spindiff rates CASE             k(r), P_src(r), R1(r) of the case's agent (quantum module)
    spindiff sweep CASE             the variants of the case's [sweep] table, in MPI groups
    spindiff fit FIT.toml           fit case keys to measured curves (docs/guide/fitting.md)
    spindiff plot RESULTS_DIR       redraw a results folder's figures (--what, --format pdf)
    spindiff particle-series CASE   T_B and enhancement against particle size (docs/reference/heterogeneous.md)
    spindiff derive CASE            D0 and barrier radius implied by individual nuclei (docs/reference/spins.md)

Each command imports what it needs when it runs, so that `spindiff --help` and `spindiff check`
start without pydantic's models of the whole package, MPI or DOLFINx.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .cli_options import parse_set, parse_vary, petsc_overrides, resume_command
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


def _output(out: Path, kind: str, case, args, **extra):
    """The claimed output folder of a command that writes its files in one go."""
    from .io.folders import output_folder
    from .io.identity import case_identity
    identity = {**case_identity(case), **{k: str(v) for k, v in extra.items() if v is not None}}
    return output_folder(out, _world(), kind, identity, overwrite=args.overwrite)


def _world():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def cmd_check(args) -> int:
    """Validate a case as `run` and `sweep` would: the file, the schema, the cross-field rules
    and resource bounds (load_case), the [sweep] variants and a user mesh file's content."""
    from .case import load_case
    overrides = {**parse_set(args.set), **petsc_overrides(getattr(args, "petsc", None))}
    case = load_case(args.case, overrides)
    from .fem.linear_solver import check_options
    check_options(case, args.case)
    variants = []
    if case.sweep is not None:
        from . import sweep
        variants = sweep.expand(case, args.case)
    from .spins.command import check as check_spins
    mesh_note = _check_user_mesh(case, args.case) + check_spins(case)
    derived = []
    if case.derived_keys:  # computed once (about half a minute), then read from the cache
        from .spins.resolve import format_record, resolve
        derived = format_record(resolve(case, _world(), progress=True).derived_record)
    extra = f", {len(variants)} sweep variant(s)" if variants else ""
    say(f"{args.case}: ok ({case.case.name}: {case.geometry.kind}, R = {case.cell_radius:.4g} nm, "
        f"{len(case.protocol.stages)} stage(s), {case.end_time:g} s{extra}{mesh_note})")
    from .case.materials import material_lines
    for line in material_lines(case):
        say(line)
    for line in derived:
        say(line)
    return 0


def _check_user_mesh(case, source: str) -> str:
    """For geometry kind "mesh": read the file's groups and check the materials' regions and
    the centre positions against it (MeshError otherwise). Returns a note for the ok line."""
    if case.geometry.kind != "mesh":
        return ""
    from .case.load import mesh_file_path
    from .errors import MeshError
    from .geometry.user_mesh import inspect_user_mesh
    materials = {name: list(m.regions) for name, m in case.materials.items()}
    centres = case.centres.positions or None
    try:
        info = inspect_user_mesh(mesh_file_path(case), materials, centres=centres)
    except MeshError as exc:
        raise MeshError(f"{source}: geometry.file: {exc}") from None
    return f"; mesh: {info['ncells']} cells ({info['cell']})"


def cmd_run(args) -> int:
    from .case import load_case
    from .io.interrupt import RunInterrupted
    from .runner import run
    overrides = {**parse_set(args.set), **petsc_overrides(args.petsc)}
    if args.radial:
        overrides["mesh.model"] = "radial"
    case = load_case(args.case, overrides)
    out = Path(args.resume or args.out or Path("results") / case.case.name)
    if args.resume and args.out and Path(args.out) != Path(args.resume):
        raise SpindiffError(f"--out {args.out} and --resume {args.resume}: give one folder "
                            "(--resume DIR continues the run in DIR)")
    if args.resume:
        from .io.folders import made_by_spindiff, partial_of
        if made_by_spindiff(out, "run") and not partial_of(out).exists():
            say(f"{out}/ is complete: nothing to resume")
            return 0
    text = Path(args.case).read_text()
    if overrides:
        text += "\n# command-line overrides: " + ", ".join(f"{k}={v!r}" for k, v in overrides.items()) + "\n"
    say(f"spindiff {__version__}: {'resuming' if args.resume else 'running'} {args.case} -> {out}")
    again = resume_command(args, out)
    try:
        res = run(case, out_dir=out, progress=not args.quiet, case_text=text,
                  resume=bool(args.resume), overwrite=args.overwrite, resume_hint=again)
    except RunInterrupted as exc:
        raise RunInterrupted(f"{exc}; continue with: {again}", exc.signum) from None
    s = res.summary
    fin = s["final"]
    say(f"done in {s['wall_time_s']:.1f} s on {s['ranks']} rank(s): {s['mesh']['dofs']} dofs "
        f"({s['mesh']['model']}), {s['time_stepping']['accepted']} steps "
        f"({s['time_stepping']['rejected_error']} rejected), peak memory "
        f"{s['peak_memory_MB'] / 1024:.2f} GB")
    from .analysis.stages import describe
    enh = fin["enhancement"]
    enh_text = f", enhancement {enh:.4g}" if enh is not None and enh == enh else ""
    say(f"after the last stage: <P> = {fin['P']['sample']:.5g} (visible "
        f"{fin['P']['visible']:.5g}){enh_text} at t = {fin['time_s']:g} s")
    for name, fit in s["fits"].items():
        say(describe(name, fit))
    written = (sorted(p.name for p in Path(out).iterdir() if not p.name.startswith("."))
               if _rank() == 0 else [])
    say(f"results: {out}/ ({', '.join(written)})")
    return 0


def cmd_compare(args) -> int:
    from . import compare as cmp
    from .case import load_case
    overrides = parse_set(args.set)
    if args.radial:
        overrides["mesh.model"] = "radial"
    case = load_case(args.case, overrides)
    out = Path(args.out) if args.out else Path("results") / f"{case.case.name}-compare"
    say(f"spindiff {__version__}: conventional vs corrected diffusion for {args.case} -> {out}")
    vals = None
    if args.vary:
        key, vals = parse_vary(args.vary)
    with _output(out, "compare", case, args, vary=args.vary) as folder:
        if vals is not None:
            comps = cmp.vary(case, key.strip(), vals, progress=not args.quiet)
        else:
            comps = [cmp.compare(case, progress=not args.quiet)]
        cmp.write(comps, folder.path, title=case.case.name)
    say(cmp.format_table(comps))
    say(f"results: {out}/ (compare.csv, compare.json, compare.png)")
    return 0


def cmd_plot_diffusion(args) -> int:
    """D(r) family of the case's [electron] model for P_e = 0, 0.1, ..., 1 (and the stages')."""
    from . import diffusion_family as dfam
    from .case import load_case
    case = load_case(args.case, parse_set(args.set))
    family = dfam.diffusion_family(case)
    out = Path(args.out) if args.out else Path("results") / f"{case.case.name}-diffusion"
    with _output(out, "diffusion", case, args) as folder:
        if _rank() == 0:
            dfam.write(case, family, folder.path)
    say(f"D(r) family for P_e = 0 ... 1 written to {out}/ (diffusion_family.png, .csv)")
    for line in dfam.describe(family):
        say(line)
    return 0


def cmd_rates(args) -> int:
    """Source and relaxation terms of the case's [agent] from the quantum rate module."""
    from mpi4py import MPI

    from . import rates
    from .case import load_case
    from .errors import CaseError
    case = load_case(args.case, parse_set(args.set))
    if case.agent is None or case.conditions is None:
        raise CaseError("agent", "(missing)", "spindiff rates needs [agent] and [conditions] tables",
                        args.case)
    out = Path(args.out) if args.out else Path("results") / f"{case.case.name}-rates"
    with _output(out, "rates", case, args) as folder:
        tables = rates.tables_for_case(case, MPI.COMM_WORLD)
        if _rank() == 0:
            say(rates.format_table(case, tables))
            written = rates.write_outputs(case, tables, folder.path, sweep=not args.no_sweep,
                                          say=say)
            say(f"cache: {rates.cache_dir()}")
    say(f"results: {out}/ ({', '.join(written) if _rank() == 0 else ''})")
    return 0


def cmd_sweep(args) -> int:
    from mpi4py import MPI

    from . import sweep
    from .case import load_case
    case = load_case(args.case, {**parse_set(args.set), **petsc_overrides(args.petsc)})
    variants = sweep.expand(case, args.case)
    out = Path(args.out) if args.out else Path("results") / f"{case.case.name}-sweep"
    size = MPI.COMM_WORLD.size
    g = args.group_size or case.sweep.group_size
    say(f"spindiff {__version__}: sweep of {args.case}: {len(variants)} variants on {size} rank(s), "
        f"{size // g if size % g == 0 else '?'} group(s) of {g} -> {out}")
    import shlex
    again = " ".join(shlex.quote(str(w)) for w in
                     ["spindiff", "sweep", args.case, *[x for item in args.set or []
                                                        for x in ("--set", item)], "--out", out])
    info = sweep.run_sweep(case, out, group_size=args.group_size,
                           case_text=Path(args.case).read_text(), progress=not args.quiet, say=say,
                           overwrite=args.overwrite, resume_hint=again)
    if _rank() == 0:
        say(sweep.format_table(info))
        say(f"results: {out}/ (sweep.csv, sweep.json, sweep.png, variants/)")
    return 0


def cmd_derive(args) -> int:
    from .spins.command import command
    return command(args, parse_set(args.set), say)


def cmd_particle_series(args) -> int:
    from .particle_series import command
    return command(args, parse_set(args.set))


def cmd_plot(args) -> int:
    """Redraw the figures of a results folder from its files (spindiff.io.replot)."""
    from .io.replot import plot_results
    what = [w.strip() for item in args.what or [] for w in item.split(",") if w.strip()]
    formats = [f.strip() for item in args.format or ["png"] for f in item.split(",") if f.strip()]
    written = []
    if _rank() == 0:
        written = plot_results(args.folder, what or None, formats)
    say(f"{args.folder}: " + ", ".join(p.name for p in written))
    return 0


def _command(sub, name: str, func, help: str, out: str | None = None, what: str = "",
             quiet: bool = False, petsc: bool = False, radial: bool = False):
    """A subcommand with the options they share: CASE, --set, and as asked --out (with
    --overwrite), --quiet, --petsc, --radial."""
    c = sub.add_parser(name, help=help)
    c.add_argument("case")
    c.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a case key, e.g. materials.glass.D0='\"20 nm^2/s\"'")
    if out is not None:
        c.add_argument("--out", help=f"output folder (default {out})")
        c.add_argument("--overwrite", action="store_true",
                       help=f"replace an earlier spindiff {what} folder at the output path "
                            "(nothing else is ever replaced)")
    if quiet:
        c.add_argument("--quiet", action="store_true", help="no progress output")
    if petsc:
        c.add_argument("--petsc", action="append", metavar="KEY=VALUE",
                       help="PETSc option for the step solver, e.g. ksp_type=gmres")
    if radial:
        c.add_argument("--radial", action="store_true", help="use the 1D radial reduction")
    c.set_defaults(func=func)
    return c


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spindiff",
                                description="Nuclear spin diffusion in hyperpolarized solids (DNP).")
    p.add_argument("--version", action="version", version=f"spindiff {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _command(sub, "check", cmd_check, "validate a case file", petsc=True)
    r = _command(sub, "run", cmd_run, "run a case", out="results/<case name>", what="results",
                 quiet=True, petsc=True, radial=True)
    r.add_argument("--resume", metavar="DIR", help="continue an interrupted run of CASE whose "
                   "results folder is DIR (from DIR.partial/checkpoint.h5)")
    c = _command(sub, "compare", cmd_compare, "run conventional and corrected diffusion on one mesh",
                 out="results/<case name>-compare", what="compare", quiet=True, radial=True)
    c.add_argument("--vary", metavar="KEY=V1,V2,...",
                   help="repeat for several values of one key, e.g. source.polarization=0.5,0.9")
    _command(sub, "plot-diffusion", cmd_plot_diffusion, "plot D(r; P_e) of the case's [electron] model",
             out="results/<case name>-diffusion", what="plot-diffusion")
    q = _command(sub, "rates", cmd_rates, "source and relaxation terms from the quantum rate module",
                 out="results/<case name>-rates", what="rates")
    q.add_argument("--no-sweep", action="store_true", help="skip the Mn(II) sweep profile")
    w = _command(sub, "sweep", cmd_sweep, "run the variants of the case's [sweep] table (MPI groups)",
                 out="results/<case name>-sweep", what="sweep", quiet=True, petsc=True)
    w.add_argument("--group-size", type=int, help="MPI ranks per variant (default: [sweep] group_size)")
    pl = sub.add_parser("plot", help="redraw the figures of a results folder from its files")
    pl.add_argument("folder", help="a results folder of run or sweep")
    pl.add_argument("--what", action="append", metavar="FIG[,FIG]",
                    help="buildup, profile, sweep (default: all the folder allows)")
    pl.add_argument("--format", action="append", metavar="FMT[,FMT]",
                    help="png (default), pdf, svg")
    pl.set_defaults(func=cmd_plot)
    dv = _command(sub, "derive", cmd_derive, "D0 and barrier radius implied by individual nuclei")
    dv.add_argument("--seeds", type=int, default=3,
                    help="random samples per estimate (3: test boxes and spheres; 10 x N "
                         "Wigner-Seitz cells for b_eq)")
    dv.add_argument("--json", metavar="FILE", help="also write the values to a JSON file")
    from .fit.command import add_parser as add_fit_parser
    add_fit_parser(sub)
    from .particle_series import add_parser as add_series_parser
    add_series_parser(sub, cmd_particle_series)
    return p


def main(argv: list[str] | None = None) -> int:
    from .io.interrupt import InterruptNow, RunInterrupted, interruptible, signal_name
    args = build_parser().parse_args(argv)
    try:
        with interruptible():
            return args.func(args)
    except RunInterrupted as exc:
        _error(str(exc))
        return exc.exit_code
    except SpindiffError as exc:
        _error(str(exc))
        return 2
    except Exception as exc:
        message = _library_error(exc)
        if message is None:
            raise
        _error(message)
        return 2
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, InterruptNow) else 2
        kept = getattr(exc, "kept_folder", "")
        if kept is None:
            what = "nothing had been written yet, and no results folder is left"
        elif kept:
            what = f"{kept} keeps the rows written so far and a STATUS note (--resume picks it up)"
        else:
            what = "an unfinished results folder keeps its rows, checkpoint and STATUS (continue with --resume DIR)"
        _error(f"interrupted by {signal_name(signum)}; {what}")
        return 128 + signum


def _library_error(exc: Exception) -> str | None:
    """One line for an error raised inside PETSc or meshio (bad options, unreadable meshes);
    None for anything else (a bug: its traceback is worth seeing)."""
    kind = type(exc)
    module = getattr(kind, "__module__", "") or ""
    if module.startswith("petsc4py"):
        return (f"PETSc failed (error code {getattr(exc, 'ierr', '?')}): check solver.petsc_options "
                "and --petsc values")
    if module.startswith(("meshio", "gmsh")):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else kind.__name__
        return f"{module.split('.')[0]} failed: {first[:300]}"
    return None


def _error(message: str) -> None:
    """The one line a user sees for a failure (rank 0 only)."""
    if _rank() == 0:
        print(f"spindiff: error: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
