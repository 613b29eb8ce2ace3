"""The individual-nucleus model (mesh.model = "spins"): exact solutions of the rate equations,
conservation, detailed balance, the cutoff's tail, orientation factors, the barrier of Eq. 9,
bad input. Derivations of the exact answers: tests/README.md, "Individual nuclei"."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import make_case

SPINS = {"mesh.model": "spins",
         "conditions": {"B0": "7.05 T", "temperature": "1.2 K", "nucleus": "1H"}}


def spins_case(changes: dict | None = None):
    return make_case({**SPINS, **(changes or {})})


def write_xyz(path, atoms):
    lines = [str(len(atoms)), "test"] + [f"{s} {x} {y} {z}" for s, (x, y, z) in atoms]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the physics layer ----------------------------------------------------------------------

def test_orientation_factor_averages_to_one():
    """<(15/2) sin^2 cos^2> over the sphere is 1, so per-nucleus laws average to the continuum's."""
    from spindiff.physics.spins.couplings import orientation_factor
    c, w = np.polynomial.legendre.leggauss(8)
    assert abs(0.5 * np.sum(w * orientation_factor(c)) - 1.0) < 1e-14
    # and the per-nucleus source of a random shell reproduces 4 pi r^2 dr n k(r)
    from spindiff.physics.spins import laws
    from spindiff.physics.spins.positions import Region
    rng = np.random.default_rng(0)
    u = rng.normal(size=(200_000, 3))
    x = 2.0 * u / np.linalg.norm(u, axis=1, keepdims=True)
    r, cos = laws.nearest_centres(x, np.zeros((1, 3)), Region.sphere(3.0))
    k, _ = laws.law_terms(r, cos, lambda r: 4.0 / r ** 6, 0.9)
    assert abs(k.mean() / (4.0 / 2.0 ** 6) - 1.0) < 0.01


def test_far_field_rate_is_the_golden_rule():
    """Without electrons W = d^2 / (2 Gamma_2), d = p_nn (3 cos^2 - 1) / (2 r^3)."""
    from spindiff.physics.spins.couplings import FlipFlopSettings, nuclear_prefactor, pair_rates
    from spindiff.physics.spins.positions import Region
    s = FlipFlopSettings("1H", gamma2=2 * math.pi * 11e3, omega0=3e8)
    x = np.array([[0.0, 0.0, 0.0], [0.0, 0.3, 0.4]])
    w = pair_rates(np.array([0]), np.array([1]), x, None, s, Region.sphere(5.0))
    c = 0.4 / 0.5
    d = nuclear_prefactor("1H") * (3 * c * c - 1) / (2 * 0.5 ** 3)
    assert w[0] == pytest.approx(d * d / (2 * s.gamma2), rel=1e-12)


