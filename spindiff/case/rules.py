"""Rules of a case that involve several keys (a barrier inside the cell, a source model and
its parameters, stages and their microwave settings, geometry kinds and their keys, ...). They
run whenever a Case is validated (a pydantic model validator), so a case built in Python obeys
the same rules as one loaded from a file."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import CaseError
from ..physics.constants import HBAR, MU_B
from .derived import b_is_derived, check_derived
from .geometry_kinds import BOXES, SINGLE_CELL
from .limits import check_resources
from .petsc import check_petsc_options
from .unused import check_unused

if TYPE_CHECKING:
    from .schema import Case

#: [agent] keys of the broad-line model only (a full or effective rate model would ignore them)
BROADLINE_ONLY = {"ee_min_distance": " nm", "spectral_diffusion_scale": "", "T1D": " s"}


def check_consistency(case: Case, source: str | None = None) -> None:
    """Rules that involve several keys."""
    g, c = case.geometry, case.centres
    _check_geometry(case, source)
    if c.barrier != "none" and c.barrier_radius is None:
        raise CaseError("centres.barrier_radius", "(missing)",
                        f"required with barrier = {c.barrier!r} (or set barrier = \"none\")", source)
    if g.kind in ("sphere_cell", "periodic_cube"):
        size = case.cell_radius if g.kind == "sphere_cell" else case.cube_side / 2
        what = "the cell radius R" if g.kind == "sphere_cell" else "half the cube side"
        if not b_is_derived(case) and case.barrier_radius >= size:
            raise CaseError("centres.barrier_radius", f"{case.barrier_radius:g} nm",
                            f"must be smaller than {what} = {size:.4g} nm", source)
        if c.visible_radius is not None and c.visible_radius >= size:
            raise CaseError("centres.visible_radius", f"{case.visible_radius:g} nm",
                            f"must be smaller than {what} = {size:.4g} nm", source)
    if case.relaxation.P0 == "thermal" and case.conditions is None:
        raise CaseError("relaxation.P0", "thermal",
                        "needs a [conditions] table (B0, temperature, nucleus) or a number", source)
    if case.mesh.size_barrier > case.mesh.size_bulk:
        raise CaseError("mesh.size_barrier", f"{case.mesh.size_barrier:g} nm",
                        f"must not exceed mesh.size_bulk = {case.mesh.size_bulk:g} nm", source)
    if case.mesh.refine and case.mesh.model == "3d":
        if g.kind not in ("sphere_cell", "periodic_cube", "box"):
            raise CaseError("mesh.refine", case.mesh.refine,
                            "0 for this geometry; uniform refinement is available for "
                            "sphere_cell, periodic_cube and box", source)
    if case.mesh.element_degree == 2 and case.solver.mass == "lumped":
        raise CaseError("solver.mass", "lumped", "\"consistent\" with mesh.element_degree = 2 "
                        "(a quadratic mass matrix has negative row sums at the vertices)", source)
    if case.solver.dt_max is not None and case.solver.dt_max < case.solver.dt_initial:
        raise CaseError("solver.dt_max", f"{case.solver.dt_max:g} s",
                        "must be >= solver.dt_initial", source)
    if g.kind == "periodic_cube" and case.mesh.model == "radial":
        raise CaseError("mesh.model", "radial", "the radial reduction needs a sphere_cell", source)
    src = case.source
    if src.model != "rates" and src.polarization is None:
        raise CaseError("source.polarization", "(missing)",
                        "required (|P| < 1) unless source.model = \"rates\"", source)
    if src.model == "rates" and (case.agent is None or case.conditions is None):
        raise CaseError("source.model", "rates", "needs [agent] and [conditions] tables", source)
    if case.agent is not None and case.agent.method != "broadline":
        for key, unit in BROADLINE_ONLY.items():
            if getattr(case.agent, key) is not None:
                raise CaseError(f"agent.{key}", f"{getattr(case.agent, key):g}{unit}",
                                f"used only with agent.method = \"broadline\" (method is "
                                f"{case.agent.method!r}): remove it or set that method", source)
    if src.model == "rates":
        for i, st in enumerate(case.protocol.stages):
            if st.microwaves and (st.source is None or st.source) and st.microwave_nutation is None \
                    and st.microwave_power is None:
                raise CaseError(f"protocol.stages[{i}].microwave_nutation", "(missing)",
                                "the rate module needs the microwave field: microwave_nutation "
                                "(w1 / 2 pi, e.g. \"20 kHz\") and microwave_offset", source)
    if src.model == "volume" and src.C6 is None:
        raise CaseError("source.C6", "(missing)", "source model \"volume\" needs C6, e.g. \"5 nm^6/s\"", source)
    if src.model == "surface" and src.kappa is None:
        raise CaseError("source.kappa", "(missing)", "source model \"surface\" needs kappa, e.g. \"0.5 nm/s\"", source)
    if src.model in ("surface", "fixed") and c.barrier != "hole":
        raise CaseError("source.model", src.model, "surface and fixed sources need centres.barrier = \"hole\"", source)
    if src.model == "region" and (src.rate is None or src.radius is None):
        raise CaseError("source.rate" if src.rate is None else "source.radius", "(missing)",
                        "a \"region\" source needs rate (e.g. \"1000 1/s\") and radius (e.g. \"0.5 nm\")", source)
    if c.barrier == "none" and src.model != "region":
        raise CaseError("source.model", src.model,
                        "without a barrier only a \"region\" source is allowed (C6/r^6 diverges at r = 0)", source)
    if c.barrier == "none" and case.relaxation.C6 > 0:
        raise CaseError("relaxation.C6", f"{case.relaxation.C6:g} nm^6/s",
                        "must be 0 without a barrier (C6/r^6 diverges at r = 0)", source)
    if src.model == "region" and not b_is_derived(case) and src.radius <= case.barrier_radius:
        raise CaseError("source.radius", f"{src.radius:g} nm",
                        f"must exceed the barrier radius {case.barrier_radius:g} nm", source)
    if c.barrier == "physical" and case.electron is None:
        raise CaseError("centres.barrier", "physical",
                        "needs an [electron] table (the suppression s_e(r; P_e) is the barrier)", source)
    if case.electron is not None and case.conditions is None:
        raise CaseError("electron", "(table)",
                        "needs [conditions] (B0 and temperature give the thermal P_e)", source)
    for i, st in enumerate(case.protocol.stages):
        if st.first_output is not None and st.first_output > st.duration:
            raise CaseError(f"protocol.stages[{i}].first_output", f"{st.first_output:g} s",
                            f"must not exceed the stage duration {st.duration:g} s", source)
        mw = [k for k in ("microwave_nutation", "microwave_power", "electron_polarization")
              if getattr(st, k) is not None]
        if mw and case.electron is None and not (src.model == "rates" and mw[0] == "microwave_nutation"):
            raise CaseError(f"protocol.stages[{i}].{mw[0]}", getattr(st, mw[0]),
                            "needs an [electron] table", source)
        if len(mw) > 1:
            raise CaseError(f"protocol.stages[{i}]", ", ".join(mw), "give at most one of these", source)
        if mw and not st.microwaves and mw[0] != "electron_polarization":
            raise CaseError(f"protocol.stages[{i}].{mw[0]}", getattr(st, mw[0]),
                            "microwave settings need microwaves = true", source)
        if st.microwave_power is not None and (case.electron is None or case.electron.nutation_per_sqrt_mW is None):
            raise CaseError(f"protocol.stages[{i}].microwave_power", f"{st.microwave_power:g} W",
                            "needs electron.nutation_per_sqrt_mW (e.g. \"20 kHz\")", source)
        if case.electron is not None and st.microwaves and not mw:
            raise CaseError(f"protocol.stages[{i}].microwaves", True,
                            "with [electron], say how the microwaves set P_e: microwave_nutation, "
                            "microwave_power or electron_polarization", source)
        if st.pulses is not None and src.model != "region":
            raise CaseError(f"protocol.stages[{i}].pulses", "(table)",
                            "pulses act on the source region: needs source.model = \"region\"", source)
    if (g.outer_boundary == "fixed") != (g.outer_polarization is not None):
        raise CaseError("geometry.outer_polarization", g.outer_polarization,
                        "give it exactly when geometry.outer_boundary = \"fixed\"", source)
    names = [s.name for s in case.protocol.stages]
    if len(set(names)) != len(names):
        raise CaseError("protocol.stages.name", ", ".join(names), "stage names must be unique", source)
    if c.visible_radius is not None and not b_is_derived(case) \
            and c.visible_radius < case.barrier_radius:
        raise CaseError("centres.visible_radius", f"{c.visible_radius:g} nm",
                        f"must be >= the barrier radius b = {case.barrier_radius:g} nm", source)
    resolve_microwave_frequencies(case, source)
    _check_spins(case, source)
    check_derived(case, source)
    _check_thermal(case, source)
    _check_positions(case, source)
    check_resources(case, source)
    check_petsc_options(case, source)
    check_unused(case, source)


def _check_geometry(case: Case, source: str | None) -> None:
    """Which [geometry] keys each kind needs, and how materials and centres fit it."""
    g, c = case.geometry, case.centres
    names = list(case.materials)
    if g.kind in SINGLE_CELL:
        allowed = ("concentration", "radius") if g.kind == "sphere_cell" else ("concentration", "side")
        given = [k for k in ("concentration", "radius", "side") if getattr(g, k) is not None]
        if len(given) != 1 or given[0] not in allowed:
            raise CaseError("geometry", ", ".join(given) or "(none)",
                            f"a {g.kind} needs exactly one of {' or '.join(allowed)}", source)
        if len(names) != 1:
            raise CaseError("materials", ", ".join(names),
                            f"geometry kind {g.kind!r} holds exactly one material", source)
        if c.placement != "cell":
            raise CaseError("centres.placement", c.placement,
                            f"a {g.kind} has one centre at its middle: use \"cell\"", source)
        if c.representation != "resolved":
            raise CaseError("centres.representation", c.representation,
                            f"a {g.kind} resolves its centre", source)
        if g.kind == "periodic_cube" and g.outer_boundary != "zero_flux":
            raise CaseError("geometry.outer_boundary", g.outer_boundary,
                            "a periodic cube has no outer boundary", source)
        return
    if case.mesh.model == "radial":
        if g.kind not in ("particle", "layers"):
            raise CaseError("mesh.model", "radial", "the 1D reduction needs geometry kind "
                            "sphere_cell, particle or layers", source)
        if c.placement != "none" and c.representation != "homogenized":
            raise CaseError("mesh.model", "radial", "the 1D reduction of a particle or film "
                            "needs centres.representation = \"homogenized\" or placement = "
                            "\"none\" (resolved centres are not symmetric)", source)
    if g.outer_boundary != "zero_flux":
        raise CaseError("geometry.outer_boundary", g.outer_boundary,
                        f"only \"zero_flux\" for geometry kind {g.kind!r}", source)
    if g.kind in BOXES and not case.box_sides:
        raise CaseError("geometry.side", "(missing)", f"a {g.kind} needs side (or sides), e.g. \"20 nm\"",
                        source)
    need = {"particle": ("particle_size", "particle_material", "matrix_material"),
            "layers": ("thicknesses", "layer_materials"),
            "blend": ("volume_fraction", "domain_size", "particle_material", "matrix_material"),
            "mesh": ("file",)}.get(g.kind, ())
    for key in need:
        if getattr(g, key) is None:
            raise CaseError(f"geometry.{key}", "(missing)", f"required for geometry kind {g.kind!r}",
                            source)
    used = {"box": names[:1], "particle": [g.particle_material, g.matrix_material],
            "blend": [g.particle_material, g.matrix_material],
            "layers": list(dict.fromkeys(g.layer_materials or [])),
            "mesh": names}[g.kind]
    if g.kind == "box" and len(names) != 1:
        raise CaseError("materials", ", ".join(names), "a box holds exactly one material", source)
    for i, name in enumerate(used):
        if name not in case.materials:
            key = {"particle": ["geometry.particle_material", "geometry.matrix_material"],
                   "blend": ["geometry.particle_material", "geometry.matrix_material"]}.get(
                g.kind, ["geometry.layer_materials"] * len(used))[i]
            raise CaseError(key, name, f"not a [materials] table (defined: {', '.join(names)})",
                            source)
    if g.kind == "layers" and len(g.thicknesses) != len(g.layer_materials):
        raise CaseError("geometry.layer_materials", g.layer_materials,
                        f"one material per layer ({len(g.thicknesses)} thicknesses)", source)
    if g.kind == "mesh":
        for name, m in case.materials.items():
            if not m.regions:
                raise CaseError(f"materials.{name}.regions", "(missing)",
                                "a user mesh needs the physical groups of every material", source)
    elif any(m.regions for m in case.materials.values()):
        bad = next(n for n, m in case.materials.items() if m.regions)
        raise CaseError(f"materials.{bad}.regions", case.materials[bad].regions,
                        "only for geometry kind \"mesh\"", source)
    if c.material is not None and c.material not in case.materials:
        raise CaseError("centres.material", c.material, f"not a [materials] table (defined: "
                        f"{', '.join(names)})", source)
    if c.placement == "cell":
        raise CaseError("centres.placement", "cell",
                        f"geometry kind {g.kind!r} needs random, lattice, positions or none", source)
    if c.placement in ("random", "lattice") and g.concentration is None and c.count is None:
        raise CaseError("geometry.concentration", "(missing)",
                        f"placement {c.placement!r} needs the centre concentration (or centres.count)",
                        source)
    if c.placement == "positions" and not c.positions:
        raise CaseError("centres.positions", "(missing)",
                        "placement \"positions\" needs positions = [[x, y, z], ...] in nm", source)
    if c.positions and any(len(p) != 3 for p in c.positions):
        raise CaseError("centres.positions", c.positions, "each position is [x, y, z] in nm", source)
    if c.representation == "homogenized" and g.concentration is None:
        raise CaseError("centres.representation", "homogenized",
                        "needs the centre concentration (geometry.concentration)", source)
    if c.representation == "homogenized" and c.barrier == "none":
        raise CaseError("centres.representation", "homogenized", "needs a barrier radius", source)


def electron_g(case: Case) -> float | None:
    """g_iso of the polarizing agent: [agent] g (or its preset's), else [electron] g."""
    if case.agent is not None:
        if case.agent.g is not None:
            return case.agent.g
        from ..physics.quantum.agents import preset  # the quantum module: [agent] cases only
        return preset(case.agent.preset).g
    return case.electron.g if case.electron is not None else None


def resolve_microwave_frequencies(case: Case, source: str | None = None) -> None:
    """Each stage's microwave_offset (Hz), the microwave frequency minus the electron frequency
    g_iso mu_B B0 / h: given directly (default 0), or from an absolute microwave_frequency with
    the agent's g and B0. At most one of the two per stage."""
    for i, st in enumerate(case.protocol.stages):
        if st.microwave_frequency is None:
            if st.microwave_offset is None:
                object.__setattr__(st, "microwave_offset", 0.0)
            continue
        key = f"protocol.stages[{i}].microwave_frequency"
        shown = f"{st.microwave_frequency / 1e9:.6g} GHz"
        if st.microwave_offset is not None:
            raise CaseError(key, shown, "give microwave_frequency or microwave_offset, not both",
                            source)
        g = electron_g(case)
        if g is None or case.conditions is None:
            raise CaseError(key, shown, "needs [conditions] B0 and the g of [agent] or [electron] "
                            "(or give microwave_offset)", source)
        f_e = g * MU_B * case.conditions.B0 / (2.0 * math.pi * HBAR)
        offset = st.microwave_frequency - f_e
        if abs(offset) > 0.05 * f_e:
            raise CaseError(key, shown, f"is {offset / 1e9:+.4g} GHz from the electron frequency "
                            f"{f_e / 1e9:.6g} GHz (g = {g:g}, B0 = {case.conditions.B0:.5g} T); "
                            "allowed: within 5 %", source)
        object.__setattr__(st, "microwave_offset", offset)


def _check_thermal(case: Case, source: str | None) -> None:
    """A thermal polarization (P0 or the initial one from [conditions]) must stay below 1."""
    c = case.conditions
    if c is None or case.relaxation.P0 != "thermal":
        return
    p0 = case.thermal_polarization
    if not (math.isfinite(p0) and abs(p0) < 1.0):
        raise CaseError("conditions.B0", f"{c.B0:g} T",
                        f"with temperature = {c.temperature:g} K the thermal {c.nucleus} "
                        f"polarization rounds to P0 = {p0:.6g}; allowed: |P0| < 1 (a lower "
                        f"field or a higher temperature)", source)


def _check_positions(case: Case, source: str | None) -> None:
    """Given centre positions lie inside the box of the box-shaped geometries."""
    g, c = case.geometry, case.centres
    if not c.positions or g.kind not in BOXES or not case.box_sides:
        return
    sides = case.box_sides
    for i, p in enumerate(c.positions):
        if any(not 0.0 <= x <= L for x, L in zip(p, sides)):
            box = " x ".join(f"{L:g}" for L in sides)
            raise CaseError(f"centres.positions[{i}]", p,
                            f"outside the box [0, {box}] nm; allowed: 0 <= x, y, z <= the sides",
                            source)


#: largest number of nuclei of the spins model (about 1.5 kB each at the default cutoff)
MAX_NUCLEI = 10_000_000
SPINS_GEOMETRIES = ("sphere_cell", "periodic_cube", "box")


def spins_region_volume(case: Case) -> float:
    """Volume (nm^3) that the spins model fills with nuclei."""
    g = case.geometry
    if g.kind == "sphere_cell":
        return 4.0 / 3.0 * math.pi * case.cell_radius ** 3
    if g.kind == "periodic_cube":
        return case.cube_side ** 3
    return math.prod(case.box_sides)


def _check_spins(case: Case, source: str | None) -> None:
    """What the individual-nucleus model (mesh.model = "spins") can run."""
    s, g = case.spins, case.geometry
    if case.mesh.model != "spins":
        return  # a [spins] table is ignored by the continuum models (one case, three models)
    if g.kind not in SPINS_GEOMETRIES:
        raise CaseError("mesh.model", "spins", f"the spins model fills a sphere_cell, a "
                        f"periodic_cube or a box with nuclei (geometry kind is {g.kind!r})", source)
    if case.conditions is None:
        raise CaseError("mesh.model", "spins", "needs [conditions] (the nucleus and B0 give the "
                        "dipolar couplings)", source)
    if g.outer_boundary != "zero_flux":
        raise CaseError("geometry.outer_boundary", g.outer_boundary,
                        "the spins model has closed (zero-flux) or periodic boundaries", source)
    if case.centres.representation != "resolved":
        raise CaseError("centres.representation", case.centres.representation,
                        "the spins model resolves every centre", source)
    if case.source.model in ("surface", "fixed"):
        raise CaseError("source.model", case.source.model, "the spins model has no barrier "
                        "surface: use \"volume\", \"region\" or \"rates\"", source)
    if case.diffusion.model != "conventional":
        raise CaseError("diffusion.model", case.diffusion.model, "the spins model has its own "
                        "flip-flop rates: \"conventional\"", source)
    density = next(iter(case.materials.values())).nuclear_density
    count = density * spins_region_volume(case)
    if count > MAX_NUCLEI:
        name = next(iter(case.materials))
        raise CaseError(f"materials.{name}.nuclear_density", f"{density:g} nm^-3",
                        f"gives {count:.3g} nuclei in the sample; allowed: at most "
                        f"{MAX_NUCLEI:.0e} for mesh.model = \"spins\" (a smaller sample or "
                        f"\"3d\"/\"radial\")", source)
    if s is None:
        return
    if s.lattice == "file" and not s.file:
        raise CaseError("spins.file", "(missing)", "lattice = \"file\" needs an XYZ file", source)
    if s.file and s.lattice != "file":
        raise CaseError("spins.file", s.file, "used only with lattice = \"file\"", source)
    if s.pair_distance is not None:
        if case.source.model != "rates" or case.agent is None or case.agent.method != "effective":
            raise CaseError("spins.pair_distance", f"{s.pair_distance:g} nm",
                            "electron pairs take their rates from the Zeeman-projected model "
                            "(Karabanov Eq. 4): needs source.model = \"rates\" and [agent] "
                            "method = \"effective\"", source)
