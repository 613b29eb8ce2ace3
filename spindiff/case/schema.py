"""Case-file schema: every key, its unit, its default and its allowed range.

Quantities are strings with units ("0.8 nm", "20 nm^2/s"): one finite decimal number and a unit
expression (`spindiff.units`, parsed with pint, never evaluated as arithmetic), stored as floats
in internal units (nm, s, T, K; densities and concentrations in nm^-3). Plain numbers must be
finite (no inf or nan); only T1n and checkpoint_wall accept "inf". Unknown keys are rejected.
Cross-field rules (b < R, r_h < R, ...), resource bounds and the PETSc option allow-list
(spindiff.case.rules) run in the model validator of `Case`, so every way of building a case
(`load_case`, `Case.from_dict`, `case.with_changes`, `Case.model_validate`) obeys them.

Longer than 400 lines: every key of a case file, with its unit, default and allowed range, is
defined here in one place, so that this module is the complete reference of the format.
"""
from __future__ import annotations

import copy
import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from .. import units
from ..errors import CaseError
from ..physics.cells import cube_cell_side, sphere_cell_radius
from ..physics.composition import COMPONENTS, PRESETS
from ..physics.constants import nuclear_thermal_polarization
from ..physics.nuclei import lookup
from ..physics.shapes import SHAPES
from ..sources import SOURCE_LAWS
from . import rules
from .dotted import apply_changes
from .materials import fill_material_densities
from .messages import first_error


def _quantity(kind: str):
    def convert(value: Any) -> float:
        try:
            return units.parse(value, kind)
        except units.UnitParseError as exc:
            raise ValueError(str(exc)) from None
    return BeforeValidator(convert)


def _time_or_inf(value: Any) -> float:
    """A time, or "inf" ("infinite", "none") for never."""
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinite", "none"):
        return math.inf
    try:
        return units.parse(value, "time")
    except units.UnitParseError as exc:
        raise ValueError(f"{exc} (or \"inf\" for no relaxation)") from None


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def _non_negative(value: float) -> float:
    if not value >= 0:
        raise ValueError("must be >= 0")
    return value


def _polarization(value: float) -> float:
    if not -1.0 < value < 1.0:
        raise ValueError("a polarization must satisfy |P| < 1")
    return value


def _petsc_table(value: Any) -> Any:
    """A table of PETSc options; their names and values are checked in `spindiff.case.load`."""
    if not isinstance(value, dict):
        raise ValueError("a table of PETSc options, e.g. { ksp_type = \"gmres\" }")
    return value


Length = Annotated[float, _quantity("length"), AfterValidator(_positive)]
LengthOrZero = Annotated[float, _quantity("length"), AfterValidator(_non_negative)]
Time = Annotated[float, _quantity("time"), AfterValidator(_positive)]
TimeOrInf = Annotated[float, Field(allow_inf_nan=True), BeforeValidator(_time_or_inf),
                      AfterValidator(_positive)]
Diffusivity = Annotated[float, _quantity("diffusivity"), AfterValidator(_positive)]
C6Coefficient = Annotated[float, _quantity("c6"), AfterValidator(_non_negative)]
Density = Annotated[float, _quantity("density"), AfterValidator(_positive)]
Velocity = Annotated[float, _quantity("velocity"), AfterValidator(_non_negative)]
Concentration = Annotated[float, _quantity("concentration"), AfterValidator(_positive)]
MagneticField = Annotated[float, _quantity("field"), AfterValidator(_positive)]
Temperature = Annotated[float, _quantity("temperature"), AfterValidator(_positive)]
Polarization = Annotated[float, AfterValidator(_polarization)]

#: the value of a key computed from the individual-nucleus model before a run
#: (spindiff.spins.resolve): materials.NAME.D0 and centres.barrier_radius
DERIVED = "derived"


def _or_derived(kind: str):
    """A positive quantity of `kind`, or the word "derived" (kept as it is)."""
    def convert(value: Any) -> float | str:
        if isinstance(value, str) and value.strip().lower() == DERIVED:
            return DERIVED
        try:
            v = units.parse(value, kind)
        except units.UnitParseError as exc:
            raise ValueError(f"{exc}, or \"derived\" (from the individual-nucleus model, "
                             "spindiff derive)") from None
        return _positive(v)
    return BeforeValidator(convert)


