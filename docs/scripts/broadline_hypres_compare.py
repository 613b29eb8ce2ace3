"""HypRes with the hand-typed source (cases/hypres_tempol.toml) and with the source computed by
the broad-line model (cases/hypres_tempol_computed.toml): figure and table for docs/guide/hypres.md.

    .venv/bin/python docs/scripts/broadline_hypres_compare.py      # ~10 s (radial; the
                                                                   # broad-line table ~20 s once)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIG = ROOT / "docs" / "figures"
CASES = {"hand-typed": "hypres_tempol.toml", "broad-line model": "hypres_tempol_computed.toml"}


def main() -> None:
    from spindiff import rates
    from spindiff.analysis.fits import time_to_fraction
    from spindiff.case import load_case
    from spindiff.figure_style import panels_with_legend, save, thin_log_ticks
    from spindiff.runner import run
    print("| source | C6_src (nm^6/s) | P_src | C6_rel (nm^6/s) | <P> after DNP | t63 of DNP (s) | "
          "t50 (s) | t90 (s) | peak visible P |")
    print("|---|---|---|---|---|---|---|---|---|")
    with panels_with_legend(2, height=3.6, legend_height=0.2, sharey=False) as (fig, axes, leg):
        ax, ax2 = axes
        for (label, name), col in zip(CASES.items(), ("C0", "C3")):
            case = load_case(ROOT / "cases" / name, {"mesh.model": "radial"})
            if case.source.model == "rates":
                t = rates.tables_for_case(case)["dnp"]
                c6s, psrc, c6r = t.c6_src, float(t.p_src[0]), t.c6_rel
            else:
                c6s, psrc, c6r = case.source.C6, case.source.polarization, case.relaxation.C6
            s = run(case, progress=False).series
            dnp = s["stage"] == "dnp"
            td, pd = s["time_s"][dnp], s["P_sample"][dnp]
            tb = time_to_fraction(td, pd - pd[0], 1.0 - np.exp(-1.0))
            sel = s["stage"] == "resurgence"
            tr = s["time_s"][sel] - s["time_s"][sel][0]
            pv = s["P_visible"][sel]
            k = int(np.argmax(pv))
            t50, t90 = (time_to_fraction(tr[: k + 1], pv[: k + 1], f) for f in (0.5, 0.9))
            print(f"| {label} | {c6s:.3g} | {psrc:.3f} | {c6r:.3g} | {pd[-1]:.4f} | {tb:.3g} | "
                  f"{t50:.3g} | {t90:.3g} | {pv[k]:.4f} |")
            relax = (f"paramagnetic $C_6$ = {_num(c6r)} nm$^6$/s at $P_e$ = 0, "
                     "$\\times$ (1 - $P_e^2$) of the stage" if case.source.model != "rates" else
                     f"paramagnetic $C_6$ = {_num(c6r)} nm$^6$/s (microwaves off)")
            legend = f"{label}: source $C_6$ = {_num(c6s)} nm$^6$/s toward {psrc:.2f}; {relax}"
            ax.plot(td, 100 * pd, color=col, marker=".", markersize=3, label=legend)
            ax.axvline(tb, color=col, lw=0.8, ls=":")
            after = tr > 0                      # log axis: the saturation instant is t = 0
            ax2.semilogx(tr[after], 100 * pv[after], color=col, label=legend)
            ax2.plot(tr[k], 100 * pv[k], "o", color=col, markersize=3.5)
        ax.set_xlabel("time in the DNP stage (s)")
        ax.set_ylabel("sample $^1$H polarization (%)")
        ax.set_title("(a) DNP, 50 mM TEMPOL, 7.05 T, 1.2 K (dotted: $t_{63}$)")
        ax.set_ylim(bottom=0)
        ax2.set_xlabel("time after saturation of the visible spins (s)")
        ax2.set_ylabel("visible $^1$H polarization (%)")
        ax2.set_title("(b) resurgence, microwaves off (dot: peak)")
        thin_log_ticks(ax2.xaxis, 1e-3, 600.0)
        leg.legend(*ax.get_legend_handles_labels(), loc="center")
        save(fig, FIG / "broadline_hypres_compare.png")


def _num(x: float) -> str:
    """Two significant digits, powers of ten in mathtext (1.7e-05 -> 1.7 x 10^-5)."""
    m, _, e = f"{x:.2g}".partition("e")
    return m if not e else f"{m}$\\times10^{{{int(e)}}}$"


if __name__ == "__main__":
    main()
