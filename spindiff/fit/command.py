"""`spindiff fit FIT.toml [--out DIR] [--profile KEY] [--overwrite] [--resume DIR] [--quiet]`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from ..errors import SpindiffError
from .api import fit
from .report import summary_lines
from .spec import load_fit


def _say(*args) -> None:
    try:
        from mpi4py import MPI
        rank = MPI.COMM_WORLD.rank
    except Exception:  # pragma: no cover
        rank = 0
    if rank == 0:
        print(*args, flush=True)


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit, print the goodness of fit, one line per parameter (value, stderr, determined or
    why not), the profiles and any warning, and write the results folder."""
    spec = load_fit(args.case)
    if args.resume and args.out and Path(args.out) != Path(args.resume):
        raise SpindiffError(f"--out {args.out} and --resume {args.resume}: give one folder "
                            "(--resume DIR continues the fit in DIR)")
    out = Path(args.resume or args.out or Path("results") / f"{spec.name}-fit")
    _say(f"spindiff {__version__}: {'resuming ' if args.resume else ''}fit {args.case} -> {out}")
    log = None if args.quiet else _say
    result = fit(spec, out=out, profile=args.profile or [], overwrite=args.overwrite,
                 resume=bool(args.resume), log=log)
    d = result.data
    for line in summary_lines(d):
        _say(line)
    cases = "fitted_case.toml" if len(d["datasets"]) == 1 else "fitted_case_<dataset>.toml"
    _say(f"results: {out}/ (fit.json, fit.png, {cases}, fit_points.csv, evaluations.csv"
         + (", profile_*.csv/.png" if d["profiles"] else "") + ")")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """The `fit` subcommand on the subparsers `sub` of spindiff's command line."""
    c = sub.add_parser("fit", help="fit case parameters to measured curves (a fit file)")
    c.add_argument("case", metavar="FIT", help="fit file (TOML; see docs/guide/fitting.md)")
    c.add_argument("--out", help="output folder (default results/<fit name>-fit)")
    c.add_argument("--overwrite", action="store_true",
                   help="replace an earlier spindiff fit folder at the output path "
                        "(nothing else is ever replaced)")
    c.add_argument("--profile", action="append", metavar="KEY",
                   help="chi-square profile of a fitted parameter (repeatable), e.g. "
                        "--profile materials.glass.D0")
    c.add_argument("--resume", metavar="DIR", help="continue an interrupted fit whose results "
                   "folder is DIR (its evaluations are read back from DIR.partial)")
    c.add_argument("--quiet", action="store_true", help="no progress output")
    c.set_defaults(func=cmd_fit)
    return c


def main(argv: list[str] | None = None) -> int:
    """Run the command alone (python -m spindiff.fit.command FIT ...), with the same one-line
    errors as the spindiff command line."""
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
