"""Heterogeneous samples: several materials, interfaces, many centres, homogenized matrices,
user meshes (docs/reference/physics.md sections 2 and 7)."""
from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
from scipy.special import erf

from conftest import CASES, ROOT, make_case, run_cli, subprocess_env, venv_bin

BASE = {
    "case": {"name": "hetero"},
    "geometry": {"kind": "particle", "shape": "sphere", "particle_size": "2 nm", "side": "7 nm",
                 "periodic": True, "concentration": "10 mM", "particle_material": "B",
                 "matrix_material": "A"},
    "centres": {"placement": "none", "barrier": "kept", "barrier_radius": "0.5 nm",
                "material": "A"},
    "materials": {"A": {"nuclear_density": "40 nm^-3", "D0": "5 nm^2/s", "T1n": "inf"},
                  "B": {"nuclear_density": "80 nm^-3", "D0": "20 nm^2/s", "T1n": "inf"}},
    "source": {"C6": "1 nm^6/s", "polarization": 0.8},
    "relaxation": {"P0": 0.0},
    "protocol": {"initial_polarization": 0.0,
                 "stages": [{"name": "mix", "duration": "5 s", "microwaves": False,
                             "outputs": 20}]},
    "mesh": {"model": "3d", "size_bulk": "0.6 nm", "size_particle": "0.5 nm", "order": 1,
             "error_estimate": "off"},
    "solver": {"rtol": 1e-5, "atol": 1e-8, "ksp_rtol": 1e-13},
    "output": {"plots": False},
}


def hetero(changes=None):
    return make_case(changes or {}, base=BASE)


def particle_start(x):
    """P = 0.6 inside the particle (radius 2 nm at the box centre), 0.1 outside, smooth."""
    r = np.sqrt((x[0] - 3.5) ** 2 + (x[1] - 3.5) ** 2 + (x[2] - 3.5) ** 2)
    return 0.1 + 0.5 / (1.0 + np.exp((r - 2.0) / 0.15))


@pytest.mark.mpi
def test_magnetization_crosses_interfaces_conserved():
    from spindiff.simulation import Simulation
    sim = Simulation(hetero(), initial=particle_start)
    s = sim.run().series
    total = s["P_sample"]
    drift = np.max(np.abs(total - total[0])) / total[0]
    moved = s["P_B"][0] - s["P_B"][-1]
    print(f"two materials (n 40/80, D0 5/20): drift of int n P {drift:.2e}, "
          f"<P>_B {s['P_B'][0]:.4f} -> {s['P_B'][-1]:.4f}")
    assert drift < 1e-10
    assert moved > 0.05
    # n-weighted: N_A <P>_A + N_B <P>_B = N <P> at all times (N_X = int_X n dx), and the
    # magnetization the particle lost is what the matrix gained
    N = sim.observables.totals
    assert N["A"] + N["B"] == pytest.approx(N["sample"], rel=1e-12)
    split = (N["A"] * s["P_A"] + N["B"] * s["P_B"]) / (N["sample"] * s["P_sample"])
    assert np.max(np.abs(split - 1.0)) < 1e-12
    gained = N["A"] * (s["P_A"][-1] - s["P_A"][0])
    lost = N["B"] * (s["P_B"][0] - s["P_B"][-1])
    assert gained == pytest.approx(lost, rel=1e-9)


