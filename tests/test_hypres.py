"""Electron-polarization-controlled diffusion in the solver and the HypRes protocol."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from conftest import CASES, run_cli, subprocess_env, venv_bin

HYPRES = CASES / "hypres_tempol.toml"
SHORT = {"protocol.stages.0.duration": "200 s", "protocol.stages.2.duration": "100 s"}


def resurgence(series):
    sel = series["stage"] == "resurgence"
    t = series["time_s"][sel] - series["time_s"][sel][0]
    return t, series["P_visible"][sel], series["P_sample"][sel]


def test_stage_electron_polarizations():
    from spindiff.case import load_case
    from spindiff.model import transport_model
    m = transport_model(load_case(HYPRES))
    pe = {s.name: s.electron_polarization for s in m.stages}
    assert pe["wait"] == pytest.approx(0.9993, abs=2e-4)  # thermal, g = 2.006, 7.05 T, 1.2 K
    assert pe["resurgence"] == pe["wait"]
    assert pe["dnp"] == pytest.approx(0.5, abs=0.01)       # 50 mW with 70.8 Hz/sqrt(mW)


@pytest.mark.mpi
def test_resurgence_speeds_up_as_electron_polarization_drops():
    """Microwaves on during the resurgence (source off) lower P_e: the visible polarization
    resurges faster, and more so the lower P_e (radial reduction)."""
    from spindiff.analysis.fits import time_to_fraction
    from spindiff.case import load_case
    from spindiff.model import transport_model
    from spindiff.runner import run
    rows = []
    for power in (None, "5 mW", "20 mW", "50 mW", "118 mW"):
        ov = {**SHORT, "mesh.model": "radial"}
        if power:
            ov.update({"protocol.stages.2.microwaves": True, "protocol.stages.2.source": False,
                       "protocol.stages.2.microwave_power": power})
        case = load_case(HYPRES, ov)
        pe = transport_model(case).stages[2].electron_polarization
        t, pv, _ = resurgence(run(case, progress=False).series)
        peak = int(np.argmax(pv))
        rows.append((pe, time_to_fraction(t[: peak + 1], pv[: peak + 1], 0.5),
                     time_to_fraction(t[: peak + 1], pv[: peak + 1], 0.9)))
    for pe, t50, t90 in rows:
        print(f"P_e = {pe:.4f}: resurgence t50 = {t50:.3g} s, t90 = {t90:.3g} s")
    pes, t50s, t90s = map(np.array, zip(*rows))
    assert np.all(np.diff(pes) < 0)          # more power, lower P_e
    assert np.all(np.diff(t90s) < 0)         # ... faster resurgence
    assert np.all(np.diff(t50s) < 0)
    assert t90s[0] / t90s[-1] > 5            # thermal P_e quenches diffusion near the radical


@pytest.mark.slow
@pytest.mark.mpi
def test_hypres_3d_matches_radial():
    from spindiff.case import load_case
    from spindiff.runner import run
    case = load_case(HYPRES, {**SHORT, "mesh.size_bulk": "0.4 nm"})
    r3 = run(case, progress=False)
    r1 = run(case, mesh_model="radial", progress=False)
    for key in ("P_sample", "P_visible"):
        a, b = r3.series[key], r1.series[key]
        diff = np.max(np.abs(a - b)) / np.max(np.abs(b))
        sel = r1.series["stage"] == "resurgence"
        dres = np.max(np.abs(a[sel] - b[sel])) / np.max(np.abs(b[sel]))
        print(f"HypRes {key}: max |3D - radial| / max = {diff:.2e} over the protocol, "
              f"{dres:.2e} in the resurgence ({r3.summary['mesh']['dofs']} dofs)")
        assert diff < 5e-3 and dres < 5e-3


@pytest.mark.mpi
@pytest.mark.parametrize("width", ["0 nm", "0.1 nm"])
def test_saturation_keeps_the_hidden_magnetization(width):
    """Right after the saturation the total equals what the hidden spins held before it."""
    from mpi4py import MPI

    from spindiff.case import load_case
    from spindiff.fem.events import FieldEvents
    from spindiff.fem.observables import Observables
    from spindiff.fem.operators import Discretization
    from spindiff.mesh import compat
    from spindiff.model import transport_model
    from spindiff.simulation import build_domain
    case = load_case(HYPRES, {"mesh.model": "radial", "centres.saturation_width": width})
    model = transport_model(case)
    disc = Discretization(build_domain(case, MPI.COMM_WORLD), model)
    observables, events = Observables.of(disc), FieldEvents.of(disc)
    disc.P.interpolate(lambda x: 0.7 * np.exp(-np.abs(x[0]) / 1.5))
    P = compat.petsc_vector(disc.P)
    before = observables.averages(P)
    chi = events.saturation_profile()
    hidden_before = compat.assemble_scalar(compat.form(
        disc.n * (1 - chi) * disc.P * disc.weight * disc.dx), disc.comm)
    events.saturate("visible", P)
    after = observables.averages(P)
    total_after = after["sample"] * observables.totals["sample"]
    print(f"width {width}: hidden magnetization {hidden_before:.6e}, total after {total_after:.6e}, "
          f"visible {before['visible']:.4f} -> {after['visible']:.2e}")
    assert total_after == pytest.approx(hidden_before, rel=1e-10)
    assert after["visible"] < 0.15 * before["visible"]


@pytest.mark.slow
def test_hypres_two_ranks_match_serial(tmp_path):
    sets = ["--set", 'protocol.stages.0.duration="50 s"', "--set", 'protocol.stages.2.duration="20 s"',
            "--set", 'mesh.size_barrier="0.1 nm"', "--set", 'mesh.size_bulk="0.5 nm"']
    out = {n: run_cli(HYPRES, tmp_path / f"r{n}", n, sets) for n in (1, 2)}
    for key in ("P_sample", "P_visible"):
        diff = np.max(np.abs(out[1][key] - out[2][key]))
        print(f"HypRes 3D: {key} max |1 rank - 2 ranks| = {diff:.2e}")
        assert diff < 1e-8


@pytest.mark.slow
def test_plot_diffusion_command(tmp_path):
    proc = subprocess.run([venv_bin("spindiff"), "plot-diffusion", str(HYPRES), "--out",
                           str(tmp_path / "d")], capture_output=True, text=True,
                          env=subprocess_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "d" / "diffusion_family.png").stat().st_size > 10000
    lines = (tmp_path / "d" / "diffusion_family.csv").read_text().splitlines()
    assert lines[0].startswith("r_nm,D_nm2_per_s_Pe=0,")
    assert "D(r_h; P_e = 0.5023) / D(r_h; P_e = 0.9993) = 6.9" in proc.stdout


def test_electron_settings_are_validated():
    from spindiff.case import load_case
    from spindiff.errors import CaseError
    with pytest.raises(CaseError, match="microwave_nutation, microwave_power or electron_polarization"):
        load_case(HYPRES, {"protocol.stages.0.microwave_power": None})
    with pytest.raises(CaseError, match="give at most one"):
        load_case(HYPRES, {"protocol.stages.0.electron_polarization": 0.3})
    with pytest.raises(CaseError, match="needs an \\[electron\\] table"):
        load_case(CASES / "default.toml", {"centres.barrier": "physical"})
