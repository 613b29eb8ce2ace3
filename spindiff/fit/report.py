"""Results of a fit: fit.json, the printed summary, fit.png (data, fitted curves, residuals),
fitted_case*.toml (runnable with `spindiff run`), fit_points.csv and profile_<parameter>.csv/
.png. The printed lines, fit.json and fit.png state the same verdicts: they are all made from
the fit.json content (`build_report`) by `parameter_text` and `summary_lines`.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from .. import __version__
from ..case.describe import conditions
from ..figure_style import DPI, figure, log_ticks, quantity_label, subtitle
from .problem import Problem
from .solve import FitOutcome


def build_report(problem: Problem, out: FitOutcome) -> dict[str, Any]:
    """The content of fit.json (strict JSON: no inf or nan)."""
    spec = problem.spec
    params = {}
    for j, p in enumerate(problem.free):
        v, err = float(out.values[j]), float(out.stderr[j])
        iv = out.intervals[j]
        entry: dict[str, Any] = {
            "value": v, "unit": p.unit, "stderr": err if math.isfinite(err) else None,
            "determined": not out.flags[j], "flags": out.flags[j], "notes": out.notes[j],
            "interval": iv["interval"], "interval_basis": iv["basis"],
            "key": p.key if p.key is not None else "scale", "datasets": p.datasets,
            "start": p.start, "min": p.lower, "max": p.upper, "transform": p.transform}
        if p.transform == "log":
            sx = math.sqrt(out.cov_x[j, j]) if np.isfinite(out.cov_x[j, j]) else math.inf
            entry["interval_1sigma"] = ([v * math.exp(-sx), v * math.exp(sx)]
                                        if sx < 50 else None)
        params[p.name] = entry
    sets = {}
    for m, pr in zip(problem.models, problem.predictions(out.values)):
        d = m.data
        w = problem.weights(m)
        span = float(np.ptp(d.value)) or 1.0
        ss_tot = float(np.sum((d.value - d.value.mean()) ** 2))
        rms = float(np.sqrt(np.mean((pr - d.value) ** 2)))
        sets[d.name] = {
            "case": str(d.case_path), "data": str(d.data_path), "observable": d.observable,
            "quantity": d.quantity, "points": len(d.time_s),
            "scale": problem.scale_for(d.name, out.values) if d.quantity == "signal" else None,
            "overrides": d.overrides,
            "chi2": float(np.sum(((pr - d.value) * w) ** 2)) if d.sigma is not None else None,
            "residual_rms": rms, "relative_rms": rms / span,
            "r_squared": 1.0 - float(np.sum((pr - d.value) ** 2)) / ss_tot if ss_tot > 0 else None,
            "has_sigma": d.sigma is not None, "conditions": conditions(m.case)}
    flagged = [n for n, p in params.items() if not p["determined"]]
    search = out.search
    return {
        "spindiff_version": __version__, "fit": spec.name, "fit_file": str(spec.path),
        "status": out.status, "success": out.success, "message": out.message,
        "mesh_model": problem.models[0].mesh_model,
        "parameters": params, "parameter_names": problem.names,
        "correlation": [[float(c) for c in row] for row in out.correlation],
        "condition_number": out.condition if math.isfinite(out.condition) else None,
        "chi2": out.chi2, "dof": out.dof, "reduced_chi2": out.reduced_chi2,
        "weighted": problem.weighted, "goodness_of_fit": out.goodness,
        "residual_rms": out.rms, "points": problem.npoints,
        "absolute_sigma": spec.absolute_sigma,
        "model_evaluations": out.evaluations,
        "simulations": sum(m.simulations for m in problem.models),
        "wall_time_s": out.wall_time_s,
        "global_search": {
            "design_points": search.design_points, "confirmed": search.confirmed,
            "design_chi2_min": min(search.design_chi2) if search.design_chi2 else None,
            "local_fits": [{"origin": r.origin, "chi2": r.chi2, "evaluations": r.evaluations,
                            "values": dict(zip(problem.names, problem.values(r.x).tolist())),
                            "success": r.success} for r in search.runs]},
        "restarts": out.restarts, "warnings": out.warnings,
        "identifiability": {"all_determined": not flagged, "not_determined": flagged},
        "datasets": sets,
        "profiles": {n: {k: v for k, v in p.items() if k != "lower"} | {
            "lower": None if p["lower"] is None else {"chi2": p["lower"]["chi2"],
                                                     "value": p["lower"]["value"]}}
            for n, p in out.profiles.items()},
    }


# --- the printed summary ------------------------------------------------------------------

def goodness_line(d: dict) -> str:
    """chi2 and reduced chi2 with uncertainties; residual rms, its fraction of the data range
    and R^2 without them (a sum of squares in data units is not a chi-square)."""
    g = d["goodness_of_fit"]
    r2 = f", R^2 = {g['r_squared']:.5f}" if g.get("r_squared") is not None else ""
    if d["weighted"]:
        return (f"chi2 = {d['chi2']:.4g}, reduced chi2 = {d['reduced_chi2']:.3g} ({d['dof']} dof), "
                f"residual rms = {g['residual_rms']:.3g}{r2}")
    return (f"residual rms = {g['residual_rms']:.3g} (data units; {100 * g['relative_rms']:.2g} % "
            f"of the data range){r2}; no uncertainties given, so no chi-square in units of the "
            "noise")


def parameter_text(name: str, p: dict, unit_style=str) -> tuple[str, str]:
    """(`name = value +- stderr unit (rel)`, the verdict: `determined ...` or `NOT DETERMINED:
    reasons`, with the notes), as printed and in fit.png."""
    unit = f" {unit_style(p['unit'])}" if p["unit"] else ""
    err = p["stderr"]
    err_text = f"{err:.2g}" if err is not None else "inf"
    rel = (f" ({100 * err / abs(p['value']):.2g} %)" if err is not None and p["value"] else "")
    head = f"{name} = {p['value']:.5g} +- {err_text}{unit}{rel}"
    notes = "; ".join(p.get("notes") or [])
    if p["determined"]:
        lo, hi = p.get("interval") or (None, None)
        where = (f"profile: {lo:.4g} ... {hi:.4g}{unit}" if p.get("interval_basis") == "profile"
                 and lo is not None else "")
        inner = "; ".join(t for t in (where, notes) if t)
        return head, "determined" + (f" ({inner})" if inner else "")
    return head, "NOT DETERMINED: " + "; ".join(p["flags"]) + (f" ({notes})" if notes else "")


def parameter_lines(data: dict[str, Any]) -> list[str]:
    """One line per parameter: value +- stderr, whether the data determine it and why."""
    width = max(len(n) for n in data["parameters"])
    out = []
    for name, p in data["parameters"].items():
        head, tail = parameter_text(f"{name:<{width}}", p)
        out.append(f"{head}   {tail}")
    return out


def summary_lines(d: dict[str, Any]) -> list[str]:
    """Everything `spindiff fit` prints after its progress: status and cost, goodness of fit,
    parameters, profiles, restarts, warnings and what the data do not determine."""
    s = d["global_search"]
    stage = (f"global stage: {s['design_points']} design points, {len(s['local_fits'])} local "
             f"fits" if s["design_points"] else "no global stage: one local fit from the start values")
    lines = [f"{d['status']} after {d['model_evaluations']} model evaluations in "
             f"{d['wall_time_s']:.1f} s ({stage})", goodness_line(d)]
    lines += ["  " + line for line in parameter_lines(d)]
    for name, prof in d["profiles"].items():
        lo, hi = prof["interval"]
        unit = f" {prof['unit']}" if prof["unit"] else ""
        shown = (f"1-sigma interval {lo:.4g} ... {hi:.4g}{unit}" if prof["determined"] else
                 "open " + ("below and above" if lo is None and hi is None else
                            "below" if lo is None else "above"))
        lines.append(f"  profile of {name} ({'asked' if prof['mode'] == 'grid' else 'automatic'}): "
                     f"{'closed' if prof['determined'] else 'NOT closed'}, {shown} (delta chi2 "
                     f"up to {max(prof['delta_chi2']):.3g} over {prof['values'][0]:.4g} ... "
                     f"{prof['values'][-1]:.4g}{unit}; {prof['evaluations']} model evaluations)")
    for r in d["restarts"]:
        lines.append(f"  restarted from the {r}")
    for w in d["warnings"]:
        lines.append(f"  WARNING: {w}")
    if not d["identifiability"]["all_determined"]:
        lines.append("  the data do not determine: " + ", ".join(
            d["identifiability"]["not_determined"]) + " (fix them, or add data sets that "
            "constrain them)")
    return lines


# --- files --------------------------------------------------------------------------------

def dense_curves(problem: Problem, out: FitOutcome, n: int = 200) -> list[dict[str, np.ndarray]]:
    """The fitted model of each data set on `n` times spanning its data (log-spaced when the
    data are), for the plot."""
    curves = []
    for m in problem.models:
        t = m.data.time_s
        logx = log_spaced(t)
        if logx:
            pos = t[t > 0]
            tt = np.geomspace(pos[0], pos[-1], n)
        else:
            tt = np.linspace(t[0], t[-1], n)
        tt = np.unique(np.concatenate([tt, t]))
        changes = problem.changes_for(m.data.name, out.values)
        y = problem.scale_for(m.data.name, out.values) * m.curve(changes, tt)
        curves.append({"time_s": tt, "model": y, "log": logx})
    return curves


def log_spaced(t: np.ndarray) -> bool:
    """True when the positive times span > 2 decades and are more evenly spaced in log t."""
    pos = t[t > 0]
    if len(pos) < 3 or pos[-1] / pos[0] < 100:
        return False
    lin, lg = np.diff(pos), np.diff(np.log(pos))
    return float(np.std(lg) / np.mean(lg)) < float(np.std(lin) / np.mean(lin))


def fitted_case_name(problem: Problem, dataset: str) -> str:
    return ("fitted_case.toml" if len(problem.models) == 1
            else f"fitted_case_{dataset}.toml")


def write_fitted_cases(problem: Problem, out: FitOutcome, folder: Path) -> list[Path]:
    """One case file per data set with the fitted values (and the data set's overrides)."""
    written = []
    for m in problem.models:
        d = m.data
        changes = problem.changes_for(d.name, out.values)
        case = m.case_with(changes, fitting=False)
        raw = case.raw()
        raw.pop("sweep", None)
        raw["case"]["name"] = f"{raw['case']['name']}-fit-{d.name}"[:100]
        geo = raw.get("geometry", {})
        if isinstance(geo.get("file"), str) and not Path(geo["file"]).is_absolute():
            geo["file"] = str(d.case_path.resolve().parent / geo["file"])
        lines = [f"# Fitted by spindiff {__version__} fit {problem.spec.name} "
                 f"(data set {d.name}: {d.data_path.name}).",
                 f"# Based on {d.case_path}; fitted keys:"]
        for j, (p, v, e) in enumerate(zip(problem.free, out.values, out.stderr)):
            if d.name in p.datasets:
                unit = f" {p.unit}" if p.unit else ""
                verdict = "determined" if not out.flags[j] else "NOT determined"
                lines.append(f"#   {p.name} = {v:.6g}{unit} (stderr {e:.2g}; {verdict})")
        text = "\n".join(lines) + "\n" + tomli_w.dumps(raw)
        path = folder / fitted_case_name(problem, d.name)
        path.write_text(text)
        written.append(path)
    return written


def write_points(problem: Problem, out: FitOutcome, path: Path) -> None:
    """dataset, time_s, value, sigma, model, residual for every data point."""
    preds = problem.predictions(out.values)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "time_s", "value", "sigma", "model", "residual"])
        for m, pr in zip(problem.models, preds):
            d = m.data
            for i in range(len(d.time_s)):
                s = "" if d.sigma is None else repr(float(d.sigma[i]))
                w.writerow([d.name, repr(float(d.time_s[i])), repr(float(d.value[i])), s,
                            repr(float(pr[i])), repr(float(pr[i] - d.value[i]))])