@pytest.mark.slow
@pytest.mark.mpi
def test_two_equal_materials_reproduce_one_material():
    from mpi4py import MPI

    from spindiff.model import transport_model
    from spindiff.runner import run
    from spindiff.simulation import build_domain
    same = {"materials.B.nuclear_density": "40 nm^-3", "materials.B.D0": "5 nm^2/s",
            "protocol.stages.0.microwaves": True, "centres.placement": "positions",
            "centres.positions": [[0.9, 0.9, 0.9], [6.0, 1.0, 5.5]]}
    two = hetero(same)
    domain = build_domain(two, MPI.COMM_WORLD)
    r2 = run(two, domain=domain, progress=False, initial=particle_start)
    one_model = transport_model(two)
    one_model.materials = {"A": one_model.materials["A"]}
    domain.materials = {"A": [t for tags in domain.materials.values() for t in tags]}
    r1 = run(two, domain=domain, model=one_model, progress=False, initial=particle_start)
    diff = np.max(np.abs(r2.series["P_sample"] - r1.series["P_sample"]))
    print(f"equal materials vs one material: max |difference| {diff:.2e}")
    assert diff < 1e-12


def semi_infinite(z, t, zi, nA, DA, PA, nB, DB, PB):
    """Two semi-infinite media meeting at zi with uniform starts PA (z < zi), PB (z > zi):
    P continuous, n D dP/dz continuous; the interface value is constant in time."""
    ga, gb = nA * math.sqrt(DA), nB * math.sqrt(DB)
    Pi = (ga * PA + gb * PB) / (ga + gb)
    za = np.abs(z - zi) / (2 * np.sqrt(DA * t))
    zb = np.abs(z - zi) / (2 * np.sqrt(DB * t))
    return np.where(z < zi, Pi + (PA - Pi) * erf(za), Pi + (PB - Pi) * erf(zb)), Pi


@pytest.mark.mpi
def test_layered_slab_matches_the_1d_interface_solution():
    """A film of two layers (different n and D0): short-time profile against the exact
    solution of two semi-infinite media (flux continuity n D dP/dz at the interface)."""
    import ufl
    from dolfinx import fem
    from mpi4py import MPI

    from spindiff.mesh import compat
    from spindiff.runner import run
    from spindiff.simulation import build_domain
    case = hetero({"geometry": {"kind": "layers", "thicknesses": ["12 nm", "12 nm"],
                                "layer_materials": ["A", "B"], "side": "1 nm"},
                   "centres.material": None, "mesh.size_bulk": "0.2 nm",
                   "protocol.stages.0.duration": "0.5 s", "protocol.stages.0.outputs": 2})
    nA, DA, nB, DB = 40.0, 5.0, 80.0, 20.0
    _, Pi = semi_infinite(np.array([12.0]), 1.0, 12.0, nA, DA, 0.7, nB, DB, 0.1)

    def start(x):
        return np.where(np.isclose(x[2], 12.0), Pi, np.where(x[2] < 12.0, 0.7, 0.1))

    domain = build_domain(case, MPI.COMM_WORLD)
    res = run(case, domain=domain, progress=False, initial=start)
    V = compat.lagrange_space(domain.mesh, 1)
    Ph = fem.Function(V)
    Ph.x.array[:] = res.final_field[: Ph.x.array.size]
    x = ufl.SpatialCoordinate(domain.mesh)
    T = 0.5
    z = x[2]
    exact = ufl.conditional(ufl.lt(z, 12.0),
                            Pi + (0.7 - Pi) * ufl.erf((12.0 - z) / (2 * math.sqrt(DA * T))),
                            Pi + (0.1 - Pi) * ufl.erf((z - 12.0) / (2 * math.sqrt(DB * T))))
    dx = ufl.Measure("dx", domain=domain.mesh, metadata={"quadrature_degree": 6})
    err = math.sqrt(compat.assemble_scalar(compat.form((Ph - exact) ** 2 * dx), domain.comm)
                    / compat.assemble_scalar(compat.form(1.0 * dx), domain.comm))
    print(f"layered slab: interface value {Pi:.4f}, L2 error vs semi-infinite solution {err:.2e}")
    assert err < 2e-3
    # the interface value stays where flux continuity puts it
    xyz = compat.dof_coordinates(V)
    at = np.isclose(xyz[:, 2], 12.0)
    if at.any():
        assert np.allclose(res.final_field[: at.size][at], Pi, atol=5e-3)


