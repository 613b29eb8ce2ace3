"""Source laws: what each [source] model of a case means to the solver.

    volume   rate k(r) = C6 / r^6 for r >= b in the volume (docs/reference/physics.md section 5)
    surface  flux -n D dP/dn = n kappa (P_src - P) through the barrier surface
    fixed    P = P_src on the barrier surface (an instantaneous source)
    region   rate k within `radius` of a centre and outside its barrier (Takeda; pulses act
             in that region)
    rates    k(r), P_src(r) and R1(r) from the quantum rate module's tables

A law is built once from the case (`source_law`): it says whether it has a volume law k(r)
(P_src - P), a flux through the barrier or a fixed value on it, the radius of its region, the
radii the mesh must conform to, whether it needs rate tables, and makes the centre laws of
every stage (spindiff.centre_laws). The solver (spindiff.fem) asks it; the name in the case
file is read only here and in the case's rules.

A new law is a `SourceLaw` subclass registered with `register_source_law`; the case file then
accepts its name as source.model (docs/reference/architecture.md). Pure Python and numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .centre_laws import InverseSixthCentres, RateTableCentres, RegionRate

if TYPE_CHECKING:
    from .case.schema import Case


@dataclass(frozen=True)
class SourceLaw:
    """How the centres polarize nuclei while the source is on (a [source] model).

    surface_rate: kappa (nm/s) of the flux n kappa (P_src - P) through the barrier surface of a
    law with `barrier_flux`; region_radius: radius (nm) of the region around each centre where the source, and
    its pulses, act (0: none)."""

    #: the name in the case file (source.model)
    name: ClassVar[str] = ""
    #: a volume law k(r) (P_src - P) around the centres
    has_volume_law: ClassVar[bool] = True
    #: a flux n kappa (P_src - P) through the barrier surface (kappa = surface_rate)
    barrier_flux: ClassVar[bool] = False
    #: P = P_src on the barrier surface while the source is on
    fixes_barrier: ClassVar[bool] = False
    #: its centre laws come from the quantum rate module's tables (spindiff.rates)
    needs_rate_tables: ClassVar[bool] = False
    #: the [source] keys it reads (any other one given in a case is refused: spindiff.case.unused)
    reads: ClassVar[tuple[str, ...]] = ("C6", "polarization")
    #: it computes the paramagnetic relaxation itself ([relaxation] C6 is then refused)
    computes_relaxation: ClassVar[bool] = False
    #: why the keys it does not read have no effect (the refusal's words)
    unread_note: ClassVar[str] = ""

    surface_rate: float = 0.0
    region_radius: float = 0.0

    @classmethod
    def from_case(cls, case: Case) -> SourceLaw:
        """The law with the parameters of the case's [source] table."""
        return cls()

    @classmethod
    def check(cls, case: Case, source: str | None = None) -> None:
        """Rules of the case that only this law has (a CaseError naming the key), beyond
        those of spindiff.case.rules; run whenever a case is validated."""

    @property
    def conforming_radii(self) -> tuple[float, ...]:
        """Radii (nm) of spheres around every centre that the mesh must conform to (a jump of
        the law there)."""
        return ()

    def centre_physics(self, case: Case, rate_tables: dict | None = None):
        """The centre physics (an object with laws(stage) -> StageLaws) of this source with
        the case's paramagnetic relaxation; rate_tables: {stage name: RateTable} when
        `needs_rate_tables`."""
        return InverseSixthCentres(case.source.C6 or 0.0, case.relaxation.C6, case.barrier_radius)


@dataclass(frozen=True)
class VolumeSource(SourceLaw):
    """k(r) = C6 / r^6 for r >= b (source.C6)."""
    name = "volume"
    unread_note = "its rate is C6 / r^6"


@dataclass(frozen=True)
class SurfaceSource(SourceLaw):
    """A flux n kappa (P_src - P) through the barrier surface (source.kappa, nm/s)."""
    name = "surface"
    has_volume_law = False
    barrier_flux = True
    reads = ("kappa", "polarization")
    unread_note = "kappa is the rate of the flux through the barrier"

    @classmethod
    def from_case(cls, case: Case) -> SourceLaw:
        return cls(surface_rate=case.source.kappa or 0.0)


@dataclass(frozen=True)
class FixedSource(SourceLaw):
    """P = P_src on the barrier surface."""
    name = "fixed"
    has_volume_law = False
    fixes_barrier = True
    reads = ("polarization",)
    unread_note = "P = P_src on the barrier surface"


@dataclass(frozen=True)
class RegionSource(SourceLaw):
    """Exchange at source.rate (1/s) with the nuclei within source.radius of a centre."""
    name = "region"
    reads = ("rate", "radius", "polarization")
    unread_note = "its exchange rate replaces C6 / r^6"
    rate: float = 0.0

    @classmethod
    def from_case(cls, case: Case) -> SourceLaw:
        return cls(region_radius=case.source.radius or 0.0, rate=case.source.rate or 0.0)

    @property
    def conforming_radii(self) -> tuple[float, ...]:
        return (self.region_radius,)

    def centre_physics(self, case: Case, rate_tables: dict | None = None):
        b = case.barrier_radius
        return InverseSixthCentres(case.source.C6 or 0.0, case.relaxation.C6, b,
                                   RegionRate(self.rate, self.region_radius, b))


@dataclass(frozen=True)
class RateTableSource(SourceLaw):
    """k(r), P_src(r) and R1_para(r) of the quantum rate module, one table per stage."""
    name = "rates"
    needs_rate_tables = True
    reads = ()
    computes_relaxation = True
    unread_note = ("the quantum rate module computes k(r), P_src(r) and the paramagnetic R1(r) "
                   "for the [agent]")

    def centre_physics(self, case: Case, rate_tables: dict | None = None):
        if rate_tables is None:
            raise ValueError("source model \"rates\" needs its rate tables (spindiff.rates)")
        return RateTableCentres(rate_tables, case.barrier_radius)


#: the source laws by name (source.model); `register_source_law` adds one
SOURCE_LAWS: dict[str, type[SourceLaw]] = {
    law.name: law for law in (VolumeSource, SurfaceSource, FixedSource, RegionSource,
                              RateTableSource)}


def register_source_law(law: type[SourceLaw]) -> type[SourceLaw]:
    """Make a source law known by its name: the case file accepts it as source.model.

    Args:
        law: a SourceLaw subclass with a `name` (usable as a class decorator).

    Returns:
        The law, unchanged.

    Raises:
        ValueError: not a named SourceLaw subclass, or a name another class has.
    """
    if not (isinstance(law, type) and issubclass(law, SourceLaw)) or not law.name:
        raise ValueError("a source law is a SourceLaw subclass with a name")
    if SOURCE_LAWS.get(law.name, law) is not law:
        raise ValueError(f"source law {law.name!r} is already defined")
    SOURCE_LAWS[law.name] = law
    return law


def source_law(case: Case) -> SourceLaw:
    """The source law of a validated case.

    Args:
        case: a validated case.

    Returns:
        The law of case.source.model, with the parameters of the [source] table.
    """
    return SOURCE_LAWS[case.source.model].from_case(case)
