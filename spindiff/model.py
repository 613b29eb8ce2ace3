"""The transport model a solver needs, built from a validated case (no dolfinx here).

    n dP/dt = div(n D grad P) + n k(r) (P_src - P) - n R1(r) (P - P0),
    D = D0 * s(x) * f(P~)

with, per material, n (nm^-3), D0 (nm^2/s) and T1n (s); around each centre the laws of the
current protocol stage (`StageLaws`: source rate k(r) and target P_src(r), paramagnetic
relaxation R1_para(r), diffusion suppression s_e(r)); f the polarization dependence of the
diffusion coefficient (`DiffusionLaw`); the source law of spindiff.sources. Everything is in internal units (nm, s).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .case.schema import Case
from .centre_laws import ElectronControlledCentres, InverseSixthCentres, RateTableCentres, StageLaws
from .errors import CaseError
from .physics.electron import saturation_factor, thermal_electron_polarization
from .physics.flipflop import FlipFlopParams, far_field_rate
from .rates import tables_for_case
from .sources import SourceLaw, VolumeSource, source_law


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
class DiffusionLaw:
    """Polarization dependence f(P~) of the spin-diffusion coefficient D = D0 s(x) f(P~)
    (docs/reference/physics.md section 3.2): conventional (f = 1) here; the corrected laws below.

    model, polarization: the case's [diffusion] keys, as reported in summary.json; eps: the
    floor of 1 - P~^2 of the corrected laws (eps = 1e-4: f <= 100). The step equation the
    solver uses follows from `constant`, `nonlinear` and `per_material` (spindiff.fem)."""
    model: str = "conventional"
    polarization: str = "local"
    eps: float = 1e-4

    #: f = 1: D does not depend on P (linear steps; K may be stored inside the reaction matrix)
    constant: ClassVar[bool] = True
    #: f depends on the local P: a nonlinear equation (Kirchhoff transform and Newton)
    nonlinear: ClassVar[bool] = False
    #: f follows each material's mean <P>: one stiffness matrix per material, linear steps
    per_material: ClassVar[bool] = False

    @property
    def cap(self) -> float:
        """Largest value of f (the regularisation cap)."""
        return 1.0

    def f(self, p: np.ndarray) -> np.ndarray:
        """f(P~), vectorised."""
        return np.ones_like(np.asarray(p, dtype=float))

    def kirchhoff(self, p: np.ndarray) -> np.ndarray:
        """Phi(P) = int_0^P f, so that div(D0 f(P) grad P) = div(D0 grad Phi(P))."""
        return np.asarray(p, dtype=float).copy()


@dataclass(frozen=True)
class CorrectedDiffusion(DiffusionLaw):
    """f(P~) = 1 / sqrt(max(1 - P~^2, eps)), capped at 1 / sqrt(eps)."""
    constant: ClassVar[bool] = False

    @property
    def cap(self) -> float:
        return 1.0 / math.sqrt(self.eps)

    def f(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        return 1.0 / np.sqrt(np.maximum(1.0 - p * p, self.eps))

    def kirchhoff(self, p: np.ndarray) -> np.ndarray:
        """arcsin P, continued linearly with slope f_cap beyond the cap."""
        p = np.asarray(p, dtype=float)
        pc = math.sqrt(1.0 - self.eps)
        a = np.abs(p)
        inner = np.arcsin(np.minimum(a, pc))
        return np.sign(p) * (inner + np.maximum(a - pc, 0.0) * self.cap)


@dataclass(frozen=True)
class CorrectedLocalDiffusion(CorrectedDiffusion):
    """Corrected diffusion with P~ the local polarization (a nonlinear PDE)."""
    nonlinear: ClassVar[bool] = True


@dataclass(frozen=True)
class CorrectedMeanDiffusion(CorrectedDiffusion):
    """Corrected diffusion with P~ the mean polarization of each material."""
    per_material: ClassVar[bool] = True


def diffusion_law(model: str = "conventional", polarization: str = "local",
                  eps: float = 1e-4) -> DiffusionLaw:
    """The diffusion law of a case's [diffusion] model, polarization and regularization."""
    if model == "conventional":
        return DiffusionLaw(model, polarization, eps)
    law = {"local": CorrectedLocalDiffusion, "mean": CorrectedMeanDiffusion}[polarization]
    return law(model, polarization, eps)