@pytest.mark.slow
@pytest.mark.mpi
def test_periodic_lattice_equals_single_cell():
    """8 identical cells (a 2x2x2 simple-cubic lattice of centres in a periodic box of side
    2L) give the average of one periodic cube of side L with its centre."""
    from spindiff.runner import run
    common = {"centres": {"barrier": "kept", "barrier_radius": "0.5 nm", "visible_radius": "0.5 nm"},
              "materials": {"m": {"nuclear_density": "40 nm^-3", "D0": "5 nm^2/s", "T1n": "100 s"}},
              "protocol": {"initial_polarization": 0.0,
                           "stages": [{"name": "b", "duration": "20 s", "outputs": 20}]},
              "mesh": {"model": "3d", "size_barrier": "0.17 nm", "size_bulk": "0.5 nm", "order": 1}}
    cell = make_case({**{k: v for k, v in common.items()},
                      "geometry": {"kind": "periodic_cube", "side": "3 nm"}}, base={**BASE, **common})
    lattice = make_case({"geometry": {"kind": "box", "side": "6 nm", "concentration": "10 mM",
                                      "periodic": True},
                         "centres.placement": "lattice", "centres.count": 8},
                        base={**BASE, **common, "geometry": {"kind": "box"}})
    a = run(cell, progress=False)
    b = run(lattice, progress=False)
    for key in ("P_sample", "P_visible"):
        rel = np.max(np.abs(a.series[key][1:] - b.series[key][1:]) / np.abs(a.series[key][1:]))
        print(f"lattice of 8 cells vs single cell: {key} max relative difference {rel:.2e} "
              f"({a.summary['mesh']['dofs']} vs {b.summary['mesh']['dofs']} dofs)")
        assert rel < 5e-3


@pytest.mark.slow
def test_many_centre_box_two_ranks_match_serial(tmp_path):
    sets = ["--set", 'protocol.stages.0.duration="10 s"', "--set", "protocol.stages.0.outputs=15",
            "--set", 'mesh.size_barrier="0.2 nm"']
    out = {n: run_cli(CASES / "many_centres_box.toml", tmp_path / f"r{n}", n, sets) for n in (1, 2)}
    for key in out[1]:
        if key not in ("time_s", "stage"):
            # relative: the enhancement is P / P0 with P0 = 0.006
            diff = np.max(np.abs(out[1][key] - out[2][key]) / np.maximum(np.abs(out[1][key]), 1.0))
            print(f"many-centre box {key}: max |1 rank - 2 ranks| (relative to max(1, |value|)) "
                  f"= {diff:.2e}")
            assert diff < 1e-8
    prof = [(tmp_path / f"r{n}" / "profile.csv").read_text().splitlines() for n in (1, 2)]
    a = np.array([[float(v) for v in line.split(",")] for line in prof[0][1:]])
    b = np.array([[float(v) for v in line.split(",")] for line in prof[1][1:]])
    assert np.nanmax(np.abs(a - b)) < 1e-8


