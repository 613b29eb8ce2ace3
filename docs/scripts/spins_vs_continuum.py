"""The same sample as individual nuclei and as a continuum (docs/reference/spins.md).

    .venv/bin/python docs/scripts/spins_vs_continuum.py [cell] [box]      # ~5 min

cell: cases/default.toml (one centre in its 10 mM Wigner-Seitz sphere, 1H at 6.6 nm^-3) run
    as "spins" (12 random samples) and as "radial" twice: with the case's own D0 and
    barrier, and with the D0 and barrier radius that `spindiff derive` finds (the hydrodynamic
    D at the run's cutoff, the buildup-equivalent hole b_eq), visible radius 1.4 nm in all.
box: 24 random centres at 10 mM in a periodic box (the same centres in both models) as
    "spins" (3 samples of nuclei) and as "3d" with the derived D0 and barrier.
Writes docs/figures/spins_vs_continuum_<name>.png and .json (the numbers quoted in the docs).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from spindiff.analysis.fits import fit_buildup
from spindiff.case import load_case
from spindiff.io.figure_style import panels_with_legend, save
from spindiff.runner import run
from spindiff.spins.derive import derive
from spindiff.spins.simulation import SpinSimulation

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "figures"
SEEDS = {"cell": 12, "box": 3}  # samples of nuclei (the box keeps its centres)
R_H = 1.4


def spins_runs(case, seeds: int):
    series, profiles, tbs = [], [], []
    for seed in range(1, seeds + 1):
        c = case.with_changes({"spins.seed": seed})
        sim = SpinSimulation(c, comm=MPI.COMM_SELF, profile_bins=24)
        res = sim.run()
        series.append(res.series)
        tbs.append(fit_tb(res.summary))
        profiles.append((sim.sample.nearest.copy(), sim.P.array.copy()))
    # every sample's nuclei in the same shells of the distance to the nearest electron
    edges = np.linspace(0, max(r.max() for r, _ in profiles), 25)
    shells = []
    for r, p in profiles:
        idx = np.digitize(r, edges) - 1
        shells.append([p[idx == k].mean() if np.any(idx == k) else np.nan for k in range(24)])
    profiles = (0.5 * (edges[1:] + edges[:-1]), np.array(shells))
    t = series[0]["time_s"]
    out = {k: np.array([s[k] for s in series]) for k in ("P_sample", "P_visible")}
    res.summary["T_B_samples_s"] = tbs
    return t, out, profiles, res.summary


def continuum(case, mesh_model: str):
    res = run(case.with_changes({"mesh.model": mesh_model, "mesh.error_estimate": "off"}),
              progress=False)
    xyz = res.coordinates
    if mesh_model == "radial":
        r = xyz[:, 0]
    else:
        from spindiff.geometry.centres import minimum_image
        cen = np.asarray(case.centres.positions if case.centres.positions else [])
        r = np.min(np.linalg.norm(minimum_image(xyz[:, None, :] - cen[None], np.asarray(
            case.box_sides)), axis=2), axis=1) if len(cen) else np.zeros(len(xyz))
    return res.series, r, res.final_field[: len(r)], res.summary


def fit_tb(summary) -> float | None:
    f = next(iter(summary["fits"].values()), {})
    return (f.get("mono") or {}).get("T_B_s")


def figure_of(name: str, t, spins, profiles, runs: dict, numbers: dict) -> None:
    styles = [("C3", "-"), ("C2", "--")]
    with panels_with_legend(3, width=7.2, height=3.3, sharey=False) as (fig, axes, leg):
        for col, a in zip(("P_sample", "P_visible"), axes[:2]):
            m, s = spins[col].mean(0), spins[col].std(0)
            if spins[col].shape[0] > 1:
                a.fill_between(t[1:], (m - s)[1:], (m + s)[1:], color="C0", alpha=0.25, lw=0)
            a.plot(t[1:], m[1:], color="C0", lw=2.0)
            for (ser, _, _, _), (c, ls) in zip(runs.values(), styles):
                a.plot(ser["time_s"][1:], ser[col][1:], color=c, ls=ls)
            a.set_xscale("log")
            a.set_xlabel("t (s)")
            a.set_ylabel(r"$\langle P\rangle_{\rm sample}$" if col == "P_sample"
                         else rf"$\langle P\rangle_{{\rm visible}}$ (r > {R_H:.1f} nm)")
        ax = axes[2]
        r, shells = profiles
        m = np.nanmean(shells, 0)
        sd = np.nanstd(shells, 0) if len(shells) > 1 else np.zeros_like(m)
        ax.errorbar(r, m, yerr=sd, fmt="o", ms=3, color="C0", capsize=2, lw=1)
        for (_, r, p, _), (c, ls) in zip(runs.values(), styles):
            if name == "cell":  # 1D nodes
                o = np.argsort(r)
                ax.plot(r[o], p[o], color=c, ls=ls)
                continue
            edges = np.linspace(0.0, r.max(), 41)  # 3D dofs: mean in shells
            k = np.digitize(r, edges) - 1
            mid = 0.5 * (edges[1:] + edges[:-1])
            m = np.array([p[k == i].mean() if np.any(k == i) else np.nan for i in range(40)])
            ax.plot(mid, m, color=c, ls=ls)
        ax.set_xlabel("r, nearest electron (nm)")
        ax.set_ylabel(f"P at t = {t[-1]:g} s")
        handles = [leg.plot([], [], color="C0", lw=2.0, marker="o", ms=3)[0]]
        nsamp = spins["P_sample"].shape[0]
        labels = [f"individual nuclei ({numbers['nuclei']}; " + (
            f"{nsamp} samples: mean +- sd)" if nsamp > 1 else "one sample)")]
        for label, (c, ls) in zip(runs, styles):
            handles.append(leg.plot([], [], color=c, ls=ls)[0])
            labels.append(label)
        leg.legend(handles, labels, loc="center", ncol=2, frameon=False)
        fig.suptitle(f"{name}: one sample as individual nuclei and as a continuum", fontsize=9)
        save(fig, OUT / f"spins_vs_continuum_{name}.png")


def main(which) -> None:
    base = load_case(ROOT / "cases" / "default.toml").with_changes(
        {"centres.visible_radius": f"{R_H} nm", "protocol.stages.0.outputs": 40})
    cases = {}
    if "cell" in which:
        cases["cell"] = base
    if "box" in which:
        from spindiff.case.schema import Case
        raw = base.raw()
        side = (24 / (10 * 6.02214076e23 * 1e-27)) ** (1 / 3)
        raw["geometry"] = {"kind": "box", "side": f"{side!r} nm", "periodic": True,
                           "concentration": "10 mM"}
        raw["centres"].update({"placement": "random", "count": 24, "seed": 5,
                               "min_distance": "2.5 nm", "barrier": "hole"})
        raw["mesh"].update({"refine": 0, "size_barrier": "0.15 nm", "size_bulk": "0.8 nm",
                            "order": 1})
        raw["protocol"]["stages"][0]["outputs"] = 30
        cases["box"] = Case.from_dict(raw)
    for name, case in cases.items():
        t0 = time.perf_counter()
        spins_case = case.with_changes({"mesh.model": "spins"})
        if name == "box":  # the continuum gets the very same centres
            from spindiff.spins.sample import region_and_centres
            _, cen = region_and_centres(spins_case)
            fixed = {"centres.placement": "positions", "centres.positions": cen.tolist(),
                     "centres.count": None, "centres.seed": None, "centres.min_distance": None}
            case = case.with_changes(fixed)
            spins_case = spins_case.with_changes(fixed)
        d = derive(spins_case)
        D_run = float(np.mean(d.D_grating_run))
        b = d.barrier["equivalent_hole"]["b_eq_nm"]
        t, spins, profiles, summary = spins_runs(spins_case, SEEDS[name])
        derived = case.with_changes({"materials.glass.D0": f"{D_run!r} nm^2/s",
                                     "centres.barrier_radius": f"{b!r} nm",
                                     "centres.visible_radius": f"{max(R_H, b)!r} nm"})
        model = "radial" if name == "cell" else "3d"
        runs = {f"{model}: derived D0 = {D_run:.3g} nm$^2$/s, hole b_eq = {b:.3f} nm":
                continuum(derived, model)}
        if name == "cell":
            runs[f"{model}: the case's D0 = {case.materials['glass'].D0:g} nm$^2$/s, hole b = "
                 f"{case.barrier_radius:g} nm"] = continuum(case, model)
        numbers = {"nuclei": summary["mesh"]["nuclei"], "D_run_nm2_s": D_run,
                   "D_run_tensor": d.D_grating_run.tolist(), "D0_derived": d.D0,
                   "D0_err": d.D0_err, "b_eq_nm": b, "b_eq": d.barrier["equivalent_hole"],
                   "b_half_nm": d.barrier["buildup"]["b_half_nm"],
                   "b_10_nm": d.barrier["buildup"]["b_10_nm"],
                   "b_90_nm": d.barrier["buildup"]["b_90_nm"],
                   "spins": {"P_sample_final": float(spins["P_sample"][:, -1].mean()),
                             "P_sample_final_sd": float(spins["P_sample"][:, -1].std()),
                             "P_visible_final": float(spins["P_visible"][:, -1].mean()),
                             "T_B_s": fit_buildup(t, spins["P_sample"].mean(0))["mono"]["T_B_s"],
                             "T_B_samples_s": summary["T_B_samples_s"]},
                   "continuum": {label: {"P_sample_final": float(s["P_sample"][-1]),
                                         "P_visible_final": float(s["P_visible"][-1]),
                                         "T_B_s": fit_tb(sm)}
                                 for label, (s, _, _, sm) in runs.items()},
                   "wall_s": time.perf_counter() - t0}
        # the visible average at a few times, spins vs the derived continuum
        ser = next(iter(runs.values()))[0]
        for q in (0.1, 1.0, 10.0, 120.0):
            k = int(np.argmin(np.abs(t - q)))
            numbers.setdefault("P_visible_at", {})[f"{t[k]:.3g}"] = {
                "spins": float(spins["P_visible"][:, k].mean()),
                "continuum": float(np.interp(t[k], ser["time_s"], ser["P_visible"]))}
        figure_of(name, t, spins, profiles, runs, numbers)
        (OUT / f"spins_vs_continuum_{name}.json").write_text(json.dumps(numbers, indent=1))
        print(name, json.dumps(numbers, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:] or ["cell", "box"])
