# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # A concentration series fitted from spectrometer files
#
# Four buildups of a radical glass at 1, 5, 10 and 40 mM, as the spectrometer software writes
# them: TopSpin's T1/T2 export (`ct1t2.txt`), a Bruker pseudo-2D experiment folder (integrated
# here over a chemical-shift range; needs nmrglue), a headerless table in ms and a CSV with its
# own column names. The data are SYNTHETIC (`cases/fit_example/data/make_spectrometer_data.py`:
# the model for D0 = 5 nm^2/s, C6 = 4 nm^6/s, T1n = 200 s plus noise), so the fit can be
# checked against the truth. The fit file, `cases/fit_example/fit_spectrometer.toml`, says
# which file is which data set and which case keys are free (docs/guide/fitting.md).

# %%
import matplotlib.pyplot as plt
import nmrglue as ng
import numpy as np
import tomllib

import spindiff.fit
from _paths import QUICK, cases_dir
from spindiff.fit.spec import load_fit

fit_file = cases_dir() / "fit_example" / "fit_spectrometer.toml"
spec = load_fit(fit_file)
for d in spec.datasets:
    print(f"{d.name:5s} {d.quantity:12s} {len(d.time_s)} points, t = {d.time_s[0]:.3g} ... "
          f"{d.time_s[-1]:.3g} s, from {d.data_path.relative_to(cases_dir())}")

# %% [markdown]
# The Bruker folder holds one processed spectrum per row of its vdlist; each is integrated
# between the two shifts of the data set's `ppm_range`.

# %%
folder = cases_dir() / "fit_example" / "data" / "5mM_pseudo2d"
dic, spectra = ng.bruker.read_pdata(str(folder / "pdata" / "1"))
p = dic["procs"]
ppm = p["OFFSET"] - np.arange(p["SI"]) * p["SW_p"] / (p["SF"] * p["SI"])
raw = tomllib.loads(fit_file.read_text())
lo, hi = sorted(next(d for d in raw["datasets"] if d["name"] == "5mM")["ppm_range"])

# %% [markdown]
# The fit: three shared case keys and a scale for each data set in arbitrary units. In the
# test suite (SPINDIFF_EXAMPLE_QUICK=1) the optimiser takes one step on a coarser mesh.

# %%
if QUICK:
    spec.max_evaluations, spec.solver_rtol, spec.solver_atol = 1, 1e-5, 1e-7
    for d in spec.datasets:
        d.overrides["mesh.radial_cells"] = 40
result = spindiff.fit.fit(spec, out="results/spectrometer-fit", overwrite=True)
print("\n".join(result.lines()))
truth = {"materials.glass.D0": 5.0, "source.C6": 4.0, "materials.glass.T1n": 200.0}

# %%
fig, (ax_s, ax_b) = plt.subplots(1, 2, figsize=(10.5, 4.2), layout="constrained",
                                 gridspec_kw={"width_ratios": [1, 1.35]})
rows = [0, 20, 30, 40, 59]
colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(rows)))
vd = spec.datasets[1].time_s
for k, c in zip(rows, colours):
    ax_s.plot(ppm, spectra[k] / 1e4, color=c, label=f"vd = {vd[k]:.3g} s")
ax_s.axvspan(lo, hi, color="0.9", zorder=0, label="integrated")
ax_s.set_xlim(ppm.max(), ppm.min())
ax_s.set_xlabel("1H chemical shift (ppm)")
ax_s.set_ylabel("intensity (10$^4$ a.u.)")
ax_s.set_title(f"5 mM: rows of the pseudo-2D (2rr), integrated\nfrom {hi:g} to {lo:g} ppm (grey)",
               fontsize=10)
ax_s.legend(frameon=False, fontsize=8, loc="upper left")

for (d, model), c in zip(zip(spec.datasets, result.curves), plt.cm.plasma(np.linspace(0, 0.8, 4))):
    scale = result.parameters.get(f"scale[{d.name}]", {"value": 1.0})["value"]
    ax_b.plot(d.time_s, d.value / scale, "o", ms=3, color=c, mfc="none",
              label=f"{d.name} ({d.data_path.name})")
    ax_b.plot(model["time_s"], model["model"] / scale, "-", color=c)
ax_b.set_xscale("log")
ax_b.set_xlabel("buildup time (s)")
ax_b.set_ylabel(r"$\langle P \rangle$ (signals divided by their fitted scale)")
fitted = ", ".join(f"{k.split('.')[-1]} = {result.parameters[k]['value']:.3g}" for k in truth)
ax_b.set_title(f"fit ({fitted}; truth 5, 4, 200)", fontsize=9)
ax_b.legend(frameon=False, fontsize=8, title="data: points, fit: lines", title_fontsize=8)
fig.savefig("02_fit_spectrometer_files.png", dpi=150)
print("figure: 02_fit_spectrometer_files.png")
