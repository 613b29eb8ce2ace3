"""Homogenized matrix: effective source and relaxation rates per volume from the single-cell model.

For particles much larger than the distance between centres the centres cannot be resolved.
The matrix then gets uniform rates (docs/reference/physics.md section 7) that reproduce the kinetics of its
own Wigner-Seitz cell, which are computed, not typed in: for each protocol stage the radial
single-cell model of the matrix (same centres, barrier, source, relaxation, D0, n, T1n, diffusion
model) is run on one process and reduced to

    d<P>/dt = k_eff (P_src,eff - <P>) - R1_eff (<P> - P0),

with R1_eff from the microwave-off decay (mono-exponential fit), k_eff + R1_eff and the plateau
from the buildup with the stage's source, and P_src,eff from the plateau:
P_src,eff = ((k_eff + R1_eff) P_inf - R1_eff P0) / k_eff. Spin diffusion inside the cell
(the barrier, the sqrt(t) early buildup) is thereby folded into k_eff; the fits' rms residuals
are reported, since a stretched single-cell buildup is only approximately mono-exponential.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from .analysis.fits import fit_buildup
from .case.schema import Case
from .model import transport_model
from .simulation import Simulation

#: the trapezoidal rule: numpy 2 renamed np.trapz (deprecated) to np.trapezoid
_trapezoid = getattr(np, "trapezoid", None) or np.trapz


@dataclass(frozen=True)
class EffectiveRates:
    """Uniform rates (1/s) of a homogenized material during one stage."""
    k: float
    P_src: float
    R1: float
    fit_rms: float
    cell_radius: float


def _cell_case(case: Case, stage_index: int, microwaves: bool, duration: float,
               initial: float | str) -> Case:
    raw = case.raw()
    mat = case.material_name
    st = copy.deepcopy(raw["protocol"]["stages"][stage_index])
    for key in ("saturate", "pulses", "first_output"):
        st.pop(key, None)
    if not microwaves:
        for key in ("microwave_nutation", "microwave_power", "microwave_offset", "source",
                    "source_polarization"):
            st.pop(key, None)
    st.update({"microwaves": microwaves, "duration": f"{float(duration)!r} s", "outputs": 80,
               "spacing": "log", "name": "cell"})
    material = {k: v for k, v in raw["materials"][mat].items() if k != "regions"}
    cell = {
        "case": {"name": f"{case.case.name}-cell"},
        "geometry": {"kind": "sphere_cell", "concentration": raw["geometry"]["concentration"]},
        "centres": {k: v for k, v in raw["centres"].items()
                    if k in ("barrier_radius", "barrier", "visible_radius", "barrier_diffusion")},
        "materials": {mat: material},
        "source": raw["source"],
        "protocol": {"initial_polarization": initial, "stages": [st]},
        "mesh": {"model": "radial", "radial_cells": 200},
        "solver": raw.get("solver", {}),
        "output": {"plots": False},
    }
    for key in ("relaxation", "conditions", "diffusion", "electron", "agent"):
        if key in raw:
            cell[key] = raw[key]
    return Case.from_dict(cell, source_dir=case.source_dir)


def _rate_guess(case: Case) -> float:
    """Rapid-diffusion estimate of the cell's total rate (1/s), to size the runs."""
    model = transport_model(case)
    laws = model.laws(model.stages[0])
    b, R = max(case.barrier_radius, 1e-3), case.cell_radius
    r = np.geomspace(b, R, 400)
    w = r**2
    total = laws.paramagnetic_rate(r) + (laws.source_rate(r) if laws.source_rate else 0.0)
    mat = next(iter(model.materials.values()))
    return float(_trapezoid(total * w, r) / _trapezoid(w, r)) + mat.R1_bulk


def _fit(case: Case) -> tuple[float, float, float]:
    """(rate 1/s, plateau, rms) of the radial cell run of `case`."""
    res = Simulation(case, comm=MPI.COMM_SELF).run()
    t, p = res.series["time_s"], res.series["P_sample"]
    fit = fit_buildup(t, p)["mono"]
    if fit is None:
        return 0.0, float(p[-1]), 0.0
    return 1.0 / fit["T_B_s"], fit["P_inf"], fit["rms"] / max(abs(p[-1] - p[0]), 1e-300)


def effective_rates(case: Case) -> dict[str, EffectiveRates]:
    """{stage name: EffectiveRates} of the case's centre-holding material (same numbers on every
    rank: each rank runs the small radial problems itself)."""
    out: dict[str, EffectiveRates] = {}
    cache: dict = {}
    P0 = case.thermal_polarization
    mat = case.materials[case.material_name]
    r1_bulk = 0.0 if math.isinf(mat.T1n) else 1.0 / mat.T1n
    off_case = _cell_case(case, 0, False, 1.0, 0.5)
    guess_off = _rate_guess(off_case)
    if guess_off > 0:
        lam_off, _, rms_off = _fit(_cell_case(case, 0, False, 20.0 / guess_off, 0.5))
    else:
        lam_off, rms_off = 0.0, 0.0
    for i, st in enumerate(case.protocol.stages):
        on = st.microwaves if st.source is None else st.source
        key = (on, st.microwave_nutation, st.microwave_power, st.microwave_offset,
               st.electron_polarization, st.source_polarization)
        if key in cache:
            out[st.name] = cache[key]
            continue
        if not on:
            rates = EffectiveRates(0.0, 0.0, lam_off, rms_off, case.cell_radius)
        else:
            probe = _cell_case(case, i, True, 1.0, "thermal")
            guess = _rate_guess(probe)
            lam_on, p_inf, rms = _fit(_cell_case(case, i, True, 20.0 / max(guess, 1e-12), "thermal"))
            k = max(lam_on - lam_off, 0.0)
            psrc = (lam_on * p_inf - lam_off * P0) / k if k > 0 else 0.0
            rates = EffectiveRates(k, psrc, lam_off, max(rms, rms_off), case.cell_radius)
        cache[key] = rates
        out[st.name] = rates
    return {name: EffectiveRates(r.k, r.P_src, r.R1 - r1_bulk, r.fit_rms, r.cell_radius)
            for name, r in out.items()}
