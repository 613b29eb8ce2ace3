"""The examples (examples/NN_*.py, jupytext percent-format scripts) run as plain Python files,
each in a fresh process in its own temporary folder (as the DOLFINx demos are run), shortened
by SPINDIFF_EXAMPLE_QUICK=1, and leave the figure named after the script."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, subprocess_env

pytestmark = pytest.mark.slow
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(script, tmp_path):
    env = {**subprocess_env(), "SPINDIFF_EXAMPLE_QUICK": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert (tmp_path / f"{script.stem}.png").stat().st_size > 10_000
    assert any((tmp_path / "results").iterdir())
