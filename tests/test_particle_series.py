"""`spindiff particle-series`: T_B and enhancement against particle size with the 1D reduction;
T_B of a large particle approaches the diffusion-limited law (Crank's series fitted the same
way), the shipped series runs in under a minute and writes its table and figure."""
from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import pytest

from conftest import CASES, make_case, subprocess_env, venv_bin

SERIES = CASES / "particle_size_series.toml"


def test_surface_limited_mean_is_crank():
    """The large-particle limit used by the figure: Crank's sphere series without T1,
    1 - 6/pi^2 sum exp(-n^2 pi^2 D t / R^2) / n^2, and its early-time law 6 sqrt(D t / pi) / R."""
    from spindiff.particle_series import surface_limited_mean
    R, D = 100.0, 10.0
    t = np.array([1e-3, 1e-2, 0.1, 1.0, 10.0]) * R**2 / D
    n = np.arange(1, 20001)
    crank = 1 - 6 / np.pi**2 * (np.exp(-np.outer(t, n**2) * np.pi**2 * D / R**2) / n**2).sum(axis=1)
    got = surface_limited_mean("sphere", R, D, float("inf"), t)
    assert np.allclose(got, crank, atol=1e-6)
    early = 6 * np.sqrt(D * t[0] / np.pi) / R - 3 * D * t[0] / R**2
    assert got[0] == pytest.approx(early, rel=1e-3)


def test_series_table_and_large_particle_limit(tmp_path):
    from spindiff.case import load_case
    from spindiff.particle_series import read_info, run_series
    case = load_case(SERIES)
    info = run_series(case, [20.0, 500.0, 10_000.0], tmp_path / "ps")
    rows = read_info(tmp_path / "ps")["rows"]
    assert [r["R_p_nm"] for r in rows] == [20.0, 500.0, 10_000.0] == [r["R_p_nm"] for r in info["rows"]]
    tb = [r["T_B_particle_s"] for r in rows]
    ratio = [r["T_B_particle_s"] / r["T_B_diffusion_limited_s"] for r in rows]
    print("T_B particle", tb, "ratio to the diffusion-limited fit", ratio)
    assert tb[0] < tb[1] < tb[2]
    # approaches the diffusion-limited law from above (interface and matrix resistance)
    assert ratio[0] > ratio[1] > ratio[2] > 1.0 and ratio[2] < 1.3
    # the matrix hardly notices the particles; every run converged in space
    assert max(r["T_B_matrix_s"] for r in rows) < 1.3 * min(r["T_B_matrix_s"] for r in rows)
    assert max(r["spatial_error"] for r in rows) < 1e-2
    for name in ("particle_series.csv", "particle_series.png"):
        assert (tmp_path / "ps" / name).stat().st_size > 0


def test_series_needs_a_particle():
    from spindiff.errors import CaseError
    from spindiff.particle_series import run_series
    with pytest.raises(CaseError, match="geometry.kind"):
        run_series(make_case(), [10.0])


@pytest.mark.slow
def test_shipped_series_under_a_minute(tmp_path):
    out = tmp_path / "series"
    t0 = time.perf_counter()
    proc = subprocess.run([venv_bin("spindiff"), "particle-series", str(SERIES), "--out", str(out),
                           "--quiet"], capture_output=True, text=True, env=subprocess_env(),
                          timeout=300)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "particle_series.json").read_text())
    print(proc.stdout, f"wall {wall:.1f} s")
    assert len(info["rows"]) == 10  # wall time: benchmarks, not tests (about 3 s)
    assert (out / "particle_series.png").stat().st_size > 10_000


def test_three_d_sizes_follow_the_particle_when_the_case_gives_none():
    """`particle-series --3d` on a case without 3D sizes: fractions of each particle size (a
    1 um particle in 3D with 1 um / 10 along its surface); given sizes scale with it."""
    from spindiff.case import load_case
    from spindiff.particle_series import THREE_D_SIZES, size_case
    c = size_case(load_case(SERIES), 1000.0, "3d")
    assert c.mesh.model == "3d"
    assert c.mesh.size_interface == pytest.approx(THREE_D_SIZES["size_interface"] * 1000.0)
    assert c.mesh.size_bulk == pytest.approx(500.0)
    micro = load_case(CASES / "microcrystal.toml")
    c2 = size_case(micro, 500.0, "3d")
    assert c2.mesh.size_particle == pytest.approx(2 * micro.mesh.size_particle)
