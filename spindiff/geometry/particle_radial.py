"""1D reductions of a particle or film in a matrix (relayed DNP; docs/reference/heterogeneous.md).

A spherical particle of radius R_p in a spherical shell of matrix, a long cylinder (rod) of
radius R_p in a cylindrical shell, or a slab (film) of half-thickness R_p between matrix
half-layers, with zero flux on the outside; the outer radius keeps the sample's volume
fraction phi of particle:

    sphere   R_out = R_p phi^(-1/3),  w(r) = 4 pi r^2
    cylinder R_out = R_p phi^(-1/2),  w(r) = 2 pi L_z r
    slab     R_out = R_p / phi,       w(z) = 2 L_x L_y   (half the film, z = 0 its mid-plane)

so int_0^R_out w = the box volume. A stack of layers (geometry kind "layers") is planar 1D on
[0, sum of thicknesses] with w = L_x L_y, exact for laterally uniform layers.

The nodes are graded from every material interface into both materials: the element size
h(d) = min(c_l l + c_g d, c_m E) / N at distance d from the nearest interface (l: that
material's boundary-layer length, E: the region's extent, N = mesh.radial_cells), so doubling N
halves every cell (a clean refinement for error estimates). Cell tags: region i (from x = 0)
gets REGION_TAG0 + i; FACET_OUTER on x = R_out (and on x = 0 for layers).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from ..errors import CaseError
from ..mesh import compat
from ..mesh.domain import FACET_OUTER, Domain
from ..physics.shapes import SHAPES, ParticleShape, Slab
from ..physics.shapes import shape as shape_of

REGION_TAG0 = 21
#: h = (CELLS_PER_LAYER^-1 l + GROWTH d) * 400 / N, capped at EXTENT_CELLS^-1 E * 400 / N
CELLS_PER_LAYER = 20.0
GROWTH = 0.025
EXTENT_CELLS = 40.0


@dataclass(frozen=True)
class Region:
    """One material interval [lo, hi] (nm) of a 1D reduction; `layer`: its boundary-layer
    length (nm), the finest scale resolved next to an interface."""
    material: str
    lo: float
    hi: float
    layer: float


def outer_radius(shape: str | ParticleShape, particle_size: float, phi: float) -> float:
    """Outer radius (nm) of the matrix shell that keeps the particle volume fraction phi."""
    if not 0 < phi < 1:
        raise CaseError("geometry.side", f"particle volume fraction {phi:.4g}",
                        "a box larger than the particle (volume fraction < 1)")
    return reducible(shape).outer_radius(particle_size, phi)


def reducible(shape: str | ParticleShape) -> ParticleShape:
    """The shape, which must have a 1D reduction (CaseError naming geometry.shape otherwise)."""
    try:
        form = shape_of(shape)
    except ValueError:
        raise CaseError("geometry.shape", shape, f"one of {', '.join(SHAPES)}") from None
    if form.power is None:
        raise CaseError("geometry.shape", form.name, "a shape with a 1D reduction (one of "
                        f"{', '.join(n for n, s in SHAPES.items() if s.power is not None)})")
    return form


def graded_nodes(lo: float, hi: float, refine_lo: bool, refine_hi: bool, layer: float,
                 ncells: int) -> np.ndarray:
    """Nodes (nm) from lo to hi with h(d) = min(l / c_l + g d, E / c_m) * 400 / N, d the
    distance to the nearest refined end (h = E / c_m * 400 / N without one)."""
    E = hi - lo
    s = 400.0 / ncells
    h0, hmax = s * layer / CELLS_PER_LAYER, s * E / EXTENT_CELLS
    if refine_lo or refine_hi:
        fine = np.geomspace(min(h0, E) * 1e-3, E, 2000)
        x = np.unique(np.concatenate([[0.0], fine, E - fine, np.linspace(0, E, 2001)]))
        x = x[(x >= 0) & (x <= E)]
        d = np.full(x.shape, np.inf)
        if refine_lo:
            d = np.minimum(d, x)
        if refine_hi:
            d = np.minimum(d, E - x)
        h = np.minimum(h0 + s * GROWTH * d, hmax)
    else:
        x = np.array([0.0, E])
        h = np.full(2, hmax)
    # cell count along x: s(x) = int dx / h, trapezoidal on the fine grid
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (1 / h[1:] + 1 / h[:-1]) * np.diff(x))])
    n = max(4, int(math.ceil(cum[-1])))
    nodes = lo + np.interp(np.linspace(0.0, cum[-1], n + 1), cum, x)
    nodes[0], nodes[-1] = lo, hi
    return nodes


def reduction_nodes(regions: Sequence[Region], ncells: int, refine_outer: bool = False,
                    refine_inner: bool = False) -> np.ndarray:
    """Sorted nodes of all regions, graded toward every interface between two materials
    (and toward x = 0 / the outer end when asked: a fixed boundary value)."""
    parts = []
    for i, reg in enumerate(regions):
        lo_if = i > 0 and regions[i - 1].material != reg.material
        hi_if = i + 1 < len(regions) and regions[i + 1].material != reg.material
        lo_if = lo_if or (i == 0 and refine_inner)
        hi_if = hi_if or (i + 1 == len(regions) and refine_outer)
        x = graded_nodes(reg.lo, reg.hi, lo_if, hi_if, reg.layer, ncells)
        parts.append(x if i == 0 else x[1:])
    return np.concatenate(parts)


def build_reduction(comm: MPI.Comm, shape: str | ParticleShape, regions: Sequence[Region],
                    ncells: int, weight_scale: float = 1.0, description: str = "",
                    refine_outer: bool = False, tag_inner: bool = False) -> Domain:
    """The 1D Domain of consecutive regions (region i gets cell tag REGION_TAG0 + i, its
    material the union of its tags). shape: a particle shape or its name ("sphere",
    "cylinder", "slab"; its 1D weight); weight_scale: L_z (cylinder) or the area (slab).
    FACET_OUTER on the outer end, and on x = 0 too when tag_inner (a film's bottom face)."""
    form = reducible(shape)
    x = reduction_nodes(regions, ncells, refine_outer=refine_outer)
    msh = compat.interval_mesh(comm, x)
    mid = compat.cell_midpoints(msh)[:, 0]
    his = np.array([r.hi for r in regions])
    index = np.minimum(np.searchsorted(his, mid), len(regions) - 1)
    ct = compat.meshtags(msh, 1, np.arange(mid.size, dtype=np.int32),
                         (REGION_TAG0 + index).astype(np.int32))
    lo, hi = regions[0].lo, regions[-1].hi
    outer = compat.locate_boundary_entities(msh, 0, lambda p: np.isclose(p[0], hi))
    ends = [outer]
    if tag_inner:
        ends.append(compat.locate_boundary_entities(msh, 0, lambda p: np.isclose(p[0], lo)))
    ends = np.unique(np.concatenate(ends)).astype(np.int32)
    ft = compat.meshtags(msh, 0, ends, np.full(ends.size, FACET_OUTER))
    materials: dict[str, list[int]] = {}
    for i, reg in enumerate(regions):
        materials.setdefault(reg.material, []).append(REGION_TAG0 + i)
    volume = form.shell_volume(lo, hi, weight_scale)
    return Domain(mesh=msh, cell_tags=ct, facet_tags=ft, radial=False, centres=np.empty((0, 3)),
                  materials=materials, exact_volume=volume, reduction=form,
                  weight_scale=weight_scale,
                  region_names={REGION_TAG0 + i: f"{r.material} [{r.lo:.4g}, {r.hi:.4g}] nm"
                                for i, r in enumerate(regions)},
                  description=f"{description}, {len(x) - 1} cells (smallest "
                              f"{np.diff(x).min():.3g} nm)")


def build_particle_radial(comm: MPI.Comm, shape: str | ParticleShape, particle_size: float,
                          box_lengths: Sequence[float], particle: str, matrix: str,
                          layers: dict[str, float], ncells: int) -> Domain:
    """The 1D reduction of a particle centred in a box (sphere radius, cylinder radius or slab
    half-thickness `particle_size`, nm): the particle on [0, R_p], the matrix on [R_p, R_out].
    layers: boundary-layer length (nm) per material."""
    form = reducible(shape)
    L = np.asarray(box_lengths, dtype=float)
    phi = form.volume(float(particle_size), L) / float(np.prod(L))
    R = outer_radius(form, particle_size, phi)
    regions = [Region(particle, 0.0, float(particle_size), layers[particle]),
               Region(matrix, float(particle_size), R, layers[matrix])]
    return build_reduction(comm, form, regions, ncells, form.weight_scale(L),
                           f"1D {form.name}: {particle} {form.radial_label()} "
                           f"{particle_size:.4g} nm in {matrix} "
                           f"to {R:.4g} nm (volume fraction {phi:.4g})")


def build_layers_radial(comm: MPI.Comm, thicknesses: Sequence[float], names: Sequence[str],
                        lateral: Sequence[float], layers: dict[str, float], ncells: int) -> Domain:
    """Planar 1D film: layer i on [z_i, z_i + t_i] (nm), zero flux on both faces."""
    t = np.asarray(thicknesses, dtype=float)
    z = np.concatenate([[0.0], np.cumsum(t)])
    regions = [Region(n, float(a), float(b), layers[n]) for n, a, b in zip(names, z[:-1], z[1:])]
    stack = ", ".join(f"{n} {h:.4g}" for n, h in zip(names, t))
    return build_reduction(comm, Slab(), regions, ncells, float(lateral[0] * lateral[1]),
                           f"1D film along z [{stack}] nm", tag_inner=True)
