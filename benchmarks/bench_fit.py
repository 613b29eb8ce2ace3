"""Fit speed: the shipped fit example on the 1D radial model.

    python benchmarks/bench_fit.py

Times (a) a 3-parameter fit (D0, C6, T1n) to one 60-point buildup curve
(cases/fit_example/fit_single.toml; target <= 30 s) and (b) the global fit of the same three
parameters to 4 curves at 1, 5, 10 and 40 mM (cases/fit_example/fit.toml; target <= 2 min),
and prints the wall time, the number of model evaluations (each evaluates every data set; the
finite-difference Jacobians included) and the simulations run.
"""
from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "cases" / "fit_example"
RUNS = [("3 parameters, 1 curve of 60 points", EXAMPLE / "fit_single.toml", 30.0),
        ("3 parameters, 4 curves of 60 points (global)", EXAMPLE / "fit.toml", 120.0)]


def main() -> None:
    from spindiff.fit import fit
    # warm up: imports and the JIT-compiled forms (cached on disk after the first run)
    fit(EXAMPLE / "fit_single.toml").data
    print(f"{'fit':<46} {'wall (s)':>9} {'target':>7} {'evals':>6} {'sims':>5}  status")
    for label, path, target in RUNS:
        t0 = time.perf_counter()
        d = fit(path).data
        wall = time.perf_counter() - t0
        ok = "ok" if wall <= target else "SLOW"
        print(f"{label:<46} {wall:9.1f} {target:7.0f} {d['model_evaluations']:6d} "
              f"{d['simulations']:5d}  {d['status']}, {ok}")


if __name__ == "__main__":
    main()
