"""A case on a mesh, stepped in time: the `Simulation` object.

    from spindiff import Simulation, load_case
    sim = Simulation(load_case("cases/default.toml"))
    sim.advance_to(5.0)          # integrate (processing protocol events) up to t = 5 s
    sim.averages()["visible"]    # <P> over the NMR-visible region now
    result = sim.run()           # to the end of the protocol: RunResult(series, summary)

A Simulation holds the transport model, the domain, the discretization, the step system, the
adaptive BDF2 stepper and the protocol's event list. Outputs are observers attached to it
(`observe`): they are told about every accepted step, every point between two steps (where the
state is complete: checkpoints, interruption), every output row, and the end. `spindiff.run`
composes a Simulation with the observers of a results folder (spindiff.runner).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from mpi4py import MPI

from . import __version__
from .analysis.stages import final_enhancement, stage_ends, stage_fits, stage_kind
from .case.describe import conditions
from .case.schema import Case
from .domains import build_domain as _build
from .errors import CaseError, SolverError
from .io.progress import peak_resident_mb, phase
from .mesh.domain import Domain
from .model import TransportModel, stage_boundaries, transport_model
from .protocol import Event, protocol_events
from .run_types import Observer, ProfileRecorder, RunResult, series_of

__all__ = ["Simulation", "Observer", "RunResult", "build_domain", "steady_state", "stage_fits"]


def build_domain(case: Case, comm: MPI.Comm, mesh_model: str | None = None,
                 model: TransportModel | None = None) -> Domain:
    """Mesh the case's geometry ("3d" or the "radial" 1D reduction of a sphere cell, particle
    or film; the model's rates set the interface layers the 1D mesh resolves)."""
    return _build(case, comm, mesh_model, model=model)


