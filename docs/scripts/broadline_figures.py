"""Figures of the broad-line model (docs/reference/quantum.md, section "Broad-line radicals").

    .venv/bin/python docs/scripts/broadline_figures.py [profiles sweeps checks trends]  # ~3 min

Writes docs/figures/broadline_*.png and prints the numbers quoted in the docs.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from spindiff.physics.constants import nuclear_larmor, nuclear_thermal_polarization
from spindiff.physics.quantum import Conditions, lineshape, preset
from spindiff.physics.quantum.broadline import (
    BroadlineSettings,
    b2_mean,
    electron_state,
    nuclear_rates,
    solve_broadline,
)
from spindiff.physics.quantum.broadline_plots import plot_broadline_sweep
from spindiff.physics.quantum.broadline_sweep import broadline_sweep
from spindiff.physics.quantum.plots import _plt
from spindiff.physics.quantum.spectral_diffusion import fast_sd_state

OUT = Path(__file__).resolve().parents[1] / "figures"
TWO_PI = 2.0 * np.pi
MHZ = TWO_PI * 1e6
TEMPOL = preset("TEMPOL")
# T1e of TEMPOL against temperature (assumed power law through the preset's 0.1 s at 1.2 K and
# 0.3 ms at 100 K; nitroxide T1e at 100 K is 0.1-1 ms, at 1.2 K 0.1-1 s)
T1E_EXPONENT = np.log(0.1 / 3e-4) / np.log(100.0 / 1.2)


def t1e_of(temperature: float) -> float:
    return 0.1 * (1.2 / temperature) ** T1E_EXPONENT


def base(**kw) -> Conditions:
    d = dict(b0=7.05, temperature=1.2, concentration_mM=50, omega1=TWO_PI * 50e3,
             mw_offset=-TWO_PI * 200e6, t1e=0.1)
    d.update(kw)
    return Conditions(**d)


def fig_profiles():
    """Burnt-in electron polarization: no eSD, computed eSD, fast eSD."""
    plt = _plt()
    cond = base()
    line = lineshape(TEMPOL, cond)
    fig, ax = plt.subplots(figsize=(7.5, 4.3))
    ax2 = ax.twinx()
    ax2.fill_between(line.eps / MHZ, line.density * MHZ, color="0.88")
    ax2.set_ylabel(r"EPR line $g$ (1/MHz)", color="0.4")
    ax2.set_ylim(0, 1.15 * line.density.max() * MHZ)
    for scale, lab, col in ((0.0, "no eSD", "C0"), (1.0, "computed eSD (s = 1)", "C3")):
        st, model = electron_state(TEMPOL, cond, BroadlineSettings(esd_scale=scale), line)
        nr = nuclear_rates(st, model, nuclear_larmor("1H", 7.05), 0.006)
        ax.plot(st.grid.centres / MHZ, st.p, color=col, lw=1.5,
                label=rf"{lab}: $\beta_D/\beta_L$ = {st.beta_d / model.beta_l:.0f}, $P_n$ = {nr.p_stat:.3f}")
        print(f"profile {lab}: mean P_e {np.sum(st.grid.f * st.p):.4f}, min {st.p.min():.4f}, "
              f"beta ratio {st.beta_d / model.beta_l:.1f}, P_n {nr.p_stat:.4f}, "
              f"{len(st.p)} packets, {st.info['iterations']} iterations")
        if scale == 1.0:
            fs = fast_sd_state(st.grid, model, cond.mw_offset)
            ax.plot(st.grid.centres / MHZ, fs.p, "k:", lw=1.2,
                    label=rf"infinitely fast eSD (Eq. 94): $\beta_D/\beta_L$ = {fs.beta_d / model.beta_l:.0f}")
    ax.plot(st.grid.centres / MHZ, st.p0, "--", color="0.3", lw=0.8, label="thermal")
    ax.axvline(cond.mw_offset / MHZ, color="C2", lw=1.0, label="microwave")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlabel(r"electron offset $\epsilon/2\pi$ (MHz)")
    ax.set_ylabel(r"electron polarization $P_e$")
    ax.set_ylim(-1.05, 1.1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower right")
    ax.set_title(r"TEMPOL 50 mM, 7.05 T, 1.2 K, $\omega_1/2\pi$ = 50 kHz, microwave at -200 MHz", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "broadline_profile_tempol.png", dpi=130)
    plt.close(fig)


def fig_sweeps():
    for name, cond in (("broadline_sweep_tempol_1p2K.png", base()),
                       ("broadline_sweep_tempol_100K.png",
                        base(b0=9.4, temperature=100.0, concentration_mM=10, t1e=3e-4,
                             omega1=TWO_PI * 100e3))):
        t = time.time()
        sw = broadline_sweep(TEMPOL, cond)
        dt = time.time() - t
        e = sw.extrema
        title = (f"TEMPOL {cond.concentration_mM:g} mM, {cond.b0:g} T, {cond.temperature:g} K, "
                 rf"$\omega_1/2\pi$ = {cond.omega1 / TWO_PI / 1e3:g} kHz: extrema {e['separation'] / MHZ:.0f} MHz "
                 rf"apart ($2\omega_n/2\pi$ = {2 * sw.omega_n / MHZ:.0f} MHz)")
        plot_broadline_sweep(sw, lineshape(TEMPOL, cond), OUT / name, title)
        print(f"{name}: {len(sw.offsets)} offsets in {dt:.1f} s; max {e['max'][1]:.4f} "
              f"(eps {e['max'][1] / sw.p_thermal:.1f}) at {e['max'][0] / MHZ:.1f} MHz, min "
              f"{e['min'][1]:.4f} at {e['min'][0] / MHZ:.1f} MHz")


def fig_trends():
    plt = _plt()
    fig, axs = plt.subplots(1, 3, figsize=(13.5, 4.0))
    # (a) extrema separation against field, 1H and 13C
    fields = np.array([3.4, 5.0, 7.05, 9.4, 14.1])
    ax = axs[0]
    widths = []
    for nuc, col in (("1H", "C3"), ("13C", "C0")):
        sep = []
        for b0 in fields:
            cond = base(b0=b0, nucleus=nuc)
            line = lineshape(TEMPOL, cond)
            wn = nuclear_larmor(nuc, b0)
            offs = np.linspace(line.extent[0] - wn, line.extent[1] + wn, 61)
            sep.append(broadline_sweep(TEMPOL, cond, offsets=offs).extrema["separation"] / MHZ)
            if nuc == "1H":
                widths.append(line.width() / MHZ)
        ax.plot(fields, sep, "o-", color=col, label=f"extrema separation, {nuc}")
        ax.plot(fields, [2 * nuclear_larmor(nuc, b) / MHZ for b in fields], ":", color=col,
                label=rf"$2\omega_n/2\pi$ ({nuc})")
        print(f"separation {nuc}:", np.round(sep, 0))
    ax.plot(fields, widths, "k--", label="EPR line width (5-95 %)")
    print("line widths:", np.round(widths, 0))
    ax.set_xlabel(r"$B_0$ (T)")
    ax.set_ylabel("MHz")
    ax.set_title("(a) sweep extrema follow the line width", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    # (b) concentration: per-nucleus rate and per-volume source
    conc = np.array([5.0, 10.0, 20.0, 40.0, 60.0])
    c6, pn = [], []
    for c in conc:
        res = solve_broadline(TEMPOL, base(concentration_mM=c))
        c6.append((res.rates_on.total - res.rates_off.total) * b2_mean(1.0, "1H", TEMPOL.g))
        pn.append(res.rates_on.p_stat)
    c6 = np.array(c6)
    ax = axs[1]
    ax.loglog(conc, c6, "o-", color="C3", label="C6_src per centre (nm^6/s)")
    ax.loglog(conc, c6 * conc / conc[0], "s-", color="C1",
              label="c x C6_src (source per volume, rel.)")
    ax.set_xlabel("TEMPOL concentration (mM)")
    ax.set_ylabel("nm^6/s")
    axb = ax.twinx()
    axb.plot(conc, pn, "^--", color="C2", label="P_n stationary")
    axb.set_ylabel("P_n", color="C2")
    axb.set_ylim(0, 1)
    ax.set_title("(b) concentration speeds the buildup (7.05 T, 1.2 K)", fontsize=10)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = axb.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    print("C6_src against c:", dict(zip(conc, np.round(c6, 5))), "P_n:", np.round(pn, 3))
    # (c) temperature: enhancement with T1e(T)
    temps = np.array([1.2, 2.0, 4.2, 10.0, 20.0, 50.0, 100.0])
    eps_tm, eps_nosd = [], []
    for temp in temps:
        for store, scale in ((eps_tm, 1.0), (eps_nosd, 0.0)):
            cond = base(temperature=temp, t1e=t1e_of(temp))
            st, model = electron_state(TEMPOL, cond, BroadlineSettings(esd_scale=scale))
            nr = nuclear_rates(st, model, nuclear_larmor("1H", 7.05),
                               nuclear_thermal_polarization("1H", 7.05, temp))
            store.append(nr.p_stat / nuclear_thermal_polarization("1H", 7.05, temp))
    ax = axs[2]
    ax.loglog(temps, eps_tm, "o-", color="C3", label="computed eSD")
    ax.loglog(temps, eps_nosd, "s--", color="C0", label="no eSD (hole burning only)")
    tt = np.geomspace(temps[0], temps[-1], 50)
    ax.loglog(tt, [1.0 / nuclear_thermal_polarization("1H", 7.05, x) for x in tt], "k:",
              label="bound P_n = 1: 1 / P_n,thermal")
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel("enhancement P_n / P_n,thermal")
    ax.set_title(f"(c) enhancement falls with T (T1e ~ T^-{T1E_EXPONENT:.2f})", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    print("enhancement against T:", dict(zip(temps, np.round(eps_tm, 1))), "no eSD:",
          np.round(eps_nosd, 1))
    fig.tight_layout()
    fig.savefig(OUT / "broadline_trends.png", dpi=130)
    plt.close(fig)


def fig_checks():
    """Convergence to the fast-eSD limit (Eq. 94) as the eSD kernel is scaled up."""
    plt = _plt()
    cond = base(b0=3.4, concentration_mM=40, omega1=TWO_PI * 20e3, mw_offset=-TWO_PI * 100e6)
    line = lineshape(TEMPOL, cond)
    scales = np.geomspace(1e-3, 1e6, 10)
    dev, dpn = [], []
    for s in scales:
        st, model = electron_state(TEMPOL, cond, BroadlineSettings(esd_scale=s), line)
        fs = fast_sd_state(st.grid, model, cond.mw_offset)
        nr = nuclear_rates(st, model, nuclear_larmor("1H", 3.4), 0.003)
        dev.append(np.max(np.abs(st.p - fs.p)))
        dpn.append(abs(nr.tsf_target - np.tanh(0.5 * fs.beta_d * nuclear_larmor("1H", 3.4))))
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.loglog(scales, dev, "o-", label="max |P_e - P_e(fast eSD)|")
    ax.loglog(scales, dpn, "s-", label="|P_n - tanh(beta_D w_n / 2)| (Eq. 95)")
    ax.loglog(scales, 1e-2 / scales, "k:", label="1 / s")
    ax.axvline(1.0, color="0.5", lw=0.8)
    ax.set_xlabel("eSD scale s (1 = computed Provotorov kernel)")
    ax.set_ylabel("deviation")
    ax.set_title("TEMPOL 40 mM, 3.4 T, 1.2 K: approach to one spin temperature", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(OUT / "broadline_check_fast_esd.png", dpi=130)
    plt.close(fig)
    print("fast-eSD deviation at s = 1:", dev[list(scales).index(scales[scales >= 1][0])])


if __name__ == "__main__":
    import sys
    t0 = time.time()
    which = sys.argv[1:] or ["profiles", "sweeps", "checks", "trends"]
    for name in which:
        globals()[f"fig_{name}"]()
    print(f"total {time.time() - t0:.0f} s")
