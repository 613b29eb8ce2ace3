"""Gmsh builders (box, inclusions, layers, blend), seeded centres and user meshes.

Volumes are integrated with an allreduce and compared with exact values; periodic boxes must
have matching nodes on opposite faces; refinement must reach every centre and its periodic
images; every bad mesh under meshes/ must raise a one-line MeshError. Tests marked mpi are
collective and also run under `mpirun -n 2 pytest -m mpi`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

MESHES = ROOT / "meshes"


# --- helpers ----------------------------------------------------------------------------------

def _comm():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def volume(domain, tag=None) -> float:
    """Mesh volume (nm^3) of the cells with `tag` (all cells if None), summed over ranks."""
    import ufl
    from dolfinx import fem

    from spindiff.mesh import compat
    dx = ufl.Measure("dx", domain=domain.mesh, subdomain_data=domain.cell_tags)
    one = fem.Constant(domain.mesh, 1.0)
    return compat.assemble_scalar(compat.form(one * (dx if tag is None else dx(tag))), domain.comm)


def material_volume(domain, name: str) -> float:
    return sum(volume(domain, t) for t in domain.materials[name])


def all_nodes(domain) -> np.ndarray:
    """Geometry nodes of every rank (incl. ghosts, duplicates removed), shape (n, 3)."""
    x = np.concatenate(domain.comm.allgather(domain.mesh.geometry.x))
    return np.unique(x.round(12), axis=0)


def unmatched_face_nodes(domain, lengths, axes=(0, 1, 2)) -> dict[int, int]:
    """For each axis, the number of nodes on x_a = 0 without a node at x_a = L_a with the same
    other coordinates (to 1e-9), plus the converse."""
    x = all_nodes(domain)
    out = {}
    for a in axes:
        other = [i for i in range(3) if i != a]
        lo = {tuple(p) for p in x[np.abs(x[:, a]) < 1e-9][:, other].round(9)}
        hi = {tuple(p) for p in x[np.abs(x[:, a] - lengths[a]) < 1e-9][:, other].round(9)}
        assert lo and hi
        out[a] = len(lo ^ hi)
    return out


def cell_sizes_and_midpoints(domain) -> tuple[np.ndarray, np.ndarray]:
    """Longest edge (nm) and vertex midpoint of each owned cell."""
    from spindiff.mesh import compat
    msh = domain.mesh
    n = compat.num_cells_local(msh, with_ghosts=False)
    X = msh.geometry.x[compat.geometry_dofmap(msh)[:n, :4]]
    h = np.max([np.linalg.norm(X[:, i] - X[:, j], axis=1)
                for i in range(4) for j in range(i + 1, 4)], axis=0)
    return h, X.mean(axis=1)


def global_min(comm, values: np.ndarray) -> float:
    from mpi4py import MPI
    return comm.allreduce(float(values.min()) if values.size else np.inf, op=MPI.MIN)


def global_mean(comm, values: np.ndarray) -> float:
    from mpi4py import MPI
    s = comm.allreduce(float(values.sum()), op=MPI.SUM)
    return s / comm.allreduce(int(values.size), op=MPI.SUM)


def ncells(domain) -> int:
    return domain.mesh.topology.index_map(domain.mesh.topology.dim).size_global


# --- random and lattice centres (pure numpy) --------------------------------------------------

def test_random_centres_reproducible_from_seed():
    from spindiff.geometry.centres import random_centres
    a = random_centres(20, [5.0, 6.0, 7.0], seed=7, min_distance=1.0)
    b = random_centres(20, [5.0, 6.0, 7.0], seed=7, min_distance=1.0)
    c = random_centres(20, [5.0, 6.0, 7.0], seed=8, min_distance=1.0)
    first = random_centres(12, [5.0, 6.0, 7.0], seed=7, min_distance=1.0)
    assert a.shape == (20, 3)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.array_equal(a[:12], first)  # the draw sequence depends only on the seed
    assert np.all(a >= 0) and np.all(a <= [5.0, 6.0, 7.0])


def test_random_centres_keep_minimum_image_distance():
    from spindiff.geometry.centres import random_centres
    L, d = np.array([6.0, 6.0, 6.0]), 1.5
    c = random_centres(25, L, seed=3, min_distance=d, periodic=True)
    diff = c[:, None, :] - c[None, :, :]
    image = diff - L * np.round(diff / L)
    r = np.sqrt((image**2).sum(-1)) + np.eye(len(c)) * 1e9
    assert r.min() >= d
    # a closed box uses plain distances and the margin
    c = random_centres(25, L, seed=3, min_distance=d, margin=0.5, periodic=False)
    r = np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1)) + np.eye(len(c)) * 1e9
    assert r.min() >= d and c.min() >= 0.5 and c.max() <= 5.5


def test_random_centres_exclusion_and_concentration():
    from spindiff.geometry.centres import count_from_concentration, random_centres
    assert count_from_concentration(0.05, 4.0) == 3        # round(0.05 * 64)
    assert count_from_concentration(1e-6, 4.0) == 1        # at least one
    c = random_centres(None, 4.0, seed=1, concentration=0.05)
    assert c.shape == (3, 3)
    c = random_centres(30, 4.0, seed=2, exclude=lambda p: p[:, 0] < 2.0)
    assert np.all(c[:, 0] >= 2.0)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(n=100, box_lengths=3.0, min_distance=1.0), "jams"),
    (dict(n=5, box_lengths=2.0, min_distance=0.99, margin=0.5, periodic=False), "placed only"),
    (dict(n=2, box_lengths=2.0, min_distance=1.9), "no two centres"),
])
def test_random_centres_impossible_request_raises(kwargs, fragment):
    from spindiff.errors import CaseError
    from spindiff.geometry.centres import random_centres
    with pytest.raises(CaseError) as err:
        random_centres(seed=0, **kwargs)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_lattice_centres():
    from spindiff.geometry.centres import lattice_centres
    c = lattice_centres(2, 3.0)
    assert c.shape == (8, 3)
    assert set(np.unique(c)) == {1.5, 4.5}
    assert lattice_centres((1, 2, 3), 2.0).shape == (6, 3)


# --- box --------------------------------------------------------------------------------------

@pytest.mark.mpi
@pytest.mark.parametrize("barrier", ["kept_distance", "hole"])
def test_takeda_single_centre_periodic_cube(barrier):
    """One centre at the middle of a periodic cube of side c^(-1/3) (Takeda's model)."""
    from spindiff.geometry.box import build_box
    from spindiff.physics.cells import cube_cell_side
    L = cube_cell_side(50 * 6.02214076e-4)  # 50 mM -> 3.21 nm
    b = 0.6
    d = build_box(_comm(), L, [[L / 2] * 3], b, barrier, visible_radius=1.0,
                  size_barrier=0.25, size_bulk=0.6)
    exact = L**3 - (4 / 3 * np.pi * b**3 if barrier == "hole" else 0.0)
    assert d.exact_volume == pytest.approx(exact, rel=1e-12)
    v = volume(d)
    # order 1: the faceted hole is slightly smaller than the ball
    assert v == pytest.approx(exact, rel=(1e-12 if barrier == "kept_distance" else 1e-2))
    assert material_volume(d, "matrix") == pytest.approx(v, rel=1e-12)
    assert d.barrier_by_distance == (barrier == "kept_distance")
    assert np.allclose(d.period, L) and np.allclose(d.box_lower, 0.0)
    assert all(n == 0 for n in unmatched_face_nodes(d, [L] * 3).values())
    assert ncells(d) < 20000


@pytest.mark.mpi
@pytest.mark.parametrize("order", [1, 2])
def test_box_holes_crossing_faces_are_cut_with_their_images(order):
    """Holes crossing one face, three faces (a corner) and none: the box loses exactly N whole
    balls, and opposite faces still carry matching nodes (also the order-2 edge nodes)."""
    from spindiff.geometry.box import build_box
    from spindiff.mesh import compat
    from spindiff.mesh.domain import FACET_BARRIER, FACET_OUTER
    L, b = np.array([3.0, 3.2, 3.4]), 0.6
    centres = [[0.3, 0.2, 0.25], [1.5, 1.6, 1.7], [2.9, 1.6, 1.0]]
    d = build_box(_comm(), L, centres, b, "hole", size_barrier=0.25, size_bulk=0.6, order=order)
    holes = 3 * 4 / 3 * np.pi * b**3
    exact = np.prod(L) - holes
    assert d.exact_volume == pytest.approx(exact)
    excess = (volume(d) - exact) / holes
    if order == 2:
        # the smallest image piece of the corner ball is ~1 % of the holes' volume
        assert abs(excess) < 2e-3
    else:
        # flat facets inscribed in the spheres leave a few % of the holes meshed
        assert 0 < excess < 0.08
    assert compat.geometry_degree(d.mesh) == order
    assert all(n == 0 for n in unmatched_face_nodes(d, L).values())
    values = np.concatenate(_comm().allgather(d.facets().values))
    assert FACET_BARRIER in values and FACET_OUTER not in values


@pytest.mark.mpi
def test_a_hole_half_out_of_a_periodic_box_is_cut_on_the_opposite_face():
    """A centre 0.5 b from the face x = 0: the box loses exactly one ball, L^3 - (4/3) pi b^3,
    and the part of the ball beyond the face is cut at x = L by its image: the barrier
    surface there is the cap of height b / 2, area 2 pi b (b / 2)."""
    import ufl

    from spindiff.geometry.box import build_box
    from spindiff.mesh import compat
    from spindiff.mesh.domain import FACET_BARRIER
    L, b = 4.0, 0.8
    d = build_box(_comm(), L, [[0.5 * b, 2.1, 1.9]], b, "hole", size_barrier=0.12,
                  size_bulk=0.6, order=2)
    ball = 4 / 3 * np.pi * b**3
    assert (volume(d) - (L**3 - ball)) / ball == pytest.approx(0.0, abs=1e-4)
    ds = ufl.Measure("ds", domain=d.mesh, subdomain_data=d.facet_tags)
    x = ufl.SpatialCoordinate(d.mesh)
    far = ufl.conditional(ufl.gt(x[0], L / 2), 1.0, 0.0)
    cap = compat.assemble_scalar(compat.form(far * ds(FACET_BARRIER)), d.comm)
    whole = compat.assemble_scalar(compat.form(1.0 * ds(FACET_BARRIER)), d.comm)
    assert cap == pytest.approx(2 * np.pi * b * (b / 2), rel=1e-3)
    assert whole == pytest.approx(4 * np.pi * b**2, rel=1e-3)


@pytest.mark.mpi
def test_a_hole_piece_near_a_periodic_face_is_not_meshed_flat():
    """A centre 0.22 b below the face y = L at size_barrier ~ b / 5: Gmsh's default surface
    mesher meshes the piece of the image ball that enters at y = 0 (a cap of height 0.78 b) as
    the flat disc of its rim, and the volume mesher fills the cap (a third of a ball, and
    mesh nodes 0.3 nm from the centre); the surface is remeshed with Delaunay."""
    from spindiff.geometry.box import build_box
    from spindiff.geometry.centres import minimum_image
    L, b = 8.0, 0.803
    c = np.array([[4.0, L - 0.17660323, 4.0]])
    d = build_box(_comm(), L, c, b, "hole", size_barrier=0.15, size_bulk=0.8, order=1)
    ball = 4 / 3 * np.pi * b**3
    assert 0 < (volume(d) - (L**3 - ball)) / ball < 0.03  # flat facets inscribed in the sphere
    x = np.concatenate(_comm().allgather(d.mesh.geometry.x))
    r = np.linalg.norm(minimum_image(x - c[0], np.full(3, L)), axis=1)
    assert r.min() > 0.97 * b


@pytest.mark.mpi
def test_closed_box_with_holes_has_outer_and_barrier_facets():
    import ufl
    from dolfinx import fem

    from spindiff.geometry.box import build_box
    from spindiff.mesh import compat
    from spindiff.mesh.domain import FACET_BARRIER, FACET_OUTER
    L, b = 3.0, 0.5
    d = build_box(_comm(), L, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.1]], b, "hole",
                  size_barrier=0.2, size_bulk=0.6, periodic=False, order=2)
    assert d.period is None
    assert volume(d) == pytest.approx(L**3 - 2 * 4 / 3 * np.pi * b**3, rel=2e-4)
    ds = ufl.Measure("ds", domain=d.mesh, subdomain_data=d.facets())
    one = fem.Constant(d.mesh, 1.0)
    area = lambda tag: compat.assemble_scalar(compat.form(one * ds(tag)), d.comm)  # noqa: E731
    assert area(FACET_OUTER) == pytest.approx(6 * L**2, rel=1e-10)
    assert area(FACET_BARRIER) == pytest.approx(2 * 4 * np.pi * b**2, rel=2e-3)


