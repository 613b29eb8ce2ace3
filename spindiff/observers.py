"""Observers of a Simulation that make a results folder: rows, radial profiles, fields,
progress and checkpoints (attached by spindiff.runner, or by hand in Python).

    sim = Simulation(case, observers=[RowWriter(writer), ProfileWriter(writer, 40)])
    sim.observe(FieldWriter(writer, sim), Progress(sim), Checkpointer(sim, writer, guard))

RowWriter and ProfileWriter do their set-up in `setup` (the columns of timeseries.csv, the
profile's shells before the step operators exist); the others need the built Simulation.
"""
from __future__ import annotations

import time

import numpy as np
from mpi4py import MPI

from .io import checkpoint
from .io.folders import describe_os_error
from .io.interrupt import RunInterrupted, signal_name
from .io.progress import Progress as Bar
from .io.results import PROFILE_COLUMNS, DiskError, ResultsWriter
from .protocol import Event
from .simulation import Observer, Simulation


class RowWriter(Observer):
    """Streams every output row to timeseries.csv (opened with the simulation's columns)."""

    def __init__(self, writer: ResultsWriter):
        self.writer = writer

    def setup(self, sim: Simulation) -> None:
        self.writer.start(sim.columns)

    def on_row(self, sim: Simulation, event: Event | None, row: list) -> None:
        self.writer.row(row)


class ProfileWriter(Observer):
    """profile.csv: <P> in `bins` shells around the centres at every output row, in long format
    (time_s, r_nm, P: one row per shell; r_nm is the shell's mid radius in nm). A sample
    without centres has no profile (no file)."""

    records_profile = True

    def __init__(self, writer: ResultsWriter, bins: int):
        self.writer, self.bins = writer, bins
        self.radii: np.ndarray | None = None

    def setup(self, sim: Simulation) -> None:
        """The shells (before the step operators exist when given to the Simulation)."""
        if len(sim.domain.centres):
            self.radii = sim.observables.radial_profile_shells(self.bins)
            self.writer.open_extra("profile.csv", PROFILE_COLUMNS)

    def on_row(self, sim: Simulation, event: Event | None, row: list) -> None:
        if self.radii is None:
            return
        values = sim.observables.radial_profile(sim.P)
        self.writer.extra_rows_many("profile.csv", [[row[0], float(r), p]
                                                    for r, p in zip(self.radii, values)])


class FieldWriter(Observer):
    """fields/P.xdmf (P.resumed<k>.xdmf after the k-th resume): P(x, t) at every output row."""

    def __init__(self, writer: ResultsWriter, sim: Simulation, resumes: int = 0):
        from .mesh import compat  # DOLFINx: the FEM fields only (not the spins model)
        self.writer = writer
        self.file = None
        if sim.solve_comm.size == sim.comm.size or sim.comm.rank == 0:
            name = "P.xdmf" if resumes == 0 else f"P.resumed{resumes}.xdmf"
            self.file = compat.FieldWriter(sim.solve_comm, str(writer.path / "fields" / name),
                                           sim.disc.P)

    def on_row(self, sim: Simulation, event: Event | None, row: list) -> None:
        from .mesh import compat
        # HDF5 cannot fail cleanly on a full disk: refuse before writing
        self.writer.ensure_space(4 * 8 * sim.disc.ndofs + 2**18, "fields/P.h5")
        if self.file is not None:
            compat.scatter_forward(sim.disc.P)
            self.file.write(row[0])

    def close(self, sim: Simulation) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class Progress(Observer):
    """A progress bar (or periodic lines) over simulated time, on rank 0."""

    def __init__(self, sim: Simulation, enabled: bool = True):
        self.bar = Bar(sim.comm, sim.end_time, sim.case.case.name, enabled=enabled)

    def on_step(self, sim: Simulation, t: float, dt: float) -> None:
        self.bar.update(t, f"dt={dt:.2g} s")

    def close(self, sim: Simulation) -> None:
        self.bar.close()