def test_barrier_grows_with_the_hyperfine_detuning_as_eq9():
    """Pairs along a radial line from one electron at P_e = 1: W / W_far falls monotonically
    toward the electron and crosses 1/2 where Eq. 9 with Delta(r) = A(r) - A(r + a) says
    (found here by root-finding on the closed form); four times the hyperfine coupling moves
    that radius out by about 4^(1/4) (Delta ~ 3 A a / r^4 for r >> a)."""
    from scipy.optimize import brentq

    from spindiff.physics.flipflop import rate_eq9
    from spindiff.physics.spins.couplings import (
        ElectronField,
        Electrons,
        FlipFlopSettings,
        hyperfine_prefactor,
        pair_rates,
    )
    from spindiff.physics.spins.positions import Region
    region = Region.sphere(50.0)
    r = np.geomspace(0.5, 8.0, 400)
    a = 0.4
    th = math.radians(30.0)
    u = np.array([math.sin(th), 0.0, math.cos(th)])
    x = np.concatenate([r[:, None] * u, (r + a)[:, None] * u])
    i, j = np.arange(len(r)), np.arange(len(r)) + len(r)
    half = []
    for scale in (1.0, 4.0):
        s = FlipFlopSettings("1H", gamma2=2 * math.pi * 2e3, omega0=3e8, include_gamma1=False,
                             delta_scale=scale)
        e = Electrons(np.zeros((1, 3)), np.array([1.0]), np.array([2e6]), np.array([0]))
        field = ElectronField(x, e, region, s)
        w = pair_rates(i, j, x, field, s, region)
        w0 = pair_rates(i, j, x, None, s, region)
        # the same numbers from Eq. 9 with the pair's own couplings
        ai, _ = field.couplings(x[i], np.zeros(len(i), int))
        aj, _ = field.couplings(x[j], np.zeros(len(i), int))
        d = np.sqrt(2 * s.gamma2 * w0)
        assert np.allclose(w, rate_eq9(d, scale * (ai - aj), 1.0, 2e6, s.gamma2), rtol=1e-12)
        ratio = w / w0
        assert np.all(np.diff(ratio) > -1e-12) and ratio[0] < 1e-3 and ratio[-1] > 0.99
        half.append(np.interp(0.5, ratio, r))
        k = hyperfine_prefactor("1H") * (3 * math.cos(th) ** 2 - 1)
        wf = rate_eq9(1.0, 0.0, 1.0, 2e6, s.gamma2)
        expected = brentq(lambda q: rate_eq9(1.0, scale * k * (q ** -3 - (q + a) ** -3), 1.0,
                                             2e6, s.gamma2) / wf - 0.5, 0.5, 8.0)
        assert half[-1] == pytest.approx(expected, rel=1e-3)
    assert half[1] > half[0]
    assert half[1] / half[0] == pytest.approx(4 ** 0.25, rel=0.05)


@pytest.mark.parametrize("kind", ["sc", "fcc"])
def test_tail_correction_restores_the_lattice_moment(kind):
    """The second-moment tensor of the truncated, corrected far-field rates equals the
    untruncated lattice sum at every cutoff; without the correction it falls short by the
    bound 1/r_c of the module docstring (checked against a cutoff 8 times larger)."""
    from spindiff.physics.spins import tail
    full = None
    for rc in (1.5, 2.0, 3.0):
        c = tail.lattice_correction(kind, 1.0, rc)
        v = tail.lattice_sites(kind, 1.0, rc)
        w = tail.kernel(v) * c(v / np.linalg.norm(v, axis=1, keepdims=True))
        corrected = 0.5 * (w[:, None] * v ** 2).sum(0)
        assert np.allclose(corrected, c.full_moment, rtol=1e-10)
        full = c.full_moment if full is None else full
        assert np.allclose(c.full_moment, full, rtol=1e-12)
        # the bound: the dropped moment is the continuum tail 0.5 n K I_l / r_c within 10 % at
        # r_c >= 2 n^(-1/3) (the lattice's shells: 3 % sc, 8 % fcc; the correction itself
        # uses the exact lattice sum)
        v_big = tail.lattice_sites(kind, 1.0, 8 * rc)
        r_big = np.linalg.norm(v_big, axis=1)
        _, dropped, _ = tail.moments(v_big[r_big > rc])
        _, t_mom = tail.continuum_tail(1.0, rc)
        _, t_far = tail.continuum_tail(1.0, 8 * rc)
        if rc >= 2.0:
            assert np.allclose(dropped + t_far, t_mom, rtol=0.10)
        # and the dropped rate is bounded by its r_c^-3 tail within 10 % (rate converges fast)
        rate_drop = tail.kernel(v_big[r_big > rc]).sum()
        assert rate_drop < 1.1 * tail.continuum_tail(1.0, rc)[0] + 1e-12 or rc < 2.0