@dataclass(frozen=True)
class StageSpec:
    """One protocol stage: duration (s), whether the source acts, its target, events, outputs.

    electron_polarization: P_e during the stage when the case models it (None otherwise).
    pulse_rate (Hz) and pulse_exchange: an intermittent source instead of a continuous one.
    """
    name: str
    duration: float
    source_on: bool
    source_polarization: float
    saturate: str = "none"
    outputs: int = 60
    spacing: str = "log"
    electron_polarization: float | None = None
    pulse_rate: float | None = None
    pulse_exchange: float = 1.0
    first_output: float | None = None

    @property
    def pulsed(self) -> bool:
        return self.pulse_rate is not None

    def pulse_times(self) -> np.ndarray:
        """Pulse times relative to the stage start (s): j / rate for j >= 0 inside the stage."""
        if not self.pulsed:
            return np.empty(0)
        n = int(np.floor(self.duration * self.pulse_rate * (1 + 1e-12))) + 1
        t = np.arange(n) / self.pulse_rate
        return t[t < self.duration * (1 - 1e-12)]

    def output_times(self) -> np.ndarray:
        """Output times relative to the stage start (s), ending exactly at `duration`."""
        n = self.outputs
        if self.spacing == "linear" or n == 1:
            return self.duration * np.arange(1, n + 1) / n
        first = self.first_output if self.first_output is not None else 1e-3 * self.duration
        first = min(first, self.duration)
        return np.geomspace(first, self.duration, n)


@dataclass
class TransportModel:
    """Everything the FEM layer needs, in internal units."""
    materials: dict[str, MaterialProps]
    barrier_radius: float
    barrier: str
    barrier_diffusion: float
    visible_radius: float
    centre_physics: InverseSixthCentres | ElectronControlledCentres | RateTableCentres
    thermal_polarization: float
    initial_polarization: float
    stages: list[StageSpec]
    cell_radius: float = float("nan")
    #: the source law (spindiff.sources): volume, surface, fixed, region, rates, or a registered one
    source: SourceLaw = field(default_factory=VolumeSource)
    outer_boundary: str = "zero_flux"
    outer_polarization: float = 0.0
    diffusion: DiffusionLaw = field(default_factory=DiffusionLaw)
    saturation_width: float = 0.0
    uniform_rates: dict = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def end_time(self) -> float:
        return sum(s.duration for s in self.stages)

    def laws(self, stage: StageSpec) -> StageLaws:
        """The centre laws during `stage` (a volume source only for a law that has one)."""
        laws = self.centre_physics.laws(stage)
        if not self.source.has_volume_law and laws.source_rate is not None:
            laws = StageLaws(None, laws.source_target, laws.paramagnetic_rate, laws.suppression)
        if stage.name in self.uniform_rates:
            laws = StageLaws(laws.source_rate, laws.source_target, laws.paramagnetic_rate,
                             laws.suppression, self.uniform_rates[stage.name])
        return laws


def flipflop_params(case: Case):
    """FlipFlopParams of the case's [electron] table (None without one)."""
    e = case.electron
    if e is None:
        return None
    return FlipFlopParams(a=e.internuclear_distance, gamma2=e.gamma2, gamma2_unit="Hz",
                          tau_c=e.correlation_time, nucleus=case.conditions.nucleus,
                          b0=case.conditions.B0, orientation=e.orientation)


