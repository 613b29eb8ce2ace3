"""Issue 16: the units people write (B0 as an NMR frequency, absolute microwave frequencies,
the nuclear table), "did you mean" for unknown keys, validated copies, the long profile.csv,
RunResult data frames, rate-limited progress, and `spindiff plot` redrawing a results folder
from its files. Derivations: tests/README.md."""
from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from spindiff import units
from spindiff.case import load_case
from spindiff.errors import CaseError
from spindiff.physics import nuclei
from spindiff.physics.constants import HBAR, K_B, MU_B, nuclear_thermal_polarization

CASES = Path(__file__).resolve().parents[1] / "cases"
TWO_PI = 2.0 * math.pi


# --- nuclear table ----------------------------------------------------------------------------

def test_nuclear_table_values_from_harris_2001():
    """Table 1 of Harris et al. (2001), gamma in 1e7 rad/s/T, spin, abundance (%)."""
    al = nuclei.NUCLEI["27Al"]
    assert (al.gamma, al.spin, al.abundance) == (6.9762715e7, 2.5, 100.0)
    si = nuclei.NUCLEI["29Si"]
    assert (si.gamma, si.spin, si.abundance) == (-5.3190e7, 0.5, 4.6832)
    assert nuclei.NUCLEI["119Sn"].gamma == -10.0317e7
    assert nuclei.NUCLEI["6Li"].spin == 1.0
    assert nuclei.NUCLEI["17O"].spin == 2.5
    # the proton from CODATA (scipy) agrees with Table 1 (26.7522128e7) to 3e-7
    assert nuclei.NUCLEI["1H"].gamma == pytest.approx(26.7522128e7, rel=3e-7)
    for name in ("1H", "2H", "3He", "6Li", "7Li", "9Be", "11B", "13C", "14N", "15N", "17O", "19F",
                 "23Na", "27Al", "29Si", "31P", "33S", "35Cl", "39K", "43Ca", "51V", "55Mn",
                 "63Cu", "65Cu", "67Zn", "71Ga", "77Se", "89Y", "93Nb", "111Cd", "113Cd",
                 "117Sn", "119Sn", "125Te", "129Xe", "133Cs", "195Pt", "199Hg", "205Tl", "207Pb"):
        assert name in nuclei.NUCLEI


def test_nucleus_names_aliases_and_suggestions():
    assert nuclei.lookup("Al27").name == "27Al"
    assert nuclei.lookup("al-27").name == "27Al"
    assert nuclei.lookup("D").name == "2H"
    with pytest.raises(ValueError, match="did you mean 27Al"):
        nuclei.lookup("27Alx")


# --- B0 as an NMR frequency -----------------------------------------------------------------

def test_field_from_proton_frequency_is_2pi_f_over_gamma():
    g1h = abs(nuclei.NUCLEI["1H"].gamma)
    assert units.parse_field("400 MHz") == pytest.approx(TWO_PI * 400e6 / g1h, rel=1e-14)
    assert units.parse_field("400 MHz 1H") == units.parse_field("400 MHz")
    g13c = abs(nuclei.NUCLEI["13C"].gamma)
    assert units.parse_field("100.6 MHz 13C") == pytest.approx(TWO_PI * 100.6e6 / g13c, rel=1e-14)
    assert units.parse_field("7.05 T") == 7.05
    with pytest.raises(units.UnitParseError, match="did you mean"):
        units.parse_field("400 MHz 1Hh")
    with pytest.raises(units.UnitParseError, match="wrong units"):
        units.parse_field("5 nm")


def test_case_with_b0_frequency_and_a_new_nucleus():
    """B0 = "600 MHz" with 29Si: P0 = tanh(hbar |gamma_29Si| B0 / (2 k T)), B0 from 1H."""
    case = load_case(CASES / "default.toml", {"conditions.B0": "600 MHz",
                                              "conditions.nucleus": "Si29",
                                              "materials.glass.nucleus": "29Si"})
    b0 = TWO_PI * 600e6 / abs(nuclei.NUCLEI["1H"].gamma)
    assert case.conditions.B0 == pytest.approx(b0, rel=1e-14)
    assert case.conditions.nucleus == "29Si"
    expected = math.tanh(HBAR * 5.3190e7 * b0 / (2 * K_B * 1.2))
    assert case.thermal_polarization == pytest.approx(expected, rel=1e-12)
    assert nuclear_thermal_polarization("29Si", b0, 1.2) == pytest.approx(expected, rel=1e-12)


