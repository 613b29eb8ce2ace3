"""Cost of a 3D buildup run at several mesh sizes, against the floor of one bare linear solve.

For each mesh size (element size at the barrier; the bulk size scales with it) the default case
is run in a fresh process (so peak memory is that run's own) and the script prints:
dofs, accepted steps, wall time of the time loop, time per step, peak resident memory, and the
cost of ONE bare linear diffusion solve on the same mesh (matrix u v + dt D grad u . grad v
assembled once, CG + BoomerAMG from a zero guess to the same tolerance, set-up included) with
the ratio (time per step) / (bare solve). A ratio near 1 means a time step costs about one
linear solve; the adaptive stepper's extra work (error estimate, history) is the rest.

    python benchmarks/bench_solver.py                 # serial, three sizes
    python benchmarks/bench_solver.py --np 2          # under mpirun -n 2
    python benchmarks/bench_solver.py --sizes 0.1 0.07
    python benchmarks/bench_solver.py --element-degree 1 2   # linear and quadratic elements

With --element-degree 2 the quadratic elements sit on the Gmsh mesh that the default case
refines once (twice the sizes, mesh.refine = 0): the same nodes, hence the same dofs, as the
linear row of the same size.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common import bare_diffusion_solve, measure_in_child, peak_memory_mb, report

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "default.toml"


def one(size: float, case_path: Path, degree: int = 1) -> dict:
    from mpi4py import MPI

    from spindiff.case import load_case
    from spindiff.runner import run
    from spindiff.simulation import build_domain

    comm = MPI.COMM_WORLD
    scale = 2.0 if degree == 2 else 1.0
    sets = {"mesh.size_barrier": f"{scale * size} nm",
            "mesh.size_bulk": f"{scale * max(6.25 * size, 0.3)} nm"}
    if degree == 2:
        sets.update({"mesh.element_degree": 2, "mesh.refine": 0})
    case = load_case(case_path, sets)
    domain = build_domain(case, comm)
    run(case, domain=domain, progress=False)  # warm-up: JIT compilation, caches
    res = run(case, domain=domain, progress=False)
    s = res.summary
    loop = s["wall_time_s"] - s["mesh_time_s"]
    steps = s["time_stepping"]["accepted"]
    solves = s["linear_solver"]["solves"]

    # the floor: one bare linear diffusion solve on the same mesh
    bare = bare_diffusion_solve(domain, case, case.end_time / max(steps, 1), degree=degree)
    peak = peak_memory_mb(comm)
    return {"size_nm": size, "degree": degree, "dofs": s["mesh"]["dofs"], "steps": steps, "solves": solves,
            "loop_s": loop, "per_step_ms": 1e3 * loop / steps, "peak_MB": peak,
            "bare_solve_ms": 1e3 * bare["seconds"], "bare_its": bare["its"],
            "assembly_ms": 1e3 * bare["assembly_s"], "ratio": (loop / steps) / bare["seconds"],
            "krylov_its_per_solve": s["linear_solver"]["krylov_its"] / solves,
            "ranks": comm.size}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=float, nargs="+", default=[0.16, 0.11, 0.08])
    p.add_argument("--np", type=int, default=1)
    p.add_argument("--case", type=Path, default=CASE)
    p.add_argument("--element-degree", type=int, nargs="+", choices=[1, 2], default=[1])
    p.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one is not None:
        report(one(args.one, args.case, args.element_degree[0]))
        return
    rows = [measure_in_child(__file__, ["--one", str(size), "--case", str(args.case),
                                        "--element-degree", str(k)], args.np,
                             f"at size {size}, degree {k}")
            for k in args.element_degree for size in args.sizes]
    print(f"spindiff solver benchmark: {args.case.name}, {args.np} rank(s)")
    head = (f"{'P':>2} {'h_b nm':>7} {'dofs':>8} {'steps':>6} {'loop s':>8} {'ms/step':>8} {'its/solve':>9} "
            f"{'peak MB':>8} {'bare ms':>8} {'ratio':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['degree']:>2} {r['size_nm']:7.3f} {r['dofs']:8d} {r['steps']:6d} {r['loop_s']:8.2f} "
              f"{r['per_step_ms']:8.2f} {r['krylov_its_per_solve']:9.1f} {r['peak_MB']:8.0f} "
              f"{r['bare_solve_ms']:8.2f} {r['ratio']:6.2f}")
    print("P: element degree; h_b: the linear elements' size at the barrier (the quadratic ones "
          "sit on the same nodes); ratio = (time per accepted step) / (one bare CG+AMG diffusion "
          "solve of the same elements on the same mesh, set-up included); peak MB summed over ranks")


if __name__ == "__main__":
    main()
