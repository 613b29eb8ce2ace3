"""Nothing a user has is ever lost: output folders, locks, resume checks, interruption (SIGINT,
SIGTERM, kill -9, serial and under mpirun), a full disk, strict JSON.

Every scenario checks the user's files byte for byte afterwards. In-process CLI calls keep the
quick ones quick; signals and concurrency need real processes.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from conftest import BASE_CASE, mpirun, subprocess_env, venv_bin


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256 (or 'dir')} of everything under root."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def write_case(folder: Path, changes: dict | None = None, name: str = "case.toml") -> Path:
    raw = copy.deepcopy(BASE_CASE)
    for key, value in (changes or {}).items():
        node = raw
        parts = key.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        node[parts[-1]] = value
    path = folder / name
    path.write_text(tomli_w.dumps(raw))
    return path


def cli(capsys, *argv: str) -> tuple[int, list[str]]:
    """spindiff in this process: (exit code, stderr lines)."""
    from spindiff.cli import main
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def assert_one_line_error(code: int, err: list[str], *fragments: str) -> None:
    assert code == 2, (code, err)
    assert len(err) == 1 and err[0].startswith("spindiff: error:"), err
    for frag in fragments:
        assert frag in err[0], err[0]


# --- output folders ------------------------------------------------------------------------

def test_existing_foreign_folder_is_never_touched(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path)
    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "notes.txt").write_text("irreplaceable")
    (mine / "sub").mkdir()
    (mine / "sub" / "x.bin").write_bytes(os.urandom(100))
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"]):
        code, err = cli(capsys, "run", case, "--out", mine, "--quiet", *extra)
        assert_one_line_error(code, err, "mydata", "not a spindiff run folder")
        assert snapshot(tmp_path) == before


def test_existing_file_as_out_is_refused_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path)
    (tmp_path / "out.txt").write_text("a file")
    before = snapshot(tmp_path)
    code, err = cli(capsys, "run", case, "--out", "out.txt", "--quiet", "--overwrite")
    assert_one_line_error(code, err, "out.txt exists and is not a folder")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("out", [".", "..", "/"])
def test_unusable_out_names(tmp_path, capsys, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path)
    (tmp_path / "keep.txt").write_text("keep")
    before = snapshot(tmp_path)
    code, err = cli(capsys, "run", case, "--out", out, "--quiet", "--overwrite")
    assert code == 2 and len(err) == 1, err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", [".", "..", "a/b", "../up", "x" * 101, "-dash", ""])
def test_unsafe_case_names_rejected_by_check_and_run(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path, {"case.name": name})
    before = snapshot(tmp_path)
    for cmd in (["check", case], ["run", case, "--quiet"]):
        code, err = cli(capsys, *cmd)
        assert_one_line_error(code, err, "case.name")
        assert snapshot(tmp_path) == before


def test_default_folder_not_replaced_without_overwrite(tmp_path, capsys, monkeypatch):
    """A second run (e.g. --radial after 3D) must not silently replace results/<name>."""
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path)
    code, _ = cli(capsys, "run", case, "--quiet")
    assert code == 0
    first = snapshot(tmp_path)
    code, err = cli(capsys, "run", case, "--quiet", "--set", "materials.m.D0=\"20 nm^2/s\"")
    assert_one_line_error(code, err, "results/test/ holds earlier results", "--overwrite")
    assert snapshot(tmp_path) == first
    code, _ = cli(capsys, "run", case, "--quiet", "--overwrite", "--set",
                  "materials.m.D0=\"20 nm^2/s\"")
    assert code == 0
    marker = json.loads((tmp_path / "results" / "test" / ".spindiff.json").read_text())
    assert marker["identity"]["materials.m.D0"] == 20.0
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["test"]


def test_interrupted_partial_folder_needs_resume_or_overwrite(tmp_path, capsys, monkeypatch):
    from mpi4py import MPI

    from conftest import make_case
    from spindiff.io.folders import OutputFolder
    from spindiff.io.identity import case_identity
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path)
    folder = OutputFolder(tmp_path / "out", MPI.COMM_WORLD, "run", case_identity(make_case()))
    folder.abort("interrupted")  # as a kill would leave it: marker, no checkpoint, unlocked
    before = snapshot(tmp_path)
    code, err = cli(capsys, "run", case, "--out", "out", "--quiet")
    assert_one_line_error(code, err, "out.partial/ holds an interrupted run", "--resume out")
    assert snapshot(tmp_path) == before
    # no checkpoint yet: --resume starts again in the same folder and finishes
    code, _ = cli(capsys, "run", case, "--resume", "out", "--quiet")
    assert code == 0
    assert (tmp_path / "out" / "summary.json").is_file()
    assert not (tmp_path / "out.partial").exists()


def test_ctrl_c_before_the_first_row_says_nothing_was_kept(tmp_path, capsys, monkeypatch):
    """Ctrl-C while meshing: the claimed folder held nothing and is removed, and the one line
    says so (not that a folder keeps rows to resume from)."""
    import spindiff.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(spindiff.runner, "_simulation", interrupted)
    case = write_case(tmp_path)
    code, err = cli(capsys, "run", case, "--out", "out", "--quiet")
    assert code == 130
    assert err == ["spindiff: error: interrupted by SIGINT; nothing had been written yet, and no "
                   "results folder is left"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.toml"]


def test_locked_folder_refused_with_one_line(tmp_path, capsys, monkeypatch):
    from mpi4py import MPI

    from conftest import make_case
    from spindiff.io.folders import OutputFolder
    from spindiff.io.identity import case_identity
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path)
    holder = OutputFolder(tmp_path / "out", MPI.COMM_WORLD, "run", case_identity(make_case()))
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"]):
        code, err = cli(capsys, "run", case, "--out", "out", "--quiet", *extra)
        assert code == 2 and len(err) == 1, err
        assert snapshot(tmp_path) == before
    code, err = cli(capsys, "run", case, "--resume", "out", "--quiet")
    assert_one_line_error(code, err, "in use by another spindiff process", str(os.getpid()))
    holder.discard()


@pytest.mark.slow
def test_two_runs_on_one_folder_at_once(tmp_path):
    """The second run gets one line; the first finishes with every row. (The first run takes
    500,000 steps of the 1D reduction, about 15 s, so it is still running when the second
    starts on a loaded machine.)"""
    case = write_case(tmp_path, {"solver.dt_max": "2e-5 s", "solver.dt_initial": "1e-5 s",
                                 "protocol.stages.0.outputs": 50})
    out = tmp_path / "out"
    cmd = [venv_bin("spindiff"), "run", str(case), "--out", str(out), "--quiet"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=subprocess_env())
    deadline = time.time() + 120
    while not (tmp_path / "out.partial" / "timeseries.csv").exists():
        assert time.time() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.05)
    second = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by another spindiff process" in lines[0], lines
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    rows = (out / "timeseries.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 51
    assert json.loads((out / "summary.json").read_text())["status"] == "complete"


@pytest.mark.slow
def test_resume_refuses_a_changed_case(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path, {"solver.dt_max": "1e-2 s", "output.checkpoint_simulated": "1 s"})
    out = tmp_path / "out"
    proc, _ = _interrupted_run(case, out, signal.SIGTERM, min_rows=6)
    assert proc.returncode == 128 + signal.SIGTERM
    before = snapshot(tmp_path)
    code, err = cli(capsys, "run", case, "--resume", out, "--quiet", "--set",
                    "materials.m.D0=\"50 nm^2/s\"")
    assert_one_line_error(code, err, "materials.m.D0 (10.0 -> 50.0)")
    assert snapshot(tmp_path) == before
    changed = write_case(tmp_path, {"solver.dt_max": "1e-2 s", "mesh.radial_cells": 100},
                         name="other.toml")
    before = snapshot(tmp_path)
    code, err = cli(capsys, "run", changed, "--resume", out, "--quiet")
    assert_one_line_error(code, err, "mesh.radial_cells (200 -> 100)")
    assert snapshot(tmp_path) == before


# --- interruption --------------------------------------------------------------------------

def open_mpi_major() -> int:
    out = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"Open MPI\)?\s+(\d+)\.", out)
    return int(match.group(1)) if match else 0


def _interrupted_run(case: Path, out: Path, sig: int, min_rows: int, ranks: int = 1,
                     extra: tuple[str, ...] = (), after_checkpoint: bool = False,
                     group: bool = False):
    """Start `spindiff run`, send `sig` once timeseries.csv has min_rows rows (and, with
    `after_checkpoint`, a checkpoint exists) to the process, or with `group` to its whole
    process group (as a terminal's Ctrl-C does); returns (finished process, stderr)."""
    cmd = [venv_bin("spindiff"), "run", str(case), "--out", str(out), "--quiet", *extra]
    if ranks > 1:
        cmd = mpirun(ranks) + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env(), start_new_session=True)
    csv_path = out.with_name(out.name + ".partial") / "timeseries.csv"
    deadline = time.time() + 300
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        ready = not after_checkpoint or (csv_path.parent / "checkpoint.h5").exists()
        if ready and csv_path.exists() and len(csv_path.read_text().splitlines()) > min_rows:
            break
        time.sleep(0.02)
    if group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=300)
    assert not out.exists(), "the run finished before the signal reached it: make it longer"
    return proc, err


