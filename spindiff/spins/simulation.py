"""`SpinSimulation`: a case run on individual nuclei (mesh.model = "spins"), with the protocol,
rows, observers, results folder and checkpoints of `spindiff.simulation.Simulation`.

It subclasses Simulation and replaces what a mesh provides: the field becomes the vector of
nuclear polarizations (one entry per nucleus, rows split over the ranks), the discretization a
`NucleiField` (averages, saturation, pulses, radial profile), the step system
`SpinStepSystem`. The protocol handling (advance_to, events, rows, observers) is
Simulation's own, so the three models process a protocol identically.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from ..case.schema import Case
from ..fem.stepper import AdaptiveBDF2, WeightedRMS
from ..model import TransportModel, stage_boundaries
from ..protocol import protocol_events
from ..run_types import Observer, ProfileRecorder, RunResult
from ..simulation import Simulation
from .sample import SpinSample, spin_model
from .system import SpinStepSystem


@dataclass
class SpinDomain:
    """What the runner and observers ask of a domain."""
    centres: np.ndarray
    description: str
    comm: MPI.Comm
    serial: bool = False


class NucleiField:
    """Observables and field events on the owned nuclei [lo, hi) of a SpinSample."""

    def __init__(self, sample: SpinSample, comm: MPI.Comm, lo: int, hi: int):
        self.sample, self.comm, self.lo, self.hi = sample, comm, lo, hi
        self.ndofs = sample.count
        vis = sample.visible()[lo:hi]
        self.masks = {"sample": np.ones(hi - lo, bool), "visible": vis}
        self.totals = {k: comm.allreduce(int(m.sum()), op=MPI.SUM) for k, m in self.masks.items()}
        self.weights = dict(self.masks)  # the column names of the rows
        self._profile = None

    def averages(self, P: PETSc.Vec) -> dict[str, float]:
        p = P.array_r
        local = np.array([p[m].sum() for m in self.masks.values()])
        tot = self.comm.allreduce(local, op=MPI.SUM)
        return {k: (t / self.totals[k] if self.totals[k] else float("nan"))
                for k, t in zip(self.masks, tot)}

    def material_means(self, P: PETSc.Vec) -> dict[str, float]:
        return {next(iter(self.sample.model.materials)): self.averages(P)["sample"]}

    def constrain(self, P: PETSc.Vec) -> None:
        """No constraints (periodicity is in the couplings)."""

    def saturate(self, region: str, P: PETSc.Vec) -> None:
        """P <- 0 ("all"), (1 - chi) P ("visible") or chi P ("hidden"), chi the fraction a
        visible saturation removes (sharp at r_h, or the tanh edge of saturation_width)."""
        if region == "none":
            return
        if region == "all":
            P.set(0.0)
            return
        chi = self.sample.saturation_fraction()[self.lo:self.hi]
        P.array[:] *= (1.0 - chi) if region == "visible" else chi

    def apply_pulse(self, target: float, exchange: float, P: PETSc.Vec) -> None:
        """P <- P + exchange (target - P) on the nuclei of the source region."""
        m = self.sample.source_region()[self.lo:self.hi]
        P.array[m] += exchange * (target - P.array[m])

    def radial_profile_shells(self, nbins: int) -> np.ndarray:
        """Shells of the nearest-electron distance from 0 to the largest one."""
        if self._profile is None or self._profile[0] != nbins:
            r = self.sample.nearest
            rmax = float(np.max(r[np.isfinite(r)], initial=1.0))
            edges = np.linspace(0.0, rmax * (1 + 1e-9), nbins + 1)
            shell = np.clip(np.digitize(r[self.lo:self.hi], edges) - 1, 0, nbins - 1)
            counts = self.comm.allreduce(np.bincount(shell, minlength=nbins), op=MPI.SUM)
            self._profile = (nbins, shell, counts, 0.5 * (edges[:-1] + edges[1:]))
        return self._profile[3]

    def radial_profile(self, P: PETSc.Vec) -> list[float]:
        nbins, shell, counts, _ = self._profile
        sums = self.comm.allreduce(np.bincount(shell, weights=P.array_r, minlength=nbins),
                                   op=MPI.SUM)
        return [s / c if c else float("nan") for s, c in zip(sums, counts)]


class NucleiEvents:
    """The protocol's field events (Simulation.field_events) on the nuclear polarizations."""

    def __init__(self, field: NucleiField, sim: SpinSimulation):
        self.field, self.sim = field, sim

    def saturate(self, region: str) -> None:
        self.field.saturate(region, self.sim.P)

    def apply_pulse(self, target: float, exchange: float, P: PETSc.Vec) -> None:
        self.field.apply_pulse(target, exchange, P)


