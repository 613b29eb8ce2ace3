"""From a case to a meshed `Domain`: the geometry kind picks the builder, [centres] the centre
positions (seeded random, lattice, given), [mesh] the element sizes.

Each Gmsh/DOLFINx builder (spindiff.geometry) is imported by the function that uses it, so that
a case loads only its own geometry's code and this module imports without DOLFINx."""
from __future__ import annotations

import numpy as np
from mpi4py import MPI

from .case.load import mesh_file_path
from .case.schema import Case
from .errors import CaseError
from .geometry import centres as cg
from .mesh.domain import Domain
from .model import StageSpec
from .physics.shapes import shape
from .sources import source_law


def build_domain(case: Case, comm: MPI.Comm, mesh_model: str | None = None,
                 model=None) -> Domain:
    """The case's Domain on `comm`. model (a TransportModel, optional): its rates set the
    interface layers that the 1D particle and film reductions resolve (see boundary_layers)."""
    kind = case.geometry.kind
    mesh_model = mesh_model or case.mesh.model
    if mesh_model == "radial" and kind in ("particle", "layers"):
        return _reduced(case, comm, model)
    builder = {"sphere_cell": _sphere_cell, "periodic_cube": _periodic_cube, "box": _box,
               "particle": _particle, "layers": _layers, "blend": _blend, "mesh": _user_mesh}[kind]
    domain = (_particle(case, comm, mesh_model, model) if kind == "particle"
              else builder(case, comm, mesh_model))
    if case.centres.representation == "homogenized":
        domain.centres = np.empty((0, 3))
        domain.barrier_by_distance = False
    return domain


def _extra_radii(case: Case) -> list[float]:
    """Radii the source law needs the mesh to conform to around every centre."""
    return list(source_law(case).conforming_radii)


def _sphere_cell(case: Case, comm, mesh_model: str) -> Domain:
    c, m = case.centres, case.mesh
    args = dict(radius=case.cell_radius, barrier_radius=case.barrier_radius, barrier=c.barrier,
                visible_radius=case.visible_radius, material=case.material_name,
                extra_radii=_extra_radii(case))
    if mesh_model == "radial":
        from .geometry.radial import build_radial_cell
        return build_radial_cell(comm, ncells=m.radial_cells, **args)
    from .geometry.sphere_cell import build_sphere_cell
    return build_sphere_cell(comm, size_barrier=m.size_barrier, size_bulk=m.size_bulk,
                             order=m.order, refine=m.refine, **args)


def _periodic_cube(case: Case, comm, mesh_model: str) -> Domain:
    from .geometry.box import build_box
    c, m = case.centres, case.mesh
    L = case.cube_side
    b = case.barrier_radius
    spheres = [r for r in [case.visible_radius, *_extra_radii(case)] if r > b * (1 + 1e-6)]
    inner = b
    if c.barrier == "none":
        # no barrier: the innermost interface sphere sets the refinement scale (the mesher
        # refines within 1.5 of its "barrier" radius, which is not a barrier here)
        inner = 0.999 * min(spheres) if spheres else L / 10
        spheres = [r for r in spheres if r > inner * (1 + 1e-6)]
    domain = build_box(comm, L, np.full((1, 3), L / 2), inner,
                       "hole" if c.barrier == "hole" else "kept_distance",
                       None, m.size_barrier, m.size_bulk, order=m.order, periodic=True,
                       material=case.material_name, interface_radii=spheres, refine=m.refine)
    if c.barrier == "none":
        domain.barrier_by_distance = False
    return domain


