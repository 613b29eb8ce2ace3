"""Run a case: case -> model -> mesh -> FEM problem -> time loop -> observables and files.

The Python API behind `spindiff run`:

    from spindiff import load_case, run
    result = run(load_case("cases/default.toml"), out_dir="results/default")
    result.series["P_sample"], result.summary["fits"]
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from mpi4py import MPI

from . import __version__
from .analysis.fits import fit_buildup
from .case.schema import Case
from .geometry.domain import Domain
from .model import TransportModel, stage_boundaries, transport_model


@dataclass
class RunResult:
    """What a run computed: the time series (column arrays), the summary dict and the folder."""
    series: dict[str, np.ndarray]
    summary: dict
    out_dir: Optional[Path] = None
    final_field: Optional[np.ndarray] = field(default=None, repr=False)


def build_domain(case: Case, comm: MPI.Comm, mesh_model: str | None = None) -> Domain:
    """Mesh the case's geometry ("3d" Gmsh tetrahedra or the "radial" 1D reduction)."""
    mesh_model = mesh_model or case.mesh.model
    c, m, g = case.centres, case.mesh, case.geometry
    extra = [case.source.radius] if case.source.model == "region" else []
    if g.kind == "periodic_cube":
        from .geometry.box import build_box
        L = case.cube_side
        refine = case.barrier_radius
        b = case.barrier_radius
        spheres = [r for r in [case.visible_radius, *extra] if r > b * (1 + 1e-6)]
        if c.barrier == "none":
            # no barrier: the innermost interface sphere sets the refinement scale (the
            # mesher refines within 1.5 of its "barrier" radius, which is not a barrier here)
            refine = 0.999 * min(spheres) if spheres else L / 10
            spheres = [r for r in spheres if r > refine * (1 + 1e-6)]
        domain = build_box(comm, L, np.full((1, 3), L / 2), refine,
                           "hole" if c.barrier == "hole" else "kept_distance",
                           None, m.size_barrier, m.size_bulk, order=m.order, periodic=True,
                           material=case.material_name, interface_radii=spheres)
        if c.barrier == "none":
            domain.barrier_by_distance = False
        return domain
    args = dict(radius=case.cell_radius, barrier_radius=case.barrier_radius, barrier=c.barrier,
                visible_radius=case.visible_radius, material=case.material_name,
                extra_radii=extra)
    if mesh_model == "radial":
        from .geometry.radial import build_radial_cell
        return build_radial_cell(comm, ncells=m.radial_cells, **args)
    from .geometry.sphere_cell import build_sphere_cell
    return build_sphere_cell(comm, size_barrier=m.size_barrier, size_bulk=m.size_bulk,
                             order=m.order, **args)