@pytest.mark.mpi
def test_box_refines_around_every_centre_and_its_periodic_images():
    from spindiff.geometry.box import build_box
    comm = _comm()
    L, b, hb, hB = np.array([5.0, 5.0, 5.0]), 0.5, 0.15, 0.9
    centres = np.array([[2.5, 2.5, 2.5], [0.25, 1.0, 4.0], [4.0, 4.3, 0.8]])
    d = build_box(comm, L, centres, b, "kept_distance", size_barrier=hb, size_bulk=hB)
    assert volume(d) == pytest.approx(np.prod(L), rel=1e-12)
    assert all(n == 0 for n in unmatched_face_nodes(d, L).values())
    h, mid = cell_sizes_and_midpoints(d)
    r = d.distances(mid)
    for k in range(len(centres)):
        assert global_min(comm, h[r[:, k] < b]) < 1.5 * hb, f"centre {k}"
        assert global_mean(comm, h[r[:, k] < b]) < 2.5 * hb, f"centre {k}"
    # the image side of centre 1 (x = 0.25 nm): cells near x = L within b of the image
    image_side = (mid[:, 0] > L[0] - 0.5) & (r[:, 1] < b)
    assert global_min(comm, h[image_side]) < 1.5 * hb
    far = r.min(axis=1) > 5 * b
    assert global_mean(comm, h[far]) > 3 * hb  # refinement is local, not everywhere


