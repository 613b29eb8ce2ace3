"""The quantum rate module feeding the solver (source.model = "rates") and `spindiff rates`."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from conftest import CASES, subprocess_env, venv_bin

MN = CASES / "mn_lto_rates.toml"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    from mpi4py import MPI
    path = MPI.COMM_WORLD.bcast(str(tmp_path / "cache"), root=0)
    monkeypatch.setenv("SPINDIFF_CACHE", path)
    return path


@pytest.mark.slow
@pytest.mark.mpi
def test_solver_uses_the_rate_tables(cache):
    from mpi4py import MPI

    from spindiff import rates
    from spindiff.case import load_case
    from spindiff.model import transport_model
    from spindiff.runner import run
    case = load_case(MN, {"mesh.model": "radial", "protocol.stages.0.duration": "200 s"})
    tables = rates.tables_for_case(case, MPI.COMM_WORLD)
    table = tables["buildup"]
    model = transport_model(case, tables)
    laws = model.laws(model.stages[0])
    r = np.array([0.3, 0.5, 1.0, 2.0])
    assert np.allclose(laws.source_rate(r), table.k_of_r(r))
    assert np.allclose(laws.source_target(r), table.p_src_of_r(r))
    assert np.allclose(laws.paramagnetic_rate(r), table.r1_para_of_r(r))
    assert table.exponent_src == pytest.approx(-6.0, abs=0.1)
    res = run(case, progress=False)
    enh = res.summary["final"]["enhancement"]
    print(f"Mn(II):LTO 7Li from the rate tables: enhancement {enh:.1f} after 200 s, "
          f"C6_src {table.c6_src:.3g} nm^6/s, C6_rel {table.c6_rel:.3g} nm^6/s")
    assert enh > 10
    # the small system's own steady state bounds the continuum one
    assert res.series["P_sample"][-1] < float(np.max(table.p_src))


@pytest.mark.slow
def test_tables_are_cached(cache):
    import time
    from pathlib import Path

    from spindiff import rates
    from spindiff.case import load_case
    case = load_case(MN)
    t0 = time.perf_counter()
    rates.tables_for_case(case)
    first = time.perf_counter() - t0
    files = list(Path(cache).glob("rate_table_*.json"))
    t0 = time.perf_counter()
    again = rates.tables_for_case(case)
    second = time.perf_counter() - t0
    print(f"rate table: {first:.2f} s computed, {second:.3f} s from the cache")
    assert len(files) == 1 and second < 0.2 * first
    assert again["buildup"].c6_src > 0


@pytest.mark.slow
def test_rates_command(cache, tmp_path):
    proc = subprocess.run([venv_bin("spindiff"), "rates", str(MN), "--no-sweep", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True,
                          env={**subprocess_env(), "SPINDIFF_CACHE": cache}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "w1/2pi = 1000 kHz" in out and "R1_para (1/s)" in out and "C6 fits" in out
    assert (tmp_path / "r" / "rates_0.png").is_file()
    assert (tmp_path / "r" / "rates_0.json").is_file()


def test_rates_need_the_microwave_field():
    from spindiff.case import load_case
    from spindiff.errors import CaseError
    with pytest.raises(CaseError, match="microwave_nutation"):
        load_case(MN, {"protocol.stages.0.microwave_nutation": None})
    with pytest.raises(CaseError, match="needs \\[agent\\] and \\[conditions\\]"):
        load_case(CASES / "default.toml", {"source.model": "rates"})