def centre_positions(case: Case, sides: np.ndarray, exclude=None) -> np.ndarray:
    """(N, 3) centre positions (nm) for the box-shaped geometries."""
    c, g = case.centres, case.geometry
    if c.placement == "none" or c.representation == "homogenized":
        return np.empty((0, 3))
    if c.placement == "positions":
        return np.asarray(c.positions, dtype=float)
    if c.placement == "lattice":
        n = c.count or cg.count_from_concentration(g.concentration, sides)
        per_side = max(1, int(round(n ** (1.0 / 3.0))))  # nearest simple-cubic count
        return cg.lattice_centres(per_side, np.asarray(sides) / per_side)
    b = case.barrier_radius
    margin = 0.0 if g.periodic else (1.2 * b if c.barrier == "hole" else 0.0)
    if c.barrier == "hole" and g.periodic and exclude is None:
        from .geometry.box import nearly_tangent
        exclude = lambda p: nearly_tangent(p, sides, b, 0.1 * b)  # noqa: E731
    return cg.random_centres(c.count, sides, c.seed,
                             concentration=None if c.count else g.concentration,
                             min_distance=max(c.min_distance, 2.2 * b if c.barrier == "hole" else 0.0),
                             margin=margin, periodic=g.periodic, exclude=exclude)


def _barrier_mode(case: Case) -> str:
    return "hole" if case.centres.barrier == "hole" else "kept_distance"


def _box(case: Case, comm, mesh_model: str) -> Domain:
    from .geometry.box import build_box
    m, g = case.mesh, case.geometry
    sides = np.asarray(case.box_sides)
    pos = centre_positions(case, sides)
    b = case.barrier_radius or min(sides) / 20
    # many centres: only a source-region sphere is meshed conformingly (visible spheres of
    # neighbouring centres would intersect and graze faces); visibility uses quadrature points
    spheres = [r for r in _extra_radii(case) if r > case.barrier_radius * (1 + 1e-6)]
    domain = build_box(comm, sides, pos, b, _barrier_mode(case), None, m.size_barrier,
                       m.size_bulk, order=m.order if case.centres.barrier == "hole" else 1,
                       periodic=g.periodic, material=case.material_name,
                       interface_radii=spheres if len(pos) else [], refine=m.refine)
    if case.centres.barrier == "none":
        domain.barrier_by_distance = False
    return domain


def _particle(case: Case, comm, mesh_model: str, model=None) -> Domain:
    from .geometry.inclusions import build_particle_in_matrix, particle_signed_distance
    m, g = case.mesh, case.geometry
    sides = np.asarray(case.box_sides)
    b = case.barrier_radius
    keep_out = lambda p: particle_signed_distance(g.shape, g.particle_size, sides, p) < 1.5 * b  # noqa: E731
    pos = centre_positions(case, sides, exclude=keep_out)
    if interface_mesh(case, len(pos)) == "layers":
        return _particle_layered(case, comm, model)
    return build_particle_in_matrix(
        comm, g.shape, g.particle_size, sides, m.size_particle or m.size_bulk, m.size_bulk,
        order=m.order, periodic=g.periodic, matrix=g.matrix_material,
        particle=g.particle_material, centres=pos if len(pos) else None,
        barrier_radius=b, size_barrier=m.size_barrier, size_interface=m.size_interface)


def interface_mesh(case: Case, ncentres: int = 0) -> str:
    """"layers" or "isotropic": how a 3D particle's interface is resolved (mesh.interface;
    "auto" takes layers for a particle in a homogenized matrix)."""
    choice = case.mesh.interface
    layered_ok = ncentres == 0
    if choice == "layers" and not layered_ok:
        raise CaseError("mesh.interface", "layers",
                        "interface layers are built for a particle in a homogenized matrix "
                        "(no explicit centres); use \"isotropic\"")
    if choice == "auto":
        return "layers" if layered_ok else "isotropic"
    return choice


