"""Fit cost: the shipped fit example on the 1D radial model, as shipped (global stage and
automatic profiles) and as a plain local fit from the start values (starts = 0,
auto_profile = false), measured side by side in the same run.

    python benchmarks/bench_fit.py

(a) a 3-parameter fit (D0, C6, T1n) to one 60-point buildup curve
(cases/fit_example/fit_single.toml; target <= 90 s as shipped) and (b) the global fit of the
same three parameters to 4 curves at 1, 5, 10 and 40 mM (cases/fit_example/fit.toml; target
<= 3 min as shipped). For each it prints the wall time, the model evaluations (each
integrates every data set once; finite-difference Jacobians included) of the fit and of the
profiles, the design points and local fits of the global stage, and chi2.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "cases" / "fit_example"
RUNS = [("1 curve of 60 points", EXAMPLE / "fit_single.toml", 90.0),
        ("4 curves of 60 points (global fit)", EXAMPLE / "fit.toml", 180.0)]


def main() -> None:
    from spindiff.fit import fit
    from spindiff.fit.spec import fit_from_dict
    # warm up: imports and the JIT-compiled forms (cached on disk after the first run)
    fit(fit_from_dict({**tomllib.loads((EXAMPLE / "fit_single.toml").read_text()),
                       "fit": {"name": "warm", "starts": 0, "auto_profile": False}},
                      EXAMPLE / "fit_single.toml"))
    print(f"{'fit':<36} {'mode':<10} {'wall (s)':>9} {'fit evals':>9} {'profile':>8} "
          f"{'design':>6} {'local':>5} {'chi2':>9}  status")
    for label, path, target in RUNS:
        raw = tomllib.loads(path.read_text())
        plain = copy.deepcopy(raw)
        plain["fit"].update({"starts": 0, "auto_profile": False})
        for mode, spec in (("local", fit_from_dict(plain, path)),
                           ("shipped", fit_from_dict(raw, path, path.read_text()))):
            t0 = time.perf_counter()
            d = fit(spec).data
            wall = time.perf_counter() - t0
            s = d["global_search"]
            ok = "" if mode == "local" else (", ok" if wall <= target else ", SLOW")
            print(f"{label:<36} {mode:<10} {wall:9.1f} {d['model_evaluations']:9d} "
                  f"{d['model_evaluations_total'] - d['model_evaluations']:8d} "
                  f"{s['design_points']:6d} {len(s['local_fits']):5d} {d['chi2']:9.5g}  "
                  f"{d['status']}{ok}; not determined: "
                  f"{', '.join(d['identifiability']['not_determined']) or 'none'}")


if __name__ == "__main__":
    main()
