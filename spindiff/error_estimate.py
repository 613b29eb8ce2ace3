"""Spatial discretization error of a run, from a second run on another mesh (Richardson).

The quantities Q are the final polarizations <P> (sample, each material) and the fitted
mono-exponential T_B of every stage (sample, each material), plus the whole <P>(t) curves.
P1 elements converge as h^2 (p = 2), so with a second run on a mesh r times finer or coarser

    1D reductions (mesh.radial_cells N -> 2N, r = 2, costs about one more 1D run):
        error of the run = |Q_N - Q_2N| r^p / (r^p - 1) = 4/3 |Q_N - Q_2N|
    3D (every mesh size x 1.6 and x 2.56: about 1/4 and 1/16 of the cells, r = 1.6):
        p measured from the three runs (clamped to [0.5, 2]: thin interface layers make the
        coarse meshes pre-asymptotic), error of the run = 1.25 |Q_1.6 - Q| / (r^p - 1)
        (Roache's grid convergence index with its safety factor 1.25)

reported relative to |Q|. mesh.error_estimate = "auto" estimates the heterogeneous samples
(particle, layers, blend; 1D or 3D), "on" every run, "off" none.
"""
from __future__ import annotations

import math
import time

import numpy as np
from mpi4py import MPI

from .case.schema import Case
from .simulation import RunResult, Simulation

#: warn when an estimated relative error exceeds this
THRESHOLD = 0.01
ORDER = 2.0
COARSEN_3D = 1.6
#: Roache's safety factor of a three-mesh grid convergence index (3D only)
SAFETY = 1.25
AUTO_KINDS = ("particle", "layers", "blend")


def variant(case: Case, serial: bool, level: int = 1) -> tuple[Case, str]:
    """The case on the second mesh (1D: radial_cells doubled; 3D: sizes x 1.6^level) and a
    description."""
    m = case.mesh
    if serial:
        return (case.with_changes({"mesh.radial_cells": 2 * m.radial_cells}),
                f"rerun with mesh.radial_cells = {2 * m.radial_cells}, Richardson p = 2")
    r = COARSEN_3D**level
    changes = {}
    for key in ("size_bulk", "size_barrier", "size_particle", "size_interface"):
        if getattr(m, key) is not None:
            changes[f"mesh.{key}"] = f"{r * getattr(m, key)!r} nm"
    changes["mesh.radial_cells"] = max(10, int(round(m.radial_cells / r)))  # interface layers
    return case.with_changes(changes), f"reruns on meshes coarsened {COARSEN_3D:g}x and " \
        f"{COARSEN_3D**2:.3g}x, Richardson with the measured order (0.5 to 2)"


def measured_order(q: float, q1: float, q2: float) -> float:
    """Convergence order p from three meshes h, r h, r^2 h (values q, q1, q2), clamped to
    [0.5, 2]; 1 when the differences do not shrink monotonically."""
    d1, d2 = abs(q1 - q), abs(q2 - q1)
    if d1 == 0 or d2 <= d1:
        return 1.0 if d1 else ORDER
    return float(min(max(math.log(d2 / d1) / math.log(COARSEN_3D), 0.5), ORDER))


def quantities(summary: dict, series: dict | None = None) -> dict[str, float]:
    """Named scalars compared between the two runs: final <P> and fitted T_B (not of a curve
    that does not change: a conserved total has no buildup time)."""
    out = {f"final P_{k}": float(v) for k, v in summary["final"]["P"].items() if k != "visible"}

    def moves(key: str) -> bool:
        p = None if series is None else series.get(key)
        return p is None or float(np.ptp(p)) > 1e-6 * float(np.max(np.abs(p)))

    for stage, fit in summary.get("fits", {}).items():
        if fit.get("mono") and moves("P_sample"):
            out[f"T_B {stage} sample"] = float(fit["mono"]["T_B_s"])
        if fit.get("T1") and moves("P_sample"):  # a decay toward P0
            out[f"T1 {stage} sample"] = float(fit["T1"]["T1_s"])
        for mat, mfit in (fit.get("materials") or {}).items():
            if mfit.get("mono") and moves(f"P_{mat}"):
                out[f"T_B {stage} {mat}"] = float(mfit["mono"]["T_B_s"])
    return out


