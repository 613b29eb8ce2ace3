"""`mpirun -n 2 spindiff run` reproduces the serial time series of the default case to 1e-8."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import CASES, run_cli


def assert_same_series(a: dict, b: dict, rtol: float = 1e-8) -> None:
    """Equal output times and every column within rtol (relative) between two runs."""
    assert np.array_equal(a["time_s"], b["time_s"])
    for key in a:
        if key not in ("stage", "time_s"):
            diff = np.max(np.abs(a[key] - b[key]) / np.maximum(np.abs(a[key]), 1e-300))
            print(f"{key}: max relative difference 1 vs 2 ranks {diff:.2e}")
            assert diff < rtol, key


@pytest.mark.slow
def test_two_ranks_reproduce_serial(tmp_path):
    import json
    a = run_cli(CASES / "default.toml", tmp_path / "serial", 1)
    b = run_cli(CASES / "default.toml", tmp_path / "two", 2)
    assert list(a) == list(b)
    assert_same_series(a, b)
    s1 = json.loads((tmp_path / "serial" / "summary.json").read_text())
    s2 = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert (s1["ranks"], s2["ranks"]) == (1, 2)
    assert s1["mesh"]["dofs"] == s2["mesh"]["dofs"]
    assert s1["time_stepping"]["accepted"] == s2["time_stepping"]["accepted"]


def test_two_ranks_reproduce_serial_periodic_quadratic(tmp_path):
    """The same on a periodic box of 6 centres with quadratic elements (the periodic
    constraint pairs edge-midpoint dofs as well as vertices)."""
    sets = ["--set", "mesh.element_degree=2", "--set", 'mesh.size_barrier="0.4 nm"',
            "--set", 'mesh.size_bulk="1.2 nm"', "--set", 'protocol.stages.0.duration="10 s"']
    a = run_cli(CASES / "many_centres_box.toml", tmp_path / "serial", 1, sets)
    b = run_cli(CASES / "many_centres_box.toml", tmp_path / "two", 2, sets)
    assert_same_series(a, b)


def test_runs_on_two_ranks_repeat_bit_for_bit(tmp_path):
    """Two runs of one case on 2 ranks give the same time series to the last bit: the mesh is
    partitioned the same way every time (PT-SCOTCH with one thread per rank; with its default
    threads the partition, and the series by about 1e-10, changed from run to run). No
    wall-clock checkpoint: one restarts the preconditioner (as a resumed run does), which moves
    the later numbers by the Krylov tolerance, and a run on a loaded machine may take a minute."""
    sets = ["--set", 'mesh.size_barrier="0.25 nm"', "--set", 'protocol.stages.0.duration="20 s"',
            "--set", 'output.checkpoint_wall="inf"']
    a = run_cli(CASES / "default.toml", tmp_path / "a", 2, sets)
    b = run_cli(CASES / "default.toml", tmp_path / "b", 2, sets)
    for key in a:
        assert np.array_equal(a[key], b[key]), key


@pytest.mark.mpi
def test_a_mesh_is_partitioned_alike_every_time():
    """Building one domain several times in a process gives the same cells on every rank."""
    from mpi4py import MPI

    from spindiff.case import load_case
    from spindiff.simulation import build_domain
    case = load_case(CASES / "default.toml", {"mesh.size_barrier": "0.25 nm"})
    first = None
    for _ in range(3):
        d = build_domain(case, MPI.COMM_WORLD)
        cells = np.asarray(d.mesh.topology.original_cell_index).copy()
        same = first is None or np.array_equal(cells, first)
        assert MPI.COMM_WORLD.allreduce(bool(same), op=MPI.LAND)
        first = cells if first is None else first