def test_unknown_nucleus_in_a_case_is_one_line_with_a_suggestion():
    with pytest.raises(CaseError) as err:
        load_case(CASES / "default.toml", {"conditions.nucleus": "13CC"})
    text = str(err.value)
    assert "conditions.nucleus" in text and "did you mean 13C" in text and "\n" not in text


# --- absolute microwave frequency ----------------------------------------------------------

def test_microwave_frequency_becomes_the_offset_from_g_iso():
    """offset = f_mw - g mu_B B0 / h with the [electron] g (2.006) and B0 (7.05 T)."""
    base = load_case(CASES / "hypres_tempol.toml")
    f_e = 2.006 * MU_B * 7.05 / (TWO_PI * HBAR)
    f_mw = round(f_e / 1e6) * 1e6 + 3e6      # a frequency 2.5 ... 3.5 MHz above the line
    case = base.with_changes({"protocol.stages.0.microwave_frequency": f"{float(f_mw / 1e9)!r} GHz"})
    assert case.protocol.stages[0].microwave_offset == pytest.approx(f_mw - f_e, abs=1e-3)
    assert case.protocol.stages[1].microwave_offset == 0.0
    with pytest.raises(CaseError, match="not both"):
        base.with_changes({"protocol.stages.0.microwave_frequency": "197.9 GHz",
                           "protocol.stages.0.microwave_offset": "1 MHz"})
    with pytest.raises(CaseError, match="within 5 %"):
        base.with_changes({"protocol.stages.0.microwave_frequency": "263 GHz"})


def test_microwave_frequency_needs_a_g():
    with pytest.raises(CaseError) as err:
        load_case(CASES / "default.toml", {"protocol.stages.0.microwave_frequency": "197 GHz"})
    assert "protocol.stages[0].microwave_frequency" in str(err.value)
    assert "[agent] or [electron]" in str(err.value)


# --- unknown keys and validated copies -------------------------------------------------------

def test_misspelt_key_is_named_with_a_suggestion_not_the_missing_one():
    case = load_case(CASES / "default.toml")
    with pytest.raises(CaseError) as err:
        case.with_changes({"materials.glass.D0": None, "materials.glass.D_0": "5 nm^2/s"})
    text = str(err.value)
    assert text.startswith("materials.glass.D_0 = ")
    assert "unknown key (did you mean 'D0'?)" in text
    with pytest.raises(CaseError, match="did you mean 'temperature'"):
        case.with_changes({"conditions.temprature": "1 K"})
    with pytest.raises(CaseError) as err:  # nothing close: no guess
        case.with_changes({"materials.glass.colour": "red"})
    assert "did you mean" not in str(err.value)


def test_model_copy_cannot_bypass_validation():
    case = load_case(CASES / "default.toml")
    with pytest.raises(TypeError, match="with_changes"):
        case.solver.model_copy(update={"rtol": -1.0})
    with pytest.raises(TypeError, match="with_changes"):
        case.model_copy(update={"solver": None})
    assert case.model_copy().solver.rtol == case.solver.rtol
    with pytest.raises(CaseError, match="solver.rtol"):
        case.with_changes({"solver.rtol": -1.0})


# --- progress ------------------------------------------------------------------------------

class _Rank0:
    rank = 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_a_few_times_a_second():
    """10000 steps in well under a second: a handful of redraws, not 10000."""
    from spindiff.io.progress import Progress
    out = _Terminal()
    bar = Progress(_Rank0(), 100.0, "x", stream=out, refresh=0.25)
    for i in range(10000):
        bar.update(100.0 * i / 10000, "dt=1e-3 s")
    bar.close()
    redraws = out.getvalue().count("\r")
    assert 1 <= redraws <= 12, redraws
    assert len(out.getvalue()) < 3000


def test_progress_writes_periodic_lines_when_not_a_terminal():
    from spindiff.io.progress import Progress
    out = io.StringIO()
    bar = Progress(_Rank0(), 10.0, "x", stream=out, interval=0.0)
    for i in range(5):
        bar.update(float(i + 1))
    assert out.getvalue().count("\n") == 5 and "\r" not in out.getvalue()
    assert "t = 5 s of 10 s (50 %), 5 steps" in out.getvalue()


