"""3D particles with a band of layers across the interface (spindiff.geometry.particle_layers):
the mesh is conforming and exact in volume, and the 3D runs agree with the 1D reductions."""
from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from conftest import CASES

OFFSETS = np.concatenate([-np.geomspace(0.3, 20.0, 12)[::-1], [0.0], np.geomspace(0.3, 20.0, 12)])


def _volumes(domain):
    import dolfinx
    import ufl

    from spindiff.mesh import compat
    msh = domain.mesh
    dx = ufl.Measure("dx", msh, subdomain_data=domain.cell_tags)
    one = dolfinx.fem.Constant(msh, 1.0)
    return {tag: compat.assemble_scalar(compat.form(one * dx(tag)), msh.comm)
            for tag in (21, 22)}


def _boundary_facets_off_the_box(domain, side):
    """Exterior facets whose midpoint is not on a box face (a non-conforming band leaves its
    surfaces exterior)."""
    from spindiff.mesh import compat
    msh = domain.mesh
    facets = compat.locate_boundary_entities(msh, 2, lambda x: np.full(x.shape[1], True))
    from dolfinx import mesh as dmesh
    mids = dmesh.compute_midpoints(msh, 2, facets)
    on_box = np.any((np.abs(mids) < 1e-6 * side) | (np.abs(mids - side) < 1e-6 * side), axis=1)
    return int(np.sum(~on_box))


def _three_d_against_one_d(changes: dict):
    """The case microcrystal.toml with `changes`, run in 1D and in 3D on the same model:
    (1D result, 3D result, largest |<P>_3D - <P>_1D| / final value per curve)."""
    from spindiff.case import load_case
    from spindiff.runner import model_for_case, run
    case = load_case(CASES / "microcrystal.toml", {**changes, "mesh.error_estimate": "off",
                                                   "output.plots": False})
    model = model_for_case(case)
    one = run(case, model=model, progress=False)
    three = run(case.with_changes({"mesh.model": "3d"}), model=model, progress=False)
    dev = {k: float(np.max(np.abs(three.series[k] - one.series[k]))) / one.series[k][-1]
           for k in ("P_crystal", "P_glass", "P_sample")}
    return one, three, dev


@pytest.mark.parametrize("shape, order", [("sphere", 2), ("sphere", 1), ("slab", 2),
                                          ("cylinder", 2)])
def test_layered_mesh_is_conforming_and_keeps_the_volume(shape, order):
    """The band's prisms conform to the Gmsh cells on both sides (no exterior facet inside the
    box); order 2 keeps the volume of a sphere or rod to 3e-4 (measured -2.5e-5 and -1.9e-6 with 8
    nm cells on a radius of 60 nm; order 1: the inscribed polyhedron, -1.4 %)."""
    from spindiff.geometry.inclusions import particle_volume
    from spindiff.geometry.particle_layers import build_particle_layered
    a, side = 60.0, 200.0
    d = build_particle_layered(MPI.COMM_WORLD, shape, a, [side] * 3, OFFSETS, 8.0, 20.0, 30.0,
                               order=order)
    vols = _volumes(d)
    vp = particle_volume(shape, a, [side] * 3)
    err_p, err_t = vols[22] / vp - 1, (vols[21] + vols[22]) / side**3 - 1
    print(f"{shape} order {order}: {d.description}; particle volume error {err_p:.2e}, "
          f"box {err_t:.2e}")
    assert _boundary_facets_off_the_box(d, side) == 0
    assert abs(err_t) < (1e-4 if order == 2 else 1e-12)
    if order == 2 or shape == "slab":   # curved P2 facets: error ~ (h / a)^4
        assert abs(err_p) < 3e-4
    else:   # inscribed polyhedron: short by about 3 h^2 / 8 a^2 with h ~ 8-11 nm (2-3 %)
        assert -5e-2 < err_p < 0


def test_band_offsets_follow_the_1d_nodes():
    from spindiff.geometry.particle_layers import band_offsets
    nodes = np.concatenate([np.linspace(0, 90, 10), 100 - np.geomspace(0.5, 9.9, 8)[::-1],
                            [100.0], 100 + np.geomspace(0.5, 50, 12), [200.0]])
    off = band_offsets(nodes, 100.0, 5.0, 40.0, 30.0)
    assert 0.0 in off and np.all(np.diff(off) > 0)
    assert np.allclose(off[(off != 0) & (np.abs(off) < 5)],
                       np.sort(nodes[np.abs(nodes - 100) < 5] - 100)[np.sort(
                           nodes[np.abs(nodes - 100) < 5] - 100) != 0])
    assert off[0] >= -40.0 and off[-1] <= 30.0
    # the band ends where the 1D cells reach the size along the interface
    assert np.diff(off)[0] >= 5.0 - 1e-9 or off[0] == -40.0


