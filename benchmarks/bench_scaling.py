"""Strong scaling 1 -> N ranks on a large 3D case, memory per million dofs, and the bare
linear solve on the same mesh as the ceiling.

Runs the default case with a fine mesh (about 500k dofs at the default --size) for a short
buildup, once per rank count, each in a fresh `mpirun -n N` process, and prints for each:
dofs, steps, wall time of the time loop, time per step, speed-up and parallel efficiency
against 1 rank; the same figures for ONE bare linear diffusion solve on the same mesh (CG +
BoomerAMG, set-up included) as the ceiling of what the time loop can scale to; and the peak
resident memory summed over ranks, per million dofs.

    python benchmarks/bench_scaling.py                 # 1 and 2 ranks, ~500k dofs
    python benchmarks/bench_scaling.py --size 0.05 --ranks 1 2 4
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import bare_diffusion_solve, measure_in_child, peak_memory_mb, report

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "default.toml"


def one(size: float, bulk: float, duration: float) -> dict:
    from mpi4py import MPI

    from spindiff.case import load_case
    from spindiff.runner import run
    from spindiff.simulation import build_domain

    comm = MPI.COMM_WORLD
    case = load_case(CASE, {"mesh.size_barrier": f"{size} nm", "mesh.size_bulk": f"{bulk} nm",
                            "protocol.stages.0.duration": f"{duration} s",
                            "protocol.stages.0.outputs": 10, "output.plots": False})
    t0 = time.perf_counter()
    domain = build_domain(case, comm)
    t_mesh = time.perf_counter() - t0
    res = run(case, comm=comm, domain=domain, progress=False)
    s = res.summary
    loop = s["wall_time_s"] - s["mesh_time_s"]
    steps = s["time_stepping"]["accepted"]

    best = bare_diffusion_solve(domain, case, duration / max(steps, 1))["seconds"]
    peak = peak_memory_mb(comm)
    return {"ranks": comm.size, "dofs": s["mesh"]["dofs"], "steps": steps, "loop_s": loop,
            "mesh_s": t_mesh, "per_step_ms": 1e3 * loop / steps, "bare_solve_s": best,
            "peak_MB": peak, "MB_per_Mdof": peak / (s["mesh"]["dofs"] / 1e6)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=float, default=0.028, help="mesh.size_barrier (nm)")
    p.add_argument("--bulk", type=float, default=0.12, help="mesh.size_bulk (nm)")
    p.add_argument("--duration", type=float, default=5.0, help="simulated buildup (s)")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        report(one(args.size, args.bulk, args.duration))
        return
    # warm the JIT cache on a coarse mesh so that no configuration pays for compilation
    measure_in_child(__file__, ["--one", "--size", "0.3", "--bulk", "0.6", "--duration", "0.1"], 1,
                     "warm-up")
    common = ["--one", "--size", str(args.size), "--bulk", str(args.bulk),
              "--duration", str(args.duration)]
    rows = [measure_in_child(__file__, common, n, f"on {n} ranks") for n in args.ranks]
    base = rows[0]
    print(f"strong scaling: default case, {base['dofs']} dofs, {args.duration} s of buildup")
    head = (f"{'ranks':>5} {'steps':>6} {'loop s':>8} {'ms/step':>8} {'speed-up':>9} {'eff.':>6} "
            f"{'bare s':>8} {'bare sp.':>9} {'bare eff.':>9} {'peak MB':>8} {'MB/Mdof':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        sp = base["loop_s"] / r["loop_s"]
        bsp = base["bare_solve_s"] / r["bare_solve_s"]
        print(f"{r['ranks']:5d} {r['steps']:6d} {r['loop_s']:8.2f} {r['per_step_ms']:8.1f} "
              f"{sp:9.2f} {sp / r['ranks']:6.2f} {r['bare_solve_s']:8.3f} {bsp:9.2f} "
              f"{bsp / r['ranks']:9.2f} {r['peak_MB']:8.0f} {r['MB_per_Mdof']:8.0f}")
    print("speed-up and efficiency against 1 rank; 'bare': one CG+AMG diffusion solve on the same "
          "mesh (set-up included), the ceiling; peak memory summed over ranks (includes the "
          "Gmsh model on rank 0)")


if __name__ == "__main__":
    main()
