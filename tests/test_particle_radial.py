"""1D reductions of a particle or film (spindiff.geometry.particle_radial) against closed forms:
a sphere, a cylinder and a slab with the surface held at P_s, internal D and T1, initially 0
(Crank's series with first-order decay; tests/README.md), their steady profiles, conservation
across an interface, and the mesh that grades itself toward the interface."""
from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI
from scipy.special import i0e, i1e, jn_zeros

from conftest import make_case

R, D, T1, PS = 50.0, 20.0, 40.0, 0.6   # nm, nm^2/s, s, surface polarization
L = math.sqrt(D * T1)
TAU = R * R / D                        # 125 s


def mean_exact(shape: str, t: np.ndarray, nterms: int = 4000) -> np.ndarray:
    """Volume average of P for the surface held at PS (closed forms in tests/README.md):
    <P> = <P>_ss - (2 (p + 1) PS / R^2) sum_n exp(-(D k_n^2 + 1/T1) t) / (k_n^2 + 1/L^2)."""
    a, p = R / L, {"slab": 0, "cylinder": 1, "sphere": 2}[shape]
    if shape == "sphere":
        k = np.arange(1, nterms + 1) * math.pi / R
        ss = 3 * PS * (a / math.tanh(a) - 1) / a**2
    elif shape == "slab":
        k = (np.arange(nterms) + 0.5) * math.pi / R
        ss = PS * math.tanh(a) / a
    else:
        k = jn_zeros(0, nterms) / R
        ss = 2 * PS * i1e(a) / (a * i0e(a))
    lam = D * k**2 + 1 / T1
    tail = np.exp(-np.outer(t, lam)) / (k**2 + 1 / L**2)
    return ss - 2 * (p + 1) * PS / R**2 * tail.sum(axis=1)


def steady_exact(shape: str, r: np.ndarray) -> np.ndarray:
    """P_ss(r): PS (R/r) sinh(r/L)/sinh(R/L), PS I0(r/L)/I0(R/L), PS cosh(z/L)/cosh(R/L)."""
    if shape == "sphere":
        rr = np.maximum(r, 1e-12)
        return np.where(r > 1e-12, PS * (R / rr) * np.sinh(rr / L) / math.sinh(R / L),
                        PS * (R / L) / math.sinh(R / L))
    if shape == "slab":
        return PS * np.cosh(r / L) / math.cosh(R / L)
    return PS * i0e(r / L) * np.exp(r / L - R / L) / i0e(R / L)


def surface_case(duration: float = TAU, outputs: int = 30):
    """A single-material case with P = PS on the outer surface, T1n = T1, no source."""
    return make_case({"geometry.radius": f"{R} nm", "geometry.outer_boundary": "fixed",
                      "geometry.outer_polarization": PS,
                      "materials.m.D0": f"{D} nm^2/s", "materials.m.T1n": f"{T1} s",
                      "relaxation.P0": 0.0, "protocol.initial_polarization": 0.0,
                      "protocol.stages.0.microwaves": False,
                      "protocol.stages.0.duration": f"{duration} s",
                      "protocol.stages.0.outputs": outputs,
                      "protocol.stages.0.first_output": f"{1e-3 * duration} s",
                      "solver.rtol": 1e-7, "solver.atol": 1e-10, "solver.dt_initial": "1e-6 s"})


def surface_domain(shape: str, ncells: int, layer: float):
    from spindiff.geometry.particle_radial import Region, build_reduction
    return build_reduction(MPI.COMM_SELF, shape, [Region("m", 0.0, R, layer)], ncells,
                           refine_outer=True)


@pytest.mark.parametrize("shape", ["sphere", "cylinder", "slab"])
def test_surface_held_buildup_matches_series(shape):
    """<P>(t) of the 1D reduction within 1e-4 (relative) of the exact series from 0.01 tau on,
    and the error falls when the mesh is refined (second order in space)."""
    from spindiff.simulation import Simulation
    case = surface_case()
    errs = []
    for n in (400, 1600):
        sim = Simulation(case, domain=surface_domain(shape, n, math.sqrt(D * 0.1)),
                         comm=MPI.COMM_SELF)
        s = sim.run().series
        t, P = s["time_s"][1:], s["P_sample"][1:]
        keep = t >= 0.01 * TAU
        exact = mean_exact(shape, t[keep])
        errs.append(float(np.max(np.abs(P[keep] - exact) / exact)))
    print(f"{shape}: max relative error of <P> vs series {errs[0]:.2e} (N=400), "
          f"{errs[1]:.2e} (N=1600); <P>_ss = {mean_exact(shape, np.array([1e9]))[0]:.4f}")
    assert errs[1] < 1e-4
    assert errs[1] < errs[0]


