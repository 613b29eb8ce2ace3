"""What a Simulation gives out: the `Observer` protocol its observers implement and the
`RunResult` of a run (both also importable from spindiff and spindiff.simulation)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .io.results import dataframe

if TYPE_CHECKING:
    from .protocol import Event
    from .simulation import Simulation


@dataclass
class RunResult:
    """What a run computed: the time series (column arrays), the summary dict and the folder.

    Attributes:
        series: the columns of timeseries.csv as arrays: time_s, P_sample, P_visible,
            P_<material> (with several materials), enhancement, stage.
        summary: the content of summary.json (fits, final values, mesh, solver, costs;
            docs/reference/results.md).
        out_dir: the results folder, None without one.
        final_field: P at the end, one value per local dof (with ghosts), at `coordinates`.
        coordinates: the dof coordinates, shape (n, 3), nm (the 1D reductions have r in the
            first column).
        profile: the radial profile {"time_s": (m,), "r_nm": (k,), "P": (m, k)} when
            output.profile was on (rank 0, from profile.csv).
    """
    series: dict[str, np.ndarray]
    summary: dict
    out_dir: Path | None = None
    final_field: np.ndarray | None = field(default=None, repr=False)
    coordinates: np.ndarray | None = field(default=None, repr=False)
    profile: dict | None = field(default=None, repr=False)

    def to_dataframe(self, what: str = "timeseries"):
        """The result as a pandas DataFrame (pandas is optional).

        Args:
            what: "timeseries" (the columns of timeseries.csv), "profile" (long format:
                time_s, r_nm, P) or "field" (x_nm, y_nm, z_nm, P: the final field at the dof
                coordinates).

        Returns:
            A pandas DataFrame.

        Raises:
            ImportError: without pandas (one line).
        """
        return dataframe(self, what)


class Observer:
    """What a Simulation tells its observers; subclasses override the hooks they need.

    Pass observers to `Simulation(case, observers=[...])` (or `spindiff.run(case,
    observers=[...])`), or attach them later with `Simulation.observe`. Each hook gets the
    Simulation; collective work (averages, MPI reductions) must happen on every rank, and only
    rank 0 should write files or print.
    """

    def setup(self, sim: Simulation) -> None:
        """Once, when the observer joins the simulation. For observers given to the
        Simulation this is after the discretization and its observables exist
        (`sim.disc`, `sim.observables`, `sim.columns`) and before the step operators are
        built, where set-up work on the mesh costs least memory (the radial profile's shells);
        for observers attached by `observe`, at once.

        Args:
            sim: the simulation being set up.
        """

    def on_step(self, sim: Simulation, t: float, dt: float) -> None:
        """After every accepted step.

        Args:
            sim: the simulation.
            t: the new time (s).
            dt: the size of the step (s).
        """

    def between_steps(self, sim: Simulation) -> None:
        """Where the state is complete (the next step size chosen): checkpoints, signals.

        Args:
            sim: the simulation.
        """

    def on_row(self, sim: Simulation, event: Event | None, row: list) -> None:
        """After an output row is recorded.

        Args:
            sim: the simulation.
            event: the protocol event of the row (spindiff.protocol.Event), None for the
                initial row at t = 0.
            row: the values of the row, in the order of `sim.columns`.
        """

    def close(self, sim: Simulation) -> None:
        """When the simulation ends, normally or not.

        Args:
            sim: the simulation.
        """


def series_of(rows: list[list], columns: list[str]) -> dict[str, np.ndarray]:
    """Output rows as column arrays (the `series` of a RunResult; "stage" stays text)."""
    out = {}
    for j, name in enumerate(columns):
        vals = [r[j] for r in rows]
        out[name] = np.array(vals) if name == "stage" else np.array(vals, dtype=float)
    return out


class ProfileRecorder(Observer):
    """The radial profile <P>(r) at every output row, in memory (RunResult.profile of
    `Simulation.run` for output.profile = true when no other observer records it: an
    observer with `records_profile = True`, such as a results folder's ProfileWriter)."""
    records_profile = True

    def __init__(self, bins: int):
        self.bins, self.radii, self.times, self.values = bins, np.empty(0), [], []

    def setup(self, sim: Simulation) -> None:  # the shells around the centres
        self.radii = np.asarray(sim.observables.radial_profile_shells(self.bins), dtype=float)

    def on_row(self, sim: Simulation, event: Event | None, row: list) -> None:
        self.times.append(float(row[0]))
        self.values.append(np.asarray(sim.observables.radial_profile(sim.P), dtype=float))

    def profile(self) -> dict:
        """{"time_s": (m,), "r_nm": (k,), "P": (m, k)}, as spindiff.io.results.read_profile."""
        return {"time_s": np.array(self.times), "r_nm": self.radii,
                "P": np.array(self.values).reshape(len(self.times), len(self.radii))}