def assert_resume_reproduces(case: Path, out: Path, reference: Path, ranks: int = 1,
                             rtol: float = 1e-9) -> None:
    """--resume the interrupted run in `out` and compare it, row by row, with an uninterrupted
    run of the same case in `reference`."""
    resumed = _resume(case, out, ranks=ranks)
    full = _uninterrupted(case, reference, ranks=ranks)
    assert np.array_equal(resumed["time_s"], full["time_s"])
    np.testing.assert_allclose(resumed["P_sample"], full["P_sample"], rtol=rtol, atol=0)


def _uninterrupted(case: Path, out: Path, ranks: int = 1) -> dict:
    from conftest import run_cli
    return run_cli(case, out, ranks=ranks)


def _resume(case: Path, out: Path, ranks: int = 1) -> dict:
    from spindiff.io.results import read_timeseries
    cmd = [venv_bin("spindiff"), "run", str(case), "--resume", str(out), "--quiet"]
    if ranks > 1:
        cmd = mpirun(ranks) + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return read_timeseries(out)


SLOW_RADIAL = {"solver.dt_max": "1e-3 s", "protocol.stages.0.outputs": 40,
               "protocol.stages.0.spacing": "linear"}  # thousands of steps after row 5


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_and_resumes_exactly(tmp_path, sig):
    case = write_case(tmp_path, SLOW_RADIAL)
    out = tmp_path / "out"
    proc, err = _interrupted_run(case, out, sig, min_rows=5)
    assert proc.returncode == 128 + sig, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spindiff: error: interrupted by "
                                                   f"{signal.Signals(sig).name}"), err
    assert "--resume" in lines[0]
    partial = tmp_path / "out.partial"
    assert (partial / "checkpoint.h5").is_file()
    assert "interrupted by" in (partial / "STATUS").read_text()
    rows_then = len((partial / "timeseries.csv").read_text().splitlines())
    time.sleep(0.5)
    assert len((partial / "timeseries.csv").read_text().splitlines()) == rows_then  # stopped
    assert_resume_reproduces(case, out, tmp_path / "full")