# --- results files and figures ---------------------------------------------------------------

def _fake_run(folder: Path, profile: bool = True) -> dict:
    """A two-stage results folder written by hand (with the marker of a spindiff run folder):
    buildup, then a saturation and decay."""
    from spindiff.io.folders import write_marker
    folder.mkdir()
    write_marker(folder, "run", {"case": "fake"}, overwrite=False)
    t1 = np.geomspace(0.1, 100.0, 20)
    t2 = np.linspace(5.0, 50.0, 10)
    rows = [(0.0, 0.01, 0.01, "dnp")]
    rows += [(t, 0.8 - 0.79 * math.exp(-t / 10), 0.8 - 0.79 * math.exp(-t / 10), "dnp") for t in t1]
    rows += [(100.0, 0.40, 0.02, "decay")]
    rows += [(100.0 + t, 0.40 - 0.1 * (1 - math.exp(-t / 20)), 0.35, "decay") for t in t2]
    with open(folder / "timeseries.csv", "w") as f:
        f.write("time_s,P_sample,P_visible,enhancement,stage\n")
        for t, p, v, s in rows:
            f.write(f"{float(t)!r},{float(p)!r},{float(v)!r},{float(p / 0.01)!r},{s}\n")
    fits = {"dnp": {"mono": {"P_inf": 0.8, "T_B_s": 10.0, "rms": 1e-9}, "stretched": None,
                    "P_start": 0.01, "source_on": True},
            "decay": {"mono": {"P_inf": 0.3, "T_B_s": 20.0, "rms": 1e-9}, "stretched": None,
                      "P_start": 0.40, "source_on": False}}
    stages = [{"name": "dnp", "start_s": 0.0, "end_s": 100.0, "saturate": "none",
               "spacing": "log", "source_on": True},
              {"name": "decay", "start_s": 100.0, "end_s": 150.0, "saturate": "visible",
               "spacing": "linear", "source_on": False}]
    summary = {"case": "fake", "thermal_polarization": 0.01, "fits": fits, "stages": stages}
    (folder / "summary.json").write_text(json.dumps(summary))
    if profile:
        radii = [0.5, 1.0, 1.5, 2.0]
        with open(folder / "profile.csv", "w") as f:
            f.write("time_s,r_nm,P\n")
            for t, *_ in rows:
                for r in radii:
                    f.write(f"{float(t)!r},{float(r)!r},{float(0.1 * r + t / 1000)!r}\n")
    return {"rows": rows}