def test_tail_correction_for_random_positions_matches_a_long_cutoff():
    """Random positions: the corrected D at r_c = 2 n^(-1/3) equals the D of the same sample
    with r_c = 5 n^(-1/3) (uncorrected: 10 % short) within 2 %."""
    from spindiff.physics.spins import positions as pos
    from spindiff.physics.spins import tail
    region = pos.Region.box(9.0, True)
    x = pos.place("random", 1.0, region, seed=4, min_distance=0.5).positions
    c2 = tail.sample_correction(x, 1.0, 2.0, region.boxsize, sample=700)
    c5 = tail.sample_correction(x, 1.0, 4.0, region.boxsize, sample=700)
    assert np.allclose(c2.full_moment, c5.full_moment, rtol=0.02)
    assert np.all(c2.kept_moment < 0.85 * c2.full_moment)


# --- the rate equations through the PETSc step system and the stepper ----------------------

def _sim(case, initial=None):
    from mpi4py import MPI

    from spindiff.spins.simulation import SpinSimulation
    return SpinSimulation(case, comm=MPI.COMM_SELF, initial=initial)


def test_two_spins_exchange_exactly(tmp_path):
    """Two nuclei and nothing else: p1 - p2 decays as exp(-2 W t), p1 + p2 is constant."""
    # XYZ coordinates are in angstrom: 2.5 nm from the centre, 0.3 nm apart along B0
    xyz = write_xyz(tmp_path / "two.xyz", [("H", (25.0, 0.0, 0.0)), ("H", (25.0, 0.0, 3.0))])
    case = spins_case({"source.C6": "0 nm^6/s", "relaxation.C6": "0 nm^6/s",
                       "protocol.stages.0.microwaves": False, "protocol.stages.0.duration": "0.02 s",
                       "spins": {"lattice": "file", "file": str(xyz), "exclusion_radius": "0 nm",
                                 "cutoff": "3.5 nm", "tail": "none"},
                       "solver": {"rtol": 1e-8, "atol": 1e-10}})
    sim = _sim(case, initial=lambda x: np.where(x[2] > 0.1, -0.5, 0.5))
    W = -sim.system.A.getValue(0, 1)
    assert W > 100  # a real flip-flop rate (1/s)
    times = (0.05 / W, 0.3 / W, 1.0 / W)
    p = []
    for t in times:
        sim.advance_to(t)
        p.append(sim.P.array.copy())
    for t, q in zip(times, p):
        assert q.sum() == pytest.approx(0.0, abs=1e-13)
        diff = q[np.argmax(q)] - q[np.argmin(q)]
        # BDF2 at rtol = 1e-8: a global error of a few 1e-6 over 40 steps
        assert diff == pytest.approx(1.0 * math.exp(-2 * W * t), rel=1e-5)


def test_uniform_lattice_is_the_discrete_diffusion_equation():
    """A simple-cubic periodic lattice with nearest neighbours only: the Fourier mode
    cos(2 pi x / L) decays at exactly 2 W_x (1 - cos(2 pi a / L)), W_x the rate of the
    in-plane bonds (the z bonds are 4 times stronger: (3 cos^2 - 1)^2)."""
    case = spins_case({"geometry": {"kind": "box", "side": "4 nm", "periodic": True},
                       "centres": {"placement": "none", "barrier": "none"},
                       "source": {"model": "region", "rate": "0 1/s", "radius": "0.1 nm",
                                  "polarization": 0.5},
                       "materials.m.nuclear_density": "15.625 nm^-3",  # a = 0.4 nm, 10 cells
                       "protocol.stages.0.microwaves": False,
                       "protocol.stages.0.duration": "0.05 s",
                       "spins": {"lattice": "sc", "cutoff": "0.45 nm", "tail": "none"},
                       "solver": {"rtol": 1e-8, "atol": 1e-10}})
    L, a = 4.0, 0.4
    sim = _sim(case, initial=lambda x: 0.5 * np.cos(2 * np.pi * x[0] / L))
    from spindiff.physics.spins.couplings import nuclear_prefactor
    d = nuclear_prefactor("1H") * (-1.0) / (2 * a ** 3)
    wx = d * d / (2 * 2 * math.pi * 11e3)
    lam = 2 * wx * (1 - math.cos(2 * math.pi * a / L))
    x = sim.sample.x[:, 0]
    for t in (0.01, 0.05):
        sim.advance_to(t)
        exact = 0.5 * np.cos(2 * np.pi * x / L) * math.exp(-lam * t)
        assert np.max(np.abs(sim.P.array - exact)) < 1e-5 * 0.5  # BDF2 at rtol = 1e-8


