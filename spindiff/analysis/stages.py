"""The fit of one protocol stage by its kind (spindiff.analysis.fits; docs/reference/results.md):

- "buildup": the source acts: T_B and P_inf of <P>_sample (mono, stretched, bi-exponential,
  the preferred one);
- "decay": the source is off: T1 of <P>_sample toward the thermal polarization P0 (end value
  fixed) and the initial T1;
- "resurgence": the source is off and the stage saturates the visible (or hidden) region
  (HypRes): the recovery of <P>_visible, and T1 of <P>_sample toward P0.

A stage is fitted only when its curve can give a time constant: at least MIN_ROWS output rows,
and a change over the stage of at least MIN_CHANGE (of the way to P0 for a decay, of the
larger end value for a buildup, of <P>_sample at the start for a resurgence); otherwise the
entry says why not (a 10 s wait before a resurgence changes by 0.3 %: no time constant). Each
material's average gets the same kind of fit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .fits import fit_buildup, fit_decay, fit_resurgence

if TYPE_CHECKING:
    from ..model import TransportModel

#: fewest output rows of a fitted stage
MIN_ROWS = 6
#: smallest relative change of a fitted stage
MIN_CHANGE = 0.01


def stage_kind(source_on: bool, saturate: str) -> str:
    """"buildup", "decay" or "resurgence" (module docstring)."""
    if source_on:
        return "buildup"
    return "resurgence" if saturate in ("visible", "hidden") else "decay"


def not_fittable(kind: str, t: np.ndarray, sample: np.ndarray, visible: np.ndarray | None,
                 p0: float) -> str | None:
    """Why the stage gives no time constant (None: it does)."""
    if len(t) < MIN_ROWS:
        return f"{len(t)} output rows (at least {MIN_ROWS} are needed for a time constant)"
    if kind == "decay":
        gap = sample[0] - p0
        moved = abs(sample[0] - sample[-1]) / abs(gap) if gap != 0 else 0.0
        if moved < MIN_CHANGE:
            return (f"<P> changes by {100 * moved:.2g} % of the way to P0 over the stage: too "
                    "short for a T1")
        return None
    if kind == "resurgence":
        ref = max(abs(float(sample[0])), 1e-300)
        moved = float(np.ptp(visible)) / ref if visible is not None else 0.0
        if moved < MIN_CHANGE:
            return f"<P> visible changes by {100 * moved:.2g} % of <P> sample: no resurgence"
        return None
    ref = max(abs(float(sample[0])), abs(float(sample[-1])), 1e-300)
    moved = abs(float(sample[-1] - sample[0])) / ref
    if moved < MIN_CHANGE:
        return f"<P> changes by {100 * moved:.2g} % over the stage: no buildup to fit"
    return None


def fit_stage(kind: str, t: np.ndarray, curves: dict[str, np.ndarray], p0: float,
              materials: list[str], rtol: float = 0.0, atol: float = 0.0) -> dict:
    """The fits of one stage: t from the stage start (s); curves: "sample", "visible" and
    each material's <P> over the stage; p0: the thermal polarization; rtol, atol: the
    integrator's tolerances (the curves' own accuracy, for the model choice)."""
    sample = np.asarray(curves["sample"], dtype=float)
    visible = curves.get("visible")
    out: dict = {"kind": kind, "rows": int(len(t)), "P_start": float(sample[0]),
                 "P_end": float(sample[-1]),
                 "enhancement_end": float(sample[-1] / p0) if p0 != 0 else None}
    reason = not_fittable(kind, t, sample, visible, p0)
    out["fitted"] = reason is None
    if reason is not None:
        out["note"] = "not fitted: " + reason
    else:
        out.update(_fits(kind, t, sample, visible, p0, rtol, atol))
    if materials:
        out["materials"] = {}
        for name in materials:
            curve = np.asarray(curves[name], dtype=float)
            sub = not_fittable("buildup", t, curve, None, p0)
            out["materials"][name] = ({"fitted": False, "note": "not fitted: " + sub} if sub else
                                      {"fitted": True, **_fits("buildup", t, curve, None, p0,
                                                               rtol, atol)})
    return out


def _fits(kind, t, sample, visible, p0, rtol, atol) -> dict:
    def noise(p):
        return atol + rtol * float(np.mean(np.abs(p)))
    if kind == "buildup":
        return fit_buildup(t, sample, noise=noise(sample))
    out = fit_decay(t, sample, p0, noise=noise(sample))
    if kind == "resurgence":
        out["resurgence"] = fit_resurgence(t, np.asarray(visible, dtype=float), noise=noise(visible))
    return out


def stage_fits(series: dict[str, np.ndarray], model: TransportModel, starts: np.ndarray,
               rtol: float = 0.0, atol: float = 0.0) -> dict:
    """The fit of every stage by its kind (spindiff.analysis.stages: T_B and P_inf of a
    buildup, T1 toward P0 of a decay, the visible resurgence after a saturation), with time
    measured from the stage start; a stage that cannot give a time constant says why.
    rtol, atol: the integrator's tolerances (the accuracy of the curves)."""
    fits = {}
    t = series["time_s"]
    materials = [k[2:] for k in series if k.startswith("P_") and k[2:] in model.materials]
    for stage, t0, t1 in zip(model.stages, starts[:-1], starts[1:]):
        sel = (t >= t0) & (t <= t1) & (series["stage"] == stage.name)
        if not sel.any():
            continue
        first = int(np.argmax(sel))
        if t[first] > t0 and first > 0 and t[first - 1] == t0:
            sel[first - 1] = True  # no row at the stage start: the state there is the last one
        curves = {"sample": series["P_sample"][sel],
                  **({"visible": series["P_visible"][sel]} if "P_visible" in series else {}),
                  **{m: series[f"P_{m}"][sel] for m in materials}}
        fit = fit_stage(stage_kind(stage.source_on, stage.saturate), t[sel] - t0, curves,
                        model.thermal_polarization, materials, rtol, atol)
        fit["source_on"] = stage.source_on
        fits[stage.name] = fit
    return fits


