"""Resource bounds that keep a run within this machine's memory and time: estimated 3D cells,
centres, blend spheres, pulses per stage (each refused with one line naming the key)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import CaseError
from ..physics.shapes import shape
from ..sources import source_law
from .geometry_kinds import BOXES

if TYPE_CHECKING:
    from .schema import Case

#: largest estimated number of cells of a 3D mesh with linear elements (about 8 million dofs);
#: quadratic elements have about 8 times the dofs per cell, so they get an eighth of it
MAX_CELLS = 5e7
QUADRATIC_DOFS_PER_CELL_RATIO = 8
#: largest number of centres placed from a concentration
MAX_CENTRES = 100_000
#: largest number of pulses in one stage (every pulse restarts the time stepper)
MAX_PULSES = 10_000_000


def centre_count(case: Case) -> int:
    """Number of centres a box-shaped geometry will hold (positions, count or c V)."""
    c, g = case.centres, case.geometry
    if c.placement == "none" or c.representation == "homogenized" or g.kind not in BOXES:
        return 0
    if c.placement == "positions":
        return len(c.positions or [])
    if c.count is not None:
        return c.count
    if g.concentration is None or not case.box_sides:
        return 0
    return int(round(g.concentration * math.prod(case.box_sides)))


def estimated_cells(case: Case) -> tuple[float, float]:
    """Rough (lower) estimate of the 3D cells of the case's mesh: (bulk, refined).

    bulk: 6 V / h^3 for the volume V at element size h (size_bulk; size_particle inside a
    particle); refined: two cells per size_barrier^2 on every refined sphere (barrier, visible
    and source-region spheres around each centre). User meshes and the 1D reductions: (0, 0).
    """
    g, m = case.geometry, case.mesh
    if g.kind == "mesh" or m.model in ("radial", "spins"):
        return 0.0, 0.0
    if case.centres.barrier_radius == "derived":  # checked again once it is a number
        b, visible = 0.0, case.centres.visible_radius or 0.0
    else:
        b, visible = case.barrier_radius, case.visible_radius
    radii = [b, visible] + list(source_law(case).conforming_radii)
    if g.kind == "sphere_cell":
        volume, centres = 4.0 / 3.0 * math.pi * case.cell_radius ** 3, 1
    elif g.kind == "periodic_cube":
        volume, centres = case.cube_side ** 3, 1
    else:
        sides = case.box_sides
        if g.kind == "layers":
            sides = sides[:2] + [sum(g.thicknesses or [])]
        volume = math.prod(sides) if sides else 0.0
        centres = centre_count(case)
        radii = [b or (min(sides) / 20 if sides else 0.0)] + radii[2:]
    bulk = 6.0 * volume / m.size_bulk ** 3
    if g.kind == "particle" and g.particle_size is not None and case.box_sides:
        inner = shape(g.shape).volume(g.particle_size, case.box_sides)
        bulk += 6.0 * min(inner, volume) / (m.size_particle or m.size_bulk) ** 3
    shells = sum(4.0 * math.pi * r * r for r in set(radii) if r > 0)
    refined = 2.0 * centres * shells / m.size_barrier ** 2
    return bulk, refined


def check_resources(case: Case, source: str | None) -> None:
    """Bounds that keep a run within memory and time: cells, centres, blend spheres, pulses."""
    g, m = case.geometry, case.mesh
    n = centre_count(case)
    if n > MAX_CENTRES:
        raise CaseError("geometry.concentration", f"{g.concentration:g} nm^-3",
                        f"gives {n:.3g} centres in the {' x '.join(f'{s:g}' for s in case.box_sides)}"
                        f" nm box; allowed: at most {MAX_CENTRES} centres (a smaller box or "
                        f"representation = \"homogenized\")", source)
    if g.kind == "blend" and g.volume_fraction and g.domain_size and case.box_sides:
        spheres = g.volume_fraction * math.prod(case.box_sides) / (math.pi / 6 * g.domain_size ** 3)
        if spheres > MAX_CENTRES:
            raise CaseError("geometry.domain_size", f"{g.domain_size:g} nm",
                            f"gives {spheres:.3g} spheres in the box; allowed: at most "
                            f"{MAX_CENTRES} (larger domains or a smaller box)", source)
    bulk, refined = estimated_cells(case)
    quadratic = m.element_degree == 2
    max_cells = MAX_CELLS / QUADRATIC_DOFS_PER_CELL_RATIO if quadratic else MAX_CELLS
    if bulk + refined > max_cells:
        key, size = ("mesh.size_barrier", m.size_barrier) if refined > bulk else \
            ("mesh.size_bulk", m.size_bulk)
        hint = " or mesh.model = \"radial\"" if g.kind in ("sphere_cell", "particle", "layers") else ""
        which = " with quadratic elements" if quadratic else ""
        raise CaseError(key, f"{size:g} nm",
                        f"the 3D mesh would need about {bulk + refined:.2g} cells; allowed: sizes "
                        f"that keep it below {max_cells:.2g} cells{which} (larger sizes{hint})", source)
    for i, st in enumerate(case.protocol.stages):
        if st.pulses is None:
            continue
        count = st.duration * st.pulses.rate
        if count > MAX_PULSES:
            raise CaseError(f"protocol.stages[{i}].pulses.rate", f"{st.pulses.rate:g} Hz",
                            f"{count:.3g} pulses in the {st.duration:g} s stage; allowed: at most "
                            f"{MAX_PULSES:.0e} pulses per stage", source)
