"""Individual nuclei at scale: a whole buildup of ~10^6 1H nuclei around 100 random centres.

The sample: a periodic box at 10 mM (100 centres, side 25.5 nm) of a protonated solid
(60 nm^-3 1H, random positions 0.5 n^(-1/3) apart), C6 source and relaxation, 7.05 T, 1.2 K;
the default cutoff 2 n^(-1/3) with the second-moment tail correction. Printed, per phase:
nuclei, centres, nonzeros, wall time of placement / rates and matrix / time loop, steps,
Krylov iterations, cost per nucleus-step, memory per nucleus and the peak resident memory.

Baseline on the same system in the same run: the matrix A and source s of the first stage
handed to scipy's solve_ivp steppers, each stepped in a child process with an address-space
limit (--baseline-gb) and a wall-clock limit on its steps (--baseline-s): scipy.integrate.BDF
(solve_ivp(method="BDF"), the stiff choice; jac=A as scipy.sparse, factorised by SuperLU)
toward t = --baseline-span, and scipy.integrate.RK45 (solve_ivp's default, explicit: its step
is bounded by the fastest flip-flop rate) toward the whole buildup. Printed: the time each
reaches, its steps, LU factorisations, CPU time, peak memory, the cost per nucleus-step against
spindiff's, and the CPU time of the whole buildup at that pace.

    nice -n 10 python benchmarks/bench_spins.py                 # 10^6 nuclei

--smoother-baseline runs the same system a second time with hypre's default smoother (hybrid
Gauss-Seidel) in place of the Chebyshev smoother spindiff sets for the spins model
(spindiff.spins.system.HYPRE_SPINS), and prints the two time loops side by side.

Wall times on a shared machine are inflated by the other load: the CPU times (process_time)
are printed beside them.
    python benchmarks/bench_spins.py --nuclei 100000 --baseline-s 120
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time

AVOGADRO_PER_NM3_MM = 6.02214076e23 * 1e-27


def bench_case(nuclei: float, centres: int, duration: float, seed: int,
               petsc: dict | None = None):
    from spindiff.case import Case
    density = 60.0
    side = (nuclei / density) ** (1.0 / 3.0)
    mM = centres / side ** 3 / AVOGADRO_PER_NM3_MM
    raw = {
        "case": {"name": "bench_spins"},
        "geometry": {"kind": "box", "side": f"{float(side)!r} nm", "periodic": True,
                     "concentration": f"{mM!r} mM"},
        "centres": {"barrier_radius": "0.5 nm", "barrier": "kept", "visible_radius": "0.8 nm",
                    "placement": "random", "count": centres, "seed": seed,
                    "min_distance": "2 nm"},
        "materials": {"h": {"nuclear_density": f"{density} nm^-3", "D0": "300 nm^2/s",
                            "T1n": "200 s"}},
        "source": {"C6": "1 nm^6/s", "polarization": 0.9},
        "relaxation": {"C6": "0.05 nm^6/s", "P0": "thermal"},
        "conditions": {"B0": "7.05 T", "temperature": "1.2 K", "nucleus": "1H"},
        "protocol": {"initial_polarization": "thermal",
                     "stages": [{"name": "buildup", "duration": f"{duration} s", "outputs": 30}]},
        "mesh": {"model": "spins"},
        "spins": {"lattice": "random", "seed": seed},
        "solver": {"rtol": 1e-4, "atol": 1e-6, "dt_initial": "1 ms", "ksp_rtol": 1e-8,
                   **({"petsc_options": petsc} if petsc else {})},
        "output": {"plots": False},
    }
    return Case.from_dict(raw)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def spindiff_run(case) -> dict:
    from spindiff.spins.simulation import SpinSimulation
    t0, c0 = time.perf_counter(), time.process_time()
    sim = SpinSimulation(case)
    t_setup, c_setup = time.perf_counter() - t0, time.process_time() - c0
    t1, c1 = time.perf_counter(), time.process_time()
    res = sim.run()
    t_loop, c_loop = time.perf_counter() - t1, time.process_time() - c1
    s = res.summary
    n = sim.sample.count
    steps = s["time_stepping"]["accepted"] + s["time_stepping"]["rejected_error"]
    fit = s["fits"].get("buildup", {}).get("mono") or {}
    return {"nuclei": n, "centres": len(sim.sample.centres), "nonzeros": sim.system.nonzeros,
            "placement_s": sim.mesh_time, "matrix_s": sim.setup_time,
            "setup_s": t_setup, "loop_s": t_loop, "setup_cpu_s": c_setup, "loop_cpu_s": c_loop,
            "steps": steps,
            "accepted": s["time_stepping"]["accepted"],
            "krylov_its": s["linear_solver"]["krylov_its"],
            "pc_setups": s["linear_solver"]["pc_setups"],
            "us_per_nucleus_step": 1e6 * t_loop / (n * max(steps, 1)),
            "cpu_us_per_nucleus_step": 1e6 * c_loop / (n * max(steps, 1)),
            "peak_MB": peak_mb(), "bytes_per_nucleus": peak_mb() * 2**20 / n,
            "T_B_s": fit.get("T_B_s"), "P_final": float(res.series["P_sample"][-1]),
            "P_at": {f"{t:.4g}": float(p) for t, p in zip(res.series["time_s"][::6],
                                                          res.series["P_sample"][::6])}}


def _baseline_child(case, method: str, span: float, limit_gb: float, limit_s: float,
                    queue) -> None:
    import numpy as np
    from scipy.integrate import BDF, RK45

    from spindiff.model import transport_model
    from spindiff.physics.spins.operator import laplacian, rate_matrix
    from spindiff.spins.sample import SpinSample
    resource.setrlimit(resource.RLIMIT_AS, (int(limit_gb * 2**30), int(limit_gb * 2**30)))
    out = {"status": "started", "steps": 0, "t_reached_s": 0.0}
    try:
        t0 = time.perf_counter()
        model = transport_model(case)
        sample = SpinSample(case, model)
        rates = sample.stage_rates(model.stages[0])
        A = rate_matrix(laplacian(rates.builder), rates.kappa)
        s = rates.source
        out["build_s"] = time.perf_counter() - t0
        p0 = np.full(sample.count, model.initial_polarization)
        t1, c1 = time.perf_counter(), time.process_time()
        # solve_ivp(method="BDF") step by step, so that a run stopped by the wall-clock limit
        # still reports how far it got and what a step cost
        rhs = lambda t, p: s - A @ p  # noqa: E731
        tol = {"rtol": case.solver.rtol, "atol": case.solver.atol,
               "first_step": case.solver.dt_initial}
        solver = (BDF(rhs, 0.0, p0, span, jac=-A, **tol) if method == "BDF"
                  else RK45(rhs, 0.0, p0, span, **tol))
        out["status"] = "stepping"
        while solver.status == "running" and time.perf_counter() - t1 < limit_s:
            queue.put(dict(out, solve_cpu_s=time.process_time() - c1,
                           nlu=int(getattr(solver, "nlu", 0)), peak_MB=peak_mb()))
            message = solver.step()
            out["steps"] += 1
            out["t_reached_s"] = float(solver.t)
            if message:
                out["status"] = f"failed: {message}"
                break
        else:
            out["status"] = ("finished" if solver.status == "finished" else
                             f"stopped by the {limit_s:g} s wall-clock limit at t = "
                             f"{solver.t:.4g} s of {span:g} s")
        out.update(solve_s=time.perf_counter() - t1, solve_cpu_s=time.process_time() - c1,
                   nfev=int(solver.nfev), nlu=int(getattr(solver, "nlu", 0)),
                   P_reached=float(np.mean(solver.y)),
                   cpu_us_per_nucleus_step=1e6 * (time.process_time() - c1)
                   / (sample.count * max(out["steps"], 1)))
    except MemoryError:
        out["status"] = f"out of memory (limit {limit_gb:g} GB) after {out['steps']} steps"
    except SystemError as exc:  # SuperLU's gstrf when its fill-in cannot be allocated
        out["status"] = (f"the sparse LU of the BDF Newton matrix failed ({exc}) within the "
                         f"{limit_gb:g} GB address-space limit, after {out['steps']} steps")
    out["peak_MB"] = peak_mb()
    out["done"] = True
    queue.put(out)


def baseline(case, method: str, span: float, limit_gb: float, limit_s: float) -> dict:
    """The child's last report: it reports before each step, so a step that outlasts the
    wall-clock limit (one SuperLU factorisation of a 3D graph can take many minutes) is
    stopped at limit_s + 60 s and reported as such."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_baseline_child, args=(case, method, span, limit_gb, limit_s, q))
    t0 = time.perf_counter()
    p.start()
    res: dict = {"status": "no report"}
    stepping_since = None
    while not res.get("done"):
        try:
            res = q.get(timeout=1.0)
            if res.get("status") == "stepping" and stepping_since is None:
                stepping_since = time.perf_counter()
        except Exception:  # queue.Empty
            if not p.is_alive() and q.empty():
                res = dict(res, status=f"child exited with {p.exitcode}: {res.get('status')}")
                break
            if stepping_since is not None and time.perf_counter() - stepping_since > limit_s + 60:
                res = dict(res, status=f"stopped by the {limit_s:g} s wall-clock limit inside step "
                           f"{res.get('steps', 0) + 1} (at t = {res.get('t_reached_s', 0):.4g} s of "
                           f"{span:g} s; {res.get('nlu', 0)} LU factorisations finished before that step)")
                break
    wall = time.perf_counter() - t0
    if p.is_alive():
        p.terminate()
    p.join()
    res.update(span_s=span, wall_s=wall)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nuclei", type=float, default=1e6)
    ap.add_argument("--centres", type=int, default=100)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--baseline-span", type=float, default=None,
                    help="simulated span of the baseline (default duration / 100)")
    ap.add_argument("--baseline-gb", type=float, default=8.0)
    ap.add_argument("--baseline-s", type=float, default=120.0)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--smoother-baseline", action="store_true",
                    help="also run with hypre's default smoother (hybrid Gauss-Seidel)")
    args = ap.parse_args()
    case = bench_case(args.nuclei, args.centres, args.duration, args.seed)
    res = spindiff_run(case)
    print(f"spindiff spins model: {res['nuclei']} nuclei, {res['centres']} centres, "
          f"{res['nonzeros']} nonzeros ({res['nonzeros'] / res['nuclei']:.1f} per row)")
    print(f"  placement {res['placement_s']:.1f} s, rates and matrix {res['matrix_s']:.1f} s, "
          f"time loop {res['loop_s']:.1f} s wall, {res['loop_cpu_s']:.1f} s CPU (set-up "
          f"{res['setup_cpu_s']:.1f} s CPU) ({res['accepted']} accepted of {res['steps']} "
          f"steps, {res['krylov_its']} CG iterations, {res['pc_setups']} AMG set-ups)")
    print(f"  {res['us_per_nucleus_step']:.3f} us per nucleus-step wall "
          f"({res['cpu_us_per_nucleus_step']:.3f} us CPU), peak {res['peak_MB']:.0f} MB"
          f" = {res['bytes_per_nucleus']:.0f} bytes per nucleus; T_B = {res['T_B_s']} s, "
          f"final <P> = {res['P_final']:.5f}")
    print("RESULT " + json.dumps(res))
    if args.smoother_baseline:
        gs = spindiff_run(bench_case(args.nuclei, args.centres, args.duration, args.seed,
                                     {"pc_hypre_boomeramg_relax_type_all": "symmetric-SOR/Jacobi"}))
        print(f"  hypre's default smoother (hybrid symmetric Gauss-Seidel), same system: time "
              f"loop {gs['loop_cpu_s']:.1f} s CPU against {res['loop_cpu_s']:.1f} s "
              f"({gs['krylov_its']} against {res['krylov_its']} CG iterations, "
              f"{gs['cpu_us_per_nucleus_step']:.3f} against {res['cpu_us_per_nucleus_step']:.3f}"
              f" us CPU per nucleus-step); T_B {gs['T_B_s']:.6g} against {res['T_B_s']:.6g} s")
    if args.no_baseline:
        return
    for method in ("BDF", "RK45"):
        span = args.duration if method == "RK45" else (args.baseline_span or args.duration / 100)
        base = baseline(case, method, span, args.baseline_gb, args.baseline_s)
        name = ("scipy.integrate.BDF (solve_ivp's stiff BDF, sparse Jacobian, SuperLU)"
                if method == "BDF" else "scipy.integrate.RK45 (solve_ivp's default, explicit)")
        print(f"baseline {name} on the same system toward t = {span:g} s: {base['status']}")
        steps, cpu = base.get("steps", 0), base.get("solve_cpu_s")
        if steps and base.get("t_reached_s"):
            whole = cpu * args.duration / base["t_reached_s"]
            print(f"  {steps} steps to t = {base['t_reached_s']:.4g} s in {cpu:.1f} s CPU "
                  f"({base.get('nlu', 0)} LU factorisations, {base['nfev']} right-hand sides): "
                  f"{base['cpu_us_per_nucleus_step']:.3f} us CPU per nucleus-step (spindiff "
                  f"{res['cpu_us_per_nucleus_step']:.3f}); the whole {args.duration:g} s at this "
                  f"pace {whole:.3g} s CPU against spindiff's {res['loop_cpu_s']:.1f} s "
                  f"({whole / res['loop_cpu_s']:.3g} times); peak {base['peak_MB']:.0f} MB")
        elif cpu is not None:
            print(f"  {steps} steps in {cpu:.1f} s CPU, peak {base.get('peak_MB', 0):.0f} MB, "
                  f"against spindiff's whole buildup in {res['loop_cpu_s']:.1f} s CPU, "
                  f"{res['peak_MB']:.0f} MB")
        print("BASELINE " + json.dumps(dict(base, method=method)))

if __name__ == "__main__":
    main()
