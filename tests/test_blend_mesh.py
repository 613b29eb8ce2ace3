"""The blend builder: sphere placement rules and meshing at coarse sizes.

A blend of 30 % spheres (diameter 6 nm, 21 spheres in a 20 nm periodic box, the shipped
cases/blend.toml at a tenth of its size) must mesh for every seed at an element size of
0.64 sphere radius (the first mesh that `mesh.error_estimate` coarsens the shipped case to):
before the sphere surfaces had their own size cap, 5 of seeds 0-7 failed with "overlapping
facets" (a near-hemisphere with a flat 8-triangle surface mesh), and seed 1 could not be placed
by random sequential addition.
"""
from __future__ import annotations

import numpy as np
import pytest


def _comm():
    from mpi4py import MPI
    return MPI.COMM_SELF


def _volume(domain, tag=None) -> float:
    import ufl
    from dolfinx import fem

    from spindiff.mesh import compat
    dx = ufl.Measure("dx", domain=domain.mesh, subdomain_data=domain.cell_tags)
    one = fem.Constant(domain.mesh, 1.0)
    return compat.assemble_scalar(compat.form(one * (dx if tag is None else dx(tag))), domain.comm)


def _check_rules(x, L, r, g, periodic):
    from spindiff.geometry.box import nearly_tangent
    from spindiff.geometry.centres import minimum_image
    d = minimum_image(x[:, None, :] - x[None, :, :], L if periodic else None)
    dist = np.sqrt(np.einsum("ijk,ijk->ij", d, d)) + np.eye(len(x)) * 1e9
    assert dist.min() >= 2 * r + g
    if periodic:
        assert not nearly_tangent(x, L, r, g).any()
        assert np.all((x >= 0) & (x < L))
    else:
        assert np.all((x >= r + g) & (x <= L - r - g))


@pytest.mark.parametrize("n,periodic,method", [
    (21, True, "random sequential addition"), (21, True, "overlap removal"),
    (34, True, "overlap removal"), (21, False, "overlap removal"), (27, False, "a lattice")])
def test_blend_placement_keeps_the_gaps(n, periodic, method):
    """Spheres of 60 nm with gaps of 3 nm in a 200 nm box: 30 % (21 spheres; random sequential
    addition jams for seeds 1 and 14), 0.56 of the periodic box swollen by the gaps (34), and
    in a closed box 21 and 27 (the simple-cubic lattice's 3 x 3 x 3)."""
    from spindiff.geometry.blend_placement import blend_centres
    L, r = np.full(3, 200.0), 30.0
    g = 0.1 * r
    seeds = {(21, True, "random sequential addition"): [0, 2], (21, True, "overlap removal"): [1, 14]
             }.get((n, periodic, method), [0, 1, 2, 3])
    how = []
    for seed in seeds:
        x, placed = blend_centres(n, L, r, g, seed, periodic)
        assert x.shape == (n, 3)
        _check_rules(x, L, r, g, periodic)
        how.append(placed.startswith(method))
    # the lattice is the last resort: some seeds of the 27 closed-box spheres need it
    assert any(how) if method == "a lattice" else all(how), how
    again, _ = blend_centres(n, L, r, g, seeds[-1], periodic)
    assert np.array_equal(again, x)


def test_blend_placement_refuses_what_no_lattice_holds():
    from spindiff.errors import CaseError
    from spindiff.geometry.blend_placement import blend_centres
    with pytest.raises(CaseError, match="do not fit in the box"):
        blend_centres(40, np.full(3, 200.0), 30.0, 3.0, 0, True)


@pytest.mark.parametrize("seed", [0, 1, 2, 4])
def test_blend_meshes_at_a_coarse_size(seed):
    from spindiff.geometry.inclusions import MATRIX_TAG, PARTICLE_TAG, build_blend
    L, D = 20.0, 6.0
    d = build_blend(_comm(), L, 0.3, D, seed, size=0.64 * D / 2)
    n = round(0.3 * L**3 / (np.pi / 6 * D**3))
    achieved = n * np.pi / 6 * D**3 / L**3
    assert f"{n} spheres" in d.description and f"achieved {achieved:.4g}" in d.description
    assert _volume(d) == pytest.approx(L**3, rel=1e-10)
    # facets inscribed at 0.5 radius: the meshed spheres are 8 % smaller, never larger
    assert 0.9 < _volume(d, PARTICLE_TAG) / L**3 / achieved < 1.0
    assert _volume(d, MATRIX_TAG) + _volume(d, PARTICLE_TAG) == pytest.approx(L**3, rel=1e-10)


@pytest.mark.parametrize("x0", [1.0, 2.08])
def test_sphere_with_its_centre_near_a_periodic_face_meshes(monkeypatch, x0):
    """A 60 nm sphere centred x0 nm inside the face x = 0 (its larger piece at x > 0, the
    other through the opposite face), meshed at 19.2 nm: failed with overlapping facets."""
    import spindiff.geometry.inclusions as inclusions
    monkeypatch.setattr(inclusions, "blend_centres",
                        lambda *args: (np.array([[x0, 100.0, 100.0]]), "given"))
    d = inclusions.build_blend(_comm(), 200.0, 0.03, 60.0, 1, size=19.2)
    assert 0.9 < _volume(d, inclusions.PARTICLE_TAG) / (np.pi / 6 * 60.0**3) < 1.0
