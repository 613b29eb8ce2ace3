"""1D radial reduction of the spherical cell: an interval in r with weight 4 pi r^2.

Nodes are graded toward the innermost sphere (the barrier, where k, R1 ~ r^-6 vary fastest, or
the edge of a source region) and placed exactly at every interface radius (b, r_h, source
radius) so that the barrier, hidden, visible and source regions are unions of cells.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mpi4py import MPI

from ..mesh import compat
from ..mesh.domain import FACET_BARRIER, FACET_OUTER, Domain
from .sphere_cell import cell_domain, interface_radii, shell_tag


def radial_nodes(radius: float, barrier_radius: float, barrier: str, visible_radius: float,
                 ncells: int, grading: float = 4.0, extra_radii: Sequence[float] = ()) -> np.ndarray:
    """Sorted node radii (nm). Outside the innermost interface r0, cells grow geometrically
    (by a factor ~ e^grading over the cell); inside it (kept barrier or no barrier) they are
    uniform at the size of the first outer cell."""
    R = radius
    radii = interface_radii(R, barrier_radius, barrier, [visible_radius, *extra_radii])
    r0 = radii[0] if radii else 0.0
    breaks = radii + [R]
    span = R - r0
    nodes = [np.array([r0])]
    for lo, hi in zip(breaks[:-1], breaks[1:]):
        # map s in [0, 1] from r0 outward: r = r0 + span * (exp(g s) - 1) / (exp(g) - 1)
        s_lo, s_hi = _s_of(lo, r0, span, grading), _s_of(hi, r0, span, grading)
        n = max(4, int(round(ncells * (s_hi - s_lo))))
        s = np.linspace(s_lo, s_hi, n + 1)[1:]
        nodes.append(r0 + span * np.expm1(grading * s) / np.expm1(grading))
    r = np.concatenate(nodes)
    for brk in breaks:
        r[np.argmin(np.abs(r - brk))] = brk
    if barrier != "hole" and r0 > 0:
        h0 = r[1] - r[0]
        nb = max(8, int(np.ceil(r0 / max(h0, r0 / 64))))
        r = np.concatenate([np.linspace(0.0, r0, nb + 1)[:-1], r])
    return r


def _s_of(r: float, r0: float, span: float, g: float) -> float:
    return float(np.log1p((r - r0) / span * np.expm1(g)) / g)


def build_radial_cell(comm: MPI.Comm, radius: float, barrier_radius: float, barrier: str,
                      visible_radius: float, ncells: int, material: str = "matrix",
                      extra_radii: Sequence[float] = ()) -> Domain:
    """The radial domain; cell tags mark visible (r > r_h), hidden and barrier cells."""
    b, rh = barrier_radius, visible_radius
    r = radial_nodes(radius, b, barrier, rh, ncells, extra_radii=extra_radii)
    msh = compat.interval_mesh(comm, r)
    mid = compat.cell_midpoints(msh)[:, 0]
    breaks = np.array(interface_radii(radius, b, barrier, [rh, *extra_radii]) + [radius])
    outer_of_cell = breaks[np.searchsorted(breaks, mid)]
    tags = np.array([shell_tag(o, b, barrier, rh) for o in outer_of_cell], dtype=np.int32)
    ct = compat.meshtags(msh, 1, np.arange(mid.size, dtype=np.int32), tags)
    inner = r[0]
    verts_b = compat.locate_boundary_entities(msh, 0, lambda x: np.isclose(x[0], inner))
    verts_R = compat.locate_boundary_entities(msh, 0, lambda x: np.isclose(x[0], radius))
    ft = compat.meshtags(msh, 0, np.concatenate([verts_b, verts_R]),
                         np.concatenate([np.full(verts_b.size, FACET_BARRIER if inner > 0 else 0),
                                         np.full(verts_R.size, FACET_OUTER)]))
    return cell_domain(msh, ct, ft, True, radius, b, barrier, rh, list(breaks[:-1]), material,
                       f"radial cell R={radius:.4g} nm, b={b:.4g} nm ({barrier}), "
                       f"{len(r) - 1} cells")
