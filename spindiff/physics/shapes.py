"""Particle shapes: everything spindiff knows about the shape of a particle centred in a box.

A particle of size a (nm; the radius of a sphere or cylinder, the half-thickness of a slab) is
centred in the box [0, L_x] x [0, L_y] x [0, L_z]. A shape is bounded along some axes and
crosses the whole box along the others (an endless fibre or film in a periodic sample):

    shape      bounded along   volume           1D reduction weight w(r)   slowest mode alpha
    sphere     x, y, z         4/3 pi a^3       4 pi r^2                   pi
    cylinder   x, y            pi a^2 L_z       2 pi L_z r                 j_0,1 = 2.405
    slab       z               2 a L_x L_y      2 L_x L_y                  pi / 2

Each shape gives its volume, its signed distance, the room it needs in a box, its description,
the weight of its 1D reduction (w ~ r^p) with the volume between two radii, the eigenvalues of
the diffusion series in it (spindiff.particle_series), and how the layer surfaces of an
interface band map onto each other (spindiff.geometry.particle_layers). Gmsh builds the shape
through its adapter in spindiff.geometry.gmsh_tools (GMSH_SHAPES).

A new shape is a subclass of `ParticleShape` registered with `register_shape` (and a Gmsh
adapter, `spindiff.geometry.gmsh_tools.register_gmsh_shape`, to mesh it in 3D); the case file
then accepts its name as geometry.shape. Pure numpy and scipy.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from scipy.special import i0e, i1e, jn_zeros


class ParticleShape:
    """A particle shape (see the module). Subclasses set `name`, `axes` (the axes along which
    the particle is bounded), `power` (p of the 1D weight w ~ r^p; None: no 1D reduction)
    and override `volume`, `what`; the rest follows from `axes` and `power`."""

    name: ClassVar[str] = ""
    #: axes (0 = x, 1 = y, 2 = z) along which the particle is bounded; it crosses the box along
    #: the others
    axes: ClassVar[tuple[int, ...]] = (0, 1, 2)
    #: exponent p of the 1D reduction's weight w(r) ~ r^p (None: no 1D reduction)
    power: ClassVar[int | None] = None
    #: the word for the size a in descriptions and axis labels ("radius", "half-thickness")
    size_word: ClassVar[str] = "radius"

    # --- in a box ------------------------------------------------------------------------

    def volume(self, a: float, box: Sequence[float]) -> float:
        """Exact volume (nm^3) of the particle of size a (nm) in the box of sides `box` (nm)."""
        raise NotImplementedError

    def signed_distance(self, a: float, box: Sequence[float], points: np.ndarray) -> np.ndarray:
        """Signed distance (nm) from points (m, 3) to the surface of the particle centred in
        the box: negative inside (the distance from the centre, axis or mid-plane minus a)."""
        L = np.asarray(box, dtype=float)
        d = np.asarray(points, dtype=float).reshape(-1, 3) - 0.5 * L
        return self._distance(d) - a

    def _distance(self, d: np.ndarray) -> np.ndarray:
        """Distance (nm) of offsets d (m, 3) from the centre, the axis or the mid-plane."""
        if len(self.axes) == 1:
            return np.abs(d[:, self.axes[0]])
        if len(self.axes) == 3:
            return np.linalg.norm(d, axis=1)
        return np.linalg.norm(d[:, list(self.axes)], axis=1)

    def half_room(self, box: Sequence[float]) -> float:
        """Half the box extent across the bounded axes (nm): a particle of size a fits when a
        stays below it (less a gap: it must not touch the faces it does not cross)."""
        L = np.asarray(box, dtype=float)
        return 0.5 * float(L[list(self.axes)].min())

    def what(self, a: float) -> str:
        """The particle in words, e.g. "sphere r=20" (nm)."""
        return f"{self.name} size {a:.4g}"

    def radial_label(self) -> str:
        """What the coordinate of the 1D reduction measures, e.g. "sphere r"."""
        return f"{self.name} r"

    # --- the 1D reduction ----------------------------------------------------------------

    def weight_scale(self, box: Sequence[float]) -> float:
        """The factor of the 1D weight (nm^(2-p)) that makes int w dr the volume in the box."""
        raise NotImplementedError

    def weight(self, r, scale: float):
        """The 1D measure weight w(r) (nm^2) at r (numpy array or UFL expression)."""
        raise NotImplementedError

    def shell_volume(self, lo: float, hi: float, scale: float) -> float:
        """int_lo^hi w(r) dr (nm^3)."""
        raise NotImplementedError

    def outer_radius(self, a: float, phi: float) -> float:
        """Outer radius (nm) of the matrix shell around a particle of size a that keeps the
        particle volume fraction phi: a phi^(-1 / (p + 1))."""
        return float(a) * phi ** (-1.0 / (self.power + 1))

    # --- the diffusion series (Crank) ----------------------------------------------------

    def eigenvalues(self, nterms: int) -> np.ndarray:
        """The first `nterms` roots k_n R of the series of diffusion into the particle with its
        surface held fixed (dimensionless); the first is alpha, T_D = R^2 / (alpha^2 D)."""
        raise NotImplementedError

    @property
    def alpha(self) -> float:
        """k_1 R of the slowest mode (T_D = R^2 / (alpha^2 D))."""
        return float(self.eigenvalues(1)[0])

    def steady_mean(self, x: float) -> float:
        """<P> / P_s of the steady state with the surface held at P_s and a relaxation length
        L = R / x inside (1 at x = 0)."""
        raise NotImplementedError

    # --- interface bands (spindiff.geometry.particle_layers) -----------------------------

    @property
    def band_sides(self) -> tuple[float, ...]:
        """The sides of the interface band: one band (+1), or two for a plane bounded along one
        axis (+1 above the mid-plane, -1 below)."""
        return (1.0, -1.0) if len(self.axes) == 1 else (1.0,)

    def move_to_layer(self, x: np.ndarray, centre: np.ndarray, r_from: float, r_to: float,
                      sign: float = 1.0) -> np.ndarray:
        """Points x (m, 3) on the layer surface at distance r_from moved to the one at r_to
        (scaled from the centre or axis; shifted along the normal of a plane)."""
        y = np.array(x, dtype=float)
        if len(self.axes) == 1:
            y[:, self.axes[0]] += sign * (r_to - r_from)
            return y
        if len(self.axes) == 3:
            return centre + (y - centre) * (r_to / r_from)
        ax = list(self.axes)
        y[:, ax] = centre[ax] + (y[:, ax] - centre[ax]) * (r_to / r_from)
        return y

    def layer_map(self, centre: np.ndarray, r_from: float, r_to: float,
                  sign: float = 1.0) -> list[float]:
        """The same map as a 4x4 affine matrix (row-major, as Gmsh takes it)."""
        T = np.eye(4)
        if len(self.axes) == 1:
            T[self.axes[0], 3] = sign * (r_to - r_from)
        else:
            k = r_to / r_from
            for i in self.axes:
                T[i, i] = k
                T[i, 3] = centre[i] * (1 - k)
        return T.ravel().tolist()


class Sphere(ParticleShape):
    """A sphere of radius a."""
    name = "sphere"
    axes = (0, 1, 2)
    power = 2

    def volume(self, a: float, box: Sequence[float]) -> float:
        return 4.0 / 3.0 * np.pi * a**3

    def what(self, a: float) -> str:
        return f"sphere r={a:.4g}"

    def weight_scale(self, box: Sequence[float]) -> float:
        return 1.0

    def weight(self, r, scale: float):
        return 4.0 * math.pi * r ** 2

    def shell_volume(self, lo: float, hi: float, scale: float) -> float:
        return 4.0 / 3.0 * math.pi * (hi**3 - lo**3)

    def eigenvalues(self, nterms: int) -> np.ndarray:
        return np.arange(1, nterms + 1) * math.pi

    def steady_mean(self, x: float) -> float:
        return 3 * (x / math.tanh(x) - 1) / x**2


class Cylinder(ParticleShape):
    """A cylinder of radius a along z, through the whole box."""
    name = "cylinder"
    axes = (0, 1)
    power = 1

    def volume(self, a: float, box: Sequence[float]) -> float:
        return np.pi * a**2 * np.asarray(box, dtype=float)[2]

    def what(self, a: float) -> str:
        return f"cylinder r={a:.4g} along z"

    def weight_scale(self, box: Sequence[float]) -> float:
        return float(box[2])

    def weight(self, r, scale: float):
        return 2.0 * math.pi * scale * r

    def shell_volume(self, lo: float, hi: float, scale: float) -> float:
        return math.pi * scale * (hi**2 - lo**2)

    def eigenvalues(self, nterms: int) -> np.ndarray:
        return jn_zeros(0, nterms)

    def steady_mean(self, x: float) -> float:
        return 2 * i1e(x) / (x * i0e(x))


class Slab(ParticleShape):
    """A slab of half-thickness a normal to z, across the whole box (a film)."""
    name = "slab"
    axes = (2,)
    power = 0
    size_word = "half-thickness"

    def volume(self, a: float, box: Sequence[float]) -> float:
        L = np.asarray(box, dtype=float)
        return 2.0 * a * L[0] * L[1]

    def what(self, a: float) -> str:
        return f"slab half-thickness {a:.4g} normal to z"

    def radial_label(self) -> str:
        return "slab half-thickness"

    def weight_scale(self, box: Sequence[float]) -> float:
        return 2.0 * float(box[0] * box[1])

    def weight(self, r, scale: float):
        return float(scale)

    def shell_volume(self, lo: float, hi: float, scale: float) -> float:
        return scale * (hi - lo)

    def eigenvalues(self, nterms: int) -> np.ndarray:
        return (np.arange(nterms) + 0.5) * math.pi

    def steady_mean(self, x: float) -> float:
        return math.tanh(x) / x


#: the shapes by name (geometry.shape); `register_shape` adds one
SHAPES: dict[str, ParticleShape] = {s.name: s for s in (Sphere(), Cylinder(), Slab())}


def register_shape(shape: ParticleShape) -> ParticleShape:
    """Make a particle shape known by its name: the case file accepts it as geometry.shape.

    Args:
        shape: an instance of a ParticleShape subclass with a `name`.

    Returns:
        The shape, unchanged.

    Raises:
        ValueError: not a named ParticleShape, or a name another class has.
    """
    if not shape.name or not isinstance(shape, ParticleShape):
        raise ValueError("a shape is a ParticleShape instance with a name")
    if shape.name in SHAPES and type(SHAPES[shape.name]) is not type(shape):
        raise ValueError(f"shape {shape.name!r} is already defined")
    SHAPES[shape.name] = shape
    return shape


def shape(name: str | ParticleShape) -> ParticleShape:
    """The shape of that name (a shape passes through); ValueError naming the known ones."""
    if isinstance(name, ParticleShape):
        return name
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}") from None
