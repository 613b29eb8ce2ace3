"""`fit(...)`: fit cases to measured curves from a fit file (or a validated FitSpec).

    from spindiff.fit import fit
    result = fit("cases/fit_example/fit.toml", out="results/fit_example", profile=["source.C6"])
    result.parameters["source.C6"]      # {"value", "unit", "stderr", "determined", "flags", ...}
    result.lines()                      # the summary, as `spindiff fit` prints it

The steps: the global stage and the local fits (spindiff.fit.search), the covariance at the
lowest chi-square (spindiff.fit.solve), the profiles asked for and those the verdicts need
(spindiff.fit.identify); a profile that finds a lower chi-square restarts the local fit from
there (at most MAX_RESTARTS times), then the profiles are made again about the new optimum.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpindiffError
from ..io.interrupt import RunInterrupted
from .folder import FitFolder, write_outputs
from .identify import needs_profile, profiles, verdicts
from .problem import Problem
from .report import build_report, dense_curves, parameter_lines, summary_lines
from .solve import FitOutcome, refit_from, solve
from .spec import FitSpec, load_fit

#: most restarts from a profile point below the optimum
MAX_RESTARTS = 3


@dataclass
class FitResult:
    """A finished fit: the problem (data, models, parameter vector), the outcome and the
    parameter table; `data` is the fit.json content."""
    problem: Problem
    outcome: FitOutcome
    data: dict[str, Any]
    out_dir: Path | None = None
    curves: list[dict[str, np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def parameters(self) -> dict[str, dict]:
        return self.data["parameters"]

    def lines(self) -> list[str]:
        """One line per parameter: value +- stderr, whether the data determine it and why
        (with its correlations), as printed."""
        return parameter_lines(self.data)

    def summary(self) -> list[str]:
        """Everything `spindiff fit` prints after its progress lines: status, cost, goodness
        of fit, parameters, profiles, restarts and warnings."""
        return summary_lines(self.data)


def fit(spec: FitSpec | str | Path, out: str | Path | None = None, *,
        profile: list[str] | str | None = None, overwrite: bool = False, resume: bool = False,
        plots: bool = True, log: Callable[[str], None] | None = None, comm=None) -> FitResult:
    """Fit the free case keys of a fit file to its data sets (docs/guide/fitting.md): the global
    stage, the local fits, the profiles asked for and those the verdicts need.

    Args:
        spec: a fit file path or a FitSpec (spindiff.fit.spec.load_fit).
        out: a results folder (fit.json, fit.png, fitted_case*.toml, fit_points.csv,
            evaluations.csv, profile_*.csv/.png), claimed before the first evaluation; None
            to write nothing.
        profile: parameter name(s) whose chi-square profile is computed (besides the file's
            [fit] profile).
        overwrite: let the fit replace an earlier fit folder at `out`.
        resume: continue an interrupted fit in `out` (its evaluations are read back).
        plots: draw fit.png and the profile figures.
        log: called with progress lines.
        comm: the MPI ranks that share the work (default MPI.COMM_WORLD; with 1D radial
            models the design points, local fits and profile sides are spread over them).

    Returns:
        The FitResult (values, uncertainties, verdicts, the printed summary).

    Raises:
        CaseError: a bad fit file (one line).
        SpindiffError: bad data or a profile of a parameter that is not fitted (one line).
        RunInterrupted: SIGINT or SIGTERM during the fit; OUT.partial keeps its evaluations.
    """
    spec = spec if isinstance(spec, FitSpec) else load_fit(spec)
    asked = list(spec.profile) + ([profile] if isinstance(profile, str) else list(profile or []))
    asked = list(dict.fromkeys(asked))
    t0 = time.perf_counter()
    say = log or (lambda s: None)
    problem = Problem(spec, log=say, comm=comm)
    for n in asked:
        if n not in problem.names:
            raise SpindiffError(f"profile {n}: not a fitted parameter; the parameters are "
                                + ", ".join(problem.names))
    folder = None
    if out is not None:
        folder = FitFolder(problem, out, overwrite=overwrite, resume=resume)
        if folder.replayed:
            say(f"resuming: {folder.replayed} earlier model evaluations read back")
    try:
        say(f"fitting {len(problem.free)} parameter(s) to {len(problem.models)} data set(s), "
            f"{problem.npoints} points ({problem.models[0].mesh_model} model)")
        outcome = _fit(problem, asked, say)
        data = build_report(problem, outcome)
        data["model_evaluations_total"] = problem.total_evaluations()
        data["wall_time_total_s"] = time.perf_counter() - t0
        result = FitResult(problem=problem, outcome=outcome, data=data)
        if folder is not None:
            result.curves = dense_curves(problem, outcome) if plots else []
            result.out_dir = write_outputs(result, folder, plots=plots)
    except BaseException as exc:
        if folder is None:
            raise
        note = folder.leave(exc, str(spec.path))
        if isinstance(exc, KeyboardInterrupt):
            signum = getattr(exc, "signum", 2)
            kept = (f"{folder.path}/ keeps every evaluation (lowest chi2 so far in its STATUS); "
                    f"continue with: spindiff fit {spec.path} --resume {out}" if note else
                    "no model evaluation had finished; nothing is left")
            raise RunInterrupted(f"fit interrupted; {kept}", signum) from None
        raise
    return result


def _fit(problem: Problem, asked: list[str], say: Callable[[str], None]) -> FitOutcome:
    """The global stage, then profiles and verdicts, restarting from a lower profile point."""
    spec = problem.spec
    outcome = solve(problem)
    for restart in range(MAX_RESTARTS + 1):
        auto = needs_profile(problem, outcome) if spec.auto_profile else []
        if auto:
            say("profiles where the standard error is doubtful: " + ", ".join(auto))
        profs = profiles(problem, outcome, asked, auto, spec.profile_points) if (asked or auto) \
            else {}
        lower = min((p["lower"] | {"name": n} for n, p in profs.items() if p["lower"]),
                    key=lambda q: q["chi2"], default=None)
        if lower is None:
            break
        if restart == MAX_RESTARTS:
            outcome.warnings.append(f"the profile of {lower['name']} still finds a lower chi2 "
                                    f"({lower['chi2']:.6g}) after {MAX_RESTARTS} restarts")
            break
        say(f"the profile of {lower['name']} found chi2 = {lower['chi2']:.6g} < "
            f"{outcome.chi2:.6g} at {lower['value']:.4g}: refitting from there")
        old = outcome.chi2
        outcome = refit_from(problem, outcome, np.array(lower["x"]),
                             f"profile of {lower['name']}")
        outcome.restarts[-1] = (f"profile of {lower['name']} (chi2 {old:.6g} -> "
                                f"{outcome.chi2:.6g})")
    outcome.profiles = profs
    verdicts(problem, outcome, spec.auto_profile)
    return outcome
