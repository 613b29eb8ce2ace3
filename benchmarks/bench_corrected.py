"""Cost of the corrected (polarization-dependent) diffusion against the conventional one.

Runs one buildup per diffusion model on the SAME mesh in the same process (after a warm-up
run that pays for JIT compilation) and prints steps, Newton and Krylov iterations, wall time of
the time loop, time per step and the ratio to the conventional run.

    python benchmarks/bench_corrected.py                       # Takeda cube, P_src = 0.9
    python benchmarks/bench_corrected.py --case cases/default.toml --psrc 0.99
    mpirun -n 2 python benchmarks/bench_corrected.py
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mpi4py import MPI

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", type=Path, default=ROOT / "cases" / "takeda_cube.toml")
    p.add_argument("--psrc", type=float, default=0.9)
    p.add_argument("--size", type=float, default=None, help="mesh.size_barrier in nm")
    args = p.parse_args()

    from spindiff.case import load_case
    from spindiff.runner import run
    from spindiff.simulation import build_domain

    comm = MPI.COMM_WORLD
    over = {"source.polarization": args.psrc}
    if args.size:
        over["mesh.size_barrier"] = f"{args.size} nm"
    base = load_case(args.case, over)
    domain = build_domain(base, comm)
    # the conventional model takes no polarization dependence: its keys are removed (None)
    models = [("conventional", None), ("corrected", "mean"), ("corrected", "local")]
    rows = []
    for model, pol in models:
        changes = {"diffusion.model": model, "diffusion.polarization": pol}
        if model == "conventional":
            changes["diffusion.regularization"] = None
        case = base.with_changes(changes)
        run(case, comm=comm, domain=domain, progress=False)  # warm-up (JIT, caches)
        res = run(case, comm=comm, domain=domain, progress=False)
        s = res.summary
        loop = s["wall_time_s"] - s["mesh_time_s"]
        ts, ls = s["time_stepping"], s["linear_solver"]
        rows.append((f"{model}/{pol}" if model == "corrected" else model, s["mesh"]["dofs"],
                     ts["accepted"], ts["rejected_error"] + ts["rejected_solver"],
                     ls["newton_its"], ls["krylov_its"], loop, 1e3 * loop / ts["accepted"],
                     s["fits"][next(iter(s["fits"]))]["mono"]["T_B_s"]))
    if comm.rank == 0:
        print(f"corrected vs conventional: {args.case.name}, P_src = {args.psrc}, {comm.size} rank(s)")
        head = (f"{'model':<18}{'dofs':>8}{'steps':>7}{'rej':>5}{'newton':>8}{'krylov':>8}"
                f"{'loop s':>9}{'ms/step':>9}{'T_B s':>8}{'cost':>7}")
        print(head)
        print("-" * len(head))
        ref = rows[0][6]
        for r in rows:
            print(f"{r[0]:<18}{r[1]:8d}{r[2]:7d}{r[3]:5d}{r[4]:8d}{r[5]:8d}{r[6]:9.2f}{r[7]:9.2f}"
                  f"{r[8]:8.3f}{r[6] / ref:7.2f}")
        print("cost = wall time of the buildup relative to the conventional model (same mesh)")


if __name__ == "__main__":
    main()
