"""Sums over centres with a k-d tree and a cut-off (spindiff.mesh.neighbours) against brute
force: nearest distances exactly, r^-6 sums within the stated truncation error."""
import itertools

import numpy as np
import pytest

from spindiff.mesh.neighbours import CentreNeighbours


def brute_sum(law, x, centres, L, shells):
    """sum over the (2 shells + 1)^3 periodic boxes around the box, by brute force."""
    out = np.zeros(len(x))
    for s in itertools.product(range(-shells, shells + 1), repeat=3):
        d = x[:, None, :] - (centres + np.asarray(s) * L)[None, :, :]
        out += law(np.sqrt((d ** 2).sum(-1))).sum(axis=1)
    return out


@pytest.fixture
def random_box():
    rng = np.random.default_rng(3)
    L = np.array([20.0, 20.0, 20.0])
    centres = rng.uniform(0, 20.0, size=(96, 3))    # 20 mM: s = 4.36 nm
    x = rng.uniform(0, 20.0, size=(400, 3))
    return L, centres, x


def test_nearest_is_the_minimum_image_distance(random_box):
    L, c, x = random_box
    d = x[:, None, :] - c[None, :, :]
    d -= L * np.round(d / L)
    exact = np.sqrt((d ** 2).sum(-1)).min(axis=1)
    got = CentreNeighbours(c, L).nearest(x)
    assert np.max(np.abs(got - exact)) < 1e-12
    # points on the upper faces and outside the box wrap correctly
    y = np.array([[20.0, 20.0, 20.0], [-0.5, 3.0, 21.0]])
    d = y[:, None, :] - c[None, :, :]
    d -= L * np.round(d / L)
    assert np.allclose(CentreNeighbours(c, L).nearest(y), np.sqrt((d ** 2).sum(-1)).min(axis=1),
                       rtol=0, atol=1e-12)


def test_tail_of_inverse_sixth_is_exact():
    L = np.array([10.0, 10.0, 10.0])
    nb = CentreNeighbours(np.array([[5.0, 5.0, 5.0]]), L, cutoff=4.0)
    C6 = 3.0
    expect = (1 / 1000.0) * 4 * np.pi * C6 / (3 * 4.0 ** 3)
    assert nb.tail(lambda r: C6 / r ** 6) == pytest.approx(expect, rel=1e-13)


def test_cutoff_sum_matches_the_lattice_sum(random_box):
    """Cut-off at 3 spacings plus the continuum tail vs the brute-force sum over 125 boxes
    : the truncation error is below 1e-3 where
    the nearest centre is within half a spacing (where the rates act) and below 1e-2 anywhere."""
    L, c, x = random_box
    law = lambda r: 1.0 / np.maximum(r, 0.5) ** 6  # noqa: E731
    nb = CentreNeighbours(c, L)
    assert nb.cutoff == pytest.approx(3.0 * (len(c) / 8000.0) ** (-1 / 3))
    got = nb.sum(law, x)
    exact = brute_sum(law, x, c, L, 2)  # beyond 2 L: about 1e-6 of the total, left out
    rel = np.abs(got - exact) / exact
    near = nb.nearest(x) < 0.5 * 4.36
    print(f"cut-off sum vs 125 boxes: max rel error {rel.max():.2e} (near centres "
          f"{rel[near].max():.2e}), cut-off {nb.cutoff:.3g} nm")
    assert rel[near].max() < 1e-3
    assert rel.max() < 1e-2
    # without the tail the error near centres is larger: the tail is doing its job
    raw = got - nb.tail(law)
    assert np.max(np.abs(raw - exact)[near] / exact[near]) > rel[near].max()


def test_closed_box_sums_every_centre_exactly(random_box):
    L, c, x = random_box
    law = lambda r: 2.0 / np.maximum(r, 0.3) ** 6  # noqa: E731
    got = CentreNeighbours(c).sum(law, x)
    d = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1))
    assert np.max(np.abs(got - law(d).sum(1)) / law(d).sum(1)) < 1e-13


def test_cell_sums_match_the_point_sums(random_box):
    """Cells of size 0.8 nm with a symmetric rule (points in pairs about the midpoint, like the
    cell integrals that use them; centres beyond 1.5 spacings are summed at the midpoint,
    second order in h / r): the cell integral of the sum within 1e-3 of the lattice sum near
    centres and 1e-2 anywhere; two laws from one search equal the separate sums."""
    L, c, x = random_box
    rng = np.random.default_rng(5)
    mids = x[:100]
    half = rng.uniform(-0.4, 0.4, size=(100, 7, 3))
    pts = mids[:, None, :] + np.concatenate([half, -half], axis=1)
    laws = [lambda r: 1.0 / np.maximum(r, 0.5) ** 6, lambda r: 0.3 / np.maximum(r, 0.5) ** 6 + 0 * r]
    nb = CentreNeighbours(c, L)
    assert nb.split == pytest.approx(1.5 * 20.0 / 96 ** (1 / 3))
    got = nb.cell_sums(laws, pts, mids)
    exact = brute_sum(laws[0], pts.reshape(-1, 3), c, L, 2).reshape(100, 14).mean(1)
    rel = np.abs(got[0].mean(1) - exact) / exact
    near = nb.nearest(mids) < 0.5 * 4.36
    print(f"cell sums vs 125 boxes: max relative error of a cell integral {rel.max():.2e} "
          f"(cells near a centre {rel[near].max():.2e})")
    assert rel[near].max() < 1e-3
    assert rel.max() < 1e-2
    assert np.allclose(got[1], 0.3 * got[0], rtol=1e-12, atol=0)
    # points outside the box (periodic wrap keeps each cell together)
    shifted = nb.cell_sums(laws[:1], pts + L, mids + L)[0]
    assert np.allclose(shifted, got[0], rtol=1e-12, atol=0)
