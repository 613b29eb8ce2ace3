"""Every shipped case file runs through the command line and leaves a finished results folder.

Every *.toml under cases/ is a test (found by glob, so a new file is picked up); RULES says how
each is run: the command it is made for (`run`, `sweep`, `particle-series`, `fit`) and the
commands the README shows for it (`compare`, `rates`, `plot-diffusion`), shortened with `--set`
(a shorter stage, fewer outputs, a coarser mesh, a smaller box) or, for fit files, in a copy
with one optimiser step and a coarser radial mesh. A case file without a rule fails, naming
the file. The commands run in this process (spindiff.cli.main) with the rate-table cache in a
fresh folder, as on a clean machine; each must return 0 and leave the files docs/reference/results.md
promises (and no DIR.partial).
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import tomllib

from conftest import CASES, ROOT

pytestmark = pytest.mark.slow


def _stage(i: int, duration: str, outputs: int) -> dict:
    return {f"protocol.stages.{i}.duration": duration, f"protocol.stages.{i}.outputs": outputs}


@dataclass
class Rule:
    """command: run, sweep, particle-series or fit; also: further commands on the same case
    (compare, rates, plot-diffusion); sets: --set KEY=VALUE (TOML values); args: extra
    arguments; fit: changes to a fit file's [fit] table."""
    command: str
    sets: dict = field(default_factory=dict)
    also: tuple = ()
    args: tuple = ()
    fit: dict = field(default_factory=dict)


#: one optimiser step, looser tolerances, and a coarser radial mesh in every data set's case
SHORT_FIT = {"max_evaluations": 1, "solver_rtol": 1e-5, "solver_atol": 1e-7}
SHORT_DATASETS = {"mesh.radial_cells": 40}
RULES = {
    "default.toml": Rule("run", {**_stage(0, "2 s", 5), "mesh.refine": 0,
                                 "mesh.size_bulk": "1.0 nm", "mesh.size_barrier": "0.25 nm"}),
    "takeda_cube.toml": Rule("run", {**_stage(0, "2 s", 5), "mesh.size_bulk": "1.0 nm",
                                     "mesh.size_barrier": "0.3 nm"}, also=("compare",)),
    "takeda_pulsed.toml": Rule("run", _stage(0, "1 s", 5)),
    "hypres_tempol.toml": Rule("run", {**_stage(0, "3 s", 4), **_stage(1, "1 s", 2),
                                       **_stage(2, "3 s", 4), "mesh.size_bulk": "0.7 nm",
                                       "mesh.size_barrier": "0.15 nm"},
                               also=("plot-diffusion",)),
    "hypres_tempol_computed.toml": Rule("run", {**_stage(0, "3 s", 4), **_stage(1, "1 s", 2),
                                                **_stage(2, "3 s", 4), "mesh.size_bulk": "0.7 nm",
                                                "mesh.size_barrier": "0.15 nm"}),
    "mn_lto_rates.toml": Rule("run", {**_stage(0, "5 s", 4), "mesh.size_bulk": "0.8 nm",
                                      "mesh.size_barrier": "0.12 nm"}, also=("rates",)),
    "many_centres_box.toml": Rule("run", {**_stage(0, "2 s", 4), "mesh.size_bulk": "1.2 nm",
                                          "mesh.size_barrier": "0.3 nm"}),
    "box_1000_centres.toml": Rule("run", {**_stage(0, "1 s", 3), "geometry.side": "12 nm",
                                          "mesh.size_bulk": "2.0 nm",
                                          "mesh.size_barrier": "0.4 nm"}),
    "microcrystal.toml": Rule("run", _stage(0, "20 s", 5)),
    "relay_film.toml": Rule("run", _stage(0, "20 s", 5)),
    "tempol_dnp_juice.toml": Rule("run", _stage(0, "5 s", 5)),
    "karabanov_cross_effect.toml": Rule("run", _stage(0, "20 s", 5)),
    "blend.toml": Rule("run", {**_stage(0, "5 s", 4), "geometry.side": "120 nm",
                               "mesh.size_bulk": "30 nm", "mesh.size_barrier": "30 nm"}),
    "sweep_concentration.toml": Rule("sweep", {**_stage(0, "2 s", 4), "mesh.size_bulk": "1.2 nm",
                                               "mesh.size_barrier": "0.3 nm"}),
    "particle_size_series.toml": Rule("particle-series", _stage(0, "20 s", 8),
                                      args=("--sizes", "20 nm", "2 um")),
    "fit_example/buildup.toml": Rule("run", _stage(0, "20 s", 8)),
    "fit_example/fit.toml": Rule("fit", fit=SHORT_FIT),
    "fit_example/fit_single.toml": Rule("fit", fit=SHORT_FIT),
    "fit_example/fit_spectrometer.toml": Rule("fit", fit=SHORT_FIT),
}
SHIPPED = sorted(p.relative_to(CASES).as_posix() for p in CASES.rglob("*.toml"))