class SpinSimulation(Simulation):
    """A case on individual nuclei. Same arguments as Simulation (mesh_model and domain are
    not used; initial(x) gets the (3, m) positions of the owned nuclei)."""

    def __init__(self, case: Case, *, model: TransportModel | None = None,
                 comm: MPI.Comm = MPI.COMM_WORLD, initial=None, fixed_dt: float | None = None,
                 observers: tuple[Observer, ...] = (), started_at: float | None = None,
                 progress: bool = False, **_ignored):
        from ..io.progress import phase
        self.wall0 = started_at if started_at is not None else time.perf_counter()
        self.case, self.comm = case, comm
        self.model = model if model is not None else spin_model(case, comm)
        t0 = time.perf_counter()
        with phase(comm, "nuclei and neighbours", progress):
            self.sample = SpinSample(case, self.model)
        self.mesh_time = time.perf_counter() - t0
        s = case.solver
        with phase(comm, "flip-flop rates and matrix", progress) as setup:
            self.system = SpinStepSystem(self.sample, comm, s.linear_solver, s.ksp_rtol,
                                         s.petsc_options)
            self.system.set_stage(self.model.stages[0])
        self.setup_time = setup.seconds
        lo, hi = self.system.lo, self.system.hi
        self.domain = SpinDomain(self.sample.centres, self.sample.description(), comm)
        self.solve_comm = comm
        self.disc = NucleiField(self.sample, comm, lo, hi)
        self.observables = self.disc
        self.field_events = NucleiEvents(self.disc, self)
        self.columns = ["time_s", *(f"P_{k}" for k in self.disc.weights), "enhancement", "stage"]
        self.observers: list[Observer] = list(observers)
        for o in self.observers:
            o.setup(self)
        self.P = self.system.vector()
        if initial is None:
            self.P.set(self.model.initial_polarization)
        else:
            self.P.array[:] = np.asarray(initial(self.sample.x[lo:hi].T), float)
        peak = comm.allreduce(float(np.max(np.abs(self.P.array_r), initial=0.0)), op=MPI.MAX)
        if not peak < 1.0:
            from ..errors import CaseError
            raise CaseError("initial polarization", f"max |P| = {peak:.4g}",
                            "must satisfy |P| < 1 everywhere")
        self.stepper = AdaptiveBDF2(self.system, self.P, s.rtol, s.atol, s.dt_initial, s.dt_max,
                                    on_step=self._on_step, fixed_dt=fixed_dt,
                                    between_steps=self._between_steps,
                                    norm=WeightedRMS(s.rtol, s.atol))
        self.starts = stage_boundaries(self.model.stages)
        self.events = protocol_events(self.model.stages)
        self.rows: list[list] = []
        self.next_event = 0
        self.current_event = 0
        self._started = False

    # --- what the observers and the runner ask -------------------------------------------

    def owned_coordinates(self) -> np.ndarray:
        """Positions (nm) of the nuclei this rank owns (checkpoints match nuclei by them)."""
        return self.sample.x[self.system.lo:self.system.hi].copy()

    def field_writer(self, writer, resumes: int = 0) -> Observer:
        from .fields import NucleiWriter
        return NucleiWriter(writer, self, resumes)

    def gather(self) -> np.ndarray | None:
        """All nuclear polarizations on rank 0 (None elsewhere)."""
        parts = self.comm.gather(self.P.array_r.copy(), root=0)
        return np.concatenate(parts) if self.comm.rank == 0 else None

    def result(self, out_dir: Path | None = None) -> RunResult:
        series = self.series
        recorder = next((o for o in self.observers if isinstance(o, ProfileRecorder)), None)
        return RunResult(series=series, summary=self.summary(series), out_dir=out_dir,
                         final_field=self.P.array_r.copy(),
                         coordinates=self.owned_coordinates(),
                         profile=recorder.profile() if recorder is not None else None)

    def discretization_summary(self) -> dict:
        """summary.json's "mesh": the nuclei, their couplings and the cutoff's tail bounds."""
        sample, system = self.sample, self.system
        tail = sample.tail.bounds if sample.tail is not None else None
        return {"mesh": {"model": "spins", "dofs": sample.count, "nuclei": sample.count,
                         "centres": len(sample.centres), "electrons": len(sample.electron_xyz),
                         "nonzeros": system.nonzeros, "lattice": sample.placement.kind,
                         "density_nm3": sample.placement.density, "cutoff_nm": sample.rc,
                         "tail": tail, "description": sample.description()}}

    def stack_versions(self) -> dict:
        """No DOLFINx in this model: PETSc's version only."""
        return {"petsc": ".".join(str(v) for v in PETSc.Sys.getVersion())}
