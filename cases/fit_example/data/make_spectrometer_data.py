"""Write the SYNTHETIC spectrometer files of the fit example from the synthetic CSVs beside
this folder (../buildup_<c>mM.csv: buildup.toml's <P>_sample for D0 = 5 nm^2/s, C6 = 4 nm^6/s,
T1n = 200 s, plus noise of 0.004; ../make_data.py): the same points in the four formats that
`spindiff fit` reads (docs/guide/fitting.md, "Data files"), as a spectrometer would write them:

  1mM_ct1t2.txt     TopSpin's T1/T2 export: Tau, Expt = SIGNAL_PER_P x P (Calc and
                    Difference from a mono-exponential fit, as TopSpin's own)
  5mM_pseudo2d/     a Bruker pseudo-2D experiment folder (acqus, acqu2s, vdlist,
                    pdata/1/2rr, procs, proc2s), written with nmrglue: row k is
                    SIGNAL_PER_P x P_k times a Gaussian line at 5 ppm (FWHM 60 ppm) whose
                    integral over [150, -140] ppm is 1
  10mM.txt          a headerless table: time in ms, P, sigma
  40mM.csv          a CSV with a header of its own: "delay (s)", "intensity (a.u.)",
                    "error", intensity = SIGNAL_PER_P x P

Run from this folder: python make_spectrometer_data.py (needs nmrglue).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIGNAL_PER_P = 2.5e6          # integral (a.u.) per unit polarization
NOTE = "SYNTHETIC (spindiff cases/fit_example/data/make_spectrometer_data.py)"
SF, SW_HZ, SI = 300.13, 200e3, 256          # 1H at 7.05 T; spectral width; points
LINE_PPM, LINE_FWHM_PPM, RANGE_PPM = 5.0, 60.0, (150.0, -140.0)


def measured(c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.loadtxt(HERE.parent / f"buildup_{c}mM.csv", delimiter=",", skiprows=2)
    return a[:, 0], a[:, 1], a[:, 2]


def tau_text(t: float) -> str:
    """A time as TopSpin prints it: ms below 1 s ("337.263m"), else s ("12.346s")."""
    return f"{t * 1e3:.3f}m" if t < 1.0 else f"{t:.4f}s"


def write_ct1t2(path: Path, t: np.ndarray, y: np.ndarray) -> None:
    from scipy.optimize import curve_fit

    def mono(x, i0, t1):
        return i0 * (1.0 - np.exp(-x / t1))
    (i0, t1), _ = curve_fit(mono, t, y, p0=(y.max(), 30.0))
    calc = mono(t, i0, t1)
    sd = float(np.std(y - calc))
    lines = [f"Dataset : {NOTE}", "AREA fit :", "I[t]=I[0]*(1-exp(-t/T1))", "",
             f"{len(t)} points for Integral 1, Integral Region from {RANGE_PPM[0]:.3f} to "
             f"{RANGE_PPM[1]:.3f} ppm", "Results       Comp. 1", "",
             f"I[0]    =     {i0:.4e}", f"T1      =     {tau_text(t1)}", f"SD      =     {sd:.4e}",
             "", "     Point        Tau          Expt         Calc   Difference"]
    for k, (tk, yk, ck) in enumerate(zip(t, y, calc), start=1):
        lines.append(f"{k:10d}{tau_text(tk):>11s} {yk:13.5e} {ck:12.4e}{yk - ck:13.4e}")
    lines.append("=" * 61)
    path.write_text("\n".join(lines) + "\n")


def ppm_axis() -> np.ndarray:
    """TopSpin's axis: point k at OFFSET - k SW_p / (SF SI), OFFSET centred on the carrier."""
    offset = 0.5 * SW_HZ / SF
    return offset - np.arange(SI) * SW_HZ / (SF * SI)


