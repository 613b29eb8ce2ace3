"""Sweeps over MPI groups, kill -9 and resume, collective field output (docs/guide/hpc.md)."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import CASES, mpirun, subprocess_env, venv_bin

SWEEP_CASE = """
[case]
name = "tiny_sweep"
[geometry]
kind = "sphere_cell"
radius = "2.5 nm"
[centres]
barrier_radius = "0.8 nm"
[materials.m]
nuclear_density = "50 nm^-3"
D0 = "5 nm^2/s"
T1n = "100 s"
[source]
C6 = "4 nm^6/s"
polarization = 0.9
[relaxation]
P0 = 0.01
[protocol]
initial_polarization = 0.01
[[protocol.stages]]
name = "buildup"
duration = "20 s"
outputs = 15
[mesh]
size_barrier = "0.25 nm"
size_bulk = "0.6 nm"
order = 1
[output]
plots = false
[sweep]
parameters = { "materials.m.D0" = ["2 nm^2/s", "20 nm^2/s"] }
"""


def _cli(args, n=1, timeout=600, **kw):
    cmd = [venv_bin("spindiff"), *args]
    if n > 1:
        cmd = mpirun(n) + cmd
    return subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(),
                          timeout=timeout, **kw)


@pytest.mark.slow
def test_sweep_on_two_ranks_matches_serial_runs(tmp_path):
    from spindiff.io.results import read_timeseries
    case = tmp_path / "sweep.toml"
    case.write_text(SWEEP_CASE)
    proc = _cli(["sweep", str(case), "--out", str(tmp_path / "sw"), "--quiet"], n=2)
    assert proc.returncode == 0, proc.stderr
    assert "2 variants" in proc.stdout and "variants/min" in proc.stdout
    info = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert info["groups"] == 2 and len(info["variants"]) == 2
    groups = {json.loads((tmp_path / "sw" / "variants" / v / "variant.json").read_text())["group"]
              for v in ("v000", "v001")}
    assert groups == {0, 1}  # the two variants ran side by side
    for label, d0 in (("v000", "2 nm^2/s"), ("v001", "20 nm^2/s")):
        serial = _cli(["run", str(case), "--out", str(tmp_path / label), "--quiet",
                       "--set", f'materials.m.D0="{d0}"'])
        assert serial.returncode == 0, serial.stderr
        a = read_timeseries(tmp_path / "sw" / "variants" / label)
        b = read_timeseries(tmp_path / label)
        diff = np.max(np.abs(a["P_sample"] - b["P_sample"]))
        print(f"sweep variant {label} vs its serial run: max difference {diff:.1e}")
        assert diff < 1e-12
    assert (tmp_path / "sw" / "sweep.png").is_file()
    rows = (tmp_path / "sw" / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("variant,materials.m.D0,P_final")


@pytest.mark.slow
def test_sweep_resume_skips_finished_variants(tmp_path):
    import shutil
    case = tmp_path / "sweep.toml"
    case.write_text(SWEEP_CASE)
    assert _cli(["sweep", str(case), "--out", str(tmp_path / "sw"), "--quiet"]).returncode == 0
    shutil.rmtree(tmp_path / "sw" / "variants" / "v001")
    proc = _cli(["sweep", str(case), "--out", str(tmp_path / "sw"), "--quiet"])
    assert proc.returncode == 0, proc.stderr
    assert "v000 (materials.m.D0=2 nm^2/s): done before, skipped" in proc.stdout
    assert "v001 (materials.m.D0=20 nm^2/s) done in" in proc.stdout


def test_bad_sweep_variant_is_one_line(tmp_path):
    case = tmp_path / "sweep.toml"
    case.write_text(SWEEP_CASE.replace('["2 nm^2/s", "20 nm^2/s"]', '["2 nm^2/s", "-1 nm^2/s"]'))
    proc = _cli(["sweep", str(case), "--out", str(tmp_path / "sw")])
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "sweep variant 1" in err[0] and "must be > 0" in err[0]


def _kill_after_checkpoint(cmd, partial, extra_rows=2, timeout=120):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env())
    deadline = time.time() + timeout
    ckpt = partial / "checkpoint.h5"
    rows_at = None
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            n = len((partial / "timeseries.csv").read_text().splitlines())
            rows_at = rows_at or n
            if n >= rows_at + extra_rows:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    if cmd[0] == "mpirun":
        subprocess.run(["pkill", "-9", "-f", str(partial.with_suffix(""))], check=False)
    proc.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("ranks", [1, 2])
def test_kill9_and_resume_reproduces_the_run(tmp_path, ranks):
    """A run killed (SIGKILL) after a checkpoint and resumed with --resume gives the
    uninterrupted run's time series to 1e-10; nothing already written is lost."""
    from spindiff.io.results import read_timeseries
    text = (CASES / "default.toml").read_text()
    text = text.replace('size_barrier = "0.08 nm"', 'size_barrier = "0.25 nm"').replace(
        "rtol = 1e-4", "rtol = 1e-6").replace("atol = 1e-6", "atol = 1e-8").replace(
        "outputs = 60", "outputs = 80").replace(
        "[output]\nfields = false", '[output]\ncheckpoint_simulated = "2 s"\nfields = true')
    case = tmp_path / "kill.toml"
    case.write_text(text)
    ref = _cli(["run", str(case), "--out", str(tmp_path / "ref"), "--quiet"], n=ranks)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "res"
    cmd = [venv_bin("spindiff"), "run", str(case), "--out", str(out), "--quiet"]
    if ranks > 1:
        cmd = mpirun(ranks) + cmd
    _kill_after_checkpoint(cmd, tmp_path / "res.partial")
    assert not out.exists() and (tmp_path / "res.partial" / "checkpoint.h5").exists()
    resumed = _cli(["run", str(case), "--resume", str(out), "--quiet"], n=ranks)
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_timeseries(tmp_path / "ref"), read_timeseries(out)
    assert np.array_equal(a["time_s"], b["time_s"])
    diff = max(np.max(np.abs(a[k] - b[k])) for k in ("P_sample", "P_visible"))
    print(f"kill -9 and resume on {ranks} rank(s): max difference to the uninterrupted run {diff:.1e}")
    assert diff < 1e-10
    assert not (tmp_path / "res.partial").exists()
    assert (out / "fields" / "P.xdmf").is_file() and (out / "fields" / "P.resumed1.xdmf").is_file()
    again = _cli(["run", str(case), "--resume", str(out), "--quiet"], n=ranks)
    assert again.returncode == 0 and "nothing to resume" in again.stdout