def compare(run: RunResult, other: RunResult, factor, coarser: RunResult | None = None) -> dict:
    """Relative error estimates of the run's quantities and curves from the second run
    (factor: |Q_2 - Q| -> error; with `coarser`, a third run, the order is measured per
    quantity and factor(p) is a function of it)."""
    q1, q2 = quantities(run.summary, run.series), quantities(other.summary, other.series)
    q3 = quantities(coarser.summary) if coarser is not None else {}
    errs, orders = {}, {}
    for k in q1:
        if k not in q2 or q1[k] == 0 or not (math.isfinite(q1[k]) and math.isfinite(q2[k])):
            continue
        f = factor
        if coarser is not None:
            orders[k] = measured_order(q1[k], q2[k], q3.get(k, q2[k]))
            f = factor(orders[k])
        errs[k] = f * abs(q2[k] - q1[k]) / abs(q1[k])
    s1, s2 = run.series, other.series
    curves = {}
    f_curve = factor(min(orders.values(), default=1.0)) if coarser is not None else factor
    if len(s1["time_s"]) == len(s2["time_s"]):
        for key in s1:
            if key.startswith("P_") and key != "P_visible" and key in s2:
                scale = float(np.max(np.abs(s1[key])))
                if scale > 0:
                    curves[key] = f_curve * float(np.max(np.abs(s2[key] - s1[key]))) / scale
    worst = max(errs, key=errs.get) if errs else None
    out = {"relative": errs, "curves_relative_to_max": curves,
           "max_relative": errs[worst] if worst else 0.0, "worst": worst}
    if orders:
        out["measured_order"] = orders
    return out


def estimate(case: Case, run: RunResult, sim: Simulation, comm: MPI.Comm = MPI.COMM_WORLD,
             **options) -> dict:
    """The `spatial_error` entry of summary.json for a finished run of `case` (sim: its
    Simulation, for the model and whether it is a 1D reduction; options: the run's initial,
    forcing, fixed_dt, passed to the second run)."""
    mode = case.mesh.error_estimate
    serial = sim.domain.serial
    if mode == "off" or (mode == "auto" and case.geometry.kind not in AUTO_KINDS):
        return {"method": "off", "note": "mesh.error_estimate = \"on\" estimates it"}
    wall = time.perf_counter()
    second, method = variant(case, serial)
    other = Simulation(second, model=sim.model, comm=comm, **options).run()
    if serial:
        cmp = compare(run, other, 2.0**ORDER / (2.0**ORDER - 1.0))
        dofs = [other.summary["mesh"]["dofs"]]
    else:
        third = Simulation(variant(case, serial, 2)[0], model=sim.model, comm=comm,
                           **options).run()
        cmp = compare(run, other, lambda p: SAFETY / (COARSEN_3D**p - 1.0), third)
        dofs = [other.summary["mesh"]["dofs"], third.summary["mesh"]["dofs"]]
    out = {"method": method, **cmp, "threshold": THRESHOLD, "other_mesh_dofs": dofs,
           "extra_wall_time_s": time.perf_counter() - wall}
    out["exceeds_threshold"] = bool(out["max_relative"] > THRESHOLD)
    return out


def warning(err: dict) -> str | None:
    """One line when the estimated error exceeds the threshold, else None."""
    if not err.get("exceeds_threshold"):
        return None
    return (f"warning: estimated spatial error of {err['worst']} is {err['max_relative']:.2%} "
            f"(> {THRESHOLD:.0%}; {err['method']}): refine the mesh (mesh.radial_cells, "
            f"mesh.size_*)")