def write_profile(prof: dict, folder: Path, conditions: dict | None = None) -> None:
    """profile_<name>.csv and .png: Delta chi2 against the fixed parameter value, with the
    1 and 2 sigma levels and the interval."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in prof["parameter"])
    with open(folder / f"profile_{safe}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["value", "chi2", "delta_chi2"])
        for row in zip(prof["values"], prof["chi2"], prof["delta_chi2"]):
            w.writerow([repr(float(x)) for x in row])
    v, dchi = np.asarray(prof["values"]), np.asarray(prof["delta_chi2"])
    with figure(1, 1, width=4.8, height=3.8) as (fig, axes):
        ax = axes[0][0]
        ax.plot(v, dchi, "o-", color="C0", ms=4, label="profile (others refitted)")
        ax.axhline(1.0, color="0.5", ls="--", lw=0.8, label=r"$\Delta\chi^2 = 1$ (1 $\sigma$)")
        ax.axhline(4.0, color="0.5", ls=":", lw=0.8, label=r"$\Delta\chi^2 = 4$ (2 $\sigma$)")
        lo, hi = prof["interval"]
        if lo is not None and hi is not None:
            ax.axvspan(lo, hi, color="C0", alpha=0.12, lw=0, label="1 σ interval")
        if v.min() > 0 and v.max() / v.min() > 10:
            ax.set_xscale("log")
            log_ticks(ax.xaxis)
        top = float(np.nanmax(dchi)) if len(dchi) else 1.0
        ax.set_ylim(min(-0.3, float(np.nanmin(dchi)) - 0.3), min(1.08 * top, 12.0) if top > 0 else 1.5)
        unit = prof["unit"]
        ax.set_xlabel(quantity_label(prof["parameter"], unit))
        ax.set_ylabel(r"$\Delta\chi^2$ (units of the noise)")
        state = "closed" if prof["determined"] else "NOT closed"
        ax.set_title(f"profile of {prof['parameter']}: {state}", fontsize=9)
        ax.legend(fontsize=7)
        subtitle(fig, conditions, fontsize=7)
        fig.savefig(folder / f"profile_{safe}.png", dpi=DPI)