@pytest.mark.parametrize("centres, kwargs, fragment", [
    ([[0.2, 1.0, 1.0], [2.8, 1.0, 1.0]], {}, "minimum-image distance 0.4 nm"),
    ([[1.0, 1.0, 1.0], [1.9, 1.0, 1.0]], {}, "overlap"),
    ([[0.6, 1.5, 1.5]], {"barrier": "hole"}, "nearly touches a box face"),
    ([[0.4243, 0.4243, 1.5]], {"barrier": "hole"}, "face, edge or corner"),  # edge x = y = 0
    ([[0.3, 1.5, 1.5]], {"barrier": "hole", "periodic": False}, "inside the closed box"),
    ([[3.5, 1.0, 1.0]], {"periodic": False}, "outside the closed box"),
    ([[1.5, 1.5, 1.5]], {"barrier": "cut"}, "kept_distance, hole"),
])
def test_box_rejects_bad_centres(centres, kwargs, fragment):
    from spindiff.errors import CaseError
    from spindiff.geometry.box import build_box
    args = dict(barrier="kept_distance", size_barrier=0.2, size_bulk=0.6) | kwargs
    with pytest.raises(CaseError) as err:
        build_box(_comm(), 3.0, centres, 0.6, **args)
    assert fragment in str(err.value) and "\n" not in str(err.value)