def stage_electron_polarization(case: Case, stage) -> float | None:
    """P_e during a stage (None without an [electron] table): thermal with microwaves off,
    the Bloch steady state under microwaves, or the stage's explicit value."""
    e = case.electron
    if e is None:
        return None
    if stage.electron_polarization is not None:
        return float(stage.electron_polarization)
    pe0 = thermal_electron_polarization(case.conditions.B0, case.conditions.temperature, e.g)
    if not stage.microwaves:
        return pe0
    nu1 = stage.microwave_nutation
    if nu1 is None:
        nu1 = e.nutation_per_sqrt_mW * math.sqrt(stage.microwave_power / 1e-3)
    z = saturation_factor(2 * math.pi * nu1, e.T1e, e.T2e, 2 * math.pi * stage.microwave_offset)
    return float(pe0 * z)


def transport_model(case: Case, rate_tables: dict | None = None,
                    homogenized: dict | None = None) -> TransportModel:
    """Build the transport model of a validated case.

    rate_tables: {stage name: RateTable} for a source law that needs them (computed here from
    `spindiff.rates.tables_for_case` when not given); homogenized: {stage name:
    EffectiveRates} for centres.representation = "homogenized", which need runs of the single
    cell (`spindiff.homogenize.effective_rates`; `spindiff.runner.model_for_case` does both)."""
    if case.derived_keys:
        raise CaseError(case.derived_keys[0], "derived", "resolved to a number before a model "
                        "is built: spindiff.run does it, or spindiff.spins.resolve.resolve(case)")
    b = case.barrier_radius
    params = flipflop_params(case)
    notes: dict[str, object] = {}
    if case.derived_record is not None:
        notes["derived"] = case.derived_record
    materials = {}
    for name, m in case.materials.items():
        D0 = m.D0
        if case.electron is not None and case.electron.scale == "absolute":
            D0 = far_field_rate(params) * params.a ** 2
            notes["D0_absolute_nm2_per_s"] = D0
        materials[name] = MaterialProps(name, m.nuclear_density, D0, m.T1n)
    stages = []
    for s in case.protocol.stages:
        stages.append(StageSpec(
            name=s.name, duration=s.duration,
            source_on=s.microwaves if s.source is None else s.source,
            source_polarization=(s.source_polarization if s.source_polarization is not None
                                 else (case.source.polarization or 0.0)),
            saturate=s.saturate, outputs=s.outputs, spacing=s.spacing,
            electron_polarization=stage_electron_polarization(case, s),
            pulse_rate=s.pulses.rate if s.pulses else None,
            pulse_exchange=s.pulses.exchange if s.pulses else 1.0,
            first_output=s.first_output))
    source = source_law(case)
    if source.needs_rate_tables and rate_tables is None:
        rate_tables = tables_for_case(case)
    centres = source.centre_physics(case, rate_tables)
    if params is not None:
        centres = ElectronControlledCentres(centres, params)
    uniform = {}
    if case.centres.representation == "homogenized":
        if homogenized is None:
            raise ValueError("a homogenized matrix needs its effective rates: build the model "
                             "with spindiff.runner.model_for_case(case)")
        eff = homogenized
        uniform = {name: ((case.material_name, r.k, r.P_src, r.R1),) for name, r in eff.items()}
        notes["homogenized"] = {name: {"k_per_s": r.k, "P_src": r.P_src, "R1_extra_per_s": r.R1,
                                       "relative_fit_rms": r.fit_rms, "cell_radius_nm": r.cell_radius}
                                for name, r in eff.items()}
    d = case.diffusion
    return TransportModel(
        materials=materials, barrier_radius=b, barrier=case.centres.barrier,
        barrier_diffusion=case.centres.barrier_diffusion, visible_radius=case.visible_radius,
        centre_physics=centres, notes=notes, saturation_width=case.centres.saturation_width,
        uniform_rates=uniform,
        thermal_polarization=case.thermal_polarization,
        initial_polarization=case.initial_polarization, stages=stages,
        cell_radius=case.cell_radius, source=source, outer_boundary=case.geometry.outer_boundary,
        outer_polarization=case.geometry.outer_polarization or 0.0,
        diffusion=diffusion_law(d.model, d.polarization, d.regularization))


def stage_boundaries(stages: Sequence[StageSpec]) -> np.ndarray:
    """Absolute start times of the stages plus the end time (s)."""
    return np.cumsum([0.0] + [s.duration for s in stages])