def run(case: Case, out_dir: str | Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
        mesh_model: str | None = None, progress: bool = True, case_text: str | None = None,
        model: TransportModel | None = None, initial: Callable[[np.ndarray], np.ndarray] | None = None,
        domain: Domain | None = None, forcing: Callable | None = None,
        fixed_dt: float | None = None) -> RunResult:
    """Simulate `case`; write the results folder when `out_dir` is given.

    mesh_model overrides case.mesh.model ("3d" or "radial"); `model` overrides the transport
    model built from the case; `initial(x)` (x of shape (3, m), nm) overrides the uniform
    initial polarization; `domain` reuses an already built mesh; `forcing(t, x)` returns a UFL
    source f added to the right-hand side as n f (manufactured solutions; t is a fem.Constant);
    `fixed_dt` switches off step-size control (convergence studies).
    """
    from .fem import compat
    from .fem.operators import Discretization
    from .fem.stepper import AdaptiveBDF2
    from .fem.systems import StepSystem
    from .io.progress import Progress
    from .io.results import ResultsWriter

    wall0 = time.perf_counter()
    if model is None:
        tables = None
        if case.source.model == "rates":
            from .rates import tables_for_case
            tables = tables_for_case(case, comm)
        model = transport_model(case, tables)
    domain = domain or build_domain(case, comm, mesh_model)
    t_mesh = time.perf_counter() - wall0
    disc = Discretization(domain, model, forcing=forcing,
                          lumped_mass=case.solver.mass == "lumped")
    s = case.solver
    system = StepSystem(disc, s.linear_solver, s.ksp_rtol, s.petsc_options)

    columns = ["time_s", *(f"P_{k}" for k in disc.weights), "enhancement", "stage"]
    writer = None
    if out_dir is not None:
        text = case_text if case_text is not None else _case_text(case)
        writer = ResultsWriter(out_dir, comm, text, columns)
    fields = None
    if writer is not None and case.output.fields:
        fields = compat.FieldWriter(comm, str(writer.path / "fields" / "P.xdmf"), disc.P)

    if initial is None:
        disc.set_uniform(model.initial_polarization)
    else:
        disc.P.interpolate(initial)
    P = compat.petsc_vector(disc.P)
    disc.constrain(P)
    peak = comm.allreduce(float(np.max(np.abs(P.array_r), initial=0.0)), op=MPI.MAX)
    if not peak < 1.0:
        from .errors import CaseError
        raise CaseError("initial polarization", f"max |P| = {peak:.4g}", "must satisfy |P| < 1 everywhere")
    P0 = model.thermal_polarization
    rows: list[list] = []

    def record(t: float, stage: str) -> None:
        avg = disc.averages(P)
        enh = avg["sample"] / P0 if P0 != 0 else float("nan")
        row = [t, *avg.values(), enh, stage]
        rows.append(row)
        if writer is not None:
            writer.row(row)
        if fields is not None:
            compat.scatter_forward(disc.P)
            fields.write(t)

    bar = Progress(comm, model.end_time, case.case.name, enabled=progress)
    stepper = AdaptiveBDF2(system, P, s.rtol, s.atol, s.dt_initial, s.dt_max,
                           on_step=lambda t, dt: bar.update(t, f"dt={dt:.2g} s"),
                           fixed_dt=fixed_dt)
    starts = stage_boundaries(model.stages)
    status = "complete"
    try:
        system.set_stage(model.stages[0])
        record(0.0, model.stages[0].name)
        for stage, t0 in zip(model.stages, starts[:-1]):
            system.set_stage(stage)
            if stage.saturate != "none":
                disc.saturate(stage.saturate)
            system.apply_dirichlet(P)
            disc.constrain(P)
            if stage.saturate != "none" or t0 > 0 and system.ops.has_bc:
                record(float(t0), stage.name)
            if stage.pulsed:
                _run_pulsed_stage(stage, float(t0), disc, stepper, P, record)
                continue
            stepper.restart(float(t0))
            for t_out in t0 + stage.output_times():
                stepper.advance_to(float(t_out))
                record(float(t_out), stage.name)
    except KeyboardInterrupt:
        status = "interrupted"
        if writer is not None:
            writer.abort(f"interrupted at t = {stepper.t:.6g} s")
        raise
    finally:
        bar.close()
        if fields is not None:
            fields.close()

    series = _columns(rows, columns)
    summary = _summary(case, model, domain, disc, system, stepper, series, starts, comm,
                       time.perf_counter() - wall0, t_mesh, status)
    if writer is not None:
        writer.write_json("summary.json", summary)
        if comm.rank == 0 and case.output.plots:
            from .io.plots import plot_buildup
            plot_buildup(series, writer.path / "buildup.png", title=case.case.name,
                         fits=summary["fits"],
                         stage_starts={st.name: float(t0) for st, t0 in zip(model.stages, starts)})
        out = writer.finish()
    else:
        out = None
    compat.scatter_forward(disc.P)
    return RunResult(series=series, summary=summary, out_dir=out,
                     final_field=disc.P.x.array.copy())


def _run_pulsed_stage(stage, t0: float, disc, stepper, P, record) -> None:
    """Pulses at t0 + j / rate: P <- P + exchange (P_src - P) in the source region, then
    diffusion and relaxation until the next pulse. An output time that coincides with a pulse is
    recorded just before it. After each pulse the stepper restarts (P is discontinuous) with the
    first step that was accepted after the previous pulse."""
    pulses = t0 + stage.pulse_times()
    outputs = t0 + stage.output_times()
    if pulses.size:
        # output times within round-off of a pulse are that pulse's time (recorded before it)
        idx = np.searchsorted(pulses, outputs)
        lo = pulses[np.clip(idx - 1, 0, pulses.size - 1)]
        hi = pulses[np.clip(idx, 0, pulses.size - 1)]
        nearest = np.where(np.abs(outputs - lo) < np.abs(outputs - hi), lo, hi)
        outputs = np.where(np.abs(outputs - nearest) < 1e-9 * stage.duration, nearest, outputs)
    events = sorted([(float(t), 0) for t in outputs] + [(float(t), 1) for t in pulses])
    restarted = False
    for t, kind in events:
        stepper.advance_to(t) if restarted else None
        if kind == 0:
            if not restarted:
                stepper.restart(t)
                restarted = True
            record(t, stage.name)
            continue
        disc.apply_pulse(stage.source_polarization, stage.pulse_exchange, P)
        dt = stepper.first_step_dt if restarted else None
        stepper.restart(t, dt)
        restarted = True


