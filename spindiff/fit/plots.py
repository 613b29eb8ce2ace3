"""fit.png: for each data set the data (with error bars), the fitted curve and the residuals;
above the panels the sample and its conditions, the goodness of fit and every parameter with
the same verdict as the printed summary (spindiff.fit.report.parameter_text)."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

from ..figure_style import DPI, conditions_text, pretty_unit, styled
from .problem import Problem
from .report import goodness_line, parameter_text

_LABELS = {"polarization": "nuclear polarization <P>", "enhancement": r"enhancement $P/P_0$",
           "signal": "signal (arb. units)"}


def plot_fit(problem: Problem, data: dict, curves: list[dict], path: Path) -> None:
    """Per data set: data (with error bars), the fitted curve, and the residuals
    ((model - data) / sigma, or model - data in the data's units without uncertainties)."""
    n = len(problem.models)
    ncol = n if n <= 3 else (2 if n == 4 else 3)
    nrow = math.ceil(n / ncol)
    values = np.array([data["parameters"][name]["value"] for name in problem.names])
    lines = [_title_head(data)] + [
        "   ".join(parameter_text(name, p, pretty_unit))
        for name, p in data["parameters"].items()] + [f"WARNING: {w}" for w in data["warnings"]]
    wrapped = [_wrap(line, int(60 * ncol + 40)) for line in lines]
    nlines = sum(w.count("\n") + 1 for w in wrapped)
    head = 0.25 + 0.15 * nlines
    height = head + 3.9 * nrow
    with styled() as plt:
        fig = plt.figure(figsize=(max(5.6, 3.9 * ncol), height))
        outer = fig.add_gridspec(nrow, ncol, hspace=0.42, wspace=0.34, top=1 - head / height,
                                 bottom=0.45 / height)
        preds = problem.predictions(values)
        for i, (m, pr, cv) in enumerate(zip(problem.models, preds, curves)):
            _panel(fig, outer[divmod(i, ncol)], m.data, pr, cv, data["datasets"][m.data.name], i)
        fig.suptitle("\n".join(wrapped), fontsize=7.5, y=1 - 0.08 / height, va="top",
                     ha="left", x=0.02)
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
        plt.close(fig)


def _title_head(data: dict) -> str:
    sets = list(data["datasets"].values())
    conds = sets[0]["conditions"]
    varying = [k for k in ("concentration_mM", "B0_T", "temperature_K")
               if len({s["conditions"].get(k) for s in sets}) > 1]
    shown = dict(conds)
    for k in varying:
        shown[k] = None
    extra = ("per data set: " + ", ".join(_name(k) for k in varying)) if varying else ""
    return (f"fit {data['fit']}: {conditions_text(shown, extra)}\n{goodness_line(data)}")


def _name(key: str) -> str:
    return {"concentration_mM": "concentration", "B0_T": "field", "temperature_K": "temperature"}[key]


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.fill(part, width, subsequent_indent="    ")
                     for part in text.split("\n"))


def _panel(fig, cell, d, pr: np.ndarray, cv: dict, info: dict, i: int) -> None:
    inner = cell.subgridspec(2, 1, height_ratios=[3, 1], hspace=0.08)
    ax = fig.add_subplot(inner[0])
    axr = fig.add_subplot(inner[1], sharex=ax)
    t = d.time_s
    sel = t > 0 if cv["log"] else np.ones(len(t), bool)
    color = f"C{i % 10}"
    if d.sigma is not None:
        ax.errorbar(t[sel], d.value[sel], yerr=d.sigma[sel], fmt="o", ms=3, color=color,
                    mfc="white", elinewidth=0.6, capsize=0, label="data", zorder=2)
        res, rlabel = (pr - d.value) / d.sigma, r"(model$-$data)/$\sigma$"
    else:
        ax.plot(t[sel], d.value[sel], "o", ms=3, color=color, mfc="white", label="data")
        res, rlabel = pr - d.value, "model$-$data"
    tt = cv["time_s"]
    keep = tt > 0 if cv["log"] else np.ones(len(tt), bool)
    ax.plot(tt[keep], cv["model"][keep], "-", color="k", lw=1.2, label="fit", zorder=3)
    axr.axhline(0, color="0.4", lw=0.8)
    axr.plot(t[sel], res[sel], "o", ms=2.5, color=color)
    if cv["log"]:
        ax.set_xscale("log")
    ax.tick_params(labelbottom=False)
    ax.set_ylabel(_LABELS[d.quantity] + ("" if d.observable == "sample" else f" ({d.observable})"))
    axr.set_ylabel(rlabel, fontsize=7)
    axr.set_xlabel("time (s)")
    c = info["conditions"].get("concentration_mM")
    where = f" ({c:.4g} mM)" if c and f"{c:.4g}mM" not in d.name.replace(" ", "") else ""
    fit_text = (r"$\chi^2/N$" + f" = {info['chi2'] / max(info['points'], 1):.3g}"
                if info["chi2"] is not None else
                f"rms {info['residual_rms']:.2g} ({100 * info['relative_rms']:.2g} % of range)")
    ax.set_title(f"{d.name}{where}: {fit_text}", fontsize=8)
    ax.legend(fontsize=7, loc="best")
