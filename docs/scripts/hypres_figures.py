"""Figure and table for docs/guide/hypres.md: HypRes resurgence at several microwave powers (the
D(r; P_e) family there is drawn by `spindiff plot-diffusion cases/hypres_tempol.toml`).

    .venv/bin/python docs/scripts/hypres_figures.py [--model radial|3d]   # ~5 s radial

The resurgence stage is run with the microwaves off (thermal P_e) and on at 5, 20, 50 and
118 mW (P_e from the Bloch steady state of the case's [electron] table), with the DNP source
off during the resurgence so that only spin diffusion moves polarization.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "cases" / "hypres_tempol.toml"
FIG = ROOT / "docs" / "figures"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="radial", choices=["radial", "3d"])
    args = p.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spindiff.analysis.fits import time_to_fraction
    from spindiff.case import load_case
    from spindiff.model import transport_model
    from spindiff.runner import run

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    rows = []
    for power in (None, "5 mW", "20 mW", "50 mW", "118 mW"):
        ov = {"mesh.model": args.model}
        if power:
            ov.update({"protocol.stages.2.microwaves": True, "protocol.stages.2.source": False,
                       "protocol.stages.2.microwave_power": power})
        case = load_case(CASE, ov)
        pe = transport_model(case).stages[2].electron_polarization
        s = run(case, progress=False).series
        sel = s["stage"] == "resurgence"
        t = s["time_s"][sel] - s["time_s"][sel][0]
        pv = s["P_visible"][sel]
        k = int(np.argmax(pv))
        t50, t90 = (time_to_fraction(t[: k + 1], pv[: k + 1], f) for f in (0.5, 0.9))
        rows.append((power or "0 mW (off)", pe, t50, t90, pv[k]))
        ax.semilogx(np.maximum(t, 1e-3), 100 * pv, label=f"{power or 'microwaves off'}: P_e = {pe:.4f}")
    ax.set_xlabel("time after saturation of the visible spins (s)")
    ax.set_ylabel("visible 1H polarization (%)")
    ax.set_title("HypRes, 50 mM TEMPOL, 7.05 T, 1.2 K (resurgence, source off)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    FIG.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIG / "hypres_resurgence.png")
    print("| microwave power | P_e | t50 (s) | t90 (s) | peak visible P |")
    print("|---|---|---|---|---|")
    for power, pe, t50, t90, top in rows:
        print(f"| {power} | {pe:.4f} | {t50:.3g} | {t90:.3g} | {top:.4f} |")


if __name__ == "__main__":
    main()
