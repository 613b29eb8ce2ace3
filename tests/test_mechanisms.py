"""The source and diffusion laws built once from a case (spindiff.sources, spindiff.model): what
each tells the solver, and the step equation it selects (spindiff.fem.step_equations)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import make_case
from spindiff.model import CorrectedLocalDiffusion, CorrectedMeanDiffusion, DiffusionLaw, transport_model
from spindiff.sources import (
    FixedSource,
    RateTableSource,
    RegionSource,
    SurfaceSource,
    VolumeSource,
    register_source_law,
    source_law,
)

REGION = {"source.model": "region", "source.C6": None, "source.rate": "1000 1/s",
          "source.radius": "1.2 nm"}


@pytest.mark.parametrize("changes, law, volume, flux, fixes, radii", [
    ({}, VolumeSource, True, False, False, ()),
    ({"source.model": "surface", "source.C6": None, "source.kappa": "0.5 nm/s"}, SurfaceSource,
     False, True, False, ()),
    ({"source.model": "fixed", "source.C6": None}, FixedSource, False, False, True, ()),
    (REGION, RegionSource, True, False, False, (1.2,)),
])
def test_each_source_law_says_what_the_solver_needs(changes, law, volume, flux, fixes, radii):
    case = make_case(changes)
    src = source_law(case)
    assert type(src) is law and src.name == case.source.model
    assert (src.has_volume_law, src.barrier_flux, src.fixes_barrier) == (volume, flux, fixes)
    assert src.conforming_radii == pytest.approx(radii)
    assert not src.needs_rate_tables
    model = transport_model(case)
    assert model.source == src
    laws = model.laws(model.stages[0])
    assert (laws.source_rate is not None) == volume
    if law is SurfaceSource:
        assert src.surface_rate == pytest.approx(0.5)
    if law is RegionSource:
        r = np.array([0.5, 1.0, 1.3])  # inside the barrier (0.5 nm), in the region, outside
        assert src.region_radius == pytest.approx(1.2)
        np.testing.assert_array_equal(laws.source_rate(r), [0.0, 1000.0, 0.0])
    assert RateTableSource.needs_rate_tables


def test_a_name_cannot_be_taken_twice():
    class Volume2(VolumeSource):
        pass
    with pytest.raises(ValueError, match="already defined"):
        register_source_law(Volume2)


@pytest.mark.parametrize("changes, law, equation", [
    ({}, DiffusionLaw, "LinearStep"),
    ({"diffusion.model": "corrected"}, CorrectedLocalDiffusion, "KirchhoffNewton"),
    ({"diffusion.model": "corrected", "diffusion.polarization": "mean"}, CorrectedMeanDiffusion,
     "MaterialMeanStep"),
])
def test_diffusion_law_and_its_step_equation(changes, law, equation):
    from spindiff.fem.step_equations import step_equation
    model = transport_model(make_case(changes))
    d = model.diffusion
    assert type(d) is law
    p = np.array([-0.999, -0.5, 0.0, 0.3, 0.9999])
    if law is DiffusionLaw:
        np.testing.assert_array_equal(d.f(p), 1.0)
        np.testing.assert_array_equal(d.kirchhoff(p), p)
        assert d.constant and d.cap == 1.0
    else:
        # f = 1 / sqrt(1 - P^2) up to the cap; Phi' = f (a centred difference)
        np.testing.assert_allclose(d.f(p), np.minimum(1 / np.sqrt(1 - p * p), d.cap))
        h = 1e-6
        q = p[1:4]
        np.testing.assert_allclose((d.kirchhoff(q + h) - d.kirchhoff(q - h)) / (2 * h), d.f(q),
                                   rtol=1e-8)
        assert not d.constant
    assert type(step_equation(None, d)).__name__ == equation
