"""`spindiff fit`: recovery of known parameters from synthetic curves, identifiability flags,
results files, and one-line errors for bad fit files and data."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import BASE_CASE, CASES, ROOT, subprocess_env

#: a cheap sphere cell: 60 radial cells, buildup with a finite T1n
SMALL = copy.deepcopy(BASE_CASE)
SMALL["materials"]["m"]["T1n"] = "20 s"
SMALL["mesh"]["radial_cells"] = 60
SMALL["protocol"]["stages"][0]["duration"] = "60 s"
TRUTH = {"source.C6": 4.0, "materials.m.T1n": 20.0, "protocol.initial_polarization": 0.01}
TIMES = np.geomspace(0.05, 60.0, 30)
SIGMA = 0.005


def model_curve(case_dict: dict, times: np.ndarray, observable: str = "sample") -> np.ndarray:
    """<P> of a case at `times` (tight tolerances), as the fit evaluates it."""
    from mpi4py import MPI

    from spindiff.case import Case
    from spindiff.case.dotted import apply_changes
    from spindiff.simulation import Simulation
    raw = apply_changes(copy.deepcopy(case_dict), {"solver.rtol": 1e-7, "solver.atol": 1e-9})
    sim = Simulation(Case.from_dict(raw), mesh_model="radial", comm=MPI.COMM_SELF)
    out = []
    for t in times:
        sim.advance_to(float(t))
        out.append(sim.averages()[observable])
    return np.array(out)


def write_csv(path: Path, t: np.ndarray, y: np.ndarray, sigma: float | None = SIGMA) -> None:
    head = "time_s,value" + (",sigma" if sigma else "")
    rows = [f"{float(a)!r},{float(b)!r}" + (f",{sigma}" if sigma else "") for a, b in zip(t, y)]
    path.write_text("# synthetic\n" + head + "\n" + "\n".join(rows) + "\n")


def write_case(path: Path, case: dict) -> None:
    import tomli_w
    path.write_text(tomli_w.dumps(case))


def fit_text(datasets: list[dict], params: list[dict], **head) -> str:
    """A fit file from lists of [[datasets]] and [[parameters]] tables ([fit] keys in `head`;
    by default without the global stage, starts = 0: these tests start near the optimum, and
    the global stage has its own tests in test_fit_global.py)."""
    import tomli_w
    return tomli_w.dumps({"fit": {"name": "t", "starts": 0, **head}, "parameters": params,
                          "datasets": datasets})


def small_params() -> list[dict]:
    return [{"key": "source.C6", "start": "2 nm^6/s", "min": "0.1 nm^6/s", "max": "100 nm^6/s"},
            {"key": "materials.m.T1n", "start": "10 s", "min": "1 s", "max": "1000 s"},
            {"key": "protocol.initial_polarization", "start": 0.05, "min": -0.5, "max": 0.5}]


@pytest.fixture(scope="module")
def clean_curve():
    return model_curve(SMALL, TIMES)


def _single_fit(folder: Path, y: np.ndarray, params=None, **dataset):
    from spindiff.fit import fit
    write_case(folder / "case.toml", SMALL)
    write_csv(folder / "data.csv", TIMES, y)
    ds = {"name": "d", "case": "case.toml", "data": "data.csv", **dataset}
    (folder / "fit.toml").write_text(fit_text([ds], params or small_params()))
    return fit(folder / "fit.toml")


# --- recovery -------------------------------------------------------------------------------

def test_recovery_one_realisation(tmp_path, clean_curve):
    rng = np.random.default_rng(1)
    res = _single_fit(tmp_path, clean_curve + rng.normal(0, SIGMA, len(TIMES)))
    assert res.data["success"]
    for key, truth in TRUTH.items():
        p = res.parameters[key]
        assert p["determined"], (key, p)
        assert abs(p["value"] - truth) < 3 * p["stderr"], (key, p, truth)
    assert 0.4 < res.data["reduced_chi2"] < 2.0
    assert res.data["model_evaluations"] < 200


@pytest.mark.slow
def test_stderr_matches_scatter(tmp_path, clean_curve):
    """Over 20 noise realisations the reported stderr agrees with the scatter of the values
    (within a factor 1.5) and the truth is within 3 stderr each time."""
    values, errs = {k: [] for k in TRUTH}, {k: [] for k in TRUTH}
    rng = np.random.default_rng(12345)
    for i in range(20):
        folder = tmp_path / f"r{i}"
        folder.mkdir()
        res = _single_fit(folder, clean_curve + rng.normal(0, SIGMA, len(TIMES)))
        for k in TRUTH:
            values[k].append(res.parameters[k]["value"])
            errs[k].append(res.parameters[k]["stderr"])
    for k, truth in TRUTH.items():
        v, e = np.array(values[k]), np.array(errs[k])
        assert np.all(np.abs(v - truth) < 3 * e), (k, v, e)
        ratio = e.mean() / v.std(ddof=1)
        print(f"{k}: mean |bias|/stderr = {np.mean(np.abs(v - truth) / e):.2f}, "
              f"stderr/scatter = {ratio:.2f}")
        assert 1 / 1.5 < ratio < 1.5, (k, ratio)


def test_signal_with_free_scale_and_outputs(tmp_path, clean_curve):
    """A signal in arbitrary units: the scale is fitted with the keys; the results folder
    has fit.json, fit.png, the profile, and a fitted case that loads and runs."""
    from spindiff.case import load_case
    from spindiff.fit import fit
    from spindiff.runner import run
    rng = np.random.default_rng(3)
    y = 1000.0 * (clean_curve + rng.normal(0, SIGMA, len(TIMES)))
    write_case(tmp_path / "case.toml", SMALL)
    write_csv(tmp_path / "data.csv", TIMES, y, sigma=None)
    ds = {"name": "sig", "case": "case.toml", "data": "data.csv", "quantity": "signal"}
    # with the scale free, T1n (the plateau) would be degenerate with it: C6 alone is fitted
    (tmp_path / "fit.toml").write_text(fit_text([ds], small_params()[:1], profile_points=5))
    res = fit(tmp_path / "fit.toml", out=tmp_path / "out", profile="source.C6")
    d = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert set(d["parameters"]) == {"source.C6", "scale[sig]"}
    assert d["identifiability"]["all_determined"], res.lines()
    assert abs(d["parameters"]["scale[sig]"]["value"] - 1000) < 3 * d["parameters"]["scale[sig]"]["stderr"]
    for key in ("value", "unit", "stderr", "determined", "flags"):
        assert key in d["parameters"]["source.C6"]
    for key in ("correlation", "reduced_chi2", "residual_rms", "model_evaluations",
                "wall_time_s", "status", "goodness_of_fit", "global_search", "warnings"):
        assert key in d
    assert np.allclose(np.diag(d["correlation"]), 1.0)
    assert d["profiles"]["source.C6"]["determined"]
    assert d["reduced_chi2"] is None and d["goodness_of_fit"]["r_squared"] > 0.99
    for name in ("fit.png", "fitted_case.toml", "fit_points.csv", "profile_source.C6.csv",
                 "profile_source.C6.png", "evaluations.csv"):
        assert (tmp_path / "out" / name).is_file(), name
    fitted = load_case(tmp_path / "out" / "fitted_case.toml")
    assert fitted.source.C6 == pytest.approx(res.parameters["source.C6"]["value"], rel=1e-8)
    assert run(fitted, mesh_model="radial").series["P_sample"][-1] > 0.5


def test_enhancement_and_per_dataset_parameter(tmp_path):
    """Enhancement data of two data sets, T1n shared and C6 per data set."""
    from spindiff.fit import fit
    cases = {"a": copy.deepcopy(SMALL), "b": copy.deepcopy(SMALL)}
    cases["b"]["source"]["C6"] = "8 nm^6/s"
    write_case(tmp_path / "case.toml", SMALL)
    t = np.geomspace(0.05, 60.0, 15)
    for name, c in cases.items():
        write_csv(tmp_path / f"{name}.csv", t, model_curve(c, t) / 0.01, sigma=0.5)
    ds = [{"name": n, "case": "case.toml", "data": f"{n}.csv", "quantity": "enhancement",
           "overrides": {"source.C6": cases[n]["source"]["C6"]}} for n in cases]
    ds[0]["overrides"] = {}
    params = [{**small_params()[0], "per_dataset": True}, small_params()[1]]
    (tmp_path / "fit.toml").write_text(fit_text(ds, params))
    res = fit(tmp_path / "fit.toml")
    assert res.parameters["source.C6[a]"]["value"] == pytest.approx(4.0, rel=1e-3)
    assert res.parameters["source.C6[b]"]["value"] == pytest.approx(8.0, rel=1e-3)
    assert res.parameters["materials.m.T1n"]["value"] == pytest.approx(20.0, rel=1e-3)


# --- identifiability --------------------------------------------------------------------------

@pytest.mark.slow
def test_single_curve_d0_c6_degenerate_flagged():
    """One rapid-diffusion buildup (the shipped example at 10 mM, global stage and automatic
    profiles as shipped): D0 is not determined (its profile interval spans a factor of about
    10), C6 and T1n are, by their closed profiles, their correlation with D0 (-0.999) being
    reported as a note; print, fit.json and the lines agree."""
    from spindiff.fit import fit
    res = fit(CASES / "fit_example" / "fit_single.toml")
    d0, c6 = res.parameters["materials.glass.D0"], res.parameters["source.C6"]
    assert not d0["determined"] and d0["interval_basis"] == "profile", d0
    assert any("profile" in f for f in d0["flags"]), d0
    assert c6["determined"] and c6["interval_basis"] == "profile", c6
    assert any("correlation" in n for n in c6["notes"]), c6
    assert any(line.startswith("materials.glass.D0") and "NOT DETERMINED" in line
               for line in res.lines())
    assert res.data["identifiability"]["not_determined"] == ["materials.glass.D0"]
    assert res.data["global_search"]["confirmed"]


@pytest.mark.slow
def test_concentration_series_determines_d0_and_c6():
    """The shipped global fit (1, 5, 10, 40 mM, global stage as shipped): every parameter
    determined and within 3 stderr of the values the synthetic data were made with."""
    from spindiff.fit import fit
    res = fit(CASES / "fit_example" / "fit.toml")
    truth = {"materials.glass.D0": 5.0, "source.C6": 4.0, "materials.glass.T1n": 200.0}
    assert res.data["identifiability"]["all_determined"], res.lines()
    assert res.data["global_search"]["confirmed"] and not res.data["warnings"]
    for key, value in truth.items():
        p = res.parameters[key]
        assert abs(p["value"] - value) < 3 * p["stderr"], (key, p)
        assert p["stderr"] < 0.1 * p["value"]


# --- bad fit files and data -------------------------------------------------------------------

def _bad(tmp_path, clean=None, csv_text=None, params=None, **dataset):
    from spindiff.fit.spec import load_fit
    write_case(tmp_path / "case.toml", SMALL)
    (tmp_path / "data.csv").write_text(csv_text or "time_s,value\n0.1,0.02\n1,0.2\n5,0.5\n")
    ds = {"name": "d", "case": "case.toml", "data": "data.csv", **dataset}
    (tmp_path / "fit.toml").write_text(fit_text([ds], params or small_params()))
    from spindiff.fit.solve import Problem
    return Problem(load_fit(tmp_path / "fit.toml"))


@pytest.mark.parametrize("csv_text, params, dataset, expected", [
    ("t,value\n0.1,0.1\n1,0.2\n", None, {}, "the time column 't' of data.csv does not say its unit"),
    ("when,value\n0.1,0.1\n1,0.2\n", None, {}, "no column is recognisable as the time"),
    ("time_s,value\n0.1,abc\n1,0.2\n", None, {}, "'abc' is not a number"),
    ("time_s,value\n0.1,0.1\n1,0.2\n0.5,0.3\n", None, {}, "strictly increasing"),
    ("time_s,value\n0.1,0.1\n1,nan\n", None, {}, "finite"),
    ("time_s,value,sigma\n0.1,0.1,0\n1,0.2,0.1\n", None, {}, "sigma must be > 0"),
    (None, [{"key": "source.C6", "start": "200 nm^6/s", "min": "0.1 nm^6/s",
             "max": "100 nm^6/s"}], {}, "outside the bounds"),
    (None, [{"key": "source.C6", "start": "2 nm^6/s", "min": "0.1 nm^6/s", "max": "100 s"}],
     {}, "compatible with start"),
    (None, [{"key": "source.C6", "start": "2 nm^6/s", "min": "0.1 nm^6/s",
             "max": "100 nm^6/s", "bogus": 1}], {}, "unknown key"),
    (None, [{"key": "source.C66", "start": "2 nm^6/s", "min": "0.1 nm^6/s",
             "max": "100 nm^6/s"}], {}, "not accepted by the case"),
    (None, None, {"observable": "nowhere"}, "datasets[d].observable"),
    (None, None, {"colour": "red"}, "unknown key"),
    (None, None, {"quantity": "temperature"}, "one of polarization"),
    ("time_s,value\n0.1,0.1\n100,0.2\n", None, {}, "beyond the end of the case"),
])
def test_bad_fit_files_are_one_line(tmp_path, csv_text, params, dataset, expected):
    from spindiff.errors import SpindiffError
    with pytest.raises(SpindiffError) as exc:
        _bad(tmp_path, csv_text=csv_text, params=params, **dataset)
    msg = str(exc.value)
    assert expected in msg and "\n" not in msg, msg


def test_cli_error_exit_code(tmp_path):
    """`spindiff fit` on a bad file: one line `spindiff: error: ...`, exit status 2."""
    write_case(tmp_path / "case.toml", SMALL)
    (tmp_path / "data.csv").write_text("time_s,value\n0.1,0.1\n0.1,0.2\n")
    ds = {"name": "d", "case": "case.toml", "data": "data.csv"}
    (tmp_path / "fit.toml").write_text(fit_text([ds], small_params()))
    proc = subprocess.run([sys.executable, "-m", "spindiff.fit.command", str(tmp_path / "fit.toml"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          env=subprocess_env(), cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spindiff: error: ") and "increasing" in lines[0]


def test_package_is_callable(tmp_path, clean_curve):
    import spindiff.fit
    assert callable(spindiff.fit) and spindiff.fit.fit is not None
    write_case(tmp_path / "case.toml", SMALL)
    write_csv(tmp_path / "data.csv", TIMES, clean_curve)
    ds = {"name": "d", "case": "case.toml", "data": "data.csv"}
    (tmp_path / "fit.toml").write_text(fit_text([ds], small_params()[:1]))
    res = spindiff.fit(tmp_path / "fit.toml")
    assert res.parameters["source.C6"]["value"] == pytest.approx(4.0, rel=1e-4)


def test_no_effect_and_bound_flags(tmp_path, clean_curve):
    """A key the observable does not depend on, and a value pinned at its bound, are flagged
    (and fit.json stays strict JSON)."""
    from spindiff.io.results import dumps_json
    params = [{"key": "source.C6", "start": "2 nm^6/s", "min": "0.1 nm^6/s", "max": "3 nm^6/s"},
              {"key": "centres.visible_radius", "start": "1.2 nm", "min": "0.9 nm",
               "max": "2 nm"},
              {"key": "materials.m.T1n", "start": "10 s", "min": "1 s", "max": "1000 s"}]
    res = _single_fit(tmp_path, clean_curve, params=params)
    c6, rv = res.parameters["source.C6"], res.parameters["centres.visible_radius"]
    assert any("upper bound" in f for f in c6["flags"]), c6
    assert any("no effect" in f for f in rv["flags"]), rv
    assert res.parameters["materials.m.T1n"]["value"] > 0
    json.loads(dumps_json(res.data))


@pytest.mark.slow
def test_particle_in_matrix_fits_with_the_1d_reduction(tmp_path):
    """A crystal's D0 from its own buildup curve, the model being the particle's 1D reduction
    in its homogenized radical matrix (cases/microcrystal.toml)."""
    from spindiff.case import load_case
    from spindiff.fit import fit
    from spindiff.runner import run
    case = load_case(CASES / "microcrystal.toml", {"protocol.stages.0.duration": "200 s",
                                                    "protocol.stages.0.outputs": 25,
                                                    "solver.rtol": 1e-7, "solver.atol": 1e-9,
                                                    "mesh.error_estimate": "off"})
    res = run(case, progress=False)
    t, y = res.series["time_s"][1:], res.series["P_crystal"][1:]
    write_csv(tmp_path / "data.csv", t, y, sigma=0.002)
    ds = {"name": "crystal", "case": str(CASES / "microcrystal.toml"), "data": "data.csv",
          "observable": "crystal", "overrides": {"protocol.stages.0.duration": "200 s",
                                                 "mesh.error_estimate": "off"}}
    params = [{"key": "materials.crystal.D0", "start": "120 nm^2/s", "min": "10 nm^2/s",
               "max": "3000 nm^2/s"}]
    (tmp_path / "fit.toml").write_text(fit_text([ds], params, mesh_model="radial"))
    out = fit(tmp_path / "fit.toml")
    p = out.parameters["materials.crystal.D0"]
    print(f"crystal D0: {p['value']:.4g} +- {p['stderr']:.2g} nm^2/s (truth 300)")
    assert out.data["success"] and p["determined"]
    assert abs(p["value"] - 300.0) < max(3 * p["stderr"], 3.0)
