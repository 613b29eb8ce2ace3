"""Results of a fit: fit.json, fit.png (data, fitted curves, residuals), fitted_case*.toml
(runnable with `spindiff run`) and profile_<parameter>.csv/.png."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .solve import FitOutcome, Problem


def build_report(problem: Problem, out: FitOutcome) -> dict[str, Any]:
    """The content of fit.json (strict JSON: no inf or nan)."""
    spec = problem.spec
    params = {}
    for j, p in enumerate(problem.free):
        v, err = float(out.values[j]), float(out.stderr[j])
        entry: dict[str, Any] = {
            "value": v, "unit": p.unit, "stderr": err if math.isfinite(err) else None,
            "determined": not out.flags[j], "flags": out.flags[j],
            "key": p.key if p.key is not None else "scale", "datasets": p.datasets,
            "start": p.start, "min": p.lower, "max": p.upper, "transform": p.transform}
        if p.transform == "log":
            sx = math.sqrt(out.cov_x[j, j]) if np.isfinite(out.cov_x[j, j]) else math.inf
            entry["interval_1sigma"] = ([v * math.exp(-sx), v * math.exp(sx)]
                                        if sx < 50 else None)
        params[p.name] = entry
    sets = {}
    preds = problem.predictions(out.values)
    for m, pr in zip(problem.models, preds):
        d = m.data
        w = problem.weights(m)
        sets[d.name] = {
            "case": str(d.case_path), "data": str(d.data_path), "observable": d.observable,
            "quantity": d.quantity, "points": len(d.time_s),
            "scale": problem.scale_for(d.name, out.values) if d.quantity == "signal" else None,
            "overrides": d.overrides, "chi2": float(np.sum(((pr - d.value) * w) ** 2)),
            "residual_rms": float(np.sqrt(np.mean((pr - d.value) ** 2))),
            "has_sigma": d.sigma is not None}
    names = [p.name for p in problem.free]
    flagged = [n for n, p in params.items() if not p["determined"]]
    return {
        "spindiff_version": __version__, "fit": spec.name, "fit_file": str(spec.path),
        "status": out.status, "success": out.success, "message": out.message,
        "mesh_model": problem.models[0].mesh_model,
        "parameters": params, "parameter_names": names,
        "correlation": [[float(c) for c in row] for row in out.correlation],
        "condition_number": out.condition if math.isfinite(out.condition) else None,
        "chi2": out.chi2, "dof": out.dof, "reduced_chi2": out.reduced_chi2,
        "residual_rms": out.rms, "points": problem.npoints,
        "absolute_sigma": spec.absolute_sigma,
        "model_evaluations": out.evaluations,
        "simulations": sum(m.simulations for m in problem.models),
        "wall_time_s": out.wall_time_s,
        "identifiability": {"all_determined": not flagged, "not_determined": flagged},
        "datasets": sets,
        "profiles": out.profiles,
    }


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


def write_outputs(result, out: Path, overwrite: bool = False, plots: bool = True) -> Path:
    """Write the results folder (claimed with spindiff.io.folders.output_folder)."""
    from mpi4py import MPI

    from ..io.folders import output_folder
    from ..io.results import dumps_json
    problem = result.problem
    identity = {"fit_file": str(problem.spec.path.resolve()), "fit": problem.spec.name}
    with output_folder(out, MPI.COMM_WORLD, "fit", identity, overwrite=overwrite) as folder:
        if MPI.COMM_WORLD.rank == 0:
            path = folder.path
            (path / "fit.json").write_text(dumps_json(result.data) + "\n")
            (path / "fit.toml").write_text(problem.spec.text)
            write_fitted_cases(problem, result.outcome, path)
            write_points(problem, result.outcome, path / "fit_points.csv")
            for name, prof in result.outcome.profiles.items():
                write_profile(prof, path)
            if plots:
                plot_fit(problem, result.outcome, result.curves, path / "fit.png")
    return out


def fitted_case_name(problem: Problem, dataset: str) -> str:
    return ("fitted_case.toml" if len(problem.models) == 1
            else f"fitted_case_{dataset}.toml")


def write_fitted_cases(problem: Problem, out: FitOutcome, folder: Path) -> list[Path]:
    """One case file per data set with the fitted values (and the data set's overrides)."""
    import tomli_w
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
            geo["file"] = str((d.case_path.resolve().parent / geo["file"]))
        lines = [f"# Fitted by spindiff {__version__} fit {problem.spec.name} "
                 f"(data set {d.name}: {d.data_path.name}).",
                 f"# Based on {d.case_path}; fitted keys:"]
        for p, v, e in zip(problem.free, out.values, out.stderr):
            if d.name in p.datasets:
                unit = f" {p.unit}" if p.unit else ""
                lines.append(f"#   {p.name} = {v:.6g}{unit} (stderr {e:.2g})")
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


def write_profile(prof: dict, folder: Path) -> None:
    """profile_<name>.csv and .png: chi-square against the fixed parameter value."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in prof["parameter"])
    with open(folder / f"profile_{safe}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["value", "chi2", "delta_chi2"])
        for row in zip(prof["values"], prof["chi2"], prof["delta_chi2"]):
            w.writerow([repr(float(x)) for x in row])
    from ..io.figure_style import pyplot
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 3.6), dpi=150)
    ax.plot(prof["values"], prof["delta_chi2"], "o-", color="C0", ms=4)
    ax.axhline(1.0, color="0.5", ls="--", lw=0.8, label=r"$\Delta\chi^2 = 1$ (1 $\sigma$)")
    ax.axhline(4.0, color="0.5", ls=":", lw=0.8, label=r"$\Delta\chi^2 = 4$ (2 $\sigma$)")
    v = np.asarray(prof["values"])
    if v.min() > 0 and v.max() / v.min() > 10:
        from matplotlib.ticker import FuncFormatter, LogLocator
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(LogLocator(subs=(2, 5)))
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
    top = max(prof["delta_chi2"])
    ax.set_ylim(-0.3, min(1.08 * top, 12.0) if top > 0 else 1.5)
    unit = f" ({_pretty_unit(prof['unit'])})" if prof["unit"] else ""
    ax.set_xlabel(f"{prof['parameter']}{unit}")
    ax.set_ylabel(r"$\Delta\chi^2$ (others refitted)")
    ax.set_title(f"{'determined' if prof['determined'] else 'NOT determined'} by the data",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / f"profile_{safe}.png")
    plt.close(fig)


_LABELS = {"polarization": "nuclear polarization", "enhancement": r"enhancement $P/P_0$",
           "signal": "signal (arb. units)"}


def plot_fit(problem: Problem, out: FitOutcome, curves: list[dict], path: Path) -> None:
    """Per data set: data (with error bars), the fitted curve, and normalised residuals."""
    from ..io.figure_style import pyplot
    plt = pyplot()
    n = len(problem.models)
    ncol = n if n <= 3 else (2 if n == 4 else 3)
    nrow = math.ceil(n / ncol)
    per_line = 1 if ncol == 1 else 2
    nlines = 1 + math.ceil(len(problem.free) / per_line)
    height = 0.3 + 0.16 * nlines + 4.1 * nrow
    fig = plt.figure(figsize=(max(5.2, 3.9 * ncol), height), dpi=150)
    outer = fig.add_gridspec(nrow, ncol, hspace=0.32, wspace=0.32,
                             top=1 - (0.35 + 0.16 * nlines) / height)
    preds = problem.predictions(out.values)
    for i, (m, pr, cv) in enumerate(zip(problem.models, preds, curves)):
        d = m.data
        r, c = divmod(i, ncol)
        inner = outer[r, c].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.06)
        ax = fig.add_subplot(inner[0])
        axr = fig.add_subplot(inner[1], sharex=ax)
        t = d.time_s
        sel = t > 0 if cv["log"] else np.ones(len(t), bool)
        color = f"C{i % 10}"
        if d.sigma is not None:
            ax.errorbar(t[sel], d.value[sel], yerr=d.sigma[sel], fmt="o", ms=3, color=color,
                        mfc="white", elinewidth=0.6, capsize=0, label="data", zorder=2)
        else:
            ax.plot(t[sel], d.value[sel], "o", ms=3, color=color, mfc="white", label="data")
        tt = cv["time_s"]
        keep = tt > 0 if cv["log"] else np.ones(len(tt), bool)
        ax.plot(tt[keep], cv["model"][keep], "-", color="k", lw=1.2, label="fit", zorder=3)
        if d.sigma is not None:
            res, rlabel = (pr - d.value) / d.sigma, r"(model$-$data)/$\sigma$"
        else:
            res, rlabel = pr - d.value, "model$-$data"
        axr.axhline(0, color="0.4", lw=0.8)
        axr.plot(t[sel], res[sel], "o", ms=2.5, color=color)
        if cv["log"]:
            ax.set_xscale("log")
        ax.tick_params(labelbottom=False)
        ax.set_ylabel(_LABELS[d.quantity] + ("" if d.observable == "sample"
                                              else f" ({d.observable})"))
        axr.set_ylabel(rlabel, fontsize=8)
        axr.set_xlabel("time (s)")
        ax.set_title(f"{d.name}: " + (r"$\chi^2/N$" + f" = {_chi2_red(pr, d):.3g}"
                                      if d.sigma is not None else
                                      f"rms residual {np.sqrt(np.mean((pr - d.value) ** 2)):.2g}"),
                     fontsize=9)
        ax.grid(alpha=0.3)
        axr.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    lines = []
    for p, v, e, f in zip(problem.free, out.values, out.stderr, out.flags):
        unit = f" {_pretty_unit(p.unit)}" if p.unit else ""
        mark = "" if not f else "   (NOT determined)"
        lines.append(f"{p.name} = {v:.4g} ± {e:.2g}{unit}{mark}")
    text = "\n".join("      ".join(lines[k:k + per_line]) for k in range(0, len(lines), per_line))
    fig.suptitle(f"fit {problem.spec.name}" + r" ($\chi^2_\nu$" + f" = {out.reduced_chi2:.3g})\n"
                 + text, fontsize=8, y=1 - 0.1 / height, va="top")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def _pretty_unit(unit: str) -> str:
    """"nm^6/s" -> "nm⁶/s" for figure labels."""
    import re
    return re.sub(r"\s*(?:\^|\*\*)\s*([+-]?\d+)", lambda m: m.group(1).lstrip("+").translate(_SUPERSCRIPT), unit)


def _chi2_red(pred: np.ndarray, d) -> float:
    w = 1.0 / d.sigma
    return float(np.sum(((pred - d.value) * w) ** 2) / max(len(d.value), 1))
