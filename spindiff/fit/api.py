"""`fit(...)`: fit cases to measured curves from a fit file (or a validated FitSpec).

    from spindiff.fit import fit
    result = fit("cases/fit_example/fit.toml", out="results/fit_example", profile=["source.C6"])
    result.parameters["source.C6"]      # {"value", "unit", "stderr", "determined", "flags", ...}
    result.lines()                      # one line per parameter, as `spindiff fit` prints them
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .solve import FitOutcome, Problem, profile as chi2_profile, solve
from .spec import FitSpec, load_fit


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
        """One line per parameter: value +- stderr, and whether the data determine it."""
        return parameter_lines(self.data)


def fit(spec: FitSpec | str | Path, out: str | Path | None = None, *,
        profile: list[str] | str | None = None, overwrite: bool = False,
        plots: bool = True, log: Callable[[str], None] | None = None) -> FitResult:
    """Fit the free case keys of a fit file to its data sets (docs/fitting.md).

    Args:
        spec: a fit file path or a FitSpec (spindiff.fit.spec.load_fit).
        out: a results folder (fit.json, fit.png, fitted_case*.toml, profile_*.csv), or None
            to write nothing.
        profile: parameter name(s) whose chi-square profile is computed (besides the file's
            [fit] profile).
        overwrite: let the fit replace an earlier fit folder at `out`.
        plots: draw fit.png.
        log: called with progress lines.

    Returns:
        The FitResult (fitted values, uncertainties, the report's lines).

    Raises:
        CaseError: a bad fit file (one line).
        SpindiffError: bad data or a profile of a parameter that is not fitted (one line).
    """
    from .report import build_report, dense_curves, write_outputs
    spec = spec if isinstance(spec, FitSpec) else load_fit(spec)
    names = list(spec.profile) + ([profile] if isinstance(profile, str) else list(profile or []))
    names = list(dict.fromkeys(names))
    t0 = time.perf_counter()
    say = log or (lambda s: None)
    problem = Problem(spec, log=say)
    for n in names:
        if n not in [p.name for p in problem.free]:
            from ..errors import SpindiffError
            raise SpindiffError(f"profile {n}: not a fitted parameter; the parameters are "
                                + ", ".join(p.name for p in problem.free))
    say(f"fitting {len(problem.free)} parameter(s) to {len(problem.models)} data set(s), "
        f"{problem.npoints} points ({problem.models[0].mesh_model} model)")
    outcome = solve(problem)
    for n in names:
        say(f"chi-square profile of {n}")
        outcome.profiles[n] = chi2_profile(problem, outcome, n, spec.profile_points, log=say)
    data = build_report(problem, outcome)
    data["model_evaluations_total"] = problem.evaluations
    data["wall_time_total_s"] = time.perf_counter() - t0
    result = FitResult(problem=problem, outcome=outcome, data=data)
    if out is not None:
        result.curves = dense_curves(problem, outcome) if plots else []
        result.out_dir = write_outputs(result, Path(out), overwrite=overwrite, plots=plots)
    return result


def parameter_lines(data: dict[str, Any]) -> list[str]:
    """`name = value +- stderr unit  determined` or `... NOT DETERMINED: reasons`."""
    out = []
    width = max(len(n) for n in data["parameters"])
    for name, p in data["parameters"].items():
        unit = f" {p['unit']}" if p["unit"] else ""
        err = p["stderr"]
        err_text = f"{err:.2g}" if err is not None else "inf"
        rel = (f" ({100 * err / abs(p['value']):.2g} %)" if err is not None and p["value"]
               else "")
        head = f"{name:<{width}} = {p['value']:.5g} +- {err_text}{unit}{rel}"
        tail = "determined" if p["determined"] else "NOT DETERMINED: " + "; ".join(p["flags"])
        out.append(f"{head}   {tail}")
    return out
