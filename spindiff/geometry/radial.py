"""1D radial reduction of the spherical cell: an interval in r with weight 4 pi r^2.

Nodes are graded toward the barrier (where k, R1 ~ r^-6 vary fastest) and placed exactly at b
and r_h so that the barrier, hidden and visible regions are unions of cells.
"""
from __future__ import annotations

import numpy as np
from mpi4py import MPI

from ..fem import compat
from .domain import FACET_BARRIER, FACET_OUTER, TAG_BARRIER, TAG_HIDDEN, TAG_VISIBLE, Domain


def radial_nodes(radius: float, barrier_radius: float, barrier: str, visible_radius: float,
                 ncells: int, grading: float = 4.0) -> np.ndarray:
    """Sorted node radii (nm). Cells shrink geometrically toward r = b by a factor ~ e^grading."""
    R, b, rh = radius, barrier_radius, visible_radius
    breaks = [b] + ([rh] if b < rh < R else []) + [R]
    span = R - b
    nodes = [np.array([b])]
    total = 0
    for lo, hi in zip(breaks[:-1], breaks[1:]):
        # map s in [0, 1] from the barrier outward: r = b + span * (exp(g s) - 1) / (exp(g) - 1)
        s_lo, s_hi = _s_of(lo, b, span, grading), _s_of(hi, b, span, grading)
        n = max(4, int(round(ncells * (s_hi - s_lo))))
        total += n
        s = np.linspace(s_lo, s_hi, n + 1)[1:]
        nodes.append(b + span * np.expm1(grading * s) / np.expm1(grading))
    r = np.concatenate(nodes)
    r[-1] = R
    for brk in breaks:
        r[np.argmin(np.abs(r - brk))] = brk
    if barrier == "kept":
        h0 = r[1] - r[0]
        nb = max(8, int(np.ceil(b / max(h0, b / 64))))
        r = np.concatenate([np.linspace(0.0, b, nb + 1)[:-1], r])
    return r


def _s_of(r: float, b: float, span: float, g: float) -> float:
    return float(np.log1p((r - b) / span * np.expm1(g)) / g)


def build_radial_cell(comm: MPI.Comm, radius: float, barrier_radius: float, barrier: str,
                      visible_radius: float, ncells: int, material: str = "matrix") -> Domain:
    """The radial domain; cell tags mark visible (r > r_h), hidden and barrier cells."""
    r = radial_nodes(radius, barrier_radius, barrier, visible_radius, ncells)
    msh = compat.interval_mesh(comm, r)
    mid = compat.cell_midpoints(msh)[:, 0]
    tags = np.full(mid.shape, TAG_VISIBLE, dtype=np.int32)
    rh = visible_radius
    b = barrier_radius
    tags[(mid > b) & (mid < rh)] = TAG_HIDDEN
    tags[mid < b] = TAG_BARRIER
    ct = compat.meshtags(msh, 1, np.arange(mid.size, dtype=np.int32), tags)
    inner = r[0]
    verts_b = compat.locate_boundary_entities(msh, 0, lambda x: np.isclose(x[0], inner))
    verts_R = compat.locate_boundary_entities(msh, 0, lambda x: np.isclose(x[0], radius))
    ft = compat.meshtags(msh, 0, np.concatenate([verts_b, verts_R]),
                         np.concatenate([np.full(verts_b.size, FACET_BARRIER if inner > 0 else 0),
                                         np.full(verts_R.size, FACET_OUTER)]))
    names = [TAG_VISIBLE] + ([TAG_HIDDEN] if b < rh < radius else [])
    barrier_tags = []
    if barrier == "kept":
        names.append(TAG_BARRIER)
        barrier_tags = [TAG_BARRIER]
    volume = 4.0 * np.pi / 3.0 * (radius**3 - (b**3 if barrier == "hole" else 0.0))
    return Domain(mesh=msh, cell_tags=ct, facet_tags=ft, radial=True,
                  centres=np.zeros((1, 3)), materials={material: names},
                  barrier_tags=barrier_tags, exact_volume=volume,
                  description=f"radial cell R={radius:.4g} nm, b={b:.4g} nm ({barrier}), "
                              f"{len(r) - 1} cells")