def test_conservation_without_sources_and_relaxation():
    """Sources and relaxation off: sum_j p_j is constant to round-off, whatever the couplings
    (a random glass around a centre with its hyperfine barrier)."""
    case = spins_case({"source.C6": "0 nm^6/s", "relaxation.C6": "0 nm^6/s",
                       "geometry.radius": "2.2 nm",
                       "protocol.stages.0.microwaves": False, "protocol.stages.0.duration": "5 s"})
    rng = np.random.default_rng(1)
    sim = _sim(case, initial=lambda x: rng.uniform(-0.5, 0.5, x.shape[1]))
    total = sim.P.array.sum()
    sim.advance_to(5.0)
    assert sim.P.array.sum() == pytest.approx(total, abs=1e-11 * len(sim.P.array))
    assert np.std(sim.P.array) < 0.25  # it did spread


def test_thermal_state_is_stationary_without_microwaves():
    """Detailed balance: with the microwaves off every process targets P0, so the thermal
    state stays exactly (relaxation, paramagnetic relaxation and flip-flops all on)."""
    case = spins_case({"relaxation": {"C6": "0.5 nm^6/s", "P0": "thermal"},
                       "materials.m.T1n": "100 s", "geometry.radius": "2.2 nm",
                       "protocol.initial_polarization": "thermal",
                       "protocol.stages.0.microwaves": False})
    sim = _sim(case)
    p0 = case.thermal_polarization
    # exactly stationary in the equations: A p0 = s to round-off
    from spindiff.physics.spins.operator import laplacian, rate_matrix
    rates = sim.sample.stage_rates(sim.model.stages[0])
    A = rate_matrix(laplacian(rates.builder), rates.kappa)
    residual = np.abs(A @ np.full(A.shape[0], p0) - rates.source)
    assert np.all(residual < 1e-13 * A.diagonal() * p0)  # round-off of each row's sums
    assert np.max(rates.extras["R1_para"]) > 1.0  # paramagnetic relaxation is on
    # and through the stepper within the Krylov tolerance (ksp_rtol = 1e-10)
    sim.advance_to(10.0)
    assert np.max(np.abs(sim.P.array - p0)) < 1e-9 * p0


def test_buildup_reaches_the_steady_state_of_the_rate_equations():
    """Microwaves on: the run ends at the solution of A p = s (a direct solve)."""
    import scipy.sparse.linalg as spla

    from spindiff.physics.spins.operator import laplacian, rate_matrix
    case = spins_case({"geometry.radius": "2.2 nm", "materials.m.T1n": "20 s",
                       "protocol.stages.0.duration": "400 s"})
    sim = _sim(case)
    sim.run()
    rates = sim.sample.stage_rates(sim.model.stages[0])
    p = spla.spsolve(rate_matrix(laplacian(rates.builder), rates.kappa).tocsc(), rates.source)
    assert np.max(np.abs(sim.P.array - p)) < 1e-4


# --- bad input ----------------------------------------------------------------------------

def test_too_many_nuclei_is_one_line():
    from spindiff.errors import CaseError
    with pytest.raises(CaseError, match=r"materials.m.nuclear_density .*1e\+07"):
        spins_case({"geometry.radius": "1000 nm"})