def line_shape() -> np.ndarray:
    """Gaussian at LINE_PPM whose integral over RANGE_PPM (sum x ppm step) is 1."""
    ppm = ppm_axis()
    g = np.exp(-4.0 * np.log(2.0) * ((ppm - LINE_PPM) / LINE_FWHM_PPM) ** 2)
    inside = (ppm <= max(RANGE_PPM)) & (ppm >= min(RANGE_PPM))
    return g / (g[inside].sum() * SW_HZ / (SF * SI))


def write_pseudo2d(folder: Path, t: np.ndarray, amplitudes: np.ndarray,
                   vd_text: list[str] | None = None) -> None:
    """A Bruker pseudo-2D EXPNO with processed rows amplitudes[k] x line_shape()."""
    import nmrglue as ng
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rows = np.outer(amplitudes, line_shape())
    head = {"_coreheader": [f"##TITLE= {NOTE}", "##JCAMPDX= 5.0"], "_comments": []}
    acqus = {**head, "NUC1": "1H", "PULPROG": "satrect1",
             "SFO1": SF, "BF1": SF, "O1": 0.0, "SW_h": SW_HZ, "SW": SW_HZ / SF, "TD": 2 * SI,
             "AQ_mod": 3, "DECIM": 1, "DSPFVS": 20, "GRPDLY": 0.0, "BYTORDA": 0, "DTYPA": 0,
             "NS": 8, "D": [0.0] * 32, "P": [0.0] * 32}
    acqus["D"][1] = 2.0          # recycle delay
    acqus["P"][1] = 2.5          # 90-degree pulse, us
    acqu2s = {**head, "TD": len(t), "NUC1": "1H", "SFO1": SF,
              "SW": 1.0, "FnMODE": 0, "AQ_mod": 0}
    # stored int32 = value x 2^-NC_proc, the largest between 2^28 and 2^29 (TopSpin's scaling)
    nc_proc = int(np.floor(np.log2(np.max(np.abs(rows))))) - 28
    procs = {**head, "SI": SI, "XDIM": SI, "SF": SF, "SW_p": SW_HZ,
             "OFFSET": float(ppm_axis()[0]), "NC_proc": nc_proc, "BYTORDP": 0, "DTYPP": 0,
             "AXNUC": "1H", "PPARMOD": 1}
    proc2s = {**head, "SI": len(t), "XDIM": len(t), "SF": SF, "SW_p": 1.0, "OFFSET": 0.0,
              "AXNUC": "off"}
    dic = {"acqus": acqus, "acqu2s": acqu2s, "procs": procs, "proc2s": proc2s}
    ng.bruker.write_jcamp(acqus, str(folder / "acqus"), overwrite=True)
    ng.bruker.write_jcamp(acqu2s, str(folder / "acqu2s"), overwrite=True)
    ng.bruker.write_pdata(str(folder), dic, np.round(rows * 2.0**-nc_proc) * 2.0**nc_proc,
                          scale_data=True, write_procs=True, pdata_folder=1, overwrite=True)
    (folder / "vdlist").write_text("\n".join(vd_text or [tau_text(x) for x in t]) + "\n")


def main() -> None:
    t, p, s = measured(1)
    write_ct1t2(HERE / "1mM_ct1t2.txt", t, SIGNAL_PER_P * p)
    t, p, s = measured(5)
    write_pseudo2d(HERE / "5mM_pseudo2d", t, SIGNAL_PER_P * p)
    t, p, s = measured(10)
    (HERE / "10mM.txt").write_text(
        f"# {NOTE}: time (ms), <P>, sigma at 10 mM\n"
        + "".join(f"{1e3 * a:.6g}\t{b:.6f}\t{c:g}\n" for a, b, c in zip(t, p, s)))
    t, p, s = measured(40)
    (HERE / "40mM.csv").write_text(
        f"# {NOTE}: 40 mM, intensity = {SIGNAL_PER_P:g} x <P>\n"
        "delay (s),intensity (a.u.),error\n"
        + "".join(f"{a:.6g},{SIGNAL_PER_P * b:.6g},{SIGNAL_PER_P * c:.6g}\n"
                  for a, b, c in zip(t, p, s)))


if __name__ == "__main__":
    main()