def stage_ends(series: dict[str, np.ndarray], model: TransportModel) -> dict[str, dict]:
    """Each stage's last row: {"P": {sample, visible, ...}, "enhancement_end"} (the
    enhancement at the end of a buildup is this, not the value after later stages)."""
    out = {}
    P0 = model.thermal_polarization
    for stage in model.stages:
        rows = np.nonzero(series["stage"] == stage.name)[0]
        if not len(rows):
            continue
        i = int(rows[-1])
        P = {k[2:]: float(series[k][i]) for k in series if k.startswith("P_")}
        out[stage.name] = {"time_s": float(series["time_s"][i]), "P_end": P,
                           "enhancement_end": P["sample"] / P0 if P0 != 0 else None}
    return out


def final_enhancement(series: dict, P0: float) -> dict:
    """The enhancement <P>/P0 after the last stage, or null with the reason when P0 = 0 (no
    thermal polarization to compare with)."""
    if P0 == 0:
        return {"enhancement": None,
                "enhancement_note": "undefined: the thermal polarization P0 is 0"}
    return {"enhancement": float(series["enhancement"][-1])}


def _pm(value: float, error: float | None, unit: str = "") -> str:
    err = f" ± {error:.2g}" if error is not None and np.isfinite(error) else ""
    return f"{value:.4g}{err}{unit}"


def describe(name: str, fit: dict) -> str:
    """One line for a stage's fit (as `spindiff run` prints it)."""
    enh = fit.get("enhancement_end")
    end = f"; enhancement at its end {enh:.4g}" if enh is not None else ""
    kind = fit.get("kind", "buildup")
    if fit.get("fitted") is False:
        return f"stage {name} ({kind}): {fit.get('note', 'not fitted')}{end}"
    if kind == "buildup":
        m = fit.get("mono")
        if not m:
            return f"stage {name} (buildup): the fit failed{end}"
        text = (f"stage {name} (buildup): T_B = {_pm(m['T_B_s'], m.get('T_B_stderr_s'), ' s')}, "
                f"P_inf = {_pm(m['P_inf'], m.get('P_inf_stderr'))}")
        best = fit.get("preferred")
        if best == "stretched":
            s = fit["stretched"]
            text += (f"; preferred: stretched, T_B = {_pm(s['T_B_s'], s['T_B_stderr_s'], ' s')}, "
                     f"beta = {_pm(s['beta'], s['beta_stderr'])}")
        elif best == "bi":
            b = fit["bi"]
            text += (f"; preferred: bi-exponential, T_fast = "
                     f"{_pm(b['T_B_fast_s'], b['T_B_fast_stderr_s'], ' s')} "
                     f"({100 * b['fraction_fast']:.2g} %), T_slow = "
                     f"{_pm(b['T_B_slow_s'], b['T_B_slow_stderr_s'], ' s')}")
        elif best is None:
            text += " (not determined by the curve)"
        return text + end
    parts = []
    if kind == "resurgence" and fit.get("resurgence"):
        r = fit["resurgence"]
        best = r.get("preferred") or "mono"
        f = r.get(best)
        if f:
            beta = f", beta = {_pm(f['beta'], f['beta_stderr'])}" if best == "stretched" else ""
            parts.append(f"visible resurgence T_R = {_pm(f['T_R_s'], f['T_R_stderr_s'], ' s')} "
                         f"({best}{beta}), peak <P> visible {r['peak']['P']:.4g} at "
                         f"{r['peak']['time_s']:.4g} s")
    t1, ini = fit.get("T1"), fit.get("initial")
    if t1:
        text = f"T1 toward P0 = {_pm(t1['T1_s'], t1['T1_stderr_s'], ' s')}"
        if ini:
            text += f" (initial {_pm(ini['T1_s'], ini['T1_stderr_s'], ' s')})"
        if fit.get("approach") is not None:
            text += f", {100 * fit['approach']:.2g} % of the way to P0"
        parts.append(("<P> sample " if kind == "resurgence" else "") + text)
    return f"stage {name} ({kind}): " + ("; ".join(parts) or "the fit failed") + end