DerivedLiteral = Literal["derived"]
LengthOrDerived = Annotated[float | DerivedLiteral, _or_derived("length")]
DiffusivityOrDerived = Annotated[float | DerivedLiteral, _or_derived("diffusivity")]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


def _nucleus(value: Any) -> str:
    """A tabulated nucleus (spindiff.physics.nuclei) by its usual name: "1H", "27Al", "Al27"."""
    try:
        return lookup(value).name
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def _field(value: Any) -> float:
    """B0 as a field ("7.05 T") or a 1H/named-nucleus NMR frequency ("400 MHz", "100.6 MHz 13C")."""
    try:
        return units.parse_field(value)
    except units.UnitParseError as exc:
        raise ValueError(str(exc)) from None


def _registered(names: dict) -> AfterValidator:
    """A name that must be a key of the registry `names` at validation time (shapes and
    source laws: spindiff.physics.shapes.SHAPES, spindiff.sources.SOURCE_LAWS)."""
    def check(value: str) -> str:
        if value not in names:
            known = [f"'{n}'" for n in names]
            raise ValueError(f"Input should be {', '.join(known[:-1])} or {known[-1]}"
                             if len(known) > 1 else f"Input should be {known[0]}")
        return value
    return AfterValidator(check)


Nucleus = Annotated[str, BeforeValidator(_nucleus)]
#: a particle shape of spindiff.physics.shapes (built in: sphere, cylinder, slab)
ShapeName = Annotated[str, _registered(SHAPES)]
#: a source law of spindiff.sources (built in: volume, surface, fixed, region, rates)
SourceName = Annotated[str, _registered(SOURCE_LAWS)]
FieldOrFrequency = Annotated[float, BeforeValidator(_field), AfterValidator(_positive)]
#: seeds of the random placements: numpy accepts 0 ... 2^32 - 1 everywhere
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
#: largest number of centres, positions, layers, output times, ... in one case
MAX_ITEMS = 100_000


class Section(BaseModel):
    """A case-file table: unknown keys and non-finite numbers (inf, nan) are rejected."""
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False):
        """A copy; changed values must go through validation: use `Case.with_changes`."""
        if update:
            raise TypeError("model_copy(update=...) would bypass validation; use "
                            "case.with_changes({\"dotted.key\": value}), which validates")
        return super().model_copy(deep=deep)


class CaseInfo(Section):
    """[case]: a name (used for the results folder, so a safe file name: it starts with a
    letter or digit, then letters, digits, '_', '.', '+', '-'; at most 100 characters) and a
    free-text description."""
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    description: str = ""


class Geometry(Section):
    """[geometry]: the domain family.

    sphere_cell: one centre at the origin in a sphere of radius R; R from `radius` or from the
    centre `concentration` (R = (3 / (4 pi c))^(1/3)). outer_boundary: "zero_flux" (symmetry of
    a Wigner-Seitz cell) or "fixed" (P = outer_polarization on r = R).
    periodic_cube: one centre at the centre of a cube of side L with periodic boundaries
    (Takeda's model); L from `side` or from `concentration` (L = c^(-1/3)).
    box: a box of `side` (or `sides`), periodic or closed, holding centres placed by
    [centres] placement at the centre `concentration`.
    particle: a particle of `particle_material` (shape sphere, cylinder along z, or slab normal
    to z; radius or half-thickness `particle_size`) centred in a box of `matrix_material`.
    layers: a film of layers along z (`thicknesses`, `layer_materials`), periodic laterally
    (`side`). blend: spheres of material B (diameter `domain_size`, `volume_fraction`, `seed`)
    in material A (`matrix_material` = A, `particle_material` = B), in a box of `side`.
    mesh: a user mesh `file` (Gmsh .msh or any meshio format with cell tags, lengths in nm);
    each material names its physical groups in [materials.NAME] regions.
    """
    kind: Literal["sphere_cell", "periodic_cube", "box", "particle", "layers", "blend",
                  "mesh"] = "sphere_cell"
    concentration: Concentration | None = None
    radius: Length | None = None
    side: Length | None = None
    sides: list[Length] | None = Field(default=None, min_length=3, max_length=3)
    periodic: bool = True
    shape: ShapeName = "sphere"
    particle_size: Length | None = None
    particle_material: str | None = None
    matrix_material: str | None = None
    thicknesses: list[Length] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    layer_materials: list[str] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    volume_fraction: Annotated[float, Field(gt=0.0, lt=0.7)] | None = None
    domain_size: Length | None = None
    seed: Seed = 1
    file: str | None = None
    outer_boundary: Literal["zero_flux", "fixed"] = "zero_flux"
    outer_polarization: Polarization | None = None