@pytest.mark.slow
def test_kill9_loses_at_most_the_checkpoint_interval(tmp_path):
    """kill -9 leaves the last checkpoint (written every output.checkpoint_wall); the resumed
    run reproduces the uninterrupted one."""
    case = write_case(tmp_path, {**SLOW_RADIAL, "output.checkpoint_wall": "0.2 s",
                                 "solver.dt_max": "2e-4 s", "solver.dt_initial": "1e-4 s"})
    out = tmp_path / "out"
    proc, _ = _interrupted_run(case, out, signal.SIGKILL, min_rows=12, after_checkpoint=True)
    assert proc.returncode == -signal.SIGKILL
    partial = tmp_path / "out.partial"
    assert (partial / "checkpoint.h5").is_file()
    assert_resume_reproduces(case, out, tmp_path / "full")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigterm-to-mpirun", "ctrl-c-to-the-group"])
def test_interrupt_under_mpirun_then_resume_on_two_ranks(tmp_path, how):
    """Slurm's SIGTERM reaches mpirun, which forwards it; a terminal's Ctrl-C reaches mpirun
    and every rank at once (and mpirun forwards it again). Either way every rank stops at the
    same step with a checkpoint and a STATUS note, and one message; resumed on 2 ranks the run
    reproduces the uninterrupted one. (Open MPI 5's mpirun stops relaying the ranks' output
    once it is signalled: there the message is only in STATUS.)"""
    # linear outputs and small steps: thousands of steps are still to come when the signal
    # arrives, however fast the machine. A direct solver makes every linear solve independent
    # of the preconditioner history, which the checkpoint at the signal resets (with AMG the
    # resumed run would differ at the Krylov tolerance, not reproduce the run exactly)
    case = write_case(tmp_path, {"mesh.model": "3d", "mesh.size_barrier": "0.4 nm",
                                 "mesh.size_bulk": "1.0 nm", "solver.dt_max": "0.01 s",
                                 "solver.linear_solver": "direct",
                                 "protocol.stages.0.duration": "20 s",
                                 "protocol.stages.0.spacing": "linear",
                                 "protocol.stages.0.outputs": 40})
    out = tmp_path / "out"
    sig = signal.SIGTERM if how.startswith("sigterm") else signal.SIGINT
    proc, err = _interrupted_run(case, out, sig, min_rows=5, ranks=2, group="group" in how)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("spindiff:")]
    assert "Traceback" not in err
    partial = tmp_path / "out.partial"
    assert (partial / "checkpoint.h5").is_file() and (partial / "STATUS").is_file()
    assert (partial / "STATUS").read_text().startswith("interrupted by SIG")
    if open_mpi_major() < 5:
        assert len(lines) == 1 and "interrupted by SIG" in lines[0], err
    else:
        assert len(lines) <= 1
    assert_resume_reproduces(case, out, tmp_path / "full", ranks=2, rtol=1e-8)