@pytest.mark.slow
@pytest.mark.mpi
def test_homogenized_matrix_matches_resolved_centres():
    from spindiff.runner import run
    changes = {"geometry.particle_size": "2.5 nm", "geometry.side": "9 nm",
               "centres.placement": "random", "centres.seed": 3, "centres.visible_radius": "0.5 nm",
               "protocol.stages.0.microwaves": True, "protocol.stages.0.duration": "100 s",
               "protocol.stages.0.name": "buildup", "materials.A.T1n": "100 s",
               "materials.B.T1n": "50 s", "relaxation.C6": "0.1 nm^6/s", "relaxation.P0": 0.001,
               "source.C6": "2 nm^6/s", "mesh.size_barrier": "0.15 nm",
               "protocol.initial_polarization": 0.001}
    resolved = run(hetero(changes), progress=False)
    homog = run(hetero({**changes, "centres.representation": "homogenized"}), progress=False)
    notes = homog.summary["model_notes"]["homogenized"]["buildup"]
    for key in ("P_A", "P_B", "P_sample"):
        a, b = resolved.series[key], homog.series[key]
        rel = np.max(np.abs(a - b)) / a[-1]
        print(f"homogenized vs resolved ({resolved.summary['mesh']['dofs']} vs "
              f"{homog.summary['mesh']['dofs']} dofs): {key} max difference {rel:.2%} of the final value")
        assert rel < 0.05
    print(f"effective rates: k = {notes['k_per_s']:.4g} 1/s, P_src = {notes['P_src']:.4f}, "
          f"extra R1 = {notes['R1_extra_per_s']:.4g} 1/s")
    # an effective target: the on-state polarization sits where R1_para is largest, so the
    # fitted P_src,eff may exceed the local P_src a little
    assert notes["k_per_s"] > 0 and 0.7 < notes["P_src"] < 0.9


@pytest.mark.slow
def test_particle_buildup_slows_with_size():
    """Relayed DNP: the crystal's own buildup time grows with its size (diffusion-limited)."""
    from spindiff.case import load_case
    from spindiff.runner import run
    tb = []
    for a in (60, 120, 240):
        case = load_case(CASES / "microcrystal.toml", {
            "geometry.particle_size": f"{a} nm", "geometry.side": f"{3.2 * a} nm",
            "mesh.size_bulk": f"{a / 4} nm", "mesh.size_particle": f"{a / 8} nm",
            "mesh.size_barrier": f"{a / 8} nm", "mesh.order": 1, "mesh.model": "3d",
            "mesh.error_estimate": "off",
            "protocol.stages.0.duration": "300 s", "protocol.stages.0.outputs": 30})
        res = run(case, progress=False)
        tb.append(res.summary["fits"]["buildup"]["materials"]["crystal"]["mono"]["T_B_s"])
    print(f"crystal buildup time for radii 60, 120, 240 nm: {[round(t, 2) for t in tb]} s")
    assert tb[0] < tb[1] < tb[2]


