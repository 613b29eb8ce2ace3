# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Relayed DNP into particles: buildup time against particle size
#
# `cases/particle_size_series.toml`: protonated crystals (D_p = 300 nm^2/s, T1n = 1e6 s) in a
# homogenized 20 mM radical glass, polarized only from the glass across their surface. Small
# crystals follow the glass; large ones are limited by spin diffusion inside them, with
# T_B -> T_D = R_p^2 / (pi^2 D_p) (docs/reference/heterogeneous.md). `spindiff.particle_series.run_series`
# runs the case at each size on the 1D reduction (what `spindiff particle-series` does); every
# run lasts at least 6 T_D so that the large crystals reach their plateau.

# %%
import matplotlib.pyplot as plt
import numpy as np

from _paths import QUICK, cases_dir
from spindiff import load_case
from spindiff.particle_series import run_series

case = load_case(cases_dir() / "particle_size_series.toml")
sizes = [20.0, 200.0, 2000.0] if QUICK else list(np.geomspace(10.0, 5000.0, 10))
info = run_series(case, sizes, out_dir="results/particle-series", overwrite=True)
for r in info["rows"]:
    print(f"R_p = {r['R_p_nm']:8.4g} nm: T_B crystal {r['T_B_particle_s']:9.4g} s, glass "
          f"{r['T_B_matrix_s']:7.4g} s, T_D {r['T_D_s']:9.4g} s, enhancement of the crystal "
          f"{r['enhancement_particle']:.4g}")

# %%
rows = info["rows"]
R = np.array([r["R_p_nm"] for r in rows])
fig, (ax, ax_e) = plt.subplots(1, 2, figsize=(10.5, 4.0), layout="constrained")
ax.loglog(R, [r["T_B_particle_s"] for r in rows], "o-", color="C0", label="crystal")
ax.loglog(R, [r["T_B_matrix_s"] for r in rows], "s-", color="C1", label="glass")
ax.loglog(R, [r["T_D_s"] for r in rows], "--", color="0.5",
          label=r"$T_D = R_p^2 / (\pi^2 D_p)$")
ax.loglog(R, [r["T_B_diffusion_limited_s"] or np.nan for r in rows], ":", color="0.2",
          label="diffusion-limited crystal (surface\nheld polarized; Crank's series)")
ax.set_xlabel(r"crystal radius $R_p$ (nm)")
ax.set_ylabel(r"buildup time $T_B$ (s)")
ax.set_title("mono-exponential buildup time of each material")
ax.legend(frameon=False, fontsize=8)
t_end = info["case_duration_s"]
for key, label, marker, colour in (("particle", "crystal", "o", "C0"),
                                   ("matrix", "glass", "s", "C1"),
                                   ("sample", "whole sample", "^", "k")):
    ax_e.semilogx(R, [r[f"enhancement_{key}_at_case_end"] for r in rows], marker + "-",
                  color=colour, label=label)
ax_e.set_xlabel(r"crystal radius $R_p$ (nm)")
ax_e.set_ylabel(r"enhancement $\langle P \rangle / P_0$")
ax_e.set_ylim(bottom=0)
ax_e.set_title(f"enhancement after {t_end:g} s of microwaves")
ax_e.legend(frameon=False, fontsize=8)
fig.savefig("04_particle_size_series.png", dpi=150)
print("figure: 04_particle_size_series.png")