@pytest.mark.parametrize("shape", ["sphere", "cylinder", "slab"])
def test_surface_held_steady_profile(shape):
    """Steady P(r) at the nodes within 1e-4 (relative to PS) of the closed form."""
    from spindiff.mesh import compat
    from spindiff.simulation import steady_state
    dom = surface_domain(shape, 3200, L)
    disc, P = steady_state(surface_case(), comm=MPI.COMM_SELF, domain=dom)
    r = compat.dof_coordinates(disc.V)[:, 0]
    err = np.max(np.abs(P.array_r - steady_exact(shape, r))) / PS
    print(f"{shape}: steady profile max error {err:.2e} of P_s ({disc.ndofs} dofs)")
    assert err < 1e-4


def two_material_case(shape: str):
    return make_case({
        "case.name": "relay",
        "geometry": {"kind": "particle", "shape": shape, "particle_size": "40 nm",
                     "side": "120 nm", "particle_material": "B", "matrix_material": "A"},
        "centres": {"placement": "none", "barrier": "hole", "barrier_radius": "0.5 nm"},
        "materials": {"A": {"nuclear_density": "40 nm^-3", "D0": "5 nm^2/s", "T1n": "inf"},
                      "B": {"nuclear_density": "80 nm^-3", "D0": "200 nm^2/s", "T1n": "inf"}},
        "protocol.stages.0.microwaves": False, "protocol.stages.0.duration": "200 s",
        "mesh.model": "radial"})


@pytest.mark.mpi
@pytest.mark.parametrize("shape", ["sphere", "cylinder", "slab"])
def test_conservation_across_the_interface(shape):
    """No source, no relaxation: int n P w is conserved to 1e-10 while polarization flows from
    the particle into the matrix; the sample volume is the box volume."""
    from spindiff.simulation import Simulation
    case = two_material_case(shape)
    sim = Simulation(case, comm=MPI.COMM_WORLD,
                     initial=lambda x: np.where(x[0] < 40.0, 0.6, 0.1))
    s = sim.run().series
    total = s["P_sample"]
    drift = np.max(np.abs(total - total[0])) / total[0]
    moved = s["P_B"][0] - s["P_B"][-1]
    N = sim.observables.totals
    print(f"{shape}: drift {drift:.2e}, <P>_B {s['P_B'][0]:.4f} -> {s['P_B'][-1]:.4f}, "
          f"{sim.disc.ndofs} dofs, ranks per solve {sim.solve_comm.size}")
    assert drift < 1e-10
    assert moved > 0.05
    assert sim.solve_comm.size == 1
    volume = sum(N[k] / {"A": 40.0, "B": 80.0}[k] for k in ("A", "B"))
    assert volume == pytest.approx(120.0**3, rel=1e-12)
    assert sim.domain.exact_volume == pytest.approx(120.0**3, rel=1e-12)


def test_mesh_resolves_the_interface_layers():
    """The smallest cell sits at the interface on both sides, a fraction of each material's
    boundary-layer length; doubling radial_cells halves every cell."""
    from spindiff.geometry.particle_radial import Region, reduction_nodes
    regions = [Region("p", 0.0, 5000.0, 80.0), Region("m", 5000.0, 10000.0, 3.0)]
    x1 = reduction_nodes(regions, 400)
    x2 = reduction_nodes(regions, 800)
    h1 = np.diff(x1)
    i = int(np.searchsorted(x1, 5000.0))
    assert x1[i] == 5000.0
    assert h1[i] < 3.0 / 10 and h1[i - 1] < 80.0 / 10      # fine in the matrix and the particle
    assert h1[i] < h1[i + 5] < h1[i + 50]                   # graded away from it
    assert len(x1) < 1500
    assert len(x2) - 1 == pytest.approx(2 * (len(x1) - 1), rel=0.02)
    assert np.diff(x2).min() == pytest.approx(0.5 * h1.min(), rel=0.05)


def test_radial_needs_symmetric_centres():
    from spindiff.errors import CaseError
    with pytest.raises(CaseError, match="mesh.model"):
        make_case({"geometry": {"kind": "box", "side": "10 nm", "concentration": "10 mM"},
                   "centres": {"placement": "random", "barrier": "hole", "barrier_radius": "0.5 nm"},
                   "mesh.model": "radial"})
    with pytest.raises(CaseError, match="homogenized"):
        c = two_material_case("sphere").raw()
        c["centres"].update({"placement": "random", "material": "A"})
        c["geometry"]["concentration"] = "10 mM"
        make_case(c, base=c)


