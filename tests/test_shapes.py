"""The particle shapes (spindiff.physics.shapes) against independent formulas: the 1D weight
integrates to the volume, the series eigenvalues are roots of their boundary condition, the
steady mean is the quadrature of the closed-form steady profile, the layer maps of the
interface band agree with the point moves, and the signed distance is zero on the surface."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from spindiff.physics import shapes

BOX = np.array([30.0, 40.0, 50.0])
BUILT_IN = ["sphere", "cylinder", "slab"]


@pytest.mark.parametrize("name", BUILT_IN)
def test_weight_integrates_to_the_volume(name):
    s = shapes.shape(name)
    a, scale = 7.0, s.weight_scale(BOX)
    assert s.shell_volume(0.0, a, scale) == pytest.approx(s.volume(a, BOX), rel=1e-14)
    quad, _ = integrate.quad(lambda r: s.weight(r, scale), 3.0, a)
    assert s.shell_volume(3.0, a, scale) == pytest.approx(quad, rel=1e-12)
    # the outer radius that keeps the volume fraction: the shell to it holds the whole box
    phi = s.volume(a, BOX) / BOX.prod()
    R = s.outer_radius(a, phi)
    assert s.shell_volume(0.0, R, scale) == pytest.approx(BOX.prod(), rel=1e-12)


@pytest.mark.parametrize("name, condition", [
    ("sphere", lambda k: np.sin(k)),            # j_0(k) = sin(k) / k = 0
    ("cylinder", lambda k: special.j0(k)),      # J_0(k) = 0
    ("slab", lambda k: np.cos(k)),              # zero flux at the mid-plane, P fixed at a
])
def test_eigenvalues_are_the_roots_of_the_boundary_condition(name, condition):
    k = shapes.shape(name).eigenvalues(30)
    assert np.all(np.diff(k) > 0) and k[0] > 0
    assert np.max(np.abs(condition(k))) < 1e-12
    assert shapes.shape(name).alpha == k[0]


@pytest.mark.parametrize("name, profile", [
    ("sphere", lambda u, x: np.sinh(x * u) / (u * np.sinh(x)) if u > 0 else x / np.sinh(x)),
    ("cylinder", lambda u, x: special.i0(x * u) / special.i0(x)),
    ("slab", lambda u, x: np.cosh(x * u) / np.cosh(x)),
])
def test_steady_mean_is_the_mean_of_the_steady_profile(name, profile):
    """D lap P = P / T1 inside, P = P_s on the surface: <P> / P_s with the shape's weight r^p."""
    s = shapes.shape(name)
    for x in (0.3, 2.0, 15.0):
        num, _ = integrate.quad(lambda u: profile(u, x) * u ** s.power, 0.0, 1.0)
        den = 1.0 / (s.power + 1)
        assert s.steady_mean(x) == pytest.approx(num / den, rel=1e-10)


@pytest.mark.parametrize("name", BUILT_IN)
def test_layer_map_moves_points_like_move_to_layer_and_distance_follows(name):
    s = shapes.shape(name)
    mid = 0.5 * BOX
    rng = np.random.default_rng(3)
    d = rng.normal(size=(20, 3))
    for sign in s.band_sides:
        # points on the layer at distance 4 from the centre, axis or mid-plane (on one side)
        x = np.tile(mid, (20, 1)) + rng.uniform(-9, 9, size=(20, 3))
        if len(s.axes) == 1:
            x[:, s.axes[0]] = mid[s.axes[0]] + sign * 4.0
        else:
            ax = list(s.axes)
            x[:, ax] = mid[ax] + 4.0 * d[:, ax] / np.linalg.norm(d[:, ax], axis=1)[:, None]
        assert np.allclose(s.signed_distance(4.0, BOX, x), 0.0, atol=1e-12)
        y = s.move_to_layer(x, mid, 4.0, 6.5, sign)
        assert np.allclose(s.signed_distance(6.5, BOX, y), 0.0, atol=1e-12)
        T = np.array(s.layer_map(mid, 4.0, 6.5, sign)).reshape(4, 4)
        mapped = (np.c_[x, np.ones(len(x))] @ T.T)[:, :3]
        assert np.allclose(mapped, y, atol=1e-12)
    assert s.signed_distance(4.0, BOX, mid[None, :])[0] == pytest.approx(-4.0)


def test_room_in_the_box_and_the_registry():
    assert shapes.shape("sphere").half_room(BOX) == 15.0
    assert shapes.shape("cylinder").half_room(BOX) == 15.0
    assert shapes.shape("slab").half_room(BOX) == 25.0
    assert shapes.shape("slab").band_sides == (1.0, -1.0)
    with pytest.raises(ValueError, match="known: sphere, cylinder, slab"):
        shapes.shape("cube")
    with pytest.raises(ValueError, match="already defined"):
        class Other(shapes.ParticleShape):
            name = "sphere"
        shapes.register_shape(Other())
    assert math.isclose(shapes.shape("cylinder").alpha, 2.404825557695773)
