"""Stage fits by DNP conventions (spindiff.analysis.fits, .stages; docs/reference/results.md): buildups
(mono, stretched, bi-exponential and the preferred one), decays (T1 toward P0 with the end
fixed, and the initial T1), HypRes resurgences on the visible signal, stages too short to
fit; the enhancement at the end of each stage in summary.json, sweeps and compare."""
from __future__ import annotations

import copy
import csv
import json

import numpy as np
import pytest

from conftest import BASE_CASE, CASES, make_case

T = np.concatenate([[0.0], np.geomspace(0.05, 200.0, 60)])  # from the stage start


def test_buildup_model_choice_on_known_curves():
    """A mono-exponential curve prefers the mono model (T_B exact); a stretched one
    (beta = 0.6) and a bi-exponential one (T 2 and 40 s, 50 % each) prefer their own, with
    the parameters recovered and standard errors given."""
    from spindiff.analysis.fits import fit_buildup
    p0, pinf = 0.01, 0.8
    mono = fit_buildup(T, pinf - (pinf - p0) * np.exp(-T / 12.0))
    assert mono["preferred"] == "mono"
    assert mono["mono"]["T_B_s"] == pytest.approx(12.0, rel=1e-6)
    assert mono["mono"]["T_B_stderr_s"] < 1e-4 and mono["mono"]["determined"]
    st = fit_buildup(T, pinf - (pinf - p0) * np.exp(-(T / 12.0) ** 0.6))
    assert st["preferred"] == "stretched"
    assert st["stretched"]["beta"] == pytest.approx(0.6, rel=1e-5)
    assert st["stretched"]["T_B_s"] == pytest.approx(12.0, rel=1e-5)
    bi = fit_buildup(T, pinf - (pinf - p0) * (0.5 * np.exp(-T / 2.0) + 0.5 * np.exp(-T / 40.0)))
    assert bi["preferred"] == "bi", bi["aicc"]
    b = bi["bi"]
    assert (b["T_B_fast_s"], b["T_B_slow_s"], b["fraction_fast"]) == pytest.approx(
        (2.0, 40.0, 0.5), rel=1e-4)


def test_decay_toward_thermal_with_and_without_a_plateau():
    """P = P0 + (P_start - P0) exp(-t / T1): T1 with the end value fixed, whether the stage
    reaches the plateau (5 T1) or covers a tenth of the way; the initial T1 agrees."""
    from spindiff.analysis.fits import fit_decay
    P0, T1 = 0.006, 1500.0
    for span, approach in ((5 * T1, 1 - np.exp(-5)), (0.105 * T1, 1 - np.exp(-0.105))):
        t = np.linspace(0, span, 31)
        f = fit_decay(t, P0 + (0.85 - P0) * np.exp(-t / T1), P0)
        assert f["T1"]["T1_s"] == pytest.approx(T1, rel=1e-6), f
        assert f["T1"]["determined"] and f["approach"] == pytest.approx(approach, rel=1e-9)
    assert f["initial"]["T1_s"] == pytest.approx(T1, rel=0.01), f["initial"]


def test_stages_too_short_or_flat_are_not_fitted():
    from spindiff.analysis.stages import fit_stage
    t = np.linspace(0, 10, 5)
    out = fit_stage("decay", t, {"sample": 0.7 - 1e-4 * t}, 0.006, [])
    assert not out["fitted"] and "5 output rows" in out["note"]
    t = np.linspace(0, 10, 11)
    out = fit_stage("decay", t, {"sample": 0.7 * np.exp(-t / 3000)}, 0.006, [])
    assert not out["fitted"] and "too short for a T1" in out["note"], out
    assert "T1" not in out and "stretched" not in out


def two_stage(T1n: str = "1500 s") -> dict:
    """A buildup then a decay of the base case (uniform T1n, no paramagnetic relaxation)."""
    raw = copy.deepcopy(BASE_CASE)
    raw["materials"]["m"]["T1n"] = T1n
    raw["mesh"]["radial_cells"] = 60
    raw["protocol"]["stages"] = [
        {"name": "buildup", "duration": "30 s", "outputs": 20},
        {"name": "decay", "duration": "300 s", "microwaves": False, "outputs": 15,
         "spacing": "linear"}]
    return raw