@pytest.fixture(autouse=True)
def fresh_rate_cache(tmp_path_factory, monkeypatch, derived_cache, request):
    """A fresh cache folder per case; cases with "derived" keys share one per session
    (conftest.derived_cache: their material's bulk diffusion tensor is computed once)."""
    name = getattr(getattr(request.node, "callspec", None), "params", {}).get("name")
    if name and '"derived"' in (CASES / name).read_text():
        monkeypatch.setenv("SPINDIFF_CACHE", derived_cache)
        return
    monkeypatch.setenv("SPINDIFF_CACHE", str(tmp_path_factory.mktemp("rates-cache")))


def test_every_rule_names_a_shipped_case():
    assert sorted(set(RULES) - set(SHIPPED)) == []


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_case_runs(name, tmp_path, capsys):
    if name not in RULES:
        pytest.fail(f"cases/{name} has no entry in RULES of {Path(__file__).relative_to(ROOT)}: "
                    "add the command that runs it and the --set values that make it short")
    rule = RULES[name]
    path = CASES / name
    if rule.command == "fit":
        path = _shortened_fit(path, rule.fit, tmp_path)
    out = tmp_path / "out"
    _cli(rule.command, path, out, rule.sets, rule.args)
    {"run": _check_run, "sweep": _check_sweep, "particle-series": _check_series,
     "fit": _check_fit}[rule.command](out, path, rule.sets)
    for extra in rule.also:
        more = tmp_path / extra
        _cli(extra, path, more, {} if extra in ("rates", "plot-diffusion") else rule.sets,
             ("--no-sweep",) if extra == "rates" else ())
        expect = {"compare": ["compare.csv", "compare.json", "compare.png"],
                  "rates": ["rates_0.json", "rates_0.png"],
                  "plot-diffusion": ["diffusion_family.png", "diffusion_family.csv"]}[extra]
        _has(more, expect)


# --- running ----------------------------------------------------------------------------------

def _cli(command: str, path: Path, out: Path, sets: dict, args: tuple) -> None:
    from spindiff.cli import main
    argv = [command, str(path), "--out", str(out)]
    if command in ("run", "sweep", "compare", "particle-series", "fit"):
        argv.append("--quiet")
    for key, value in sets.items():
        argv += ["--set", f"{key}={_toml(value)}"]
    argv += list(args)
    rc = main(argv)
    assert rc == 0, f"spindiff {' '.join(argv)} returned {rc}"
    assert not out.with_name(out.name + ".partial").exists()


def _toml(value) -> str:
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _shortened_fit(path: Path, changes: dict, tmp_path: Path) -> Path:
    """A copy of the fit file's folder with [fit] changed (fewer optimiser steps) and
    SHORT_DATASETS added to every data set's overrides."""
    folder = tmp_path / "fit"
    shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns("*.py"))
    raw = tomllib.loads(path.read_text())
    raw.setdefault("fit", {}).update(changes)
    for d in raw["datasets"]:
        d["overrides"] = {**d.get("overrides", {}), **SHORT_DATASETS}
    copy = folder / path.name
    copy.write_text(tomli_w.dumps(raw))
    return copy


# --- what a finished folder holds -------------------------------------------------------------

def _has(folder: Path, names) -> None:
    assert folder.is_dir(), f"{folder} missing"
    missing = [n for n in names if not (folder / n).exists()]
    assert not missing, f"{folder} lacks {missing} (has {sorted(p.name for p in folder.iterdir())})"
    assert (folder / ".spindiff.json").is_file()


def _check_run(out: Path, path: Path, sets: dict) -> None:
    from spindiff.case import load_case
    case = load_case(path, sets)
    expect = ["case.toml", "timeseries.csv", "summary.json"]
    if case.output.plots:
        expect.append("buildup.png")
    if case.output.profile:
        expect += ["profile.csv"] + (["profile.png"] if case.output.plots else [])
    if case.output.fields:
        expect.append("fields/P.xdmf")
    _has(out, expect)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final"]["time_s"] == pytest.approx(case.end_time)
    assert all(math.isfinite(v) for v in summary["final"]["P"].values())
    rows = (out / "timeseries.csv").read_text().splitlines()
    assert len(rows) >= 1 + len(case.protocol.stages)


def _check_sweep(out: Path, path: Path, sets: dict) -> None:
    _has(out, ["sweep.csv", "sweep.json", "sweep.png", "variants"])
    variants = sorted((out / "variants").iterdir())
    info = json.loads((out / "sweep.json").read_text())
    assert len(variants) == len(info["variants"]) > 1
    for v in variants:
        assert (v / "variant.json").is_file() and (v / "summary.json").is_file()


def _check_series(out: Path, path: Path, sets: dict) -> None:
    _has(out, ["particle_series.csv", "particle_series.json", "particle_series.png"])
    rows = json.loads((out / "particle_series.json").read_text())["rows"]
    assert len(rows) == 2 and all(np.isfinite(r["T_B_sample_s"]) for r in rows)


def _check_fit(out: Path, path: Path, sets: dict) -> None:
    n = len(tomllib.loads(path.read_text())["datasets"])
    cases = ["fitted_case.toml"] if n == 1 else \
        [f"fitted_case_{d['name']}.toml" for d in tomllib.loads(path.read_text())["datasets"]]
    _has(out, ["fit.json", "fit.png", "fit.toml", "fit_points.csv", *cases])
    data = json.loads((out / "fit.json").read_text())
    assert all(math.isfinite(p["value"]) for p in data["parameters"].values())
