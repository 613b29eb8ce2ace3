"""The results folder contract (docs/reference/results.md): files, columns, summary keys, atomic finish."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import CASES, make_case, subprocess_env, venv_bin


@pytest.mark.slow
@pytest.mark.mpi
def test_run_writes_complete_folder(shared_tmp):
    from mpi4py import MPI

    from spindiff.io.results import read_timeseries
    from spindiff.runner import run
    case = make_case({"mesh.model": "3d", "mesh.size_barrier": "0.2 nm", "output.fields": True,
                      "output.plots": True})
    out = shared_tmp / "res"
    res = run(case, out_dir=out, progress=False)
    MPI.COMM_WORLD.barrier()
    assert res.out_dir == out
    for name in ("case.toml", "timeseries.csv", "summary.json", "buildup.png",
                 "fields/P.xdmf", "fields/P.h5"):
        assert (out / name).is_file(), name
    assert not out.with_name("res.partial").exists()
    ts = read_timeseries(out)
    assert list(ts) == ["time_s", "P_sample", "P_visible", "enhancement", "stage"]
    assert ts["time_s"][0] == 0.0 and ts["time_s"][-1] == pytest.approx(10.0, abs=0)
    assert np.all(np.diff(ts["time_s"]) > 0)
    s = json.loads((out / "summary.json").read_text())
    for key in ("spindiff_version", "case", "status", "thermal_polarization", "final", "fits",
                "mesh", "time_stepping", "linear_solver", "wall_time_s", "ranks", "versions"):
        assert key in s, key
    assert s["status"] == "complete"
    assert s["ranks"] == MPI.COMM_WORLD.size
    # the ranks' peaks summed: at least the interpreter with DOLFINx on every rank
    assert 50 * MPI.COMM_WORLD.size < s["peak_memory_MB"] < 20_000
    assert set(s["versions"]) >= {"spindiff", "dolfinx", "petsc"}
    assert s["fits"]["buildup"]["mono"]["T_B_s"] > 0
    assert s["final"]["P"]["sample"] == pytest.approx(ts["P_sample"][-1])


@pytest.mark.mpi
def test_saturation_event_and_resurgence():
    """HypRes-like protocol: buildup, then saturate the visible spins with the source off; the
    visible polarization restarts at 0 and resurges from the hidden reservoir."""
    from spindiff.runner import run
    case = make_case({
        "materials.m.D0": "0.5 nm^2/s",
        "protocol.stages": [
            {"name": "dnp", "duration": "20 s", "outputs": 10},
            {"name": "resurgence", "duration": "5 s", "microwaves": False,
             "saturate": "visible", "outputs": 20, "spacing": "linear"},
        ]})
    res = run(case, progress=False)
    ts = res.series
    stage = ts["stage"]
    first = np.nonzero(stage == "resurgence")[0][0]
    assert ts["time_s"][first] == pytest.approx(20.0)
    assert ts["time_s"][first - 1] == pytest.approx(20.0)
    # the sharp-edge saturation keeps the hidden magnetization exactly; the P1 field leaves an
    # O(h) residual in the visible average next to r_h (radial cells ~1e-3 nm there)
    assert abs(ts["P_visible"][first]) < 2e-3 * ts["P_visible"][first - 1]
    assert ts["P_sample"][first] > 0.01  # the hidden spins kept their polarization
    vis = ts["P_visible"][first:]
    assert np.all(np.diff(vis) > -1e-12) and vis[-1] > 0.2 * ts["P_sample"][first]
    # no source, no relaxation: magnetization is conserved during the resurgence
    samp = ts["P_sample"][first:]
    assert np.max(np.abs(samp - samp[0])) < 1e-8


@pytest.mark.slow
def test_interrupted_run_keeps_rows(tmp_path):
    """SIGINT during a run: one-line message, exit 130, rows already computed stay in
    DIR.partial with a STATUS note, and no DIR is created."""
    text = (CASES / "takeda_pulsed.toml").read_text()
    text = text.replace('duration = "600 s"', 'duration = "1e5 s"').replace("outputs = 120", "outputs = 100000")
    case = tmp_path / "long.toml"
    case.write_text(text)
    out = tmp_path / "res"
    proc = subprocess.Popen([venv_bin("spindiff"), "run", str(case), "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env())
    partial = tmp_path / "res.partial" / "timeseries.csv"
    deadline = time.time() + 120
    while time.time() < deadline:
        if partial.exists() and len(partial.read_text().splitlines()) > 5:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists()
    assert (tmp_path / "res.partial" / "STATUS").read_text().startswith("interrupted by SIGINT at t =")
    assert len(partial.read_text().splitlines()) > 5


def test_cli_names_every_file_it_wrote(tmp_path):
    """The closing "results:" line lists the folder's files, the radial profile's included."""
    out = tmp_path / "res"
    proc = subprocess.run(
        [venv_bin("spindiff"), "run", str(CASES / "default.toml"), "--radial", "--out", str(out),
         "--quiet", "--set", "output.profile=true", "--set", "output.profile_bins=8",
         "--set", 'protocol.stages.0.duration="5 s"'],
        capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("results:")][-1]
    listed = line.split("(", 1)[1].rstrip(")").split(", ")
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert listed == files
    assert {"profile.csv", "profile.png", "timeseries.csv", "summary.json"} <= set(listed)