# --- inclusions -------------------------------------------------------------------------------

@pytest.mark.mpi
@pytest.mark.parametrize("shape, size, order, rel", [
    ("sphere", 1.0, 2, 2e-3), ("cylinder", 0.8, 2, 2e-3), ("slab", 0.6, 1, 1e-12)])
def test_particle_in_matrix_volumes(shape, size, order, rel):
    from spindiff.geometry.inclusions import MATRIX_TAG, PARTICLE_TAG, build_particle_in_matrix, particle_volume
    L = np.array([3.0, 3.0, 3.4])
    d = build_particle_in_matrix(_comm(), shape, size, L, 0.35, 0.6, order=order, periodic=True,
                                 matrix="glass", particle="ice")
    vp = particle_volume(shape, size, L)
    assert d.materials == {"glass": [MATRIX_TAG], "ice": [PARTICLE_TAG]}
    assert material_volume(d, "ice") == pytest.approx(vp, rel=rel)
    assert material_volume(d, "glass") == pytest.approx(np.prod(L) - vp, rel=rel)
    assert volume(d) == pytest.approx(d.exact_volume, rel=1e-10)
    assert d.centres.shape == (0, 3) and not d.barrier_by_distance
    assert all(n == 0 for n in unmatched_face_nodes(d, L).values())