def test_decay_stage_gives_the_T1_it_was_made_with(tmp_path):
    """With a uniform T1n and no paramagnetic relaxation the sample decays toward P0 with
    exactly T1n whatever the diffusion: the decay stage reports T1 = 1500 s (not a
    stretched T_B), the buildup its T_B, and every stage its end enhancement."""
    from spindiff.case import Case
    from spindiff.runner import run
    res = run(Case.from_dict(two_stage()), out_dir=tmp_path / "out", progress=False)
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    decay = s["fits"]["decay"]
    assert decay["kind"] == "decay" and decay["fitted"]
    assert decay["T1"]["T1_s"] == pytest.approx(1500.0, rel=1e-3), decay["T1"]
    assert decay["T1"]["T1_stderr_s"] < 15.0
    assert "mono" not in decay and "stretched" not in decay
    build = s["fits"]["buildup"]
    assert build["kind"] == "buildup" and build["mono"]["T_B_stderr_s"] > 0
    ts = res.series
    end = ts["P_sample"][ts["stage"] == "buildup"][-1]
    stages = {st["name"]: st for st in s["stages"]}
    assert stages["buildup"]["enhancement_end"] == pytest.approx(end / 0.01, rel=1e-12)
    assert build["enhancement_end"] == pytest.approx(end / 0.01, rel=1e-12)
    assert s["final"]["enhancement"] < 0.9 * stages["buildup"]["enhancement_end"]


def test_two_stage_sweep_reports_the_enhancement_at_the_end_of_the_buildup(tmp_path):
    """sweep.csv: the enhancement at the end of the buildup stage (named) besides the one
    after the decay; T_B labelled with its stage."""
    from spindiff.case import Case
    from spindiff.sweep import run_sweep
    raw = two_stage()
    raw["sweep"] = {"parameters": {"materials.m.D0": ["2 nm^2/s", "20 nm^2/s"]}}
    run_sweep(Case.from_dict(raw), tmp_path / "sw", progress=False, say=lambda *a: None)
    with open(tmp_path / "sw" / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    from spindiff.io.results import read_timeseries
    for r in rows:
        ts = read_timeseries(tmp_path / "sw" / "variants" / r["variant"])
        end = ts["P_sample"][ts["stage"] == "buildup"][-1] / 0.01
        assert r["buildup_stage"] == "buildup"
        assert float(r["enhancement_end_buildup"]) == pytest.approx(end, rel=1e-12)
        assert float(r["enhancement"]) < 0.9 * end
    assert (tmp_path / "sw" / "sweep.png").is_file()


def test_hypres_wait_not_fitted_and_resurgence_on_the_visible_signal(tmp_path):
    """The shipped HypRes case (1D radial, coarse): the 10 s wait is not fitted (it changes
    by 0.3 % of the way to P0), the resurgence stage fits <P> visible (T_R, its peak) and
    the sample's T1 toward P0."""
    from spindiff.case import load_case
    from spindiff.runner import run
    case = load_case(CASES / "hypres_tempol.toml", {"mesh.model": "radial", "mesh.radial_cells": 80,
                                                    "mesh.error_estimate": "off"})
    s = run(case, progress=False).summary
    wait, res = s["fits"]["wait"], s["fits"]["resurgence"]
    assert not wait["fitted"] and "too short" in wait["note"]
    assert res["kind"] == "resurgence" and res["fitted"]
    r = res["resurgence"]
    best = r[r["preferred"]]
    assert 0.3 < best["T_R_s"] < 10 and best["T_R_stderr_s"] < 0.2 * best["T_R_s"]
    assert 10 < r["peak"]["time_s"] < 300
    assert 2000 < res["T1"]["T1_s"] < 3000


def test_compare_reports_the_difference_and_the_buildup_stage(tmp_path):
    """compare.json: the buildup stage the table describes, the enhancement at its end and
    the largest difference of the two curves (absolute and relative), as the figure shows."""
    from spindiff import compare as cmp
    c = cmp.compare(make_case({"source.polarization": 0.95, "mesh.radial_cells": 60}))
    cmp.write([c], tmp_path)
    data = json.loads((tmp_path / "compare.json").read_text())
    entry = next(iter(data.values()))
    assert entry["buildup_stage"] == "buildup"
    d = entry["difference"]
    a, b = c.curves["corrected"]["P_sample"], c.curves["conventional"]["P_sample"]
    assert d["max_abs"] == pytest.approx(float((a - b)[np.argmax(np.abs(a - b))]), rel=1e-12)
    assert d["max_abs"] > 0 and 0 < d["max_relative"] < 1
    assert entry["table"]["corrected"]["enhancement_end_buildup"] == pytest.approx(
        a[-1] / 0.01, rel=1e-12)
    assert (tmp_path / "compare.png").is_file()
    assert "largest difference" in cmp.format_table([c])
