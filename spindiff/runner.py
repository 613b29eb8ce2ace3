"""`spindiff.run(case)`: a Simulation composed with the observers of a results folder.

    from spindiff import load_case, run
    result = run(load_case("cases/default.toml"), out_dir="results/default")
    result.series["P_sample"], result.summary["fits"]

The transport model comes first (`model_for_case`: rate tables from the quantum module and the
effective rates of a homogenized matrix, which need their own small runs), then the mesh and
the Simulation; with `out_dir` the run claims the folder (spindiff.io.folders), streams rows,
profiles and fields into it, checkpoints, stops cleanly on SIGINT/SIGTERM, and at the end
writes summary.json and buildup.png and moves DIR.partial to DIR.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import tomli_w
from mpi4py import MPI

from .case.schema import Case
from .error_estimate import estimate, warning
from .homogenize import effective_rates
from .io import checkpoint
from .io.folders import OutputFolder
from .io.identity import case_identity
from .io.interrupt import RunInterrupted, SignalGuard
from .io.progress import phase
from .io.replot import plot_results
from .io.results import ResultsWriter, read_profile
from .mesh.domain import Domain
from .model import TransportModel, transport_model
from .observers import Checkpointer, FieldWriter, ProfileWriter, Progress, RowWriter
from .rates import tables_for_case
from .simulation import Observer, RunResult, Simulation
from .sources import source_law
from .spins.resolve import resolve


def model_for_case(case: Case, comm: MPI.Comm = MPI.COMM_WORLD,
                   progress: bool = False) -> TransportModel:
    """The transport model with everything it needs computed: rate tables (source.model =
    "rates", computed on rank 0 and cached) and homogenized-matrix rates (runs of the single
    cell on every rank). progress: a line per phase with its wall time on rank 0."""
    tables = None
    law = source_law(case)
    if law.needs_rate_tables and _pair_spins(case):
        tables = {}  # electron pairs of the spins model compute their own rates per nucleus
    elif law.needs_rate_tables:
        with phase(comm, "rate tables", progress):
            tables = tables_for_case(case, comm)
    homogenized = None
    if case.centres.representation == "homogenized":
        with phase(comm, "homogenized matrix rates", progress):
            homogenized = effective_rates(case)
    return transport_model(case, tables, homogenized)


def _pair_spins(case: Case) -> bool:
    return (case.mesh.model == "spins" and case.spins is not None
            and case.spins.pair_distance is not None)


def run(case: Case, out_dir: str | Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
        mesh_model: str | None = None, progress: bool = True, case_text: str | None = None,
        domain: Domain | None = None, resume: bool = False, overwrite: bool = False,
        observers: Sequence[Observer] = (), resume_hint: str | None = None,
        **simulation_options) -> RunResult:
    """Simulate `case` to the end of its protocol; write the results folder when `out_dir` is
    given. With `out_dir`, SIGINT and SIGTERM stop the run between two steps with a
    checkpoint (RunInterrupted).

    Args:
        case: a validated case (`load_case`, `Case.with_changes`).
        out_dir: the results folder (docs/reference/results.md), written as `out_dir`.partial and renamed
            when the run has finished; None: nothing is written.
        comm: the MPI communicator of the run (the 1D reductions run whole on every rank).
        mesh_model: "3d" or "radial" instead of case.mesh.model.
        progress: a progress bar and a line per set-up phase on rank 0.
        case_text: the case file's text for `out_dir`/case.toml (default: written from the case).
        domain: reuse a built mesh (spindiff.simulation.build_domain).
        resume: continue the run of the same case in `out_dir`.partial from its checkpoint.
        overwrite: let the finished run replace an earlier results folder of spindiff's in
            `out_dir` (nothing else is ever replaced, see spindiff.io.folders).
        observers: Observer objects told about the run (docs/reference/architecture.md), beside those
            of the results folder.
        resume_hint: the command that continues an interrupted run, for its STATUS note
            (default: the Python call).
        **simulation_options: passed to `Simulation` (model, initial, forcing, fixed_dt).

    Returns:
        The RunResult (series, summary with the spatial error estimate, the folder).

    Raises:
        CaseError: a case the solver refuses (PETSc options, the initial field).
        RunInterrupted: SIGINT or SIGTERM with `out_dir`; the checkpoint is in the folder.
    """
    from .fem.linear_solver import check_options  # PETSc: not loaded with `import spindiff`

    wall0 = time.perf_counter()
    check_options(case)  # PETSc's own verdict on the case's options, before anything is made
    case = resolve(case, comm, progress)  # "derived" keys: from individual nuclei (cached)
    if out_dir is None:
        sim = _simulation(case, comm, mesh_model, domain, wall0, progress, observers,
                          simulation_options)
        sim.observe(Progress(sim, enabled=progress))
        return _spatial_error(sim, sim.run(), mesh_model, domain is not None, simulation_options)
    identity = case_identity(case)
    if mesh_model is not None:
        identity["mesh.model"] = mesh_model
    folder = OutputFolder(out_dir, comm, "run", identity, overwrite=overwrite, resume=resume)
    with SignalGuard() as guard:
        try:
            writer, state, folder_observers = _folder_writers(case, folder, comm, case_text)
            sim = _simulation(case, comm, mesh_model, domain, wall0, progress,
                              [*folder_observers, *observers], simulation_options)
            return _run_into(sim, writer, state, guard, progress,
                             lambda res: _spatial_error(sim, res, mesh_model, domain is not None,
                                                        simulation_options),
                             resume_hint=resume_hint)
        except BaseException as exc:
            _leave(folder, exc)
            raise


def _simulation(case, comm, mesh_model, domain, wall0, progress, observers,
                options) -> Simulation:
    model = options.pop("model", None) or model_for_case(case, comm, progress)
    if (mesh_model or case.mesh.model) == "spins":  # individual nuclei (spindiff.spins)
        from .spins.simulation import SpinSimulation  # only for mesh.model = "spins"
        return SpinSimulation(case, model=model, comm=comm, started_at=wall0,
                              progress=progress, observers=observers, **options)
    return Simulation(case, model=model, domain=domain, comm=comm, mesh_model=mesh_model,
                      started_at=wall0, progress=progress, observers=observers, **options)


def _folder_writers(case: Case, folder, comm: MPI.Comm, case_text: str | None):
    """The results writer of a claimed folder, the checkpoint state to resume from (or None)
    and the observers that set the folder up with the simulation (rows, profile)."""
    state = Checkpointer.find(folder, comm) if folder.resumed else None
    text = case_text if case_text is not None else _case_text(case)
    writer = ResultsWriter(folder, text, keep_rows=state["rows"] if state else None,
                           keep_extra=state["extra_rows"] if state else None)
    observers = [RowWriter(writer)]
    if case.output.profile:
        observers.append(ProfileWriter(writer, case.output.profile_bins))
    return writer, state, observers


def _run_into(sim: Simulation, writer, state: dict | None, guard, progress: bool,
              finish=lambda res: res, resume_hint: str | None = None) -> RunResult:
    """Attach the other results-folder observers, restore a checkpoint, run, write the summary
    (after `finish(result)`: the spatial error estimate)."""
    case = sim.case
    keeper = Checkpointer(sim, writer, guard, resume_hint)
    if case.output.fields:
        make = getattr(sim, "field_writer", lambda w, resumes: FieldWriter(w, sim, resumes))
        sim.observe(make(writer, resumes=state["resumes"] + 1 if state else 0))
    sim.observe(Progress(sim, enabled=progress), keeper)
    if state is not None:
        keeper.restore(state)
    guard.deferring = True
    try:
        result = sim.run()
    finally:
        guard.deferring = False
    result = finish(result)
    writer.write_json("summary.json", result.summary)
    if case.output.plots:  # drawn from the files just written, as `spindiff plot` would
        writer.write_file("buildup.png", lambda path: plot_results(
            path.parent))
    result.out_dir = writer.finish()
    if case.output.profile and sim.comm.rank == 0 and (result.out_dir / "profile.csv").is_file():
        result.profile = read_profile(result.out_dir)
    return result


def _spatial_error(sim: Simulation, result: RunResult, mesh_model: str | None,
                   domain_given: bool, options: dict) -> RunResult:
    """summary["spatial_error"] from a second run on another mesh (spindiff.error_estimate),
    and one warning line on rank 0 when it exceeds 1 %."""

    case = sim.case if mesh_model is None else sim.case.with_changes({"mesh.model": mesh_model})
    if domain_given:
        err = {"method": "off", "note": "not estimated for a mesh given to run()"}
    elif case.mesh.model == "spins":
        err = {"method": "off", "note": "individual nuclei: no mesh to refine"}
    else:
        err = estimate(case, result, sim, sim.comm, **options)
    result.summary["spatial_error"] = err
    line = warning(err)
    if line and sim.comm.rank == 0:
        print(line, file=sys.stderr, flush=True)
    return result


def _leave(folder, exc: BaseException) -> None:
    """After a failed or interrupted run: keep OUT.partial when it holds rows or a checkpoint
    (with a STATUS note), remove it when this run made it and wrote nothing of value."""
    if isinstance(exc, RunInterrupted):
        return  # the checkpointer wrote the checkpoint and STATUS
    valuable = False
    if folder.comm.rank == 0:
        valuable = (folder.resumed or checkpoint.exists(folder.path)
                    or _rows_written(folder.path) > 0)
    valuable = folder.comm.bcast(valuable, root=0)
    if isinstance(exc, KeyboardInterrupt):
        exc.kept_folder = folder.path if valuable else None  # for the command line's message
    if not valuable:
        folder.discard()
        return
    if isinstance(exc, KeyboardInterrupt):
        why = f"interrupted ({exc}) before a checkpoint could be written"
    else:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        why = f"stopped by an error: {text}"
    folder.abort(why)


def _rows_written(partial: Path) -> int:
    try:
        with open(partial / "timeseries.csv") as f:
            return max(sum(1 for _ in f) - 1, 0)
    except OSError:
        return 0


def _case_text(case: Case) -> str:
    """TOML text of a case built in Python (the dict it was validated from)."""
    return ("# case as run (written by spindiff from the validated input)\n"
            + tomli_w.dumps(case.raw()))
