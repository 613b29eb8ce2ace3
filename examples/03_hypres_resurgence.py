# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # HypRes: the resurgence of the visible polarization
#
# `cases/hypres_tempol.toml`: 1H DNP with 50 mM TEMPOL at 7.05 T and 1.2 K, spin diffusion
# controlled by the electron polarization near each radical, D(r; P_e) (docs/guide/hypres.md).
# Microwaves build up the polarization for 640 s; after a 10 s wait the NMR-visible nuclei
# (r > r_h = 0.9 nm) are saturated, and with the microwaves off the visible polarization
# grows back from the hidden nuclei near the radicals, where diffusion is slow: the
# resurgence. On the 1D radial reduction of the sphere cell, which agrees with 3D here to
# 1e-3; in the test suite (SPINDIFF_EXAMPLE_QUICK=1) with shorter stages.

# %%
import matplotlib.pyplot as plt
import numpy as np

from _paths import QUICK, cases_dir
from spindiff import load_case, run

changes = {"mesh.model": "radial"}
if QUICK:
    changes.update({"protocol.stages.0.duration": "60 s", "protocol.stages.0.outputs": 10,
                    "protocol.stages.2.duration": "60 s", "protocol.stages.2.outputs": 30})
case = load_case(cases_dir() / "hypres_tempol.toml", changes)
for st in case.protocol.stages:
    print(f"stage {st.name:10s} {st.duration:6g} s, microwaves {'on' if st.microwaves else 'off'}"
          + (f", saturate {st.saturate}" if st.saturate else ""))

# %%
result = run(case, out_dir="results/hypres-radial", overwrite=True)
s = result.series
fits = result.summary["fits"]
print(f"buildup T_B = {fits['dnp']['mono']['T_B_s']:.3g} s; final <P>_visible = "
      f"{s['P_visible'][-1]:.4f}")

# %% [markdown]
# The stages one after the other on one time axis; the saturation at the start of the
# resurgence stage is the drop of the visible curve (the hidden nuclei keep theirs).

# %%
t = s["time_s"]
stage = np.asarray(s["stage"])
start = float(t[stage == "resurgence"][0])
fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(10.5, 4.0), layout="constrained")
for key, label, c in (("P_sample", "all nuclei", "C0"), ("P_visible", r"visible ($r > r_h$)", "C3")):
    for name in ("dnp", "wait", "resurgence"):
        m = stage == name
        ax.plot(t[m], s[key][m], "-", color=c, label=label if name == "dnp" else None)
ax.axvline(start, color="0.6", lw=0.8, ls=":")
ax.text(start, 0.98, " saturation", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
ax.set_xlabel("time (s)")
ax.set_ylabel(r"$\langle P \rangle$")
ax.set_title("buildup, wait, saturation and resurgence")
ax.legend(frameon=False, loc="center right")

m = (stage == "resurgence") & (t > start)
ax_r.plot(t[m] - start, s["P_visible"][m], "-", color="C3", label=r"visible ($r > r_h$)")
ax_r.plot(t[m] - start, s["P_sample"][m], "-", color="C0", label="all nuclei")
ax_r.set_xscale("log")
ax_r.set_xlabel("time since the saturation (s)")
ax_r.set_ylabel(r"$\langle P \rangle$")
ax_r.set_title("the resurgence (microwaves off)")
ax_r.legend(frameon=False)
fig.savefig("03_hypres_resurgence.png", dpi=150)
print("figure: 03_hypres_resurgence.png")