def test_film_interface_matches_two_semi_infinite_media():
    """A film of two 12 nm layers (n 40/80, D0 5/20) in planar 1D: at t = 0.5 s the profile is
    the exact two-media solution, with the interface value fixed by flux continuity,
    P_i = (n_A sqrt(D_A) P_A + n_B sqrt(D_B) P_B) / (n_A sqrt(D_A) + n_B sqrt(D_B))."""
    from scipy.special import erf

    from spindiff.simulation import Simulation
    nA, DA, PA, nB, DB, PB = 40.0, 5.0, 0.7, 80.0, 20.0, 0.1
    case = two_material_case("slab").raw()
    case["geometry"] = {"kind": "layers", "thicknesses": ["12 nm", "12 nm"], "side": "1 nm",
                        "layer_materials": ["A", "B"]}
    case["materials"]["B"]["D0"] = "20 nm^2/s"
    case["protocol"]["stages"][0].update({"duration": "0.5 s", "outputs": 2})
    case["solver"] = {"rtol": 1e-6, "atol": 1e-9}
    wA, wB = nA * math.sqrt(DA), nB * math.sqrt(DB)
    Pi = (wA * PA + wB * PB) / (wA + wB)
    sim = Simulation(make_case({}, base=case), initial=lambda x: np.where(
        np.isclose(x[0], 12.0), Pi, np.where(x[0] < 12.0, PA, PB)))
    res = sim.run()
    z = res.coordinates[:, 0]
    T = 0.5
    exact = np.where(z < 12.0, Pi + (PA - Pi) * erf((12.0 - z) / (2 * math.sqrt(DA * T))),
                     Pi + (PB - Pi) * erf((z - 12.0) / (2 * math.sqrt(DB * T))))
    err = np.max(np.abs(res.final_field[: z.size] - exact))
    print(f"film: interface value {Pi:.4f}, max nodal error vs two semi-infinite media {err:.2e}")
    assert err < 1e-3


def test_error_estimate_and_warning():
    """summary.json spatial_error: tiny on the default 1D mesh, above 1 % (and a warning line)
    on a deliberately coarse one, whose true error (against the fine run) it matches within a
    factor 2; the conserved total gets no T_B."""
    from spindiff.error_estimate import warning
    from spindiff.runner import run
    case = two_material_case("sphere")
    case = case.with_changes({"protocol.stages.0.duration": "20 s"})
    start = {"initial": lambda x: 0.35 - 0.25 * np.tanh((x[0] - 40.0) / 2.0)}
    fine = run(case, progress=False, **dict(start))
    coarse = run(case.with_changes({"mesh.radial_cells": 12}), progress=False, **dict(start))
    ef, ec = fine.summary["spatial_error"], coarse.summary["spatial_error"]
    true = abs(coarse.summary["final"]["P"]["B"] - fine.summary["final"]["P"]["B"]) \
        / fine.summary["final"]["P"]["B"]
    est = ec["relative"]["final P_B"]
    print(f"fine: max {ef['max_relative']:.1e}; coarse: max {ec['max_relative']:.2%} "
          f"({ec['worst']}), final P_B estimated {est:.2e} vs true {true:.2e}")
    assert ef["max_relative"] < 1e-3 and not ef["exceeds_threshold"] and warning(ef) is None
    assert ec["exceeds_threshold"] and warning(ec).startswith("warning: estimated spatial error")
    assert 0.5 * true < est < 2 * true
    assert "T_B buildup sample" not in ef["relative"] and "T_B buildup B" in ef["relative"]


@pytest.mark.slow
def test_surface_held_sphere_in_3d():
    """The same sphere meshed in 3D (second-order tetrahedra, 3 nm): <P>(t) within 1e-2 of
    the series from t = 0.03 tau on (before, the sqrt(D t) layer at the surface is thinner
    than the cells)."""
    from spindiff.simulation import Simulation
    case = surface_case(outputs=20).with_changes({
        "mesh.model": "3d", "centres": {"barrier": "none"},
        "source": {"model": "region", "rate": "1 1/s", "radius": "1 nm", "polarization": 0.9},
        "mesh.size_barrier": "0.6 nm", "mesh.size_bulk": "3 nm", "mesh.order": 2,
        "solver.rtol": 1e-5, "solver.atol": 1e-8})
    sim = Simulation(case)
    s = sim.run().series
    t, P = s["time_s"][1:], s["P_sample"][1:]
    keep = t >= 0.03 * TAU
    err = np.max(np.abs(P[keep] - mean_exact("sphere", t[keep])) / mean_exact("sphere", t[keep]))
    print(f"3D sphere ({sim.disc.ndofs} dofs): max relative error of <P> from 0.03 tau {err:.2e}")
    assert err < 1e-2