class Centres(Section):
    """[centres]: the paramagnetic centre(s).

    barrier_radius b: flip-flops are quenched for r < b ("derived": the buildup-equivalent
    hole b_eq of the individual-nucleus model, spindiff.spins.resolve, with barrier =
    "hole"). barrier = "hole" cuts the ball out of
    the mesh (zero-flux surface); "kept" meshes it with D = barrier_diffusion * D0 inside and
    no source or paramagnetic relaxation there; "physical": meshed, with D = D0 s_e(r; P_e)
    everywhere from the [electron] model and the point-dipole source and relaxation laws cut
    off below b; "none": no barrier (needs a "region" source).
    visible_radius r_h: nuclei with r > r_h are NMR-visible (defaults to b, or 0 without one).
    placement (box, particle, blend, mesh geometries): "random" (seeded, `seed`, optional
    `min_distance`, `count` or the geometry concentration), "lattice" (simple cubic at the
    concentration), "positions" (`positions`, nm), "none"; "cell" is the single centre of a
    sphere_cell or periodic_cube. material: the material holding the centres.
    representation: "resolved" (every centre meshed) or "homogenized" (the centres' material
    gets uniform effective source and relaxation rates computed from the single-cell model).
    saturation_width: a "visible" saturation removes 0.5 (1 + tanh((r - r_h) / w)) of the
    polarization (0: a sharp edge at r_h).
    """
    barrier_radius: LengthOrDerived | None = None
    barrier: Literal["hole", "kept", "physical", "none"] = "hole"
    saturation_width: LengthOrZero = 0.0
    placement: Literal["cell", "random", "lattice", "positions", "none"] = "cell"
    positions: list[list[float]] | None = Field(default=None, max_length=MAX_ITEMS)
    count: int | None = Field(default=None, ge=1, le=MAX_ITEMS)
    min_distance: LengthOrZero = 0.0
    seed: Seed = 1
    material: str | None = None
    representation: Literal["resolved", "homogenized"] = "resolved"
    barrier_diffusion: Fraction = 0.0
    visible_radius: LengthOrZero | None = None


def _material_preset(value: Any) -> Any:
    if value not in PRESETS:
        raise ValueError(f"one of {', '.join(PRESETS)} (or a composition)")
    return value


def _component_table(value: Any) -> Any:
    """{component: number} with components of spindiff.physics.composition.COMPONENTS."""
    if not isinstance(value, dict) or not value:
        raise ValueError('a table of components, e.g. { "glycerol-d8" = 6, "D2O" = 3, "H2O" = 1 }')
    for name, amount in value.items():
        if name not in COMPONENTS:
            raise ValueError(f"unknown component {name!r}; known: {', '.join(COMPONENTS)}")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount >= 0 \
                or not math.isfinite(amount):
            raise ValueError(f"{name} = {amount!r}: a number >= 0")
    return value


Components = Annotated[dict[str, float], BeforeValidator(_component_table)]


class Material(Section):
    """[materials.NAME]: nuclear spin density n, spin-diffusion coefficient D0 (or "derived":
    the hydrodynamic D of the individual-nucleus model, spindiff.spins.resolve), bulk T1n;
    regions: the physical groups (names or tags) of a user mesh made of this material;
    nucleus: the nucleus these values (and the case's source and relaxation rates) describe,
    default 1H; it must be the observed conditions.nucleus (spindiff.case.unused).

    Instead of nuclear_density: preset (a sample of spindiff.physics.composition.PRESETS,
    e.g. "dnp_juice") or composition (fractions of named components, `fractions` = "volume"
    or "mass"), with optional deuteration (atom fraction of 2H at a deuterated component's
    labelled positions) and carbon13 (13C fraction of a component's carbons): the density of
    conditions.nucleus (1H, 2H or 13C) follows from it (`Case` fills nuclear_density).
    """
    nuclear_density: Density | None = None
    D0: DiffusivityOrDerived
    T1n: TimeOrInf = math.inf
    regions: list[str | int] | None = Field(default=None, max_length=MAX_ITEMS)
    nucleus: Nucleus | None = None
    preset: Annotated[str, AfterValidator(_material_preset)] | None = None
    composition: Components | None = None
    fractions: Literal["volume", "mass"] = "volume"
    deuteration: dict[str, Fraction] | None = None
    carbon13: dict[str, Fraction] | None = None
    #: the physics.composition.Mixture of a preset or composition (set by `Case`)
    _mixture: Any = PrivateAttr(default=None)


