"""`mpirun -n 2 spindiff run` reproduces the serial time series of the default case to 1e-8."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import CASES, run_cli


@pytest.mark.slow
def test_two_ranks_reproduce_serial(tmp_path):
    import json
    a = run_cli(CASES / "default.toml", tmp_path / "serial", 1)
    b = run_cli(CASES / "default.toml", tmp_path / "two", 2)
    assert list(a) == list(b)
    assert np.array_equal(a["time_s"], b["time_s"])
    for key in a:
        if key not in ("stage", "time_s"):
            diff = np.max(np.abs(a[key] - b[key]) / np.maximum(np.abs(a[key]), 1e-300))
            print(f"{key}: max relative difference 1 vs 2 ranks {diff:.2e}")
            assert diff < 1e-8, key
    s1 = json.loads((tmp_path / "serial" / "summary.json").read_text())
    s2 = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert (s1["ranks"], s2["ranks"]) == (1, 2)
    assert s1["mesh"]["dofs"] == s2["mesh"]["dofs"]
    assert s1["time_stepping"]["accepted"] == s2["time_stepping"]["accepted"]
