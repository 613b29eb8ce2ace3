"""The floor a time step is compared with: one bare linear diffusion solve on the same mesh.

The matrix of (u v + dt D0 grad u . grad v) is assembled once; each of `repeats` solves builds
a fresh CG + BoomerAMG solver (spindiff's tuned options, set-up included) and starts from zero.
"""
from __future__ import annotations

import time


def bare_diffusion_solve(domain, case, dt: float, repeats: int = 3) -> dict:
    """{"seconds": best wall time of one solve, "its": CG iterations, "assembly_s": ...}."""
    import ufl

    from spindiff.fem import compat, linear_solver

    comm = domain.comm
    V = compat.lagrange_space(domain.mesh, 1)
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