class Checkpointer(Observer):
    """Writes checkpoints after output rows and between steps at the case's intervals
    (output.checkpoint_wall, checkpoint_simulated), and at once on SIGINT/SIGTERM (then raises
    RunInterrupted); restores them."""

    def __init__(self, sim: Simulation, writer: ResultsWriter, guard=None,
                 resume_hint: str | None = None):
        from .mesh import compat
        self.sim, self.writer, self.guard = sim, writer, guard
        #: the command that continues the run (named in the STATUS note of an interruption)
        self.resume_hint = resume_hint or (f"spindiff.run(case, out_dir={writer.folder.shown!r}, "
                                           "resume=True)")
        out = sim.case.output
        self.wall_every = out.checkpoint_wall
        self.sim_every = out.checkpoint_simulated
        self.last_wall = time.monotonic()
        self.last_sim = 0.0
        self.resumes = 0
        if hasattr(sim, "owned_coordinates"):  # individual nuclei (spindiff.spins)
            self.coordinates = sim.owned_coordinates()
        else:
            n_owned = compat.owned_size(sim.disc.V0)
            self.coordinates = compat.dof_coordinates(sim.disc.V0)[:n_owned].copy()
        self.writes = sim.solve_comm.size == sim.comm.size or sim.comm.rank == 0

    @staticmethod
    def find(folder, comm) -> dict | None:
        """The state of the checkpoint in a claimed OUT.partial (read on rank 0, broadcast);
        None when there is none (the run then starts again in that folder)."""
        state = None
        if comm.rank == 0 and checkpoint.exists(folder.path):
            state = checkpoint.read_state(folder.path)
        return comm.bcast(state, root=0)

    def _wall_due(self) -> bool:
        return self.wall_every is not None and time.monotonic() - self.last_wall >= self.wall_every

    def on_row(self, sim: Simulation, event: Event | None, row: list) -> None:
        """After an output row (not after a stage start: its restart is still to come)."""
        if event is None or event.kind != "output":
            return
        due = self._wall_due() or (self.sim_every is not None
                                   and row[0] - self.last_sim >= self.sim_every * (1 - 1e-12))
        if sim.comm.bcast(due, root=0):
            self.save(sim.current_event, row[0], len(sim.rows), done=True)

    def between_steps(self, sim: Simulation) -> None:
        """Stop on a signal (any rank's), or save when the wall-clock interval has passed.
        One collective per step."""
        signum = (self.guard.signum or 0) if self.guard is not None else 0
        flags = np.array([signum, int(sim.comm.rank == 0 and self._wall_due())])
        sim.comm.Allreduce(MPI.IN_PLACE, flags, op=MPI.MAX)
        signum, due = int(flags[0]), bool(flags[1])
        if signum or due:
            self.save(sim.current_event, sim.t, len(sim.rows), done=False)
        if signum:
            message = (f"interrupted by {signal_name(signum)} at t = {sim.t:.6g} s of "
                       f"{sim.end_time:g} s; checkpoint written to {self.writer.path}")
            self.writer.abort(f"{message}\ncontinue with: {self.resume_hint}")
            raise RunInterrupted(message, signum)

    def save(self, event: int, t: float, nrows: int, done: bool = True) -> None:
        """Checkpoint the state at time t while working on `event` (`done`: its row is written)."""
        sim = self.sim
        scalars, vectors = sim.stepper.state()
        attrs = {"event": event, "done": done, "t": t, "rows": nrows, "stepper": scalars,
                 "f_max": sim.system.f_max(), "resumes": self.resumes,
                 "extra_rows": self.writer.extra_rows()}
        error = None
        if self.writes:
            try:
                checkpoint.save(self.writer.path, sim.solve_comm, attrs,
                                {"P": sim.P, **vectors}, self.coordinates)
            except OSError as exc:
                error = describe_os_error(exc, "writing the checkpoint")
        error = sim.comm.bcast(error, root=0)
        if error is not None:
            raise DiskError(f"{error}; {self.writer.path} keeps the previous checkpoint")
        self.last_wall, self.last_sim = time.monotonic(), t
        # the resumed run starts with a fresh preconditioner: start one here too, so that
        # both runs take identical steps
        sim.system.reset_preconditioner()

    def restore(self, state: dict) -> None:
        """Load the checkpoint into the simulation (P, stepper, rows, protocol position)."""
        sim = self.sim
        attrs, arrays = checkpoint.load(self.writer.path, sim.solve_comm, sim.P,
                                        self.coordinates)
        sim.P.array[:] = arrays["P"]
        sim.disc.constrain(sim.P)
        sim.stepper.set_state(attrs["stepper"], arrays)
        sim.system.f_max_seen = attrs["f_max"]
        self.resumes = attrs["resumes"] + 1
        self.last_sim = attrs["t"]
        event = attrs["event"]
        sim.system.set_stage(sim.model.stages[sim.events[event].stage])
        sim.system.reset_preconditioner()
        sim.resume_at(event + 1 if attrs.get("done", True) else event, self.writer.kept_rows)