def test_layers_with_explicit_centres_are_refused_in_one_line():
    from spindiff.case import load_case
    from spindiff.errors import CaseError
    from spindiff.simulation import build_domain
    case = load_case(CASES / "microcrystal.toml", {
        "geometry.particle_size": "10 nm", "geometry.side": "40 nm", "mesh.model": "3d",
        "mesh.interface": "layers", "centres.placement": "random",
        "centres.representation": "resolved", "mesh.size_bulk": "5 nm",
        "mesh.size_particle": "5 nm", "mesh.size_barrier": "0.5 nm"})
    with pytest.raises(CaseError, match="mesh.interface"):
        build_domain(case, MPI.COMM_WORLD)


@pytest.mark.slow
def test_shipped_microcrystal_3d_matches_its_1d_reduction():
    """The shipped 250 nm crystal in 3D with interface layers: <P> of the crystal, the glass
    and the sample within 1e-3 of the 1D reduction over the whole buildup (measured 4.7e-5;
    isotropic cells at 3.5 nm got to 1.15 %), and the crystal's T_B within 1e-3 (3.0e-5)."""
    one, three, dev = _three_d_against_one_d({})
    tb = [r.summary["fits"]["buildup"]["materials"]["crystal"]["mono"]["T_B_s"]
          for r in (one, three)]
    print(f"3D layers: {three.summary['mesh']['dofs']} dofs, T_B crystal {tb[1]:.4f} s "
          f"(1D {tb[0]:.4f} s), max |<P>_3D - <P>_1D| / final: {dev}")
    assert max(dev.values()) < 1e-3
    assert abs(tb[1] - tb[0]) < 1e-3 * tb[0]


@pytest.mark.slow
def test_layered_film_matches_the_slab_reduction():
    """A 40 nm film (slab of half-thickness 20 nm) in 3D with layers at both faces against the
    planar 1D reduction: within 2e-3 over the buildup. Measured 8.3e-4 for the film, 9.5e-5 for
    the glass (6.1e-4 with Gmsh 4.13's meshes); the film's ~1e-3 stayed when radial_cells went
    200 -> 800 (8.3e-4, 9.7e-4) or the solver tolerance to 1e-6, and isotropic 1 nm cells gave
    2.4e-3: a difference between the 3D film and its slab reduction that the band's resolution
    does not explain (docs/reference/heterogeneous.md)."""
    _, three, dev = _three_d_against_one_d({
        "geometry.shape": "slab", "geometry.particle_size": "20 nm", "geometry.side": "160 nm",
        "mesh.size_bulk": "20 nm", "mesh.size_particle": "10 nm", "mesh.size_barrier": "10 nm",
        "protocol.stages.0.duration": "60 s", "protocol.stages.0.outputs": 20})
    print(f"film 3D layers {three.summary['mesh']['dofs']} dofs vs 1D: {dev}")
    assert max(dev.values()) < 2e-3


@pytest.mark.slow
def test_two_micron_crystal_3d_matches_its_1d_reduction():
    """A 2 um crystal (microcrystal physics, 6.4 um box, 6000 s): 3D with interface layers
    (160 nm along the surface, 0.3 nm across it; 111k dofs, about 45 s) within 1e-3 of 1D over
    the whole buildup (measured 1.7e-6 crystal, 2.3e-5 sample; isotropic cells of 80 nm were
    51 % off in the final crystal <P>)."""
    _, three, dev = _three_d_against_one_d({
        "geometry.particle_size": "2 um", "geometry.side": "6.4 um",
        "protocol.stages.0.duration": "6000 s", "mesh.size_interface": "160 nm",
        "mesh.size_particle": "320 nm", "mesh.size_bulk": "800 nm"})
    print(f"2 um crystal, 3D layers {three.summary['mesh']['dofs']} dofs vs 1D: {dev}")
    assert max(dev.values()) < 1e-3


@pytest.mark.slow
def test_layered_particle_two_ranks_match_serial(tmp_path):
    """The layered 3D crystal (60 nm, short buildup): the same <P> on 1 and 2 ranks (1e-8)."""
    from conftest import run_cli
    sets = ["--set", 'geometry.particle_size="60 nm"', "--set", 'geometry.side="192 nm"',
            "--set", 'mesh.model="3d"', "--set", 'mesh.size_bulk="30 nm"',
            "--set", 'mesh.size_particle="15 nm"', "--set", 'mesh.error_estimate="off"',
            "--set", 'protocol.stages.0.duration="20 s"', "--set", "output.plots=false"]
    a = run_cli(CASES / "microcrystal.toml", tmp_path / "one", 1, sets)
    b = run_cli(CASES / "microcrystal.toml", tmp_path / "two", 2, sets)
    for key in ("P_crystal", "P_glass", "P_sample"):
        diff = float(np.max(np.abs(a[key] - b[key]) / np.maximum(np.abs(a[key]), 1e-300)))
        print(f"{key}: 1 vs 2 ranks {diff:.2e}")
        assert diff < 1e-8, key