def _particle_layered(case: Case, comm, model) -> Domain:
    """A sphere, rod or slab with the 1D reduction's graded nodes as layers across its
    surface."""
    from .geometry.particle_layers import CORE_FRACTION, band_offsets, build_particle_layered
    from .geometry.particle_radial import Region, reduction_nodes
    m, g = case.mesh, case.geometry
    sides = np.asarray(case.box_sides)
    a = float(g.particle_size)
    layers = boundary_layers(case, model)
    half = shape(g.shape).half_room(sides)
    regions = [Region(g.particle_material, 0.0, a, layers[g.particle_material]),
               Region(g.matrix_material, a, half, layers[g.matrix_material])]
    nodes = reduction_nodes(regions, m.radial_cells)
    size_p = m.size_particle or m.size_bulk
    h_t = m.size_interface or size_p
    off = band_offsets(nodes, a, h_t, (1 - CORE_FRACTION) * a,
                       (1 - CORE_FRACTION) * (half - a))
    return build_particle_layered(comm, g.shape, a, sides, off, h_t, size_p, m.size_bulk,
                                  order=m.order, periodic=g.periodic, matrix=g.matrix_material,
                                  particle=g.particle_material)


def _layers(case: Case, comm, mesh_model: str) -> Domain:
    from .geometry.inclusions import build_layers
    g, m = case.geometry, case.mesh
    sides = case.box_sides
    return build_layers(comm, g.thicknesses, g.layer_materials, sides[:2], m.size_bulk,
                        periodic_lateral=g.periodic, order=1)


def _blend(case: Case, comm, mesh_model: str) -> Domain:
    from .geometry.inclusions import build_blend
    g, m = case.geometry, case.mesh
    return build_blend(comm, case.box_sides, g.volume_fraction, g.domain_size, g.seed,
                       names=(g.matrix_material, g.particle_material), size=m.size_bulk,
                       periodic=g.periodic, order=1)


def _user_mesh(case: Case, comm, mesh_model: str) -> Domain:
    from .geometry.user_mesh import read_user_mesh
    c = case.centres
    pos = np.asarray(c.positions, dtype=float) if c.positions else None
    materials = {name: list(mat.regions) for name, mat in case.materials.items()}
    return read_user_mesh(comm, mesh_file_path(case), materials, centres=pos,
                          barrier_radius=case.barrier_radius if pos is not None else None)


def boundary_layers(case: Case, model=None) -> dict[str, float]:
    """Boundary-layer length (nm) per material for the 1D meshes: l = sqrt(D0 tau) with tau the
    shorter of the earliest output time and the material's fastest relaxation time
    1 / (1/T1n + k_eff + R1_eff) (the homogenized rates of `model` when given), i.e. the
    depletion length sqrt(D T_B) at an interface or the diffusion front at the first output."""
    t_first = min(float(st.output_times()[0]) for st in _stages(case, model))
    out = {}
    for name, mat in case.materials.items():
        rate = 0.0 if np.isinf(mat.T1n) else 1.0 / mat.T1n
        if model is not None:
            extra = [k + r1 for rates in model.uniform_rates.values()
                     for (m, k, _, r1) in rates if m == name]
            rate += max(extra, default=0.0)
        tau = min(t_first, 1.0 / rate) if rate > 0 else t_first
        out[name] = float(np.sqrt(mat.D0 * tau))
    return out


def _stages(case: Case, model) -> list:
    """The model's stages, or stand-ins with the case's output times."""
    if model is not None:
        return model.stages
    return [StageSpec(st.name, st.duration, True, 0.0, outputs=st.outputs, spacing=st.spacing,
                      first_output=st.first_output) for st in case.protocol.stages]


def _reduced(case: Case, comm, model) -> Domain:
    """The 1D reduction of a particle (sphere, cylinder, slab) or a film of layers."""
    from .geometry.particle_radial import build_layers_radial, build_particle_radial
    g, m = case.geometry, case.mesh
    layers = boundary_layers(case, model)
    if g.kind == "layers":
        return build_layers_radial(comm, g.thicknesses, g.layer_materials, case.box_sides[:2],
                                   layers, m.radial_cells)
    return build_particle_radial(comm, g.shape, g.particle_size, case.box_sides,
                                 g.particle_material, g.matrix_material, layers, m.radial_cells)
