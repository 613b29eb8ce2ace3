"""Shared fixtures: a small base case, MPI-safe temporary folders."""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases"

BASE_CASE = {
    "case": {"name": "test"},
    "geometry": {"kind": "sphere_cell", "radius": "3.0 nm"},
    "centres": {"barrier_radius": "0.8 nm", "barrier": "hole", "visible_radius": "1.0 nm"},
    "materials": {"m": {"nuclear_density": "50 nm^-3", "D0": "10 nm^2/s", "T1n": "inf"}},
    "source": {"model": "volume", "C6": "4 nm^6/s", "polarization": 0.9},
    "relaxation": {"C6": "0 nm^6/s", "P0": 0.01},
    "protocol": {"initial_polarization": 0.01,
                 "stages": [{"name": "buildup", "duration": "10 s", "outputs": 20}]},
    "mesh": {"model": "radial", "radial_cells": 200, "size_barrier": "0.15 nm",
             "size_bulk": "0.6 nm"},
    "solver": {"rtol": 1e-5, "atol": 1e-7},
    "output": {"plots": False},
}


def make_case(changes: dict | None = None, base: dict | None = None):
    """A validated case from BASE_CASE with dotted-key `changes` (None deletes a key)."""
    from spindiff.case import Case
    from spindiff.case.dotted import apply_changes
    return Case.from_dict(apply_changes(copy.deepcopy(base or BASE_CASE), changes or {}))


@pytest.fixture(scope="session")
def derived_cache(tmp_path_factory):
    """A cache folder (SPINDIFF_CACHE) that the tests of shipped cases with "derived" keys
    share, so that the costly bulk diffusion tensor of their material (spindiff.spins.resolve)
    is computed once per session, in a folder that starts empty."""
    return str(tmp_path_factory.mktemp("derived-cache"))


@pytest.fixture
def shared_tmp(tmp_path):
    """A temporary folder with the same path on every MPI rank (rank 0's)."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    return Path(comm.bcast(str(tmp_path), root=0))


def venv_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def mpirun(n: int) -> list[str]:
    """An mpirun prefix for n ranks; idle ranks yield the core (OpenMPI 5 busy-waits otherwise
    when oversubscribed)."""
    return ["mpirun", "--allow-run-as-root", "--oversubscribe",
            "--mca", "mpi_yield_when_idle", "1", "-n", str(n)]


def subprocess_env() -> dict:
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("OMPI_", "PMIX_", "PMI_")):
            env.pop(key)
    return env


def run_cli(case, out, ranks: int = 1, sets: list[str] | None = None) -> dict:
    """`[mpirun -n ranks] spindiff run case --out out --quiet [sets]` in a subprocess; asserts
    success and returns the time series of the results folder."""
    import subprocess

    from spindiff.io.results import read_timeseries
    cmd = [venv_bin("spindiff"), "run", str(case), "--out", str(out), "--quiet", *(sets or [])]
    if ranks > 1:
        cmd = mpirun(ranks) + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return read_timeseries(out)


def pytest_configure(config):
    """Under mpirun only rank 0 reports (every rank runs every collective test; a failure on
    any rank still fails the run through the exit code)."""
    try:
        from mpi4py import MPI
    except ImportError:  # pragma: no cover
        return
    if MPI.COMM_WORLD.size > 1 and MPI.COMM_WORLD.rank > 0:
        sys.stdout = open(os.devnull, "w")
        config.option.color = "no"
