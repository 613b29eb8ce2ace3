# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # The Python API: step a Simulation yourself
#
# `spindiff run CASE` is `spindiff.run(load_case(CASE))`. From Python the same case can be
# changed (`case.with_changes`, validated like a case file), stepped to chosen times
# (`Simulation.advance_to`), read (`averages`) and run on to the end of its protocol (`run`),
# with the time series as a pandas DataFrame (`to_dataframe`).
#
# Here: the default case (1H buildup around one radical in a 10 mM glass, one spherical
# Wigner-Seitz cell) on its 1D radial reduction, for two spin-diffusion coefficients.

# %%
import matplotlib.pyplot as plt
import numpy as np

from _paths import QUICK, cases_dir
from spindiff import Simulation, load_case, run

case = load_case(cases_dir() / "default.toml", {"mesh.model": "radial"})
print(case.case.description)
print(f"cell radius {case.cell_radius:.3f} nm, D0 = {case.materials['glass'].D0} nm^2/s, "
      f"buildup stage {case.end_time:g} s")

# %% [markdown]
# `run` writes a results folder (`results/default-radial/`: case.toml, timeseries.csv,
# summary.json, buildup.png) and returns the series and the summary, with the fitted buildup
# time of each stage.

# %%
result = run(case, out_dir="results/default-radial", overwrite=True)
fit = result.summary["fits"]["buildup"]["mono"]
print(f"T_B = {fit['T_B_s']:.3g} s, P_inf = {fit['P_inf']:.4f}")

# %% [markdown]
# A slower spin diffusion, stepped by hand: `advance_to(t)` integrates to t (processing the
# protocol's events on the way), `averages()` gives <P> over the sample and the NMR-visible
# region at that moment, and `run()` goes on to the end of the protocol.

# %%
slower = case.with_changes({"materials.glass.D0": "1 nm^2/s"})
sim = Simulation(slower)
times = np.geomspace(0.01, 10.0 if QUICK else 60.0, 8 if QUICK else 25)
stepped = []
for t in times:
    sim.advance_to(float(t))
    stepped.append(sim.averages()["visible"])
    print(f"t = {sim.t:8.3f} s   <P>_visible = {stepped[-1]:.5f}")
slower_result = sim.run()
frame = slower_result.to_dataframe()
print(frame.head())

# %%
fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
ax.plot(result.series["time_s"][1:], result.series["P_visible"][1:], "-", color="C0",
        label=r"$D_0$ = 5 nm$^2$/s (spindiff.run)")
ax.plot(frame["time_s"][1:], frame["P_visible"][1:], "-", color="C1",
        label=r"$D_0$ = 1 nm$^2$/s (Simulation.run)")
ax.plot(times, stepped, "o", color="C1", mfc="none", label="advance_to(t), averages()")
ax.set_xscale("log")
ax.set_xlabel("time (s)")
ax.set_ylabel(r"$\langle P \rangle$ of the NMR-visible nuclei")
ax.set_title("1H buildup, 10 mM radical glass (radial model)")
ax.legend(frameon=False)
fig.savefig("01_python_api.png", dpi=150)
print("figure: 01_python_api.png")