class Source(Section):
    """[source]: how the centre polarizes nuclei toward P_src while microwaves are on.

    model = "volume": rate k(r) = C6 / r^6 for r >= b (docs/reference/physics.md section 5);
    "surface": flux -n D dP/dn = n kappa (P_src - P) on the barrier surface (kappa in nm/s);
    "fixed": P = P_src on the barrier surface (instantaneous source);
    "region": exchange at `rate` (1/s) with the nuclei within `radius` of the centre (Takeda's
    source at the centre's nearest nuclei; also the region hit by pulses);
    "rates": k(r), P_src(r) and the paramagnetic R1(r) from the quantum rate module for the
    [agent] and each stage's microwaves (polarization and [relaxation] C6 are then not used).
    "surface" and "fixed" need barrier = "hole".
    """
    model: SourceName = "volume"
    C6: C6Coefficient | None = None
    kappa: Velocity | None = None
    rate: Annotated[float, _quantity("rate"), AfterValidator(_non_negative)] | None = None
    radius: Length | None = None
    polarization: Polarization | None = None


class Diffusion(Section):
    """[diffusion]: polarization dependence of D (docs/reference/physics.md section 3.2).

    model = "conventional" (D = D0) or "corrected" (D = D0 / sqrt(1 - P~^2)); polarization:
    P~ = the "local" P (nonlinear PDE) or the material "mean" (D follows the average
    polarization); regularization: floor eps of 1 - P~^2, capping the factor at 1/sqrt(eps).
    """
    model: Literal["conventional", "corrected"] = "conventional"
    polarization: Literal["local", "mean"] = "local"
    regularization: float = Field(default=1e-4, gt=0.0, le=0.5)


class Relaxation(Section):
    """[relaxation]: paramagnetic R1(r) = C6 / r^6 (r >= b) toward P0, added to 1/T1n.

    P0 = "thermal" takes the nuclear Boltzmann polarization from [conditions].
    """
    C6: C6Coefficient = 0.0
    P0: Polarization | Literal["thermal"] = "thermal"


class Conditions(Section):
    """[conditions]: field, temperature and observed nucleus.

    B0: a field ("7.05 T") or the NMR frequency of a nucleus at that field, as magnets are
    named: "400 MHz" is the 1H frequency (9.395 T), "100.6 MHz 13C" a 13C one. nucleus: any
    nucleus of spindiff.physics.nuclei ("1H", "2H", "6Li", "13C", "27Al", "119Sn", ...).
    """
    B0: FieldOrFrequency
    temperature: Temperature
    nucleus: Nucleus = "1H"


Frequency = Annotated[float, _quantity("frequency"), AfterValidator(_non_negative)]
Power = Annotated[float, _quantity("power"), AfterValidator(_non_negative)]


class Electron(Section):
    """[electron]: electron-polarization-controlled spin diffusion (Chessari et al. 2023).

    D(r) = D0 s_e(r; P_e) with s_e = W(r; P_e) / W(inf) from the nuclear flip-flop rate of
    Eq. 9 (scale = "relative"), or D = W(r; P_e) a^2 (scale = "absolute"), evaluated for the
    nearest centre. P_e per stage: thermal (g, [conditions] B0 and temperature) with microwaves
    off; under microwaves the Bloch steady state P_e0 / (1 + w1^2 T1e T2e / (1 + (offset T2e)^2))
    from the stage's microwave_nutation (w1 / 2 pi) or microwave_power (with
    nutation_per_sqrt_mW), or the stage's electron_polarization. The paramagnetic relaxation
    C6 of [relaxation] is then the P_e = 0 value and scales with 1 - P_e^2 (Eq. 6).
    """
    g: float = Field(default=2.0023, gt=0.0, lt=10.0)
    T1e: Time = 1e-3
    T2e: Time = 1e-6
    correlation_time: Time = 0.5e-6
    gamma2: Frequency = 11e3
    internuclear_distance: Length = 0.66
    orientation: Literal["rms", "powder"] = "rms"
    scale: Literal["relative", "absolute"] = "relative"
    nutation_per_sqrt_mW: Frequency | None = None