def test_overlapping_spins_missing_file_one_line_no_folder(tmp_path):
    import subprocess

    from conftest import subprocess_env, venv_bin
    bad = write_xyz(tmp_path / "bad.xyz", [("H", (10.0, 0.0, 0.0)), ("H", (10.05, 0.0, 0.0))])
    import tomli_w

    from conftest import BASE_CASE
    for name, spins in (("overlap", {"lattice": "file", "file": str(bad)}),
                        ("missing", {"lattice": "file", "file": str(tmp_path / "none.xyz")})):
        raw = {**BASE_CASE, **{"mesh": {"model": "spins"}, "spins": spins,
                               "conditions": SPINS["conditions"]}}
        path = tmp_path / f"{name}.toml"
        path.write_text(tomli_w.dumps(raw))
        out = tmp_path / f"out_{name}"
        proc = subprocess.run([venv_bin("spindiff"), "run", str(path), "--out", str(out),
                               "--quiet"], capture_output=True, text=True, env=subprocess_env())
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("spindiff: error:") and "spins.file" in lines[0]
        assert ("apart" in lines[0]) == (name == "overlap")
        assert not out.exists() and not (tmp_path / f"out_{name}.partial").exists()


# --- kinetic Monte Carlo ------------------------------------------------------------------

def test_kmc_mean_follows_the_rate_equations():
    """Nuclei around a centre with its source, relaxation and hyperfine barrier: the mean of
    600 kMC trajectories agrees with exp(-A t) p0 + ... (the rate equations, solved exactly
    with scipy's expm_multiply) within 4 standard errors at every output, for the sample
    average and for 99 % of the individual nuclei."""
    from scipy.sparse.linalg import expm_multiply, spsolve

    from spindiff.model import transport_model
    from spindiff.physics.spins import kmc
    from spindiff.physics.spins.operator import laplacian, rate_matrix
    from spindiff.spins.sample import SpinSample
    case = spins_case({"geometry.radius": "1.4 nm", "materials.m.nuclear_density": "8 nm^-3",
                       "source.C6": "0.5 nm^6/s", "materials.m.T1n": "2 s",
                       "protocol.initial_polarization": 0.0})
    model = transport_model(case)
    sample = SpinSample(case, model)
    rates = sample.stage_rates(model.stages[0])
    L = laplacian(rates.builder)
    A = rate_matrix(L, rates.kappa).tocsc()
    p_inf = spsolve(A, rates.source)
    times = np.array([0.05, 0.2, 0.8])
    exact = np.array([p_inf + expm_multiply(-A * t, -p_inf) for t in times])
    tau = rates.source / rates.kappa
    res = kmc.run(kmc.pair_list(L), rates.kappa, tau, np.zeros(sample.count), times,
                  trajectories=600, seed=3, masks={"sample": np.ones(sample.count, bool)})
    assert res.events > 1e5
    z = (res.avg_mean["sample"] - exact.mean(1)) / res.avg_std["sample"]
    assert np.all(np.abs(z) < 4), z
    zn = (res.mean - exact) / np.maximum(res.stderr, 1e-12)
    assert np.mean(np.abs(zn) < 4) > 0.99
    # and the mean moved: the test is not passed by standing still
    assert exact.mean(1)[-1] > 10 * res.avg_std["sample"][-1]


# --- electron pairs (cross effect), results folder, ranks ------------------------------------

def _karabanov(changes: dict | None = None):
    from conftest import CASES
    from spindiff.case import load_case
    return load_case(CASES / "karabanov_cross_effect.toml", changes or {})