@pytest.mark.mpi
def test_particle_in_closed_matrix_with_centres():
    from spindiff.errors import CaseError
    from spindiff.geometry.inclusions import build_particle_in_matrix, particle_signed_distance
    from spindiff.mesh.domain import FACET_OUTER
    comm, L, b = _comm(), 4.0, 0.4
    centres = np.array([[0.6, 0.6, 0.6], [3.5, 2.0, 2.0]])
    assert np.all(particle_signed_distance("sphere", 1.0, L, centres) > b)
    d = build_particle_in_matrix(comm, "sphere", 1.0, L, 0.4, 0.7, periodic=False,
                                 centres=centres, barrier_radius=b, size_barrier=0.15)
    assert d.barrier_by_distance and d.period is None and d.centres.shape == (2, 3)
    values = np.concatenate(comm.allgather(d.facets().values))
    assert set(values.tolist()) == {FACET_OUTER}
    h, mid = cell_sizes_and_midpoints(d)
    r = d.distances(mid)
    for k in range(2):
        assert global_min(comm, h[r[:, k] < b]) < 1.5 * 0.15
    with pytest.raises(CaseError, match="must lie in the matrix"):
        build_particle_in_matrix(comm, "sphere", 1.0, L, 0.4, 0.7, centres=[[2.0, 2.0, 3.2]],
                                 barrier_radius=b)


@pytest.mark.mpi
def test_layers_volumes_materials_and_facets():
    import ufl
    from dolfinx import fem

    from spindiff.geometry.inclusions import LAYER_TAG0, build_layers
    from spindiff.mesh import compat
    from spindiff.mesh.domain import FACET_OUTER
    t, lat = [0.8, 1.5, 0.5], 2.0
    d = build_layers(_comm(), t, ["A", "B", "A"], lat, [0.3, 0.5, 0.25])
    assert d.materials == {"A": [LAYER_TAG0, LAYER_TAG0 + 2], "B": [LAYER_TAG0 + 1]}
    for i, ti in enumerate(t):
        assert volume(d, LAYER_TAG0 + i) == pytest.approx(ti * lat**2, rel=1e-12)
    assert material_volume(d, "A") == pytest.approx(1.3 * lat**2, rel=1e-12)
    assert d.exact_volume == pytest.approx(sum(t) * lat**2)
    x = all_nodes(d)
    assert x[:, 2].min() == 0.0 and x[:, 2].max() == pytest.approx(sum(t))
    assert all(n == 0 for n in unmatched_face_nodes(d, [lat, lat, sum(t)], axes=(0, 1)).values())
    ds = ufl.Measure("ds", domain=d.mesh, subdomain_data=d.facets())
    area = compat.assemble_scalar(compat.form(fem.Constant(d.mesh, 1.0) * ds(FACET_OUTER)), d.comm)
    assert area == pytest.approx(2 * lat**2, rel=1e-12)  # only z = 0 and the top


