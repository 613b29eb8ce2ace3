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
from .protocol import protocol_events


@dataclass
class RunResult:
    """What a run computed: the time series (column arrays), the summary dict and the folder."""
    series: dict[str, np.ndarray]
    summary: dict
    out_dir: Optional[Path] = None
    final_field: Optional[np.ndarray] = field(default=None, repr=False)


def build_domain(case: Case, comm: MPI.Comm, mesh_model: str | None = None) -> Domain:
    """Mesh the case's geometry ("3d" or, for a sphere cell, the "radial" 1D reduction)."""
    from .domains import build_domain as _build
    return _build(case, comm, mesh_model)


def run(case: Case, out_dir: str | Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
        mesh_model: str | None = None, progress: bool = True, case_text: str | None = None,
        model: TransportModel | None = None, initial: Callable[[np.ndarray], np.ndarray] | None = None,
        domain: Domain | None = None, forcing: Callable | None = None,
        fixed_dt: float | None = None, resume: bool = False) -> RunResult:
    """Simulate `case`; write the results folder when `out_dir` is given.

    mesh_model overrides case.mesh.model ("3d" or "radial"); `model` overrides the transport
    model built from the case; `initial(x)` (x of shape (3, m), nm) overrides the uniform
    initial polarization; `domain` reuses an already built mesh; `forcing(t, x)` returns a UFL
    source f added to the right-hand side as n f (manufactured solutions; t is a fem.Constant);
    `fixed_dt` switches off step-size control (convergence studies). `resume` continues a run
    of the same case from the checkpoint in `out_dir`.partial (see spindiff.io.checkpoint).
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
    # the 1D radial reduction is tiny: every rank solves it whole (identical numbers, no
    # communication per step); rank 0 still writes the files
    radial = (domain.radial if domain is not None else (mesh_model or case.mesh.model) == "radial"
              and case.geometry.kind == "sphere_cell")
    solve_comm = MPI.COMM_SELF if radial else comm
    domain = domain or build_domain(case, solve_comm, mesh_model)
    solve_comm = domain.comm
    t_mesh = time.perf_counter() - wall0
    disc = Discretization(domain, model, forcing=forcing,
                          lumped_mass=case.solver.mass == "lumped")
    s = case.solver
    system = StepSystem(disc, s.linear_solver, s.ksp_rtol, s.petsc_options)

    columns = ["time_s", *(f"P_{k}" for k in disc.weights), "enhancement", "stage"]
    writer = None
    resume_state = None
    if out_dir is not None:
        text = case_text if case_text is not None else _case_text(case)
        if resume:
            resume_state = _Checkpointer.find(out_dir, comm)
        writer = ResultsWriter(out_dir, comm, text, columns,
                               keep_rows=resume_state["rows"] if resume_state else None,
                               keep_extra=resume_state["extra_rows"] if resume_state else None)
    fields = None
    if writer is not None and case.output.fields:
        if solve_comm.size == comm.size or comm.rank == 0:
            name = "P.xdmf" if resume_state is None else f"P.resumed{resume_state['resumes'] + 1}.xdmf"
            fields = compat.FieldWriter(solve_comm, str(writer.path / "fields" / name), disc.P)

    if initial is None:
        disc.set_uniform(model.initial_polarization)
    else:
        disc.P.interpolate(initial)
    P = compat.petsc_vector(disc.P)
    disc.constrain(P)
    peak = solve_comm.allreduce(float(np.max(np.abs(P.array_r), initial=0.0)), op=MPI.MAX)
    if not peak < 1.0:
        from .errors import CaseError
        raise CaseError("initial polarization", f"max |P| = {peak:.4g}", "must satisfy |P| < 1 everywhere")
    P0 = model.thermal_polarization
    rows: list[list] = []

    profile = None
    if case.output.profile and len(domain.centres):
        profile = disc.radial_profile_setup(case.output.profile_bins)
        if writer is not None:
            writer.open_extra("profile.csv", ["time_s", *(f"r_{r:.4g}_nm" for r in profile)])

    def record(t: float, stage: str) -> None:
        avg = disc.averages(P)
        if profile is not None and writer is not None:
            writer.extra_row("profile.csv", [t, *disc.radial_profile(P)])
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
    events = protocol_events(model.stages)
    keeper = _Checkpointer(case, writer, solve_comm, comm, disc, system, stepper, P) \
        if writer is not None else None
    first = 0
    if resume_state is not None:
        first = keeper.restore(resume_state, rows)
    status = "complete"
    try:
        if first == 0:
            system.set_stage(model.stages[0])
            record(0.0, model.stages[0].name)
        for k in range(first, len(events)):
            ev = events[k]
            stage = model.stages[ev.stage]
            if ev.kind == "start":
                system.set_stage(stage)
                if stage.saturate != "none":
                    disc.saturate(stage.saturate)
                system.apply_dirichlet(P)
                disc.constrain(P)
                if stage.saturate != "none" or ev.t > 0 and system.ops.has_bc:
                    record(ev.t, stage.name)
                if not stage.pulsed:
                    stepper.restart(ev.t)
            elif ev.kind == "output":
                stepper.advance_to(ev.t)
                record(ev.t, stage.name)
                if keeper is not None:
                    keeper.maybe_save(k, ev.t, len(rows))
            else:  # a pulse of the intermittent source
                stepper.advance_to(ev.t)
                disc.apply_pulse(stage.source_polarization, stage.pulse_exchange, P)
                stepper.restart(ev.t, None if ev.first_pulse else stepper.first_step_dt)
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
    summary = _summary(case, model, domain, disc, system, stepper, series, starts, comm, solve_comm,
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


class _Checkpointer:
    """Writes checkpoints after output rows at the case's intervals and restores them."""

    def __init__(self, case, writer, solve_comm, comm, disc, system, stepper, P):
        from .fem import compat
        self.case, self.writer = case, writer
        self.solve_comm, self.comm = solve_comm, comm
        self.disc, self.system, self.stepper, self.P = disc, system, stepper, P
        out = case.output
        self.wall_every = out.checkpoint_wall
        self.sim_every = out.checkpoint_simulated
        self.last_wall = time.monotonic()
        self.last_sim = 0.0
        self.resumes = 0
        n_owned = compat.owned_size(disc.V0)
        self.coordinates = compat.dof_coordinates(disc.V0)[:n_owned].copy()
        self.writes = solve_comm.size == comm.size or comm.rank == 0

    @staticmethod
    def find(out_dir, comm) -> dict:
        """The state of the checkpoint in out_dir.partial (read on rank 0, broadcast)."""
        from .errors import SpindiffError
        from .io import checkpoint
        from .io.results import PARTIAL_SUFFIX
        final = Path(out_dir)
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        if not checkpoint.exists(partial):
            raise SpindiffError(f"nothing to resume in {partial}: no {checkpoint.NAME} (a run "
                                f"writes one at output.checkpoint_wall / checkpoint_simulated)")
        import h5py
        import json as _json
        state = None
        if comm.rank == 0:
            with h5py.File(partial / checkpoint.NAME, "r") as f:
                state = _json.loads(f.attrs["state"])
        return comm.bcast(state, root=0)

    def maybe_save(self, event: int, t: float, nrows: int) -> None:
        due = ((self.wall_every is not None and time.monotonic() - self.last_wall >= self.wall_every)
               or (self.sim_every is not None and t - self.last_sim >= self.sim_every * (1 - 1e-12)))
        due = self.comm.bcast(due, root=0)
        if not due:
            return
        self.save(event, t, nrows)

    def save(self, event: int, t: float, nrows: int) -> None:
        from .io import checkpoint
        scalars, vectors = self.stepper.state()
        attrs = {"event": event, "t": t, "rows": nrows, "stepper": scalars,
                 "f_max": self.system.f_max(), "resumes": self.resumes,
                 "extra_rows": self.writer.extra_rows()}
        if self.writes:
            checkpoint.save(self.writer.path, self.solve_comm, attrs, {"P": self.P, **vectors},
                            self.coordinates)
        self.comm.barrier()
        self.last_wall, self.last_sim = time.monotonic(), t
        # the resumed run starts with a fresh preconditioner: start one here too, so that
        # both runs take identical steps
        self.system.reset_preconditioner()

    def restore(self, state: dict, rows: list) -> int:
        """Load the checkpoint into P and the stepper; returns the first event to process."""
        from .io import checkpoint
        attrs, arrays = checkpoint.load(self.writer.path, self.solve_comm, self.P, self.coordinates)
        self.P.array[:] = arrays["P"]
        self.disc.constrain(self.P)
        self.stepper.set_state(attrs["stepper"], arrays)
        self.system.f_max_seen = attrs["f_max"]
        self.resumes = attrs["resumes"] + 1
        self.last_sim = attrs["t"]
        rows.extend(self.writer.kept_rows)
        event = attrs["event"]
        from .protocol import protocol_events
        stage = protocol_events(self.disc.model.stages)[event].stage
        self.system.set_stage(self.disc.model.stages[stage])
        self.system.reset_preconditioner()
        return event + 1


def _columns(rows: list[list], columns: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for j, name in enumerate(columns):
        vals = [r[j] for r in rows]
        out[name] = np.array(vals) if name == "stage" else np.array(vals, dtype=float)
    return out


def _summary(case, model, domain, disc, system, stepper, series, starts, comm, solve_comm, wall,
             t_mesh, status) -> dict:
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
        materials = [k for k in series if k.startswith("P_") and k[2:] in model.materials]
        if materials:
            fit["materials"] = {k[2:]: fit_buildup(tt, series[k][sel]) for k in materials}
        fits[stage.name] = fit
    ncells = solve_comm.allreduce(compat.num_cells_local(domain.mesh, with_ghosts=False), op=MPI.SUM)
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
        "ranks_per_solve": solve_comm.size,
        "versions": {"spindiff": __version__, **compat.versions()},
        **({"model_notes": model.notes} if model.notes else {}),
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
