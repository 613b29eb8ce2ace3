"""Timings of the quantum rate module (prints numbers, asserts nothing).

1,000 orientations (ZCW) of the e-e-n cross-effect problem and of the e-n solid-effect problem:
steady state + nuclear buildup rate, full master equation vs effective rate model, and the
effective-vs-full errors on the same members. With --sweep-profile, also the wall time of the
Mn(II):LTO sweep profile of cases/mn_lto_rates.toml (what `spindiff rates` draws: every
microwave offset x every pair of EPR lines x the e-n and e-e orientations), with the full
master equation and with the effective rates.

    python benchmarks/bench_quantum.py                    # about 10 s
    python benchmarks/bench_quantum.py --sweep-profile    # about 2 more minutes
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from spindiff.physics.constants import nuclear_larmor
from spindiff.physics.electron import electron_larmor
from spindiff.physics.quantum import SpinBatch, SpinParams, SpinSystem, couplings, solve_effective, solve_steady, zcw
from spindiff.physics.quantum.liouville import term_library

TP = 2 * np.pi
B0, T = 7.05, 1.2
WN = nuclear_larmor("1H", B0)


def batches(n: int = 1000) -> tuple[SpinBatch, SpinBatch, SpinParams]:
    grid = zcw(n)
    dirs = grid.dirs[:n]
    # nucleus at 0.6 nm from e1 along x of the molecule, e2 at 1.5 nm along y; B0 = grid dirs
    a1, b1 = couplings.couplings_from_vectors(np.tile([0.6, 0, 0], (n, 1)), dirs, "1H")
    a2, b2 = couplings.couplings_from_vectors(np.tile([0.6, -1.5, 0], (n, 1)), dirs, "1H")
    cos_ee = dirs[:, 1]
    d = couplings.ee_dipolar_from_angle(1.5, cos_ee)
    een = SpinBatch(SpinSystem(2, 1), np.tile([0.0, WN], (n, 1)), np.stack([a1, a2], 1)[:, :, None],
                    np.stack([b1, b2], 1)[:, :, None], d_ee=d)
    en = SpinBatch(SpinSystem(1, 1), np.full((n, 1), WN), a1[:, None, None], b1[:, None, None])
    p = SpinParams(omega_n=WN, omega_mw=electron_larmor(B0), temperature=T, omega1=TP * 5e3,
                   t1e=1e-3, t2e=1e-6, t1n=100.0, t2n=1e-3)
    return een, en, p


def timeit(f, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def sweep_profile_timing() -> None:
    """Wall time of the Mn(II):LTO sweep profile (cases/mn_lto_rates.toml), full and effective."""
    from pathlib import Path

    from spindiff.case import load_case
    from spindiff.physics.quantum.agents import lineshape
    from spindiff.physics.quantum.mn import feature_grid, sweep_profile
    from spindiff.rates import agent_of, conditions_of, microwave_settings

    case = load_case(Path(__file__).resolve().parents[1] / "cases" / "mn_lto_rates.toml")
    agent = agent_of(case)
    nu1, off = next(iter(microwave_settings(case).values()))
    cond = conditions_of(case, nu1, off)
    n_off, n_lines = len(feature_grid(agent, cond)), len(lineshape(agent, cond).lines)
    n_theta, n_theta_ee = 4, 3  # sweep_profile's defaults
    n_een = n_off * n_lines ** 2 * n_theta * n_theta_ee
    print(f"\nsweep profile, mn_lto_rates.toml: {n_off} offsets x {n_lines ** 2} line pairs x "
          f"{n_theta * n_theta_ee} orientations = {n_een:,} e-e-n problems "
          f"(+ {n_off * n_lines * n_theta:,} e-n)")
    for method in ("full", "effective"):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sweep_profile(agent, cond, method=method)
        print(f"  {method:<10}{time.perf_counter() - t:8.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep-profile", action="store_true",
                    help="also time the Mn(II):LTO sweep profile (full and effective)")
    args = ap.parse_args()
    een, en, p = batches()
    for s in (een.system, en.system):
        term_library(s)  # one-off cache (timed separately below)
    print(f"{'problem':<34}{'members':>8}{'full (s)':>10}{'effective (s)':>15}")
    for name, b in (("e-e-n (CE), steady + rate", een), ("e-n (SE), steady + rate", en)):
        tf = timeit(lambda: solve_steady(b, p))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            te = timeit(lambda: solve_effective(b, p, warn=False))
        print(f"{name:<34}{len(b):>8}{tf:>10.3f}{te:>15.3f}")
    t = time.perf_counter()
    term_library.cache_clear()
    term_library(een.system)
    print(f"one-off superoperator library e-e-n: {time.perf_counter() - t:.3f} s")
    print("\neffective vs full on the same 1,000 orientations (omega1 = 2 pi x 5 kHz):")
    for name, b in (("e-e-n", een), ("e-n", en)):
        f, e = solve_steady(b, p), solve_effective(b, p, warn=False)
        dp = np.abs(e.p_n - f.p_n)[:, 0]
        rg = np.abs(e.gamma - f.gamma) / f.gamma
        print(f"  {name}: max |dP_n| = {dp.max():.2e} (max |P_n| = {np.abs(f.p_n).max():.3f}), "
              f"max rel. err. Gamma = {rg.max():.2e}, eta1_min = {e.eta1.min():.3g}, "
              f"Gamma/R2_max = {e.gamma_over_r2.max():.2e}, max residual = {f.residual.max():.1e}")
    print("\nerror vs eta1 (e-e-n, same geometry, varying omega1):")
    for w1 in (1e3, 1e4, 5e4, 2e5, 5e5):
        q = p.with_(omega1=TP * w1)
        f, e = solve_steady(een, q), solve_effective(een, q, warn=False)
        dp = np.abs(e.p_n - f.p_n)[:, 0].max()
        rg = (np.abs(e.gamma - f.gamma) / f.gamma).max()
        print(f"  omega1/2pi = {w1:8.0f} Hz  eta1_min = {e.eta1.min():9.3g}  "
              f"max |dP_n|/p_e = {dp / 0.99926:.2e}  max rel. err. Gamma = {rg:.2e}")
    if args.sweep_profile:
        sweep_profile_timing()


if __name__ == "__main__":
    main()