@pytest.mark.mpi
def test_blend_volume_fraction_and_reproducibility():
    from spindiff.geometry.inclusions import build_blend
    L, phi, size = 4.0, 0.15, 1.6
    d = build_blend(_comm(), L, phi, size, seed=1, size=0.5, order=2)
    n = round(phi * L**3 / (np.pi / 6 * size**3))
    achieved = n * np.pi / 6 * size**3 / L**3
    assert f"achieved {achieved:.4g}" in d.description
    assert material_volume(d, "B") / L**3 == pytest.approx(achieved, rel=5e-3)
    assert volume(d) == pytest.approx(L**3, rel=1e-10)
    assert all(v == 0 for v in unmatched_face_nodes(d, [L] * 3).values())
    again = build_blend(_comm(), L, phi, size, seed=1, size=0.5, order=2)
    assert ncells(again) == ncells(d)


# --- user meshes ------------------------------------------------------------------------------

def _tet_volumes_by_tag(path: Path) -> dict[int, float]:
    """Reference volumes straight from the file (meshio), independent of DOLFINx."""
    import meshio
    m = meshio.read(path)
    out: dict[int, float] = {}
    for block, tags in zip(m.cells, m.cell_data["gmsh:physical"]):
        if block.type != "tetra":
            continue
        X = m.points[block.data]
        v = np.abs(np.linalg.det(X[:, 1:] - X[:, :1])) / 6
        for t in np.unique(tags):
            out[int(t)] = out.get(int(t), 0.0) + float(v[tags == t].sum())
    return out


@pytest.mark.mpi
def test_user_mesh_two_material_slab():
    from spindiff.geometry.user_mesh import read_user_mesh
    from spindiff.mesh.domain import FACET_OUTER
    d = read_user_mesh(_comm(), MESHES / "two_material_slab.msh",
                       {"glass": ["matrix"], "ice": "film"}, outer=["outer"])
    assert d.materials == {"glass": [1], "ice": [2]}
    assert d.region_names == {1: "matrix", 2: "film"}
    assert material_volume(d, "glass") == pytest.approx(32.0, rel=1e-12)
    assert material_volume(d, "ice") == pytest.approx(32.0, rel=1e-12)
    assert d.exact_volume == pytest.approx(64.0, rel=1e-12)
    values = np.concatenate(_comm().allgather(d.facets().values))
    assert set(values.tolist()) == {FACET_OUTER}


@pytest.mark.mpi
def test_user_mesh_particle_in_cube_by_name_and_tag():
    from spindiff.geometry.user_mesh import read_user_mesh
    path = MESHES / "particle_in_cube.msh"
    d = read_user_mesh(_comm(), path, {"matrix": "matrix", "particle": [1]},
                       centres=[[0.8, 0.8, 0.8]], barrier_radius=0.5)
    ref = _tet_volumes_by_tag(path)
    assert material_volume(d, "particle") == pytest.approx(ref[1], rel=1e-12)
    assert material_volume(d, "matrix") == pytest.approx(ref[2], rel=1e-12)
    assert volume(d) == pytest.approx(216.0, rel=1e-12)
    assert material_volume(d, "particle") == pytest.approx(4 / 3 * np.pi * 1.5**3, rel=0.2)
    assert d.barrier_by_distance and d.centres.shape == (1, 3)


