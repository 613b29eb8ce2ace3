"""A case's sample as individual nuclei: positions, electrons, and each stage's rates.

The geometry is the continuum's (a sphere cell with its centre at the origin, Takeda's
periodic cube with its centre in the middle, a box with the centres that
spindiff.domains.centre_positions places, so all three models see the same centres); the
nuclei fill it at the material's nuclear density ([spins] lattice). Per protocol stage the
electrons get their polarization P_e (the stage's, spindiff.model.stage_electron_polarization,
or the thermal one without an [electron] table) and correlation rate Gamma_c, the pairs their
flip-flop rates (Eq. 9) and every nucleus its source and relaxation from the case's laws
(spindiff.physics.spins.laws). The spin-diffusion barrier is not imposed: centres.barrier and
barrier_radius only cut the laws as in the continuum (below b they are continued as the r^-6
point-dipole laws they are; a region source keeps its radii).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ..case.schema import Case, Spins
from ..centre_laws import RegionRate
from ..errors import CaseError
from ..model import StageSpec, TransportModel
from ..physics.constants import nuclear_larmor
from ..physics.electron import thermal_electron_polarization
from ..physics.nuclei import lookup
from ..physics.spins import laws as spin_laws
from ..physics.spins import positions as pos
from ..physics.spins import tail as tails
from ..physics.spins.couplings import ElectronField, Electrons, FlipFlopSettings
from ..physics.spins.operator import RowBuilder
from ..sources import source_law

DEFAULT_GAMMA2_HZ = 11e3
DEFAULT_TAU_C = 0.5e-6


@dataclass
class StageRates:
    """What one stage sets: per-electron P_e and Gamma_c, the row builder of the flip-flop
    Laplacian, per-nucleus kappa = k + R1 (1/s) and s = k P_src + R1 P0 (1/s)."""
    key: tuple
    electrons: Electrons
    builder: RowBuilder
    kappa: np.ndarray
    source: np.ndarray
    extras: dict = field(default_factory=dict)


def spin_model(case: Case, comm=None) -> TransportModel:
    """The transport model the spins model needs: electron pairs compute their rates per
    nucleus (no rate tables); otherwise the case's (with rate tables where its source law needs
    them, computed on rank 0 of `comm` and cached)."""
    from ..model import transport_model
    if case.spins is not None and case.spins.pair_distance is not None:
        return transport_model(case, rate_tables={})
    tables = None
    if source_law(case).needs_rate_tables:
        from ..rates import tables_for_case
        tables = tables_for_case(case, comm)
    return transport_model(case, tables)


def spins_table(case: Case) -> Spins:
    return case.spins if case.spins is not None else Spins()


def region_and_centres(case: Case) -> tuple[pos.Region, np.ndarray]:
    """The sample region and the centre positions (nm) of the case's geometry."""
    g = case.geometry
    if g.kind == "sphere_cell":
        return pos.Region.sphere(case.cell_radius), np.zeros((1, 3))
    if g.kind == "periodic_cube":
        L = case.cube_side
        return pos.Region.box(L, True), np.full((1, 3), L / 2)
    from ..domains import centre_positions
    sides = np.asarray(case.box_sides, float)
    return pos.Region.box(sides, g.periodic), centre_positions(case, sides)


def electron_positions(case: Case, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions (M, 3), centre index (M,)): one electron per centre, or a pair of electrons
    at centre +- (r_ee / 2) u for spins.pair_distance, u at (pair_theta, pair_phi) from B0."""
    s = spins_table(case)
    if s.pair_distance is None:
        return centres.copy(), np.arange(len(centres))
    n = len(centres)
    if s.pair_orientation == "fixed":
        th, ph = math.radians(s.pair_theta), math.radians(s.pair_phi)
        u = np.tile([math.sin(th) * math.cos(ph), math.sin(th) * math.sin(ph), math.cos(th)],
                    (n, 1))
    else:
        rng = np.random.default_rng(s.seed + 7919)
        u = rng.normal(size=(n, 3))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
    half = 0.5 * s.pair_distance * u
    e = np.stack([centres - half, centres + half], axis=1).reshape(-1, 3)
    return e, np.repeat(np.arange(n), 2)


def flipflop_settings(case: Case) -> FlipFlopSettings:
    e = case.electron
    gamma2_hz = e.gamma2 if e is not None else DEFAULT_GAMMA2_HZ
    c = case.conditions
    return FlipFlopSettings(nucleus=c.nucleus, gamma2=2 * math.pi * gamma2_hz,
                            omega0=nuclear_larmor(c.nucleus, c.B0),
                            hyperfine=spins_table(case).hyperfine)


def stage_electron(case: Case, stage: StageSpec) -> tuple[float, float]:
    """(P_e, Gamma_c in 1/s) of single centres during a stage: the stage's P_e
    (spindiff.model.stage_electron_polarization), or the thermal one without an [electron]
    table; Gamma_c = 1 / electron.correlation_time (0.5 us without the table)."""
    c, e = case.conditions, case.electron
    pe = stage.electron_polarization
    if pe is None:
        pe = thermal_electron_polarization(c.B0, c.temperature, e.g if e else 2.0023)
    tau = e.correlation_time if e is not None else DEFAULT_TAU_C
    return float(pe), 1.0 / tau


def file_path(case: Case) -> Path:
    """spins.file as given, or relative to the case file's folder."""
    path = Path(spins_table(case).file)
    base = case.source_dir
    if not path.is_absolute() and not path.exists() and base:
        path = Path(base) / path
    return path