class Agent(Section):
    """[agent]: the polarizing agent for source.model = "rates" (quantum rate module).

    preset: "TEMPOL", "trityl" or "MnII"; the other keys override the preset. A_iso: isotropic
    hyperfine coupling of Mn(II) (frequency, e.g. "229 MHz"). mechanism: "SE", "CE" or "auto".
    method: "full" Lindblad master equation or the "effective" Zeeman-projected rates for
    isolated electron pairs, or "broadline": spin packets of the whole EPR line with electron
    spectral diffusion and triple spin flips (cross effect + thermal mixing, Wenckebach; radical
    presets only, needs geometry.concentration; docs/reference/quantum.md). For it: ee_min_distance,
    closest radical-radical distance (default 0.7 nm); spectral_diffusion_scale, factor on the
    computed eSD rate (default 1, 0 = none); T1D, relaxation time of the e-e interaction
    reservoir (default T1e / 2). microwave_nutation, microwave_offset: the microwave field
    that the rate module uses in every stage with microwaves (default: the stage's values), so
    that a stage can set the one-P_e of [electron] by microwave_power independently.
    ee_distance: electron-electron distance for the cross effect (default from the
    concentration, r_ee = 2 (3 / (4 pi c))^(1/3)). T2n: nuclear T2.
    """
    preset: Literal["TEMPOL", "trityl", "MnII"]
    g: float | None = Field(default=None, gt=0.0, lt=10.0)
    T1e: Time | None = None
    T2e: Time | None = None
    A_iso: Frequency | None = None
    line_fwhm: Frequency | None = None
    mechanism: Literal["auto", "SE", "CE"] = "auto"
    method: Literal["full", "effective", "broadline"] = "full"
    ee_distance: Length | None = None
    T2n: Time = 1e-3
    ee_min_distance: Length | None = None
    spectral_diffusion_scale: float | None = Field(default=None, ge=0.0, le=1e12)
    T1D: Time | None = None
    microwave_nutation: Frequency | None = None
    microwave_offset: Annotated[float, _quantity("frequency")] | None = None


class Pulses(Section):
    """[protocol.stages.pulses]: intermittent source (triplet DNP, integrated solid effect).

    At t_j = j / rate within the stage, P <- P + exchange (P_src - P) in the source region;
    only diffusion and relaxation act between pulses (no continuous source).
    """
    rate: Annotated[float, _quantity("frequency"), AfterValidator(_positive)]
    exchange: Fraction = 1.0


class Stage(Section):
    """[[protocol.stages]]: one stage of the experiment.

    microwaves: on (true) or off; the DNP source acts while they are on unless `source` says
    otherwise; source_polarization overrides [source] polarization for this stage (e.g.
    negative DNP). With [electron]: microwave_nutation (w1 / 2 pi), microwave_power or
    electron_polarization set P_e under microwaves. microwave_offset: microwave frequency
    minus the electron (g_iso) frequency g_iso mu_B B0 / h; or microwave_frequency, the
    absolute frequency ("263 GHz"), converted to that offset with the g of [agent] (or of
    [electron]) and B0 (spindiff.case.rules.resolve_microwave_frequencies); give at most
    one. saturate: region set to P = 0 at the stage start. pulses: intermittent source
    instead of a continuous one. outputs: number of output times in the
    stage, spaced linearly or logarithmically (from first_output, default duration / 1000).
    """
    name: str = Field(min_length=1)
    duration: Time
    microwaves: bool = True
    source: bool | None = None
    source_polarization: Polarization | None = None
    microwave_nutation: Frequency | None = None
    microwave_power: Power | None = None
    microwave_offset: Annotated[float, _quantity("frequency")] | None = None
    microwave_frequency: Annotated[float, _quantity("frequency"), AfterValidator(_positive)] | None = None
    electron_polarization: Polarization | None = None
    pulses: Pulses | None = None
    saturate: Literal["none", "visible", "hidden", "all"] = "none"
    outputs: int = Field(default=60, ge=1, le=MAX_ITEMS)
    spacing: Literal["linear", "log"] = "log"
    first_output: Time | None = None


class Protocol(Section):
    """[protocol]: initial polarization and the list of stages."""
    initial_polarization: Polarization | Literal["thermal"] = "thermal"
    stages: list[Stage] = Field(min_length=1, max_length=1000)


