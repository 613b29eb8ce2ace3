"""The three recipes of docs/reference/architecture.md, each followed from outside the package: a toy
particle shape, a toy source law and a toy observer, registered through the public entry
points (spindiff.physics.shapes.register_shape with spindiff.geometry.gmsh_tools.
register_gmsh_shape, spindiff.sources.register_source_law, Simulation(observers=...)).

The shape is a cylinder along x: the same physics as the built-in cylinder along z in the box
turned about y, so its 1D reduction must give the z-cylinder's numbers, and its Gmsh mesh the
exact volume. The source is a uniform exchange rate k outside the barrier: with no relaxation a
uniform P stays uniform and <P>(t) = P_src + (P_0 - P_src) exp(-k t) exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from mpi4py import MPI

from conftest import make_case
from spindiff import Observer, Simulation
from spindiff.centre_laws import InverseSixth, StageLaws
from spindiff.errors import CaseError
from spindiff.physics.shapes import Cylinder, register_shape
from spindiff.sources import SourceLaw, register_source_law

# --- recipe: add a particle shape -------------------------------------------------------


class RodAlongX(Cylinder):
    """A cylinder of radius a along x, through the whole box."""
    name = "rod_x"
    axes = (1, 2)

    def volume(self, a, box):
        return np.pi * a**2 * np.asarray(box, dtype=float)[0]

    def what(self, a):
        return f"rod r={a:.4g} along x"

    def weight_scale(self, box):
        return float(box[0])


def _gmsh_adapters():
    from spindiff.geometry.gmsh_tools import GmshShape, register_gmsh_shape
    register_gmsh_shape("rod_x", GmshShape(
        add=lambda occ, c, L, r: occ.addCylinder(0, c[1], c[2], L[0], 0, 0, r),
        distance="Sqrt((y-{1})^2+(z-{2})^2)"))


register_shape(RodAlongX())

PARTICLE = {"geometry": {"kind": "particle", "shape": "rod_x", "particle_size": "4 nm",
                         "sides": ["12 nm", "10 nm", "10 nm"], "particle_material": "p",
                         "matrix_material": "m"},
            "centres": {"placement": "none", "barrier": "hole", "barrier_radius": "0.5 nm"},
            "materials": {"m": {"nuclear_density": "50 nm^-3", "D0": "10 nm^2/s", "T1n": "2 s"},
                          "p": {"nuclear_density": "60 nm^-3", "D0": "30 nm^2/s", "T1n": "inf"}},
            "protocol": {"initial_polarization": 0.2,
                         "stages": [{"name": "decay", "duration": "2 s", "outputs": 8}]},
            "mesh": {"model": "radial", "radial_cells": 100, "error_estimate": "off"}}


def test_toy_shape_1d_reduction_is_the_z_cylinder_turned():
    from spindiff.runner import run
    rod = make_case(PARTICLE)
    along_z = rod.with_changes({"geometry.shape": "cylinder",
                                "geometry.sides": ["10 nm", "10 nm", "12 nm"]})
    a, b = (run(c, comm=MPI.COMM_SELF, progress=False) for c in (rod, along_z))
    assert "rod r=4 along x" not in a.summary["mesh"]["description"]  # the 1D description
    assert "1D rod_x" in a.summary["mesh"]["description"]
    for key in ("P_sample", "P_m", "P_p"):
        np.testing.assert_allclose(a.series[key], b.series[key], rtol=1e-12)
    # the rod (no T1n) relaxes through its matrix only: it stays above it
    assert 0.2 > a.series["P_p"][-1] > a.series["P_m"][-1] > 0.01


def test_toy_shape_unknown_name_and_no_gmsh_adapter_are_refused():
    with pytest.raises(CaseError, match="geometry.shape.*'rod_x'"):
        make_case({**PARTICLE, "geometry": {**PARTICLE["geometry"], "shape": "rod_y"}})
    from spindiff.geometry.gmsh_tools import GMSH_SHAPES, gmsh_shape
    if "rod_x" not in GMSH_SHAPES:
        with pytest.raises(RuntimeError, match="no Gmsh adapter"):
            gmsh_shape("rod_x")


@pytest.mark.mpi
def test_toy_shape_meshes_in_3d_with_its_volume_and_interface_layers():
    """The Gmsh adapter makes the rod (isotropic cells, and the layered band at its surface):
    the particle's mesh volume is the exact pi a^2 L_x (to the curved cells' error), and the
    band's layer surfaces map onto each other about the x axis."""
    from test_particle_layers import _boundary_facets_off_the_box, _volumes

    from spindiff.geometry.inclusions import PARTICLE_TAG, build_particle_in_matrix
    from spindiff.geometry.particle_layers import build_particle_layered
    _gmsh_adapters()
    L, a = np.array([12.0, 10.0, 10.0]), 3.0
    exact = RodAlongX().volume(a, L)
    iso = build_particle_in_matrix(MPI.COMM_WORLD, "rod_x", a, L, 0.9, 1.5, order=2)
    assert "rod r=3 along x" in iso.description
    assert _volumes(iso)[PARTICLE_TAG] == pytest.approx(exact, rel=2e-3)
    offsets = np.array([-1.0, -0.4, 0.0, 0.4, 1.0])
    band = build_particle_layered(MPI.COMM_WORLD, "rod_x", a, L, offsets, 0.8, 1.0, 1.5, order=2)
    assert _volumes(band)[PARTICLE_TAG] == pytest.approx(exact, rel=2e-3)
    assert _boundary_facets_off_the_box(band, L) == 0


