"""`spindiff fit FIT.toml [--out DIR] [--profile KEY] [--overwrite] [--quiet]`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _say(*args) -> None:
    try:
        from mpi4py import MPI
        rank = MPI.COMM_WORLD.rank
    except Exception:  # pragma: no cover
        rank = 0
    if rank == 0:
        print(*args, flush=True)


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit, print one line per parameter (value, stderr, determined or why not) and the
    goodness of fit, and write the results folder."""
    from .. import __version__
    from .api import fit, parameter_lines
    from .spec import load_fit
    spec = load_fit(args.case)
    out = Path(args.out) if args.out else Path("results") / f"{spec.name}-fit"
    _say(f"spindiff {__version__}: fit {args.case} -> {out}")
    log = None if args.quiet else _say
    result = fit(spec, out=out, profile=args.profile or [], overwrite=args.overwrite, log=log)
    d = result.data
    _say(f"{d['status']} after {d['model_evaluations']} model evaluations in "
         f"{d['wall_time_s']:.1f} s: chi2 = {d['chi2']:.4g}, "
         f"reduced chi2 = {d['reduced_chi2']:.3g} ({d['dof']} dof), residual rms = "
         f"{d['residual_rms']:.3g}")
    for line in parameter_lines(d):
        _say("  " + line)
    for name, prof in d["profiles"].items():
        _say(f"  profile of {name}: {'determined' if prof['determined'] else 'NOT determined'} "
             f"(delta chi2 from {min(prof['delta_chi2']):.2g} to {max(prof['delta_chi2']):.3g} "
             f"over {prof['values'][0]:.3g} ... {prof['values'][-1]:.3g} {prof['unit']}; "
             f"{prof['evaluations']} model evaluations)")
    if not d["identifiability"]["all_determined"]:
        _say("  the data do not determine: " + ", ".join(d["identifiability"]["not_determined"])
             + " (fix them, or add data sets that constrain them)")
    cases = "fitted_case.toml" if len(d["datasets"]) == 1 else "fitted_case_<dataset>.toml"
    _say(f"results: {out}/ (fit.json, fit.png, {cases}, fit_points.csv"
         + (", profile_*.csv/.png" if d["profiles"] else "") + ")")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """The `fit` subcommand on the subparsers `sub` of spindiff's command line."""
    c = sub.add_parser("fit", help="fit case parameters to measured curves (a fit file)")
    c.add_argument("case", metavar="FIT", help="fit file (TOML; see docs/fitting.md)")
    c.add_argument("--out", help="output folder (default results/<fit name>-fit)")
    c.add_argument("--overwrite", action="store_true",
                   help="replace an earlier spindiff fit folder at the output path "
                        "(nothing else is ever replaced)")
    c.add_argument("--profile", action="append", metavar="KEY",
                   help="chi-square profile of a fitted parameter (repeatable), e.g. "
                        "--profile materials.glass.D0")
    c.add_argument("--quiet", action="store_true", help="no progress output")
    c.set_defaults(func=cmd_fit)
    return c


def main(argv: list[str] | None = None) -> int:
    """Run the command alone (python -m spindiff.fit.command FIT ...), with the same one-line
    errors as the spindiff command line."""
    from ..errors import SpindiffError
    parser = argparse.ArgumentParser(prog="spindiff")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fit", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except SpindiffError as exc:
        print(f"spindiff: error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