@pytest.mark.slow
def test_bad_user_mesh_is_one_line(tmp_path):
    case = tmp_path / "mesh.toml"
    case.write_text(f'''
[case]
name = "usermesh"
[geometry]
kind = "mesh"
file = "{ROOT / 'meshes' / 'two_material_slab.msh'}"
[centres]
placement = "none"
barrier = "none"
[materials.A]
nuclear_density = "40 nm^-3"
D0 = "5 nm^2/s"
regions = ["no_such_group"]
[source]
model = "region"
rate = "0 1/s"
radius = "0.1 nm"
polarization = 0.1
[relaxation]
P0 = 0.0
[protocol]
[[protocol.stages]]
name = "s"
duration = "1 s"
''')
    proc = subprocess.run([venv_bin("spindiff"), "run", str(case), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "no_such_group" in err[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_particle_3d_converges_to_the_1d_reduction():
    """Relayed DNP into a 20 nm crystal (microcrystal physics at 1/12.5 scale, same volume
    fraction): 3D runs with isotropic cells at the interface refined to 3, 2, 1.4 and 1 nm
    approach the 1D reduction (sphere in a spherical shell) monotonically; the finest is within
    1 % of it over the whole buildup and the extrapolation of the crystal's T_B (T0 - C h^p,
    fitted order) within 0.5 %."""
    from spindiff.case import load_case
    from spindiff.runner import model_for_case, run
    case = load_case(CASES / "microcrystal.toml", {
        "geometry.particle_size": "20 nm", "geometry.side": "64 nm", "output.plots": False,
        "protocol.stages.0.duration": "60 s", "protocol.stages.0.outputs": 30,
        "mesh.size_bulk": "8 nm", "mesh.size_particle": "4 nm", "mesh.size_barrier": "4 nm",
        "mesh.order": 1, "mesh.error_estimate": "off", "mesh.interface": "isotropic"})
    model = model_for_case(case)
    one = run(case, model=model, progress=False)
    assert one.summary["mesh"]["model"] == "radial"
    tb1 = one.summary["fits"]["buildup"]["materials"]["crystal"]["mono"]["T_B_s"]
    tbs, devs = [], []
    sizes = (3.0, 2.0, 1.4, 1.0)
    for h in sizes:
        r = run(case.with_changes({"mesh.model": "3d", "mesh.size_interface": f"{h} nm"}),
                model=model, progress=False)
        tbs.append(r.summary["fits"]["buildup"]["materials"]["crystal"]["mono"]["T_B_s"])
        devs.append(max(float(np.max(np.abs(r.series[k] - one.series[k]))) / one.series[k][-1]
                        for k in ("P_crystal", "P_glass", "P_sample")))
        print(f"3D interface {h} nm: {r.summary['mesh']['dofs']} dofs, T_B crystal "
              f"{tbs[-1]:.4f} s (1D {tb1:.4f} s), max |<P>_3D - <P>_1D| {devs[-1]:.2%} of final")
    assert all(a > b for a, b in zip(devs, devs[1:])) and devs[-1] < 0.01
    # T(h) = T0 - C h^p fitted to the four runs by least squares: the meshes are not nested
    # (each Gmsh mesh places its nodes anew), so three of them determine p and T0 only to
    # their scatter (an exact fit through 3, 2, 1.4 nm gave T0 within 1e-4 on Gmsh 4.8 and
    # 5.2e-3 off on Gmsh 4.15); the fourth averages it
    from scipy.optimize import curve_fit
    (extrapolated, _, p), _ = curve_fit(lambda h, T0, C, q: T0 - C * h**q, np.array(sizes),
                                        np.array(tbs), p0=[tbs[-1], tbs[-1] - tbs[0], 1.5])
    print(f"measured order {p:.2f}, extrapolated T_B {extrapolated:.4f} s vs 1D {tb1:.4f} s")
    # measured -1.2e-3 (order 1.50) on Gmsh 4.8, -3.0e-3 (order 1.73) on Gmsh 4.15
    assert abs(extrapolated - tb1) < 5e-3 * tb1


@pytest.mark.slow
def test_particle_interface_refinement_3d():
    """mesh.size_interface: cells at the particle surface are that small, cells far from it
    grow to the bulk size; the 250 nm crystal meshes in seconds (an analytic size field)."""
    import time as _time

    from mpi4py import MPI

    from spindiff.case import load_case
    from spindiff.mesh import compat
    from spindiff.simulation import build_domain
    case = load_case(CASES / "microcrystal.toml", {"mesh.model": "3d", "mesh.order": 1,
                                                   "mesh.size_interface": "15 nm",
                                                   "mesh.interface": "isotropic"})
    t0 = _time.perf_counter()
    d = build_domain(case, MPI.COMM_SELF)
    wall = _time.perf_counter() - t0
    x = d.mesh.geometry.x
    cells = compat.geometry_dofmap(d.mesh)[:, :4]
    pts = x[cells]
    h = np.max([np.linalg.norm(pts[:, i] - pts[:, j], axis=1)
                for i in range(4) for j in range(i + 1, 4)], axis=0)
    dist = np.abs(np.linalg.norm(pts.mean(axis=1) - 400.0, axis=1) - 250.0)
    near, far = h[dist < 5.0], h[dist > 150.0]
    print(f"3D microcrystal, interface 15 nm: {len(h)} cells in {wall:.1f} s; longest edge "
          f"near the interface {np.median(near):.1f} nm (median), far {np.median(far):.1f} nm")
    # the longest edge of a Gmsh tetrahedron of size h is about 1.3-1.7 h
    assert np.median(near) < 2.0 * 15.0 and np.median(far) > 2.0 * np.median(near)
    assert wall < 60.0
