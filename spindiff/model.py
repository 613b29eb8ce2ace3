"""The transport model a solver needs, built from a validated case (no dolfinx here).

    n dP/dt = div(n D grad P) + n k(r) (P_src - P) - n R1(r) (P - P0)

with, per material, n (nm^-3), D0 (nm^2/s) and T1n (s); around each centre a source
k(r) = C6_src / r^6 and a paramagnetic relaxation C6_rel / r^6 for r >= b (1/s); and a protocol
of stages during which the source is on or off. Everything is in internal units (nm, s).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .case.schema import Case

RadialLaw = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class MaterialProps:
    """Per-material constants: nuclear spin density n (nm^-3), D0 (nm^2/s), T1n (s)."""
    name: str
    nuclear_density: float
    D0: float
    T1n: float

    @property
    def R1_bulk(self) -> float:
        """Bulk relaxation rate 1/T1n in 1/s (0 for T1n = inf)."""
        return 0.0 if math.isinf(self.T1n) else 1.0 / self.T1n


@dataclass(frozen=True)
class InverseSixth:
    """A rate law C6 / r^6 (1/s) for r >= b; r in nm, C6 in nm^6/s."""
    C6: float
    b: float

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return self.C6 / np.maximum(r, self.b) ** 6

    def total_per_centre(self, R: float) -> float:
        """Integral of the rate over the shell b < r < R (nm^3/s): 4 pi C6 (b^-3 - R^-3) / 3."""
        return 4.0 * math.pi * self.C6 * (self.b ** -3 - R ** -3) / 3.0


@dataclass(frozen=True)
class StageSpec:
    """One protocol stage: duration (s), whether the source acts, its target, events, outputs."""
    name: str
    duration: float
    source_on: bool
    source_polarization: float
    saturate: str = "none"
    outputs: int = 60
    spacing: str = "log"

    def output_times(self) -> np.ndarray:
        """Output times relative to the stage start (s), ending exactly at `duration`."""
        n = self.outputs
        if self.spacing == "linear" or n == 1:
            return self.duration * np.arange(1, n + 1) / n
        return self.duration * np.logspace(-3.0, 0.0, n)


@dataclass
class TransportModel:
    """Everything the FEM layer needs, in internal units."""
    materials: dict[str, MaterialProps]
    barrier_radius: float
    barrier: str
    barrier_diffusion: float
    visible_radius: float
    source_rate: RadialLaw
    paramagnetic_rate: RadialLaw
    thermal_polarization: float
    initial_polarization: float
    stages: list[StageSpec]
    cell_radius: float = float("nan")
    source_model: str = "volume"
    surface_rate: float = 0.0
    outer_boundary: str = "zero_flux"
    outer_polarization: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def end_time(self) -> float:
        return sum(s.duration for s in self.stages)

    def stage_starts(self) -> list[float]:
        return list(np.cumsum([0.0] + [s.duration for s in self.stages])[:-1])


def transport_model(case: Case) -> TransportModel:
    """Build the transport model of a validated case."""
    b = case.centres.barrier_radius
    materials = {name: MaterialProps(name, m.nuclear_density, m.D0, m.T1n)
                 for name, m in case.materials.items()}
    stages = [StageSpec(name=s.name, duration=s.duration, source_on=s.microwaves,
                        source_polarization=case.source.polarization, saturate=s.saturate,
                        outputs=s.outputs, spacing=s.spacing)
              for s in case.protocol.stages]
    return TransportModel(
        materials=materials, barrier_radius=b, barrier=case.centres.barrier,
        barrier_diffusion=case.centres.barrier_diffusion, visible_radius=case.visible_radius,
        source_rate=InverseSixth(case.source.C6 or 0.0, b),
        paramagnetic_rate=InverseSixth(case.relaxation.C6, b),
        thermal_polarization=case.thermal_polarization,
        initial_polarization=case.initial_polarization, stages=stages,
        cell_radius=case.cell_radius, source_model=case.source.model,
        surface_rate=case.source.kappa or 0.0, outer_boundary=case.geometry.outer_boundary,
        outer_polarization=case.geometry.outer_polarization or 0.0)


def stage_boundaries(stages: Sequence[StageSpec]) -> np.ndarray:
    """Absolute start times of the stages plus the end time (s)."""
    return np.cumsum([0.0] + [s.duration for s in stages])
