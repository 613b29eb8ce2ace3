"""Shared by the benchmark scripts: the bare-solve floor and measuring in a fresh process.

The floor a time step is compared with is one bare linear diffusion solve on the same mesh:
the matrix of (u v + dt D0 grad u . grad v) is assembled once; each of `repeats` solves builds
a fresh CG + BoomerAMG solver (spindiff's tuned options, set-up included) and starts from zero.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time


def bare_diffusion_solve(domain, case, dt: float, repeats: int = 3, degree: int = 1) -> dict:
    """{"seconds": best wall time of one solve, "its": CG iterations, "assembly_s": ...}."""
    import ufl

    from spindiff.fem import linear_solver
    from spindiff.mesh import compat

    comm = domain.comm
    V = compat.lagrange_space(domain.mesh, degree)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    dx = ufl.Measure("dx", domain=domain.mesh, metadata={"quadrature_degree": 4})
    D0 = next(iter(case.materials.values())).D0
    t0 = time.perf_counter()
    A = compat.assemble_matrix(compat.form((u * v + dt * D0 * ufl.inner(ufl.grad(u), ufl.grad(v))) * dx))
    b = compat.assemble_vector(compat.form(v * dx))
    t_asm = time.perf_counter() - t0
    best, its = float("inf"), 0
    for _ in range(repeats):
        ksp = linear_solver.make_ksp(comm, "iterative", case.solver.ksp_rtol, True, None, "bench")
        ksp.setOperators(A)
        x = A.createVecRight()
        x.set(0.0)
        comm.barrier()
        t1 = time.perf_counter()
        ksp.solve(b, x)
        comm.barrier()
        best = min(best, time.perf_counter() - t1)
        its = ksp.getIterationNumber()
    return {"seconds": best, "its": its, "assembly_s": t_asm}


def report(result: dict) -> None:
    """Print a child's measurement (rank 0) for `measure_in_child` to read."""
    from mpi4py import MPI
    if MPI.COMM_WORLD.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def peak_memory_mb(comm) -> float:
    """Peak resident memory summed over the ranks of `comm` (MB)."""
    from mpi4py import MPI
    return comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, op=MPI.SUM) / 1024.0


def measure_in_child(script: str, args: list[str], ranks: int, what: str) -> dict:
    """Run `python script args` (under `mpirun -n ranks` when ranks > 1) in a fresh process, so
    that its peak memory is its own, and return the dict it `report`ed; exit on failure."""
    cmd = [sys.executable, script, *args]
    if ranks > 1:
        cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", str(ranks)] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        sys.exit(f"benchmark {what} failed")
    return json.loads(line[0][7:])