class Mesh(Section):
    """[mesh]: resolution. model = "3d" (Gmsh tetrahedra) or "radial" (the 1D reduction of a
    sphere_cell, a particle or a film of layers: spindiff.geometry.radial, .particle_radial).

    size_barrier: element size at the barrier surface; size_bulk: far from it; order: geometry
    order of the tetrahedra (2 = curved, exact-ish spheres); size_interface: element size on
    a particle's surface in 3D, growing with the distance from it (the interface boundary
    layers; default: no extra refinement); radial_cells: 1D resolution (the
    number of cells of a sphere cell; for a particle or film, doubling it halves every cell).
    error_estimate: the spatial error in summary.json from a second run on another mesh
    (spindiff.error_estimate): "auto" (particle, layers, blend samples), "on", "off".
    interface: how a 3D particle's surface is resolved: "layers" (a band of thin prism-shaped
    cells across it, at the 1D reduction's graded radial nodes (radial_cells), size_interface
    along it; particles without explicit centres), "isotropic" (size_interface in every direction), "auto"
    (layers where available).
    quadrature_degree: degree of the quadrature rule for the laws around centres (default 4
    in 3D, 14 points per tetrahedron; 2 has 4 points and needs 3.5 times less memory per dof,
    for large straight-sided meshes where the refinement study allows it).
    refine: uniform refinements after Gmsh (sphere_cell, periodic_cube, box): Gmsh meshes at
    2^refine times the sizes and every cell is then split into 8, refine times, with new
    vertices on spheres put on them (spindiff.mesh.refine; with order 2 the edge midpoints
    become the curved cells' nodes). The same grading at a small part of Gmsh's time and
    memory.
    element_degree: polynomial degree of the Lagrange elements for P: 1 (linear) or 2
    (quadratic: on the same nodes as a mesh refined once more, errors of order h^3 instead of
    h^2 for smooth fields and about 8 times fewer cells per dof, hence less memory per dof;
    the laws then need quadrature degree 4, the default).
    """
    model: Literal["3d", "radial", "spins"] = "3d"
    size_barrier: Length = 0.1
    size_bulk: Length = 0.6
    size_particle: Length | None = None
    size_interface: Length | None = None
    order: Literal[1, 2] = 2
    radial_cells: int = Field(default=400, ge=10, le=1_000_000)
    error_estimate: Literal["auto", "on", "off"] = "auto"
    interface: Literal["auto", "layers", "isotropic"] = "auto"
    quadrature_degree: int | None = Field(default=None, ge=1, le=8)
    refine: int = Field(default=0, ge=0, le=3)
    element_degree: Literal[1, 2] = 1


class Spins(Section):
    """[spins]: the individual-nucleus model (mesh.model = "spins", docs/reference/spins.md).

    lattice: nuclear positions at the material's nuclear_density: "random" (random
    sequential addition, `seed`, at least `min_distance` apart; default 0.5 n^(-1/3)), "sc"
    or "fcc" lattices, or "file" (an XYZ `file`, coordinates in `file_unit`; the atoms of the
    case's nucleus' element). exclusion_radius: no nucleus closer to a centre (or to either
    electron of a pair) than this. cutoff: flip-flop partners within this distance (default
    2 n^(-1/3)); tail: "second_moment" restores the diffusion tensor that the dropped pairs
    carry, "none" drops them. hyperfine: the detuning Delta of a pair from its "nearest"
    electron or the "sum" of the nearest electrons' fields. pair_distance: every centre is an
    electron pair (biradical) of this e-e distance, oriented along (pair_theta, pair_phi) in
    degrees from B0 ("fixed") or at random ("random", seeded); pair_offsets: the two
    electrons' frequencies minus the electron (g_iso) frequency (default 0 and the nuclear
    Larmor frequency: the matched cross effect). flipflops = false switches the nuclear
    flip-flops off (the reference without spin diffusion).
    """
    lattice: Literal["random", "sc", "fcc", "file"] = "random"
    file: str | None = None
    file_unit: Literal["angstrom", "nm"] = "angstrom"
    min_distance: LengthOrZero | None = None
    exclusion_radius: LengthOrZero = 0.3
    cutoff: Length | None = None
    tail: Literal["second_moment", "none"] = "second_moment"
    hyperfine: Literal["nearest", "sum"] = "nearest"
    seed: Seed = 1
    pair_distance: Length | None = None
    pair_orientation: Literal["fixed", "random"] = "fixed"
    pair_theta: float = Field(default=90.0, ge=0.0, le=180.0)
    pair_phi: float = Field(default=0.0, ge=-360.0, le=360.0)
    pair_offsets: list[Annotated[float, _quantity("frequency")]] | None = Field(
        default=None, min_length=2, max_length=2)
    flipflops: bool = True