def test_read_profile_long_and_wide(tmp_path):
    from spindiff.io.results import read_profile
    info = _fake_run(tmp_path / "r")
    prof = read_profile(tmp_path / "r")
    times = np.array([r[0] for r in info["rows"]])
    assert prof["P"].shape == (len(times), 4)
    np.testing.assert_array_equal(prof["time_s"], times)
    np.testing.assert_array_equal(prof["r_nm"], [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(prof["P"], 0.1 * prof["r_nm"][None, :] + times[:, None] / 1000,
                               rtol=0, atol=1e-15)
    wide = tmp_path / "wide.csv"
    wide.write_text("time_s,r_0.5_nm,r_1_nm\n0.0,0.1,0.2\n2.0,0.3,0.4\n")
    old = read_profile(wide)
    np.testing.assert_array_equal(old["r_nm"], [0.5, 1.0])
    np.testing.assert_array_equal(old["P"], [[0.1, 0.2], [0.3, 0.4]])


def test_log_spacing_is_detected():
    from spindiff.figure_style import is_log_spaced
    assert is_log_spaced(np.geomspace(0.12, 120, 60))
    assert not is_log_spaced(np.linspace(2, 120, 60))
    assert not is_log_spaced(np.geomspace(1, 10, 60))  # one decade: linear is fine


def test_event_is_a_break_not_a_vertical_line():
    """Two rows at the same time (a saturation) are drawn with a gap (NaN) between them."""
    from spindiff.figure_style import pyplot
    from spindiff.io import plots
    series = {"time_s": np.array([0.0, 1.0, 2.0, 2.0, 3.0]),
              "P_sample": np.array([0.0, 0.5, 0.6, 0.1, 0.2]), "stage": np.array(["a"] * 5)}
    fig, ax = pyplot().subplots()
    plots._curves(ax, series["time_s"], series, np.ones(5, bool), [], log=False)
    x = ax.get_lines()[0].get_xdata()
    assert np.isnan(x[3]) and len(x) == 6
    pyplot().close(fig)


def test_spindiff_plot_redraws_from_the_files(tmp_path, capsys):
    from spindiff.cli import main
    folder = tmp_path / "run"
    _fake_run(folder)
    assert main(["plot", str(folder), "--format", "png,pdf"]) == 0
    for name in ("buildup.png", "buildup.pdf", "profile.png", "profile.pdf"):
        data = (folder / name).read_bytes()
        assert len(data) > 5000
        assert data[:4] == (b"\x89PNG" if name.endswith("png") else b"%PDF")
    assert main(["plot", str(folder), "--what", "buildup", "--format", "svg"]) == 0
    assert (folder / "buildup.svg").read_text().lstrip().startswith("<?xml")
    capsys.readouterr()
    bare = tmp_path / "bare"
    _fake_run(bare, profile=False)
    assert main(["plot", str(bare), "--what", "profile"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs profile.csv" in err
    assert main(["plot", str(bare), "--format", "jpg"]) == 2
    assert "allowed: png, pdf, svg" in capsys.readouterr().err


def test_to_dataframe_without_pandas_is_one_line(monkeypatch):
    from spindiff.simulation import RunResult
    monkeypatch.setitem(sys.modules, "pandas", None)
    result = RunResult({"time_s": np.zeros(2)}, {})
    with pytest.raises(ImportError) as err:
        result.to_dataframe()
    assert "needs pandas" in str(err.value) and "\n" not in str(err.value)


def test_run_result_frames_profile_and_field(tmp_path):
    """A radial run with a profile: profile.csv in long format, RunResult.profile and the
    final field with its coordinates, and the three data frames."""
    from spindiff import run
    case = load_case(CASES / "default.toml", {
        "mesh.model": "radial", "mesh.radial_cells": 60, "output.profile": True,
        "output.profile_bins": 8, "protocol.stages.0.outputs": 6,
        "protocol.stages.0.duration": "5 s"})
    result = run(case, out_dir=tmp_path / "out", progress=False)
    folder = result.out_dir
    assert (folder / "profile.csv").read_text().splitlines()[0] == "time_s,r_nm,P"
    assert {p.name for p in folder.iterdir()} >= {"buildup.png", "profile.png", "summary.json"}
    assert [s["name"] for s in result.summary["stages"]] == ["buildup"]
    assert result.profile["P"].shape == (7, 8)
    np.testing.assert_array_equal(result.profile["time_s"], result.series["time_s"])
    assert result.coordinates.shape == (result.final_field.size, 3)
    r = result.coordinates[:, 0]
    assert r.min() == pytest.approx(case.barrier_radius) and r.max() == pytest.approx(case.cell_radius)
    frame = result.to_dataframe()
    assert list(frame.columns) == list(result.series)
    np.testing.assert_array_equal(frame["P_sample"].to_numpy(), result.series["P_sample"])
    long = result.to_dataframe("profile")
    assert list(long.columns) == ["time_s", "r_nm", "P"] and len(long) == 7 * 8
    np.testing.assert_array_equal(long["P"].to_numpy(), result.profile["P"].ravel())
    field = result.to_dataframe("field")
    assert len(field) == result.final_field.size


def test_spindiff_plot_leaves_a_users_folder_alone(tmp_path, capsys):
    """A folder spindiff did not make (no marker) gets one line and keeps its files, even with
    a timeseries.csv and summary.json in it; a damaged results file is one line too."""
    from spindiff.cli import main
    mine = tmp_path / "mine"
    _fake_run(mine)
    (mine / ".spindiff.json").unlink()
    (mine / "buildup.png").write_text("my own figure")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    assert main(["plot", str(mine)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a results folder made by spindiff" in err
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    damaged = tmp_path / "damaged"
    _fake_run(damaged, profile=False)
    (damaged / "timeseries.csv").write_text("time_s,P_sample\n0,0.1\n1,0.2\n")
    assert main(["plot", str(damaged)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot draw 'buildup'" in err
