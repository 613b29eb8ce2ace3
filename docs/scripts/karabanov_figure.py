"""Karabanov et al. (PRA 2018) Fig. 2(d,e) on individual nuclei: cases/karabanov_cross_effect.toml.

    .venv/bin/python docs/scripts/karabanov_figure.py [TRAJECTORIES]      # ~2 min at 1000

The rate equations (spindiff's spins model: PETSc, adaptive BDF2) and kinetic Monte Carlo
(spindiff.physics.spins.kmc, TRAJECTORIES trajectories, default 1000) of the same rates, with
the nuclear flip-flops (d != 0) and without them (d = 0, spins.flipflops = false). Left: the
total nuclear polarization relative to the electrons' thermal polarization p, kMC mean with
its 95 % band; right: the protons (projected on the x-z plane, B0 along z) coloured by P/p at
10 s and 220 s (rate equations), the two electrons in red. Writes
docs/figures/karabanov_cross_effect.png and prints the numbers quoted in docs/reference/spins.md.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from spindiff.case import load_case
from spindiff.io.figure_style import figure, save
from spindiff.physics.electron import thermal_electron_polarization
from spindiff.physics.spins import kmc
from spindiff.physics.spins.operator import laplacian
from spindiff.runner import model_for_case
from spindiff.spins.simulation import SpinSimulation

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "figures"


def run_both(case, trajectories: int) -> dict:
    model = model_for_case(case, MPI.COMM_SELF)
    sim = SpinSimulation(case, model=model, comm=MPI.COMM_SELF)
    snaps = {}
    for t in (10.0, 220.0):
        sim.advance_to(t)
        snaps[t] = sim.P.array.copy()
    sim.run()
    series = sim.series
    rates = sim.sample.stage_rates(model.stages[0])
    L = laplacian(rates.builder)
    t0 = time.perf_counter()
    res = kmc.run(kmc.pair_list(L), rates.kappa, rates.source / rates.kappa,
                  np.full(sim.sample.count, model.initial_polarization), series["time_s"][1:],
                  trajectories=trajectories, seed=7, masks={"all": np.ones(sim.sample.count, bool)})
    return {"sim": sim, "series": series, "snaps": snaps, "kmc": res,
            "kmc_s": time.perf_counter() - t0, "eta1": rates.extras.get("eta1_min"),
            "gamma_over_r2": rates.extras.get("gamma_over_r2_max"),
            "p_e": sim.sample.stage_rates(model.stages[0]).electrons.polarization.tolist()}


def main(trajectories: int = 1000) -> None:
    case = load_case(ROOT / "cases" / "karabanov_cross_effect.toml")
    c = case.conditions
    p = thermal_electron_polarization(c.B0, c.temperature, 2.0023)
    runs = {"d $\\neq$ 0": run_both(case, trajectories),
            "d = 0": run_both(case.with_changes({"spins.flipflops": False}),
                                         trajectories)}
    numbers = {"p_electron_thermal": p}
    with figure(ncols=3, width=7.2, height=2.9) as (fig, axes):
        ax = axes[0, 0]
        for (label, r), col in zip(runs.items(), ("C0", "C3")):
            s, k = r["series"], r["kmc"]
            m, e = k.avg_mean["all"] / p, 2 * k.avg_std["all"] / p
            ax.fill_between(k.times, m - e, m + e, color=col, alpha=0.3, lw=0)
            ax.plot(k.times, m, "o", ms=2.2, color=col, label=f"kMC, {label}")
            ax.plot(s["time_s"], s["P_sample"] / p, "-", color=col, lw=1.0,
                    label=f"rate equations, {label}")
            label = "with nuclear flip-flops" if "neq" in label else "without (d = 0)"
            z = (k.avg_mean["all"] - s["P_sample"][1:]) / np.maximum(k.avg_std["all"], 1e-300)
            numbers[label] = {"P_final_over_p": float(s["P_sample"][-1] / p),
                              "kmc_P_final_over_p": float(m[-1]),
                              "kmc_stderr_final_over_p": float(k.avg_std["all"][-1] / p),
                              "max_abs_z": float(np.max(np.abs(z))),
                              "T_B_s": r["sim"].summary()["fits"]["buildup"]["mono"]["T_B_s"],
                              "kmc_events": int(k.events), "kmc_wall_s": r["kmc_s"],
                              "eta1_min": r["eta1"], "gamma_over_r2_max": r["gamma_over_r2"],
                              "p_e_steady": r["p_e"]}
        ax.set_xlabel("t (s)")
        ax.set_ylabel(r"$\langle P_n\rangle / p$")
        ax.set_title(f"118 protons, {trajectories} kMC trajectories")
        ax.legend(loc="upper left", fontsize=6.5)
        r = runs["d $\\neq$ 0"]
        x = r["sim"].sample.x
        e = r["sim"].sample.electron_xyz
        vmax = max(float(np.max(v)) for v in r["snaps"].values()) / p
        for ax, t in zip(axes[0, 1:], (10.0, 220.0)):
            val = r["snaps"][t] / p
            sc = ax.scatter(x[:, 0], x[:, 2], c=val, s=8 + 60 * np.clip(val / vmax, 0, 1),
                            cmap="cividis", vmin=0, vmax=vmax, edgecolors="k", linewidths=0.2)
            ax.scatter(e[:, 0], e[:, 2], s=70, color="red", label="electrons")
            ax.set_aspect("equal")
            ax.set_xlabel("x (nm)")
            ax.set_ylabel("z (nm), along B$_0$")
            ax.set_title(f"t = {t:g} s")
        fig.colorbar(sc, ax=axes[0, 2], label="P / p (d $\\neq$ 0)", shrink=0.85)
        save(fig, OUT / "karabanov_cross_effect.png")
    print(json.dumps(numbers, indent=1))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