def steady_state(case: Case, comm: MPI.Comm = MPI.COMM_WORLD, mesh_model: str | None = None,
                 stage: int = 0, domain: Domain | None = None,
                 model: TransportModel | None = None):
    """Steady state of one protocol stage: solves S P = g. Returns (discretization, P) where
    disc.P holds the field; needs relaxation or a fixed boundary to be well posed."""
    from .fem import compat
    from .fem.operators import Discretization
    from .fem.systems import StepSystem
    from .errors import SolverError

    model = model or transport_model(case)
    domain = domain or build_domain(case, comm, mesh_model)
    disc = Discretization(domain, model)
    system = StepSystem(disc, "direct" if domain.radial else case.solver.linear_solver,
                        case.solver.ksp_rtol, case.solver.petsc_options)
    system.set_stage(model.stages[stage])
    P = compat.petsc_vector(disc.P)
    P.set(model.initial_polarization)
    system.apply_dirichlet(P)
    if not system.steady_state(P):
        raise SolverError("the steady-state solve did not converge (is the problem well posed?)")
    compat.scatter_forward(disc.P)
    return disc, P


def _columns(rows: list[list], columns: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for j, name in enumerate(columns):
        vals = [r[j] for r in rows]
        out[name] = np.array(vals) if name == "stage" else np.array(vals, dtype=float)
    return out


def _summary(case, model, domain, disc, system, stepper, series, starts, comm, wall, t_mesh,
             status) -> dict:
    from .fem import compat
    fits = {}
    t = series["time_s"]
    for stage, t0, t1 in zip(model.stages, starts[:-1], starts[1:]):
        sel = (t >= t0) & (t <= t1) & (series["stage"] == stage.name)
        if sel.sum() < 4:
            continue
        tt, pp = t[sel] - t0, series["P_sample"][sel]
        fit = fit_buildup(tt, pp)
        fit["P_start"] = float(pp[0])
        fit["source_on"] = stage.source_on
        fits[stage.name] = fit
    ncells = comm.allreduce(compat.num_cells_local(domain.mesh, with_ghosts=False), op=MPI.SUM)
    final = {k[2:]: float(series[k][-1]) for k in series if k.startswith("P_")}
    return {
        "spindiff_version": __version__,
        "case": case.case.name,
        "status": status,
        "thermal_polarization": model.thermal_polarization,
        "final": {"P": final, "enhancement": float(series["enhancement"][-1]),
                  "time_s": float(t[-1])},
        "fits": fits,
        "diffusion": {"model": model.diffusion.model, "polarization": model.diffusion.polarization,
                      "regularization_eps": model.diffusion.eps, "f_cap": model.diffusion.cap,
                      "f_max_reached": system.f_max()},
        "mesh": {"model": "radial" if domain.radial else "3d", "dofs": disc.ndofs,
                 "cells": ncells, "description": domain.description,
                 "quadrature_degree": disc.quadrature_degree},
        "time_stepping": {**stepper.stats.as_dict(), "rtol": case.solver.rtol,
                          "atol": case.solver.atol},
        "linear_solver": {"kind": system.kind, **system.stats},
        "wall_time_s": wall,
        "mesh_time_s": t_mesh,
        "ranks": comm.size,
        "versions": {"spindiff": __version__, **compat.versions()},
    }


def _case_text(case: Case) -> str:
    """TOML text of a case built in Python (the dict it was validated from)."""
    import tomli_w
    from .case.load import raw_dict
    try:
        raw = raw_dict(case)
    except AttributeError:
        return "# case built in Python without a source dict\n"
    return "# case as run (written by spindiff from the validated input)\n" + tomli_w.dumps(raw)