def test_pair_cross_effect_targets_and_detailed_balance():
    """Electron pairs: the nuclei polarize toward the cross-effect target
    (p_e2 - p_e1) / (1 - p_e1 p_e2) of the pair's own steady electron polarizations (the
    triple flips equalize |du d> and |ud u>), and with the microwaves off every nucleus relaxes
    to P0 (the thermal state is stationary)."""
    from mpi4py import MPI

    from spindiff.runner import model_for_case
    from spindiff.spins.sample import SpinSample
    case = _karabanov()
    model = model_for_case(case, MPI.COMM_SELF)
    sample = SpinSample(case, model)
    rates = sample.stage_rates(model.stages[0])
    p1, p2 = rates.electrons.polarization
    assert p1 < 0.1 and p2 > 0.4  # the first electron saturated, the second not
    target = (p2 - p1) / (1 - p1 * p2)
    k = rates.extras["k"]
    strong = k > 0.5 * k.max()
    tau = (rates.source - (rates.kappa - k) * model.thermal_polarization) / k
    assert np.allclose(tau[strong], target, rtol=0.05)
    assert rates.extras["eta1_min"] > 10  # the Zeeman projection holds (Karabanov eta1 >> 1)
    off = _karabanov({"protocol.stages.0.microwaves": False,
                      "protocol.stages.0.microwave_nutation": None})
    model = model_for_case(off, MPI.COMM_SELF)
    rates = SpinSample(off, model).stage_rates(model.stages[0])
    assert np.all(rates.extras["k"] == 0)
    assert np.allclose(rates.source / rates.kappa, model.thermal_polarization, rtol=1e-12)


def test_spin_diffusion_spreads_the_cross_effect():
    """Karabanov Fig. 2(e): with nuclear flip-flops the 118 protons end far more polarized
    than without them (the far ones are reached only by spin diffusion)."""
    from mpi4py import MPI

    from spindiff.spins.simulation import SpinSimulation
    short = {"protocol.stages.0.duration": "60 s", "protocol.stages.0.outputs": 6}
    on = SpinSimulation(_karabanov(short), comm=MPI.COMM_SELF).run()
    off = SpinSimulation(_karabanov({**short, "spins.flipflops": False}),
                         comm=MPI.COMM_SELF).run()
    assert on.series["P_sample"][-1] > 1.5 * off.series["P_sample"][-1] > 0