class Solver(Section):
    """[solver]: adaptive BDF2 tolerances and linear-solver choice.

    The local error estimate is measured in a weighted RMS norm with weights
    1 / (atol + rtol |P|); steps with error > 1 are retried with a smaller dt. mass: the
    consistent P1 mass matrix or its row-sum lumped version (no undershoot after
    discontinuous events such as pulses or saturation; same totals). petsc_options: extra
    solver and preconditioner options for the step solver (ksp_*, pc_*, mat_*; nothing that
    views, monitors, logs or writes files; see spindiff.case.load.check_petsc_options).
    """
    rtol: float = Field(default=1e-4, gt=0, lt=1)
    atol: float = Field(default=1e-6, gt=0, lt=1)
    dt_initial: Time = 1e-3
    dt_max: Time | None = None
    linear_solver: Literal["auto", "direct", "iterative"] = "auto"
    mass: Literal["consistent", "lumped"] = "consistent"
    ksp_rtol: float = Field(default=1e-10, gt=0, lt=1e-3)
    petsc_options: Annotated[dict[str, Any], BeforeValidator(_petsc_table)] = Field(
        default_factory=dict)


class Output(Section):
    """[output]: optional field output (XDMF), plots, and the radial profile of P around the
    centres (profile.csv: <P> in `profile_bins` shells around every centre, at output times).
    checkpoint_wall / checkpoint_simulated: write a checkpoint (DIR.partial/checkpoint.h5)
    after an output row once this much wall-clock / simulated time has passed since the last
    one ("inf" for never; default one minute of wall clock); an interruption by SIGINT or
    SIGTERM writes one at once. `spindiff run CASE --resume DIR` continues from it."""
    fields: bool = False
    plots: bool = True
    profile: bool = False
    profile_bins: int = Field(default=40, ge=4, le=2000)
    checkpoint_wall: TimeOrInf | None = 60.0
    checkpoint_simulated: Time | None = None


class Sweep(Section):
    """[sweep]: variants of this case for `spindiff sweep` (docs/guide/hpc.md).

    parameters: dotted case keys -> lists of values, run as a grid (every combination);
    variants: a list of {key: value} tables, run as given (either or both: the grid is
    crossed with the list). group_size: MPI ranks per variant (the world communicator is
    split into groups that run variants side by side).
    """
    parameters: dict[str, list] = Field(default_factory=dict)
    variants: list[dict[str, Any]] = Field(default_factory=list)
    group_size: int = Field(default=1, ge=1, le=MAX_ITEMS)


