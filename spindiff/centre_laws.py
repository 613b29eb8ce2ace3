"""Laws around a paramagnetic centre, as functions of the distance r (nm): source rate k(r) and
target P_src(r), paramagnetic relaxation R1(r), suppression s_e(r) of spin diffusion
(docs/reference/physics.md sections 3.3 and 5). Each "centre physics" turns a protocol stage into the
`StageLaws` that act during it: laws given in the case file (C6 / r^6, a region rate), laws
controlled by the electron polarization (Chessari), or tables from the quantum rate module.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .physics import flipflop

if TYPE_CHECKING:
    from .model import StageSpec

RadialLaw = Callable[[np.ndarray], np.ndarray]


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
class RegionRate:
    """A constant exchange rate (1/s) with the nuclei within `radius` (nm) of a centre and
    outside its barrier b (Takeda's source at the centre's nearest nuclei)."""
    rate: float
    radius: float
    b: float = 0.0

    def __call__(self, r: np.ndarray) -> np.ndarray:
        r = np.asarray(r)
        return np.where((r <= self.radius) & (r >= self.b), self.rate, 0.0)


@dataclass(frozen=True)
class StageLaws:
    """What acts around every centre during a stage; functions of the distance r (nm).

    source_rate: k(r) in 1/s (None: no volume source); source_target: P_src(r) or a number;
    paramagnetic_rate: R1_para(r) in 1/s; suppression: s_e(r) multiplying D near the centre
    (None: no suppression outside the barrier).
    """
    source_rate: RadialLaw | None
    source_target: RadialLaw | float
    paramagnetic_rate: RadialLaw
    suppression: RadialLaw | None = None
    #: homogenized materials: ((material, k 1/s, P_src, extra R1 1/s), ...), uniform in it
    uniform: tuple = ()


@dataclass(frozen=True)
class InverseSixthCentres:
    """Centre physics with laws given directly in the case file: a C6/r^6 source (or a
    region exchange rate) and a C6/r^6 paramagnetic relaxation."""
    source_C6: float
    relaxation_C6: float
    b: float
    region: RegionRate | None = None

    def laws(self, stage: StageSpec) -> StageLaws:
        on = stage.source_on and not stage.pulsed
        rate = self.region if self.region is not None else InverseSixth(self.source_C6, self.b)
        return StageLaws(
            source_rate=rate if on else None,
            source_target=stage.source_polarization,
            paramagnetic_rate=InverseSixth(self.relaxation_C6, max(self.b, 1e-12)))


@dataclass(frozen=True)
class ScaledLaw:
    """factor * law(r)."""
    law: RadialLaw
    factor: float

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return self.factor * self.law(r)


@dataclass(frozen=True)
class Suppression:
    """s_e(r; P_e) = W(r; P_e) / W(inf) of the flip-flop model (physics.flipflop), nearest centre."""
    params: object
    electron_polarization: float

    def __call__(self, r: np.ndarray) -> np.ndarray:
        if getattr(self.params, "orientation", "rms") == "powder":
            return _powder_table(self.params, self.electron_polarization)(r)
        return flipflop.suppression_factor(r, self.electron_polarization, self.params)


_TABLES: dict = {}


def _powder_table(params, pbar: float):
    key = (params, pbar)
    if key not in _TABLES:
        _TABLES[key] = flipflop.suppression_interpolator(params, pbar)
    return _TABLES[key]


@dataclass(frozen=True)
class ElectronControlledCentres:
    """Centre physics with electron-polarization-controlled diffusion (Chessari): the stage's
    P_e sets the suppression s_e(r; P_e) of D and scales a C6 paramagnetic relaxation by
    1 - P_e^2 (Eq. 6); source laws as in `base`. A rate table of the quantum module is used as
    it is: its R1_para is the microwave-off rate and the extra relaxation under microwaves is
    part of its k and P_src, so it is not scaled again."""
    base: InverseSixthCentres | RateTableCentres
    params: object

    def laws(self, stage: StageSpec) -> StageLaws:
        laws = self.base.laws(stage)
        pe = float(stage.electron_polarization)
        relax = laws.paramagnetic_rate
        if isinstance(self.base, InverseSixthCentres):
            relax = ScaledLaw(relax, 1.0 - pe * pe)
        return StageLaws(source_rate=laws.source_rate, source_target=laws.source_target,
                         paramagnetic_rate=relax, suppression=Suppression(self.params, pe))


class TableLaw:
    """k(r), P_src(r) or R1_para(r) of a quantum-module RateTable, for r >= b (clipped)."""

    def __init__(self, table, kind: str, b: float):
        self.table, self.kind, self.b = table, kind, b
        self._key = (table.meta.get("cache_key", id(table)), kind, b)

    def __call__(self, r: np.ndarray) -> np.ndarray:
        r = np.maximum(np.asarray(r, dtype=float), max(self.b, 1e-3))
        if self.kind == "k":
            return self.table.k_of_r(r)
        if self.kind == "p_src":
            return self.table.p_src_of_r(r)
        return np.maximum(self.table.r1_para_of_r(r), 0.0)

    def __eq__(self, other) -> bool:
        return isinstance(other, TableLaw) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


@dataclass(frozen=True)
class RateTableCentres:
    """Centre physics from the quantum rate module: one RateTable per stage (by name)."""
    tables: dict
    b: float

    def laws(self, stage: StageSpec) -> StageLaws:
        t = self.tables[stage.name]
        on = stage.source_on and not stage.pulsed
        return StageLaws(source_rate=TableLaw(t, "k", self.b) if on else None,
                         source_target=TableLaw(t, "p_src", self.b),
                         paramagnetic_rate=TableLaw(t, "r1_para", self.b))

    def __hash__(self) -> int:
        return id(self)