@pytest.mark.mpi
def test_user_mesh_2d_only_when_asked_and_meshio_formats(shared_tmp):
    import meshio

    from spindiff.errors import MeshError
    from spindiff.geometry.user_mesh import read_user_mesh
    comm = _comm()
    d = read_user_mesh(comm, MESHES / "square_2d.msh", {"A": "A", "B": "B"}, dim=2)
    assert d.gdim == 2 and d.mesh.topology.dim == 2
    assert material_volume(d, "A") == pytest.approx(4.0)
    assert material_volume(d, "B") == pytest.approx(4.0)
    with pytest.raises(MeshError, match="pass dim=2"):
        read_user_mesh(comm, MESHES / "square_2d.msh", {"A": "A", "B": "B"})
    # a medit file (meshio) with integer tags
    target = shared_tmp / "particle.mesh"
    if comm.rank == 0:
        m = meshio.read(MESHES / "particle_in_cube.msh")
        tets = [i for i, blk in enumerate(m.cells) if blk.type == "tetra"]
        cells = np.concatenate([m.cells[i].data for i in tets])
        tags = np.concatenate([m.cell_data["gmsh:physical"][i] for i in tets])
        meshio.write(target, meshio.Mesh(m.points, [("tetra", cells)],
                                         cell_data={"medit:ref": [tags]}))
    comm.barrier()
    d = read_user_mesh(comm, target, {"particle": 1, "matrix": 2})
    ref = _tet_volumes_by_tag(MESHES / "particle_in_cube.msh")
    assert material_volume(d, "particle") == pytest.approx(ref[1], rel=1e-12)
    assert volume(d) == pytest.approx(216.0, rel=1e-12)


@pytest.mark.mpi
@pytest.mark.parametrize("name, mapping, kwargs, fragment", [
    ("missing.msh", {"m": "matrix"}, {}, "file not found"),
    ("not_a_mesh.msh", {"m": "matrix"}, {}, "cannot read the file as a mesh"),
    ("bad_no_physical.msh", {"m": "matrix"}, {}, "no physical groups of dimension 3"),
    ("bad_no_volume_groups.msh", {"m": "matrix"}, {}, "no physical groups of dimension 3"),
    ("bad_unassigned.msh", {"m": "matrix"}, {}, "are in no physical group"),
    ("two_material_slab.msh", {"m": "matrix"}, {}, "not mapped to a material (film)"),
    ("two_material_slab.msh", {"m": "matrix", "n": "glass"}, {},
     "no physical volume group named 'glass' (the file has: matrix=1, film=2)"),
    ("two_material_slab.msh", {"m": "matrix", "n": 7}, {}, "no physical volume group with tag 7"),
    ("two_material_slab.msh", {"m": "matrix", "n": "film"}, {"outer": ["top"]},
     "no physical surface group named 'top'"),
    ("two_material_slab.msh", {"m": "matrix", "n": "film"}, {"dim": 2}, "the mesh is 3D"),
    ("bad_inverted.msh", {"m": "matrix"}, {}, "1 inverted and 0 degenerate cells of 6"),
    ("bad_degenerate.msh", {"m": "matrix"}, {}, "0 inverted and 1 degenerate cells of 2"),
])
def test_user_mesh_errors_are_one_line(name, mapping, kwargs, fragment):
    from spindiff.errors import MeshError
    from spindiff.geometry.user_mesh import read_user_mesh
    with pytest.raises(MeshError) as err:
        read_user_mesh(_comm(), MESHES / name, mapping, **kwargs)
    text = str(err.value)
    assert fragment in text
    assert "\n" not in text and text.startswith(str(MESHES / name))


@pytest.mark.mpi
def test_write_domain_xdmf_round_trip(shared_tmp):
    from dolfinx.io import XDMFFile

    from spindiff.geometry.inclusions import build_particle_in_matrix
    from spindiff.geometry.user_mesh import write_domain_xdmf
    comm = _comm()
    d = build_particle_in_matrix(comm, "slab", 0.5, 2.0, 0.5, 0.5, periodic=False)
    path = shared_tmp / "domain.xdmf"
    write_domain_xdmf(d, path)
    with XDMFFile(comm, str(path), "r") as f:
        msh = f.read_mesh(name="mesh")
        ct = f.read_meshtags(msh, name="cell_tags")

    def owned_count(mesh, tags, value):
        owned = tags.indices < mesh.topology.index_map(3).size_local
        return comm.allreduce(int(np.sum(tags.values[owned] == value)))

    assert msh.topology.index_map(3).size_global == ncells(d)
    for value in (21, 22):
        assert owned_count(msh, ct, value) == owned_count(d.mesh, d.cell_tags, value) > 0