class SpinSample:
    """The nuclei, centres and electrons of a case, and the rates of each stage."""

    def __init__(self, case: Case, model: TransportModel):
        self.case, self.model = case, model
        s = self.spins = spins_table(case)
        self.region, self.centres = region_and_centres(case)
        self.electron_xyz, self.electron_centre = electron_positions(case, self.centres)
        mat = next(iter(case.materials.values()))
        self.density = mat.nuclear_density
        spacing = self.density ** (-1.0 / 3.0)
        self.spacing = spacing
        self.min_distance = (s.min_distance if s.min_distance is not None else
                             (0.5 * spacing if s.lattice == "random" else 0.05))
        self.rc = s.cutoff if s.cutoff is not None else tails.DEFAULT_CUTOFF * spacing
        file_xyz = None
        if s.lattice == "file":
            element = lookup(case.conditions.nucleus).name.lstrip("0123456789")
            file_xyz = pos.read_xyz(file_path(case), element, s.file_unit)
        self.placement = pos.place(s.lattice, self.density, self.region, seed=s.seed,
                                   min_distance=self.min_distance, centres=self.electron_xyz,
                                   exclusion=s.exclusion_radius, file_positions=file_xyz)
        self.x = self.placement.positions
        if len(self.x) == 0:
            raise CaseError("spins.exclusion_radius", f"{s.exclusion_radius:g} nm",
                            "leaves no nucleus in the sample")
        self.settings = flipflop_settings(case)
        self.tail = self._tail() if s.tail == "second_moment" else None
        # distances to the nearest electron: visibility, profiles, saturation, pulses
        if len(self.electron_xyz):
            tree = cKDTree(self.region.wrap(self.electron_xyz), boxsize=self.region.boxsize)
            self.nearest, _ = tree.query(self.region.wrap(self.x) if self.region.periodic
                                         else self.x, k=1)
            self.r_c, self.cos_c = spin_laws.nearest_centres(self.x, self.centres, self.region)
        else:  # no centres: every nucleus is visible, no laws act
            self.nearest = np.full(len(self.x), np.inf)
            self.r_c = self.cos_c = np.zeros((len(self.x), 0))
        self._stage_cache: StageRates | None = None

    @property
    def count(self) -> int:
        return len(self.x)

    def _tail(self) -> tails.TailCorrection:
        kind = self.placement.kind
        if kind in ("sc", "fcc"):
            return tails.lattice_correction(kind, self.placement.density, self.rc)
        interior = None
        if not self.region.periodic:
            lo, hi = self.region.bounds()
            if self.region.kind == "sphere":
                interior = np.linalg.norm(self.x, axis=1) < self.region.radius - self.rc
            else:
                interior = np.all((self.x > lo + self.rc) & (self.x < hi - self.rc), axis=1)
        return tails.sample_correction(self.x, self.placement.density, self.rc,
                                       self.region.boxsize, interior=interior)

    # --- per stage -----------------------------------------------------------------------

    def electron_state(self, stage: StageSpec) -> Electrons:
        """P_e and Gamma_c of every electron during `stage`."""
        pe, gc = stage_electron(self.case, stage)
        m = len(self.electron_xyz)
        return Electrons(self.electron_xyz, np.full(m, pe), np.full(m, gc), self.electron_centre)

    @property
    def pairs(self) -> bool:
        return self.spins.pair_distance is not None

    def _pair_stage(self, stage: StageSpec):
        """Per-nucleus cross-effect rates of the electron pairs (spindiff.physics.spins.pairs)."""
        from ..physics.quantum.agents import spin_params
        from ..physics.spins.pairs import pair_rates
        from ..rates import agent_of, conditions_of, microwave_settings
        nu1, off = microwave_settings(self.case)[stage.name]
        if not stage.source_on:
            nu1 = 0.0
        agent = agent_of(self.case)
        params = spin_params(agent, conditions_of(self.case, nu1, off))
        c = self.case.conditions
        offsets = self.spins.pair_offsets
        if offsets is None:
            offsets = [0.0, nuclear_larmor(c.nucleus, c.B0) / (2 * math.pi)]
        omega = 2 * math.pi * (np.asarray(offsets, float) - off)
        _, pair_of = cKDTree(self.region.wrap(self.centres), boxsize=self.region.boxsize).query(
            self.region.wrap(self.x) if self.region.periodic else self.x, k=1)
        return pair_rates(self.x, self.electron_xyz, np.asarray(pair_of), omega, self.region,
                          c.nucleus, agent.g, params, stage.source_on and nu1 > 0)

    def stage_rates(self, stage: StageSpec) -> StageRates:
        """The rates of a stage (the previous stage's object when nothing differs)."""
        if self.pairs:
            from ..rates import microwave_settings
            key = ("pairs", stage.source_on, microwave_settings(self.case)[stage.name])
            if self._stage_cache is not None and self._stage_cache.key == key:
                return self._stage_cache
            pr = self._pair_stage(stage)
            electrons = Electrons(self.electron_xyz, pr.p_e, pr.gamma_c, self.electron_centre)
            k, kp, r1 = pr.k, pr.k_target, pr.r1_para
            extras = {"k": k, "R1_para": r1, "eta1_min": pr.eta1_min,
                      "gamma_over_r2_max": pr.gamma_over_r2_max}
        else:
            laws = self.model.laws(stage)
            electrons = self.electron_state(stage)
            key = (tuple(electrons.polarization), tuple(electrons.gamma_c), laws)
            if self._stage_cache is not None and self._stage_cache.key == key:
                return self._stage_cache
            k, kp, r1 = self._law_terms(laws)
            extras = {"k": k, "R1_para": r1}
        field = ElectronField(self.x, electrons, self.region, self.settings)
        common = (float(electrons.polarization[0]), float(electrons.gamma_c[0])) \
            if len(electrons.polarization) else (1.0, 1.0)
        builder = RowBuilder(self.x, self.region, self.rc, self.settings, field, self.tail,
                             *common, factor=1.0 if self.spins.flipflops else 0.0)
        bulk = next(iter(self.model.materials.values())).R1_bulk
        p0 = self.model.thermal_polarization
        kappa = k + r1 + bulk
        source = kp + (r1 + bulk) * p0
        self._stage_cache = StageRates(key, electrons, builder, kappa, source, extras)
        return self._stage_cache

    def _law_terms(self, laws) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """k, k P_src and R1_para of every nucleus from the stage's laws around the centres."""
        b = self.model.barrier_radius if self.case.centres.barrier != "none" else 0.0
        rate = _continued(laws.source_rate, b)
        target = laws.source_target
        if callable(target) and b > 0:
            target = (lambda law: (lambda r: law(np.maximum(r, b))))(target)
        dipolar = not isinstance(laws.source_rate, RegionRate)
        k, kp = spin_laws.law_terms(self.r_c, self.cos_c, rate, target, dipolar)
        r1 = spin_laws.relaxation_terms(self.r_c, self.cos_c,
                                        _continued(laws.paramagnetic_rate, b))
        return k, kp, r1

    # --- regions -------------------------------------------------------------------------

    def visible(self) -> np.ndarray:
        return self.nearest > self.model.visible_radius

    def saturation_fraction(self) -> np.ndarray:
        """Fraction of P a "visible" saturation removes (the continuum's profile)."""
        w = self.model.saturation_width
        if w <= 0:
            return self.visible().astype(float)
        return 0.5 * (1.0 + np.tanh((self.nearest - self.model.visible_radius) / w))

    def source_region(self) -> np.ndarray:
        m = self.model
        return (self.nearest <= m.source_radius * (1 + 1e-9)) & \
            (self.nearest >= m.barrier_radius * (1 - 1e-9))

    def description(self) -> str:
        s = self.spins
        return (f"{self.count} {self.case.conditions.nucleus} nuclei ({s.lattice}, "
                f"{self.placement.density:.4g} nm^-3), {len(self.centres)} centre(s), "
                f"{len(self.electron_xyz)} electron(s), cutoff {self.rc:.3g} nm")


def _continued(law, b: float):
    """A radial law for nuclei inside the barrier radius b too: r^-6 from its value at b
    (region laws unchanged)."""
    if law is None or b <= 0 or isinstance(law, RegionRate):
        return law

    def f(r: np.ndarray) -> np.ndarray:
        rr = np.maximum(r, b)
        return law(rr) * (rr / np.maximum(r, 1e-6)) ** 6
    return f