# --- a full disk ---------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (needs root, as CI and the set-up have)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        # only a real full file system gives ENOSPC; making one needs root (CI and the set-up
        # run as root, so there this test always runs)
        pytest.skip(f"a full disk needs a tmpfs mount, which needs root: {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("fields", [False, True], ids=["csv", "csv+xdmf"])
def test_full_disk_gives_one_line_and_a_resumable_folder(small_disk, tmp_path, fields):
    case = write_case(tmp_path, {**SLOW_RADIAL, "output.checkpoint_simulated": "0.5 s",
                                 "protocol.stages.0.outputs": 400, "output.fields": fields})
    out = small_disk / "out"
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # leave room for the marker and a few rows, not for 400
        f.write(b"\0" * (2 * 1024 * 1024 - 64 * 1024))
    proc = subprocess.run([venv_bin("spindiff"), "run", str(case), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on the device" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    partial = small_disk / "out.partial"
    assert partial.is_dir() and not out.exists()
    filler.unlink()
    assert_resume_reproduces(case, out, tmp_path / "full")


# --- well-formed outputs -------------------------------------------------------------------

def _strict(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_summary_is_strict_json_with_a_reason_for_null(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path, {"relaxation.P0": 0.0, "protocol.initial_polarization": 0.0})
    code, _ = cli(capsys, "run", case, "--out", "out", "--quiet")
    assert code == 0
    summary = _strict((tmp_path / "out" / "summary.json").read_text())
    assert summary["final"]["enhancement"] is None
    assert "P0 is 0" in summary["final"]["enhancement_note"]


def test_f_max_reached_counts_accepted_states_only():
    """A reckless first step makes Newton try iterates near the cap f = 100; the report is the
    largest f of accepted states, bounded by f(P_src) (maximum principle)."""
    from test_corrected_diffusion import CORRECTED

    from conftest import make_case
    from spindiff.runner import run
    p_src = 0.999
    case = make_case({**CORRECTED, "source.polarization": p_src,
                      "protocol.initial_polarization": 0.0, "relaxation.P0": 0.0,
                      "protocol.stages.0.duration": "40 s", "protocol.stages.0.outputs": 4,
                      "protocol.stages.0.spacing": "linear", "solver.dt_initial": "10 s"})
    res = run(case, progress=False)
    assert res.summary["time_stepping"]["rejected_solver"] >= 1
    f_src = 1.0 / np.sqrt(1.0 - p_src**2)
    reached = res.summary["diffusion"]["f_max_reached"]
    assert 0.9 * f_src < reached <= f_src * (1 + 1e-6), (reached, f_src)


def test_importing_gmsh_keeps_the_ctrl_c_handler():
    """Gmsh 4.8's Python API resets SIGINT to the default action when first imported: a Ctrl-C
    at the start of meshing then ended a run without its message and left its .partial
    folder. spindiff imports gmsh through compat.import_gmsh, which keeps the handler."""
    code = ("import signal, sys\n"
            "h = lambda *a: None\n"
            "signal.signal(signal.SIGINT, h)\n"
            "from spindiff.mesh import compat\n"
            "signal.signal(signal.SIGINT, h)\n"
            "compat.import_gmsh()\n"
            "sys.exit(0 if signal.getsignal(signal.SIGINT) is h else 1)\n")
    proc = subprocess.run([venv_bin("python"), "-c", code], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