class Case(Section):
    """A validated case: all quantities in internal units."""
    case: CaseInfo
    geometry: Geometry
    centres: Centres
    materials: dict[str, Material] = Field(min_length=1)
    source: Source
    diffusion: Diffusion = Diffusion()
    relaxation: Relaxation = Relaxation()
    conditions: Conditions | None = None
    electron: Electron | None = None
    agent: Agent | None = None
    protocol: Protocol
    mesh: Mesh = Mesh()
    spins: Spins | None = None
    solver: Solver = Solver()
    output: Output = Output()
    sweep: Sweep | None = None

    #: the nested dict the case was validated from, and the folder of its case file
    _raw: dict | None = PrivateAttr(default=None)
    _source_dir: str | None = PrivateAttr(default=None)
    #: what spindiff.spins.resolve put in place of "derived" keys (values, cache key)
    _derived: dict | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _densities_from_compositions(self) -> Case:
        """nuclear_density of every material given by preset or composition."""
        fill_material_densities(self)
        return self

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Case:
        rules.check_consistency(self)
        SOURCE_LAWS[self.source.model].check(self)  # the rules a source law adds
        return self

    # Building and changing ----------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str | None = None,
                  source_dir: str | None = None) -> Case:
        """Validate a case given as the nested dict of a case file. CaseError (one line: file,
        key, value, what is allowed) for anything wrong. source: the file, for messages;
        source_dir: where relative file names in the case (a user mesh) are found."""
        try:
            case = cls.model_validate(raw)
        except ValidationError as exc:
            raise first_error(exc, cls, source) from None
        except CaseError as exc:
            if exc.source is None and source is not None:
                raise CaseError(exc.key, exc.value, exc.allowed, source) from None
            raise
        case._raw = copy.deepcopy(raw)
        case._source_dir = source_dir
        return case

    def with_changes(self, changes: dict[str, Any]) -> Case:
        """A new, validated case with dotted keys changed, e.g.
        case.with_changes({"materials.glass.D0": "20 nm^2/s", "protocol.stages.0.outputs": 40}).

        Args:
            changes: dotted keys mapped to values written as in a case file (quantities with
                units); None removes a key.

        Returns:
            The new Case (this one is left as it is).

        Raises:
            CaseError: one line naming the key, the value and what is allowed.
        """
        return type(self).from_dict(apply_changes(self.raw(), changes),
                                    source_dir=self._source_dir)

    def raw(self) -> dict[str, Any]:
        """A copy of the nested dict the case was validated from."""
        if self._raw is None:
            return self.model_dump(mode="json", exclude_none=True)
        return copy.deepcopy(self._raw)

    @property
    def derived_record(self) -> dict | None:
        """The values that replaced this case's "derived" keys (spindiff.spins.resolve), or
        None."""
        return self._derived

    @property
    def source_dir(self) -> str | None:
        """The folder of the case file (relative file names in the case are found there)."""
        return self._source_dir

    # Derived quantities (internal units) --------------------------------------------------

    @property
    def material_name(self) -> str:
        """The material holding the centres (the single material of one-material geometries)."""
        if self.centres.material is not None:
            return self.centres.material
        if self.geometry.matrix_material is not None:
            return self.geometry.matrix_material
        return next(iter(self.materials))

    @property
    def box_sides(self) -> list[float]:
        """Box sides (nm) of the box-shaped geometries."""
        g = self.geometry
        if g.sides is not None:
            return list(g.sides)
        return [g.side] * 3 if g.side is not None else []

    @property
    def cell_radius(self) -> float:
        """Radius R (nm) of the spherical cell (of the equal-volume sphere for a cube)."""
        if self.geometry.kind == "periodic_cube":
            return (3.0 / (4.0 * 3.141592653589793)) ** (1.0 / 3.0) * self.cube_side
        if self.geometry.kind != "sphere_cell" and self.geometry.concentration is None:
            return float("nan")  # no centre concentration: no Wigner-Seitz cell
        if self.geometry.radius is not None:
            return self.geometry.radius
        return sphere_cell_radius(self.geometry.concentration)

    @property
    def cube_side(self) -> float:
        """Side L (nm) of the periodic cube (Takeda): `side` or c^(-1/3)."""
        if self.geometry.side is not None:
            return self.geometry.side
        return cube_cell_side(self.geometry.concentration)

    @property
    def derived_keys(self) -> list[str]:
        """The dotted keys whose value is "derived" (computed by spindiff.spins.resolve)."""
        keys = [f"materials.{name}.D0" for name, m in self.materials.items() if m.D0 == DERIVED]
        if self.centres.barrier != "none" and self.centres.barrier_radius == DERIVED:
            keys.append("centres.barrier_radius")
        return keys

    @property
    def barrier_radius(self) -> float:
        """b (nm); 0 without a barrier. CaseError while it is "derived" and not resolved."""
        if self.centres.barrier == "none":
            return 0.0
        if self.centres.barrier_radius == DERIVED:
            raise CaseError("centres.barrier_radius", DERIVED, "resolved before a model is "
                            "built: spindiff.run does it, or spindiff.spins.resolve(case)")
        return float(self.centres.barrier_radius)

    @property
    def visible_radius(self) -> float:
        """r_h (nm); defaults to the barrier radius."""
        v = self.centres.visible_radius
        return self.barrier_radius if v is None else v

    @property
    def thermal_polarization(self) -> float:
        """Nuclear Boltzmann polarization P0 (explicit [relaxation] P0 wins over [conditions])."""
        if self.relaxation.P0 != "thermal":
            return float(self.relaxation.P0)
        c = self.conditions
        return nuclear_thermal_polarization(c.nucleus, c.B0, c.temperature)

    @property
    def initial_polarization(self) -> float:
        p = self.protocol.initial_polarization
        return self.thermal_polarization if p == "thermal" else float(p)

    @property
    def end_time(self) -> float:
        return sum(s.duration for s in self.protocol.stages)
