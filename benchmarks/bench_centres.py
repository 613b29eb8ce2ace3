"""Cost against the number of centres: periodic boxes at 20 mM with 6 to 1,000 random centres.

For each count N the box side is chosen for 20 mM (side = (N / (c N_A))^(1/3): 8.0 nm for 6,
43.6 nm for 1,000), the case is cases/box_1000_centres.toml with that side and count, and one
fresh process (`mpirun -n RANKS` when RANKS > 1) measures:
  dofs, mesh time, coefficient set-up time (neighbour sums, quadrature fields, assembly), time
  steps and time per step over a short buildup, peak resident memory summed over ranks and
  per million dofs;
Each count is measured with Gmsh meshing at the case's sizes (refine 0, the baseline) and
with Gmsh at twice the sizes followed by one uniform refinement (refine 1, mesh.refine), and,
on the same mesh in the same process, the baselines:
  floor: one CG + BoomerAMG solve of the same-size diffusion matrix with the preconditioner
      set up once and reused (the cost a time step cannot go below);
  brute-force sum: the sum without a neighbour tree, every quadrature point against every centre and its
      26 periodic images, timed on a sample of points and scaled to all points.

    python benchmarks/bench_centres.py                       # 6, 50, 200, 1000 centres
    python benchmarks/bench_centres.py --counts 6 50 --duration 5 --ranks 2 --refine 1
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import measure_in_child, peak_memory_mb, report

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "box_1000_centres.toml"
AVOGADRO_PER_NM3_MM = 6.02214076e23 * 1e-3 * 1e-24   # centres per nm^3 per mM


def side_for(count: int, mM: float = 20.0) -> float:
    return (count / (mM * AVOGADRO_PER_NM3_MM)) ** (1.0 / 3.0)


def floor_solve(domain, case, dt: float, repeats: int = 4) -> dict:
    """Best wall time of a CG + BoomerAMG solve with the preconditioner reused (s)."""
    import ufl

    from spindiff.fem import linear_solver
    from spindiff.mesh import compat

    V = compat.lagrange_space(domain.mesh, 1)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    D0 = next(iter(case.materials.values())).D0
    A = compat.assemble_matrix(compat.form((u * v + dt * D0 * ufl.inner(ufl.grad(u), ufl.grad(v)))
                                           * ufl.dx))
    b = compat.assemble_vector(compat.form(v * ufl.dx))
    ksp = linear_solver.make_ksp(domain.comm, "iterative", case.solver.ksp_rtol, True, None, "floor")
    ksp.setOperators(A)
    x = A.createVecRight()
    x.set(0.0)
    ksp.solve(b, x)   # preconditioner set-up, not timed
    best = float("inf")
    for _ in range(repeats):
        x.set(0.0)
        domain.comm.barrier()
        t0 = time.perf_counter()
        ksp.solve(b, x)
        domain.comm.barrier()
        best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "its": ksp.getIterationNumber()}


def brute_force_seconds(sim, sample: int = 20_000) -> float:
    """The O(points x centres x 27) sum of one law without a neighbour tree, timed on `sample` points per rank
    and scaled to every local point; max over ranks (s)."""
    import numpy as np
    from mpi4py import MPI

    qf = sim.disc.qf
    d = sim.domain
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)],
                      dtype=float) * d.period
    images = (d.centres[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    x = next(qf.point_chunks())[1][:sample]
    chunk = max(1, 4_000_000 // len(images))
    t0 = time.perf_counter()
    for i in range(0, len(x), chunk):
        r = x[i:i + chunk, None, :] - images[None, :, :]
        (4.0 / np.maximum(np.sqrt(np.einsum("mnk,mnk->mn", r, r)), 0.6) ** 6).sum(axis=1)
    per_point = (time.perf_counter() - t0) / max(len(x), 1)
    return d.comm.allreduce(per_point * qf.size, op=MPI.MAX)


def one(count: int, duration: float, refine: int) -> dict:
    from mpi4py import MPI

    from spindiff.case import load_case
    from spindiff.runner import model_for_case
    from spindiff.simulation import Simulation

    comm = MPI.COMM_WORLD
    case = load_case(CASE, {"geometry.side": f"{side_for(count):.6g} nm",
                            "protocol.stages.0.duration": f"{duration} s",
                            "protocol.stages.0.outputs": 10, "output.plots": False,
                            "mesh.refine": refine})
    t0 = time.perf_counter()
    sim = Simulation(case, model=model_for_case(case, comm), comm=comm)
    t_built = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = sim.run()
    loop = time.perf_counter() - t1
    steps = res.summary["time_stepping"]["accepted"]
    setup = t_built - sim.mesh_time
    peak = peak_memory_mb(comm)  # the run's own peak, before the baselines below add theirs
    floor = floor_solve(sim.domain, case, duration / max(steps, 1))
    brute = brute_force_seconds(sim)
    dofs = sim.disc.ndofs
    return {"centres": len(sim.domain.centres), "side_nm": side_for(count), "ranks": comm.size,
            "refine": refine,
            "dofs": dofs, "mesh_s": sim.mesh_time, "setup_s": setup,
            "setup_us_per_dof": 1e6 * setup / dofs, "brute_sum_s": brute, "steps": steps,
            "loop_s": loop, "per_step_s": loop / max(steps, 1), "floor_s": floor["seconds"],
            "floor_its": floor["its"], "peak_MB": peak, "MB_per_Mdof": peak / (dofs / 1e6)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", type=int, nargs="+", default=[6, 50, 200, 1000])
    p.add_argument("--duration", type=float, default=10.0, help="simulated buildup (s)")
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--refine", type=int, nargs="+", default=[0, 1],
                   help="mesh.refine values to measure (0: Gmsh at the sizes, the baseline)")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        report(one(args.one, args.duration, args.refine[0]))
        return
    rows = []
    for n in args.counts:
        for k in args.refine:
            r = measure_in_child(__file__, ["--one", str(n), "--duration", str(args.duration),
                                            "--refine", str(k)], args.ranks, f"{n} centres")
            rows.append(r)
            print(f"  {n} centres, refine {k} done: {r['dofs']} dofs, "
                  f"wall {r['mesh_s'] + r['setup_s'] + r['loop_s']:.0f} s", flush=True)
    head = (f"{'centres':>7} {'refine':>6} {'side nm':>7} {'dofs':>9} {'mesh s':>7} {'setup s':>8} {'us/dof':>7} "
            f"{'brute s':>8} {'steps':>5} {'step s':>7} {'floor s':>7} {'step/floor':>10} "
            f"{'mesh %':>6} {'peak MB':>8} {'MB/Mdof':>8}")
    print(f"\nperiodic boxes at 20 mM, {args.ranks} rank(s), {args.duration:g} s buildup")
    print(head)
    for r in rows:
        wall = r["mesh_s"] + r["setup_s"] + r["loop_s"]
        print(f"{r['centres']:>7} {r['refine']:>6} {r['side_nm']:>7.1f} {r['dofs']:>9} {r['mesh_s']:>7.1f} "
              f"{r['setup_s']:>8.2f} {r['setup_us_per_dof']:>7.1f} {r['brute_sum_s']:>8.1f} "
              f"{r['steps']:>5} {r['per_step_s']:>7.3f} {r['floor_s']:>7.3f} "
              f"{r['per_step_s'] / r['floor_s']:>10.2f} {100 * r['mesh_s'] / wall:>6.0f} "
              f"{r['peak_MB']:>8.0f} {r['MB_per_Mdof']:>8.0f}")
    for k in args.refine:
        sel = [r for r in rows if r["refine"] == k]
        base = sel[0]["setup_us_per_dof"]
        print(f"refine {k}: set-up cost per dof relative to the smallest box: "
              + ", ".join(f"{r['centres']}: {r['setup_us_per_dof'] / base:.2f}x" for r in sel))


if __name__ == "__main__":
    main()