class Simulation:
    """The nuclear polarization P(x, t) of a case, advanced through its protocol.

    Made of the transport model (`model`), the meshed `domain`, the `disc`retization with its
    `observables` and `field_events`, the stage `assembly`, the step `system` and the
    `stepper` (docs/reference/architecture.md); `rows` holds the output rows so far (`series`).

    Args:
        case: a validated case.
        model: the transport model (default: built from the case; cases whose sources come
            from the rate module or a homogenized matrix need it computed first, see
            spindiff.runner.model_for_case).
        domain: an already built mesh (default: meshed from the case, on `comm`, or on every
            rank alone for the 1D reductions).
        comm: the MPI communicator.
        mesh_model: "3d" or "radial" instead of the case's.
        initial: initial(x) gives P at points x of shape (3, m) in nm (default: the case's
            uniform value).
        forcing: forcing(t, x) gives a UFL source f added as n f (manufactured solutions).
        fixed_dt: a constant step (s) without step-size control (convergence studies).
        observers: Observer objects; their `setup` runs before the step matrices exist.
        started_at: the perf_counter time the run started (for the summary's wall time).
        progress: a line per set-up phase (meshing, coefficients) with its wall time on rank 0.

    Raises:
        CaseError: an initial field with |P| >= 1 somewhere.
        MeshError: a mesh the builders or the materials refuse.
    """

    def __init__(self, case: Case, *, model: TransportModel | None = None,
                 domain: Domain | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
                 mesh_model: str | None = None,
                 initial: Callable[[np.ndarray], np.ndarray] | None = None,
                 forcing: Callable | None = None, fixed_dt: float | None = None,
                 observers: Sequence[Observer] = (), started_at: float | None = None,
                 progress: bool = False):
        # DOLFINx is imported when a mesh is made, not with this module: the spins model
        # (spindiff.spins) subclasses Simulation and runs without it
        from .fem.events import FieldEvents
        from .fem.observables import Observables
        from .fem.operators import Discretization
        from .fem.stage_assembly import StageAssembly
        from .fem.stepper import AdaptiveBDF2, WeightedRMS
        from .fem.systems import StepSystem
        from .mesh import compat

        self.wall0 = started_at if started_at is not None else time.perf_counter()
        self.case, self.comm = case, comm
        self.model = model if model is not None else transport_model(case)
        # the 1D reductions (radial cell, particle or film) are tiny: every rank solves them
        # whole (identical numbers, no communication per step); rank 0 still writes the files
        serial = (domain.serial if domain is not None
                  else (mesh_model or case.mesh.model) == "radial")
        mesh_comm = MPI.COMM_SELF if serial else comm
        t_mesh = time.perf_counter()
        if domain is None:
            with phase(comm, "meshing", progress):
                domain = build_domain(case, mesh_comm, mesh_model, model=self.model)
        self.domain = domain
        self.solve_comm = self.domain.comm
        #: wall time of the meshing phase alone (s; 0 for a domain given ready-made)
        self.mesh_time = time.perf_counter() - t_mesh
        s = case.solver
        with phase(comm, "coefficients and operators", progress) as setup:
            self.disc = Discretization(self.domain, self.model, forcing=forcing,
                                       lumped_mass=s.mass == "lumped",
                                       quadrature_degree=case.mesh.quadrature_degree,
                                       element_degree=case.mesh.element_degree)
            #: averages, material means and radial profiles of P (spindiff.fem.observables)
            self.observables = Observables.of(self.disc)
            #: saturation and pulses (spindiff.fem.events)
            self.field_events = FieldEvents.of(self.disc)
            self.columns = ["time_s", *(f"P_{k}" for k in self.observables.weights),
                            "enhancement", "stage"]
            # the observers' set-up before the operators exist: per-point transients (the
            # radial profile's shells) then sit well below the time loop's memory
            self.observers: list[Observer] = list(observers)
            for o in self.observers:
                o.setup(self)
            #: the stage laws and operators K, Q, g (spindiff.fem.stage_assembly)
            self.assembly = StageAssembly(self.disc, self.model)
            norm = WeightedRMS(s.rtol, s.atol)  # the stepper's error norm, also Newton's
            self.system = StepSystem(self.assembly, s.linear_solver, s.ksp_rtol, s.petsc_options,
                                     material_means=self.observables.material_means, norm=norm)
            # the first stage's laws around the centres and its operators (the sums over
            # centres are the bulk of the set-up; a later set_stage with the same laws reuses them)
            self.system.set_stage(self.model.stages[0])
        self.setup_time = setup.seconds

        if initial is None:
            self.disc.set_uniform(self.model.initial_polarization)
        else:
            self.disc.P.interpolate(initial)
        self.P = compat.petsc_vector(self.disc.P)
        self.disc.constrain(self.P)
        peak = self.solve_comm.allreduce(float(np.max(np.abs(self.P.array_r), initial=0.0)),
                                         op=MPI.MAX)
        if not peak < 1.0:
            raise CaseError("initial polarization", f"max |P| = {peak:.4g}",
                            "must satisfy |P| < 1 everywhere")

        self.stepper = AdaptiveBDF2(self.system, self.P, s.rtol, s.atol, s.dt_initial, s.dt_max,
                                    on_step=self._on_step, fixed_dt=fixed_dt,
                                    between_steps=self._between_steps, norm=norm)
        self.starts = stage_boundaries(self.model.stages)
        self.events = protocol_events(self.model.stages)
        self.rows: list[list] = []
        self.next_event = 0      # the first event not yet processed
        self.current_event = 0   # the event being worked on (for checkpoints between steps)
        self._started = False

    # --- state ---------------------------------------------------------------------------

    @property
    def t(self) -> float:
        """Current time (s)."""
        return self.stepper.t

    @property
    def end_time(self) -> float:
        return self.model.end_time

    @property
    def series(self) -> dict[str, np.ndarray]:
        """The rows recorded so far, as column arrays."""
        return series_of(self.rows, self.columns)

    def averages(self) -> dict[str, float]:
        """<P> now over the sample, the visible region and each material (collective)."""
        return self.observables.averages(self.P)

    def observe(self, *observers: Observer) -> Simulation:
        """Attach observers; their `setup` runs at once.

        Args:
            *observers: Observer objects.

        Returns:
            This simulation.
        """
        for o in observers:
            o.setup(self)
            self.observers.append(o)
        return self

    def resume_at(self, event: int, rows: list[list]) -> None:
        """Continue from a restored state: `event` is the next one to process and `rows` the
        rows recorded before (spindiff.observers.Checkpointer.restore)."""
        self.rows[:] = rows
        self.next_event = self.current_event = event
        self._started = True

    # --- time ----------------------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        """Process the protocol's events up to time t and integrate to exactly t.

        Args:
            t: the time (s) from the start of the protocol.
        """
        if not self._started:
            self._start()
        while self.next_event < len(self.events) and self.events[self.next_event].t <= t:
            self.current_event = self.next_event
            self._process(self.events[self.next_event])
            self.next_event += 1
        if self.next_event < len(self.events) and t > self.stepper.t:
            self.current_event = self.next_event
            self.stepper.advance_to(t)

    def run(self) -> RunResult:
        """Integrate to the end of the protocol, then close the observers.

        Returns:
            The RunResult: the series, the summary (fits, final values, costs; no spatial
            error estimate, which `spindiff.run` adds) and the final field.
        """
        if (self.case.output.profile and not self._started and len(self.domain.centres)
                and not any(getattr(o, "records_profile", False) for o in self.observers)):
            self.observe(ProfileRecorder(self.case.output.profile_bins))
        try:
            self.advance_to(self.end_time)
        finally:
            self.close()
        return self.result()

    def result(self, out_dir: Path | None = None) -> RunResult:
        from .mesh import compat
        series = self.series
        compat.scatter_forward(self.disc.P)
        recorder = next((o for o in self.observers if isinstance(o, ProfileRecorder)), None)
        return RunResult(series=series, summary=self.summary(series), out_dir=out_dir,
                         final_field=self.disc.P.x.array.copy(),
                         coordinates=compat.dof_coordinates(self.disc.P.function_space).copy(),
                         profile=recorder.profile() if recorder is not None else None)

    def close(self) -> None:
        for o in self.observers:
            o.close(self)

    def _start(self) -> None:
        self._started = True
        self.system.set_stage(self.model.stages[0])
        self._record(0.0, self.model.stages[0].name, None)

    def _process(self, ev: Event) -> None:
        stage = self.model.stages[ev.stage]
        system, disc, stepper, P = self.system, self.disc, self.stepper, self.P
        if ev.kind == "start":
            system.set_stage(stage)
            if stage.saturate != "none":
                self.field_events.saturate(stage.saturate)
            system.apply_dirichlet(P)
            disc.constrain(P)
            if stage.saturate != "none" or ev.t > 0 and system.ops.has_bc:
                self._record(ev.t, stage.name, ev)
            if not stage.pulsed:
                stepper.restart(ev.t)
        elif ev.kind == "output":
            stepper.advance_to(ev.t)
            self._record(ev.t, stage.name, ev)
        else:  # a pulse of the intermittent source
            stepper.advance_to(ev.t)
            self.field_events.apply_pulse(stage.source_polarization, stage.pulse_exchange, P)
            stepper.restart(ev.t, None if ev.first_pulse else stepper.first_step_dt)

    def _record(self, t: float, stage: str, event: Event | None) -> None:
        avg = self.observables.averages(self.P)
        P0 = self.model.thermal_polarization
        enh = avg["sample"] / P0 if P0 != 0 else float("nan")
        row = [t, *avg.values(), enh, stage]
        self.rows.append(row)
        for o in self.observers:
            o.on_row(self, event, row)

    def _on_step(self, t: float, dt: float) -> None:
        for o in self.observers:
            o.on_step(self, t, dt)

    def _between_steps(self) -> None:
        for o in self.observers:
            o.between_steps(self)

    # --- summary -------------------------------------------------------------------------

    def summary(self, series: dict[str, np.ndarray] | None = None,
                status: str = "complete") -> dict:
        """Fits per stage (and material), final values, discretization and cost figures."""
        series = self.series if series is None else series
        case, model, system = self.case, self.model, self.system
        final = {k[2:]: float(series[k][-1]) for k in series if k.startswith("P_")}
        ends = stage_ends(series, model)
        return {
            "spindiff_version": __version__,
            "case": case.case.name,
            "status": status,
            "thermal_polarization": model.thermal_polarization,
            "final": {"P": final, **final_enhancement(series, model.thermal_polarization),
                      "time_s": float(series["time_s"][-1])},
            "conditions": conditions(case),
            "fits": stage_fits(series, model, self.starts, case.solver.rtol, case.solver.atol),
            "stages": [{"name": st.name, "start_s": float(t0), "end_s": float(t1),
                        "source_on": st.source_on, "saturate": st.saturate,
                        "spacing": st.spacing, "pulsed": st.pulsed,
                        "electron_polarization": st.electron_polarization,
                        "kind": stage_kind(st.source_on, st.saturate),
                        **{k: v for k, v in ends.get(st.name, {}).items() if k != "time_s"}}
                       for st, t0, t1 in zip(model.stages, self.starts[:-1], self.starts[1:])],
            **self.discretization_summary(),
            "time_stepping": {**self.stepper.stats.as_dict(), "rtol": case.solver.rtol,
                              "atol": case.solver.atol},
            "linear_solver": {"kind": system.kind, **system.stats},
            "wall_time_s": time.perf_counter() - self.wall0,
            "mesh_time_s": self.mesh_time,
            "peak_memory_MB": self.solve_comm.allreduce(peak_resident_mb(), op=MPI.SUM),
            "ranks": self.comm.size,
            "ranks_per_solve": self.solve_comm.size,
            "versions": {"spindiff": __version__, **self.stack_versions()},
            **({"model_notes": model.notes} if model.notes else {}),
        }

    def discretization_summary(self) -> dict:
        """summary.json's "diffusion" (the law, its cap and the largest factor reached) and
        "mesh" (model, dofs, cells, element and quadrature degrees)."""
        from .mesh import compat
        model, domain, disc = self.model, self.domain, self.disc
        ncells = self.solve_comm.allreduce(
            compat.num_cells_local(domain.mesh, with_ghosts=False), op=MPI.SUM)
        return {
            "diffusion": {"model": model.diffusion.model,
                          "polarization": model.diffusion.polarization,
                          "regularization_eps": model.diffusion.eps,
                          "f_cap": model.diffusion.cap, "f_max_reached": self.system.f_max()},
            "mesh": {"model": "radial" if domain.serial else "3d", "dofs": disc.ndofs,
                     "cells": ncells, "description": domain.description,
                     "quadrature_degree": disc.quadrature_degree,
                     "element_degree": disc.element_degree}}

    def stack_versions(self) -> dict:
        """Versions of the compiled stack (DOLFINx, PETSc, ...) for summary.json."""
        from .mesh import compat
        return compat.versions()


def steady_state(case: Case, comm: MPI.Comm = MPI.COMM_WORLD, mesh_model: str | None = None,
                 stage: int = 0, domain: Domain | None = None,
                 model: TransportModel | None = None):
    """Steady state of one protocol stage: solves S P = g. Returns (discretization, P) where
    disc.P holds the field; needs relaxation or a fixed boundary to be well posed."""
    from .fem.observables import Observables
    from .fem.operators import Discretization
    from .fem.stage_assembly import StageAssembly
    from .fem.systems import StepSystem
    from .mesh import compat

    model = model or transport_model(case)
    domain = domain or build_domain(case, comm, mesh_model, model=model)
    disc = Discretization(domain, model)
    means = Observables.of(disc).material_means if model.diffusion.per_material else None
    system = StepSystem(StageAssembly(disc, model),
                        "direct" if domain.serial else case.solver.linear_solver,
                        case.solver.ksp_rtol, case.solver.petsc_options, material_means=means)
    system.set_stage(model.stages[stage])
    P = compat.petsc_vector(disc.P)
    P.set(model.initial_polarization)
    system.apply_dirichlet(P)
    if not system.steady_state(P):
        raise SolverError("the steady-state solve did not converge (is the problem well posed?)")
    compat.scatter_forward(disc.P)
    return disc, P