@pytest.mark.slow
def test_results_folder_fields_profile_and_resume(tmp_path):
    """A spins run writes the continuum's files plus the point cloud; a run interrupted after
    a checkpoint and resumed gives the uninterrupted time series."""
    from spindiff.io.results import read_timeseries
    from spindiff.runner import run
    case = spins_case({"geometry.radius": "2.2 nm", "output.fields": True,
                       "output.profile": True, "output.plots": True,
                       "output.checkpoint_simulated": "2 s"})
    res = run(case, out_dir=tmp_path / "a", progress=False)
    names = {p.name for p in (tmp_path / "a").iterdir()}
    assert {"timeseries.csv", "summary.json", "buildup.png", "profile.csv", "profile.png",
            "fields"} <= names
    assert (tmp_path / "a" / "fields" / "P.xdmf").is_file()
    assert res.summary["mesh"]["model"] == "spins"
    import xml.etree.ElementTree as ET

    import h5py
    grids = ET.parse(tmp_path / "a" / "fields" / "P.xdmf").getroot().findall(".//Grid/Grid")
    assert len(grids) == len(res.series["time_s"])
    last = grids[-1]
    assert float(last.find("Time").get("Value")) == pytest.approx(res.series["time_s"][-1])
    assert last.find("Topology").get("TopologyType") == "Polyvertex"
    with h5py.File(tmp_path / "a" / "fields" / "P.h5") as f:
        ref = last.find("Attribute/DataItem").text.split(":")[1]
        assert f["geometry"].shape == (res.summary["mesh"]["nuclei"], 3)
        assert np.allclose(f[ref][:], res.final_field)
    # interrupt by raising from an observer after the checkpoint at 4 s, then resume
    from spindiff.simulation import Observer

    class Stop(Observer):
        def on_row(self, sim, event, row):
            if row[0] > 4.5:
                raise KeyboardInterrupt("test")
    from spindiff.spins import simulation as spsim
    orig = spsim.SpinSimulation.__init__

    def patched(self, *a, **k):
        orig(self, *a, **k)
        self.observe(Stop())
    spsim.SpinSimulation.__init__ = patched
    try:
        with pytest.raises(KeyboardInterrupt):
            run(case, out_dir=tmp_path / "b", progress=False)
    finally:
        spsim.SpinSimulation.__init__ = orig
    assert (tmp_path / "b.partial" / "checkpoint.h5").is_file()
    run(case, out_dir=tmp_path / "b", progress=False, resume=True)
    a, b = read_timeseries(tmp_path / "a"), read_timeseries(tmp_path / "b")
    assert np.allclose(a["P_sample"], b["P_sample"], rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_two_ranks_reproduce_serial_spins(tmp_path):
    """`mpirun -n 2 spindiff run` of a spins case reproduces the serial time series (the rows
    are split over the ranks; CG + BoomerAMG solves to ksp_rtol 1e-10)."""
    import tomli_w
    from test_mpi_consistency import assert_same_series

    from conftest import BASE_CASE, run_cli
    raw = {**BASE_CASE, "mesh": {"model": "spins"}, "conditions": SPINS["conditions"],
           "geometry": {"kind": "sphere_cell", "radius": "2.2 nm"},
           "protocol": {"initial_polarization": 0.01,
                        "stages": [{"name": "buildup", "duration": "2 s", "outputs": 6}]}}
    path = tmp_path / "c.toml"
    path.write_text(tomli_w.dumps(raw))
    a = run_cli(path, tmp_path / "one", 1)
    b = run_cli(path, tmp_path / "two", 2)
    assert_same_series(a, b, rtol=1e-8)  # measured: 6e-11 on a 3,700-nucleus cell


@pytest.mark.mpi
def test_spins_collective_matches_each_rank_alone():
    """Under mpirun: the distributed run on COMM_WORLD equals a COMM_SELF run of the same case
    on every rank (same nuclei, same rows, solver tolerance)."""
    from mpi4py import MPI

    from spindiff.spins.simulation import SpinSimulation
    case = spins_case({"geometry.radius": "2.2 nm", "protocol.stages.0.duration": "5 s"})
    world = SpinSimulation(case, comm=MPI.COMM_WORLD).run()
    alone = SpinSimulation(case, comm=MPI.COMM_SELF).run()
    for key in ("P_sample", "P_visible"):
        assert np.allclose(world.series[key], alone.series[key], rtol=1e-7)


# --- what the nuclei imply for the continuum (spindiff derive) ---------------------------

def test_derived_diffusion_lattice_equals_moment_and_disorder_lowers_it():
    """On a simple-cubic lattice the grating's hydrodynamic D equals the second moment of the
    rates (every site alike) up to the grating's finite wavelength, (q a)^2 / 12 = 2 % in a box
    of 12 spacings; in a random solid close pairs exchange fast but move polarization a short
    way, so the hydrodynamic D is well below the second moment."""
    from spindiff.spins.derive import bulk_diffusion
    base = {"materials.m.nuclear_density": "6.6 nm^-3"}
    sc = bulk_diffusion(spins_case({**base, "spins": {"lattice": "sc"}}), seeds=1)
    assert np.allclose(sc["grating"], sc["D"], rtol=0.04)
    assert sc["D"][2] / sc["D"][0] == pytest.approx(2.866, rel=0.01)  # z bonds (3 - 1)^2 = 4
    rnd = bulk_diffusion(spins_case(base), seeds=1)
    assert np.all(rnd["grating"] < 0.75 * rnd["D"])
    assert rnd["grating"][2] > 1.5 * rnd["grating"][0]  # flip-flops along B0 are faster


def test_barrier_shrinks_with_the_electron_polarization():
    """Chessari's point: lower P_e (microwaves on) unblocks flip-flops near the electron, so
    the radius where W / W_inf = 1/2 moves in."""
    from spindiff.spins.derive import barrier_profile
    case = spins_case({"materials.m.nuclear_density": "6.6 nm^-3"})
    hi = barrier_profile(case, 0.999, 2e6, seeds=2, radius=4.0)
    lo = barrier_profile(case, 0.3, 2e6, seeds=2, radius=4.0)
    assert 0.6 < lo["b_half_nm"] < hi["b_half_nm"] < 2.5