# --- recipe: add a source law ---------------------------------------------------------------


@dataclass(frozen=True)
class ConstantRate:
    """k(r) = rate (1/s) everywhere."""
    rate: float

    def __call__(self, r):
        return np.full(np.shape(r), self.rate)


@dataclass(frozen=True)
class UniformCentres:
    """Centre physics of the toy source: a uniform rate while the source is on, the case's
    C6 / r^6 paramagnetic relaxation."""
    rate: float
    relaxation_C6: float
    b: float

    def laws(self, stage) -> StageLaws:
        on = stage.source_on and not stage.pulsed
        return StageLaws(source_rate=ConstantRate(self.rate) if on else None,
                         source_target=stage.source_polarization,
                         paramagnetic_rate=InverseSixth(self.relaxation_C6, max(self.b, 1e-12)))


@register_source_law
@dataclass(frozen=True)
class UniformSource(SourceLaw):
    """Exchange at source.rate (1/s) with every nucleus outside the barrier."""
    name = "uniform"
    reads = ("rate", "polarization")  # any other [source] key is refused as having no effect
    rate: float = 0.0

    @classmethod
    def from_case(cls, case):
        return cls(rate=case.source.rate or 0.0)

    @classmethod
    def check(cls, case, source=None):
        if case.source.rate is None:
            raise CaseError("source.rate", "(missing)", "a \"uniform\" source needs rate, "
                            "e.g. \"2 1/s\"", source)

    def centre_physics(self, case, rate_tables=None):
        return UniformCentres(self.rate, case.relaxation.C6, case.barrier_radius)


UNIFORM = {"source.model": "uniform", "source.C6": None, "source.rate": "2 1/s",
           "protocol.stages.0.duration": "1.5 s"}


@pytest.mark.mpi
@pytest.mark.parametrize("mesh", ["radial", "3d"])
def test_toy_source_law_gives_the_exact_uniform_exchange(mesh):
    changes = dict(UNIFORM)
    if mesh == "3d":
        changes.update({"mesh.model": "3d", "mesh.size_barrier": "0.4 nm", "mesh.size_bulk": "1.2 nm",
                        "mesh.order": 1})
    case = make_case(changes)
    sim = Simulation(case, comm=MPI.COMM_SELF if mesh == "radial" else MPI.COMM_WORLD)
    assert sim.model.source == UniformSource(rate=2.0)
    res = sim.run()
    t, p = res.series["time_s"], res.series["P_sample"]
    exact = 0.9 + (0.01 - 0.9) * np.exp(-2.0 * t)
    assert np.max(np.abs(p - exact)) < 2e-4
    assert np.max(np.abs(res.series["P_visible"] - p)) < 1e-10  # still uniform


def test_toy_source_law_rules_and_name_in_the_case_file():
    with pytest.raises(CaseError, match="source.rate.*uniform"):
        make_case({**UNIFORM, "source.rate": None})
    with pytest.raises(CaseError, match="source.model.*'uniform'"):
        make_case({"source.model": "uniforme"})


# --- recipe: add an observer ----------------------------------------------------------------


class Recorder(Observer):
    """Records what a Simulation tells its observers."""

    def __init__(self):
        self.calls = {"setup": 0, "step": 0, "between": 0, "row": 0, "close": 0}
        self.operators_at_setup = None
        self.rows, self.visible = [], []

    def setup(self, sim):
        self.calls["setup"] += 1
        self.operators_at_setup = hasattr(sim, "system")
        self.total = sim.observables.totals["sample"]

    def on_step(self, sim, t, dt):
        self.calls["step"] += 1

    def between_steps(self, sim):
        self.calls["between"] += 1

    def on_row(self, sim, event, row):
        self.calls["row"] += 1
        self.rows.append(list(row))
        self.visible.append(sim.averages()["visible"])

    def close(self, sim):
        self.calls["close"] += 1


def test_toy_observer_given_to_the_simulation_and_to_run():
    from spindiff import run
    case = make_case({"protocol.stages.0.duration": "0.5 s", "protocol.stages.0.outputs": 5})
    early, late = Recorder(), Recorder()
    sim = Simulation(case, comm=MPI.COMM_SELF, observers=[early])
    assert early.calls["setup"] == 1 and early.operators_at_setup is False
    sim.observe(late)
    assert late.calls["setup"] == 1 and late.operators_at_setup is True
    res = sim.run()
    steps = sim.stepper.stats.accepted
    for rec in (early, late):
        assert rec.calls == {"setup": 1, "step": steps, "between": rec.calls["between"],
                             "row": 6, "close": 1}
        assert rec.calls["between"] >= steps
        assert rec.rows == sim.rows
        np.testing.assert_allclose(rec.visible, res.series["P_visible"], rtol=1e-14)
    assert math.isfinite(early.total) and early.total > 0
    via_run = Recorder()
    again = run(case, comm=MPI.COMM_SELF, progress=False, observers=[via_run])
    assert via_run.calls["setup"] == 1 and not via_run.operators_at_setup
    assert [r[1] for r in via_run.rows] == list(again.series["P_sample"])