def test_resume_without_checkpoint_is_one_line(tmp_path):
    proc = _cli(["run", str(CASES / "default.toml"), "--resume", str(tmp_path / "none")])
    assert proc.returncode == 2 and "nothing to resume" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.mpi
def test_field_output_is_collective_and_exact(shared_tmp):
    """The XDMF field (written collectively on a linear copy of the curved mesh) holds the P1
    values at the vertices."""
    import h5py
    from mpi4py import MPI

    from conftest import make_case
    from spindiff.fem.operators import Discretization
    from spindiff.mesh import compat
    from spindiff.model import transport_model
    from spindiff.simulation import build_domain
    case = make_case({"mesh.model": "3d", "mesh.size_barrier": "0.2 nm"})
    disc = Discretization(build_domain(case, MPI.COMM_WORLD), transport_model(case))
    disc.P.interpolate(lambda x: 0.1 * x[0] + 0.2 * x[1] - 0.05 * x[2])
    path = shared_tmp / "f" / "P.xdmf"
    w = compat.FieldWriter(MPI.COMM_WORLD, str(path), disc.P)
    w.write(1.0)
    w.close()
    if MPI.COMM_WORLD.rank == 0:
        with h5py.File(path.with_suffix(".h5")) as f:
            x = f["Mesh/mesh/geometry"][:]
            group = f["Function/P"]
            vals = group[list(group.keys())[0]][:].ravel()
        assert vals.size == x.shape[0]
        assert np.max(np.abs(vals - (0.1 * x[:, 0] + 0.2 * x[:, 1] - 0.05 * x[:, 2]))) < 1e-12
