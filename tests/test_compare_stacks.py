"""scripts/compare_stacks.py (the cross-stack comparison in CI) passes results that agree
within its tolerance and fails, naming the quantity, on a time series, a fitted buildup time
or a missing case beyond it."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_stacks.py"


def _module():
    spec = importlib.util.spec_from_file_location("compare_stacks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results(folder: Path, scale: float = 1.0, T_B: float = 5.0, P0: float = 0.0,
             T_B_stderr: float = 0.004, bi: dict | None = None) -> None:
    """A results folder with a buildup curve P(t) = 0.8 (1 - exp(-t / T_B)) * scale and its
    enhancement P / P0 (nan throughout for P0 = 0, as spindiff writes it); the mono-exponential
    fit's T_B and its standard error, and a bi-exponential fit `bi` when given."""
    folder.mkdir(parents=True)
    t = np.linspace(0.0, 20.0, 11)
    P = 0.8 * (1.0 - np.exp(-t / T_B)) * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = P / P0 if P0 else np.full_like(P, np.nan)
    lines = ["time_s,P_sample,enhancement,stage"] + [
        f"{float(a)!r},{float(b)!r},{float(e)!r},buildup" for a, b, e in zip(t, P, eps)]
    (folder / "timeseries.csv").write_text("\n".join(lines) + "\n")
    summary = {"versions": {"dolfinx": "x", "petsc": "y", "gmsh": "z"},
               "mesh": {"cells": 10, "dofs": 5},
               "final": {"P": {"sample": float(P[-1])}},
               "fits": {"buildup": {"mono": {"T_B_s": T_B, "T_B_stderr_s": T_B_stderr,
                                              "P_inf": 0.8, "determined": True}}}}
    if bi is not None:
        summary["fits"]["buildup"]["bi"] = bi
    (folder / "summary.json").write_text(json.dumps(summary))


def _run(tmp_path: Path, monkeypatch, *args: str) -> int:
    monkeypatch.setattr("sys.argv", ["compare_stacks.py", str(tmp_path), *args])
    return _module().main()


def test_agreeing_stacks_pass(tmp_path, monkeypatch, capsys):
    _results(tmp_path / "host" / "case")
    _results(tmp_path / "sid" / "case", scale=1 + 2e-4, T_B=5.0 * (1 + 3e-4))
    _results(tmp_path / "trixie" / "case", scale=1 - 1e-4)
    assert _run(tmp_path, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "case host vs sid" in out and "case sid vs trixie" in out
    assert "passed" in out.splitlines()[-1]


def test_a_difference_beyond_the_tolerance_fails_and_is_named(tmp_path, monkeypatch, capsys):
    _results(tmp_path / "host" / "case")
    _results(tmp_path / "sid" / "case", T_B=5.0 * (1 + 3e-3))
    assert _run(tmp_path, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "FAILED case host vs sid: fits.buildup.mono.T_B_s differs by 3.00e-03" in out
    assert "FAILED case host vs sid: P_sample" in out
    assert _run(tmp_path, monkeypatch, "--tolerance", "1e-2") == 0


def test_a_column_undefined_on_both_is_left_out_and_on_one_fails(tmp_path, monkeypatch, capsys):
    _results(tmp_path / "host" / "case")
    _results(tmp_path / "sid" / "case")
    assert _run(tmp_path, monkeypatch) == 0
    assert "enhancement" not in capsys.readouterr().out
    _results(tmp_path / "trixie" / "case", P0=0.01)
    assert _run(tmp_path, monkeypatch) == 1
    assert "FAILED case host vs trixie: enhancement differs by inf" in capsys.readouterr().out


def test_a_case_missing_on_a_stack_fails(tmp_path, monkeypatch, capsys):
    _results(tmp_path / "host" / "a")
    _results(tmp_path / "host" / "b")
    _results(tmp_path / "sid" / "a")
    assert _run(tmp_path, monkeypatch) == 1
    assert "FAILED b: no results on sid" in capsys.readouterr().out


def test_one_stack_alone_is_nothing_to_compare(tmp_path, monkeypatch, capsys):
    _results(tmp_path / "host" / "a")
    assert _run(tmp_path, monkeypatch) == 0
    assert "nothing to compare" in capsys.readouterr().out


def test_a_standard_error_is_compared_in_units_of_its_time(tmp_path, monkeypatch, capsys):
    """sigma(T_B) = 0.004 s against 0.0041 s: 2.5 % of itself, 2e-5 of T_B = 5 s: agree; a
    sigma 0.01 s larger (2e-3 of T_B) fails."""
    _results(tmp_path / "host" / "case")
    _results(tmp_path / "sid" / "case", T_B_stderr=0.0041)
    assert _run(tmp_path, monkeypatch) == 0
    assert "fits.buildup.mono.T_B_stderr_s 2.0e-05" in capsys.readouterr().out
    _results(tmp_path / "trixie" / "case", T_B_stderr=0.014)
    assert _run(tmp_path, monkeypatch) == 1
    assert "FAILED case host vs trixie: fits.buildup.mono.T_B_stderr_s differs by 2.00e-03" \
        in capsys.readouterr().out


def test_an_undetermined_fit_is_left_out(tmp_path, monkeypatch, capsys):
    """A bi-exponential fit whose two times coincide (determined false): its standard errors
    are arbitrary (1e5 s against 2e5 s) and not compared; a determined one is."""
    bi = {"T_B_fast_s": 5.0, "T_B_slow_s": 5.0, "T_B_fast_stderr_s": 1e5, "determined": False}
    _results(tmp_path / "host" / "case", bi=bi)
    _results(tmp_path / "sid" / "case", bi=bi | {"T_B_fast_stderr_s": 2e5})
    assert _run(tmp_path, monkeypatch) == 0
    assert "fits.buildup.bi" not in capsys.readouterr().out
    _results(tmp_path / "trixie" / "case", bi=bi | {"T_B_fast_stderr_s": 2e5, "determined": True})
    _results(tmp_path / "debian" / "case", bi=bi | {"determined": True})
    assert _run(tmp_path, monkeypatch) == 1
    assert "FAILED case debian vs trixie: fits.buildup.bi.T_B_fast_stderr_s" in capsys.readouterr().out


def test_a_fitted_time_within_a_tenth_of_its_error_agrees(tmp_path, monkeypatch, capsys):
    """A bi-exponential's fast time 0.0750 s +- 0.004 s against 0.0752 s (2.7e-3 of itself,
    a twentieth of its error) agrees; 0.0760 s (a quarter of its error) fails."""
    bi = {"T_B_fast_s": 0.075, "T_B_fast_stderr_s": 0.004, "determined": True}
    _results(tmp_path / "host" / "case", bi=bi)
    _results(tmp_path / "sid" / "case", bi=bi | {"T_B_fast_s": 0.0752})
    assert _run(tmp_path, monkeypatch) == 0
    assert "fits.buildup.bi.T_B_fast_s 0.0e+00" in capsys.readouterr().out
    _results(tmp_path / "trixie" / "case", bi=bi | {"T_B_fast_s": 0.076})
    assert _run(tmp_path, monkeypatch) == 1
    assert "FAILED case host vs trixie: fits.buildup.bi.T_B_fast_s differs by 1.33e-02" \
        in capsys.readouterr().out
