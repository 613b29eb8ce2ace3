"""Bad case files give one clear line that names the key, the value and what is allowed, and
never a traceback or a results folder."""
from __future__ import annotations

import subprocess

import pytest

from conftest import CASES, make_case, subprocess_env, venv_bin

BAD = [
    ({"materials.m.D0": "-5 nm^2/s"}, "materials.m.D0", "must be > 0"),
    ({"materials.m.D0": "5 nm"}, "materials.m.D0", "wrong units"),
    ({"materials.m.D0": 5}, "materials.m.D0", "needs a unit"),
    ({"materials.m.colour": "red"}, "materials.m.colour", "unknown key; allowed keys: nuclear_density"),
    ({"source.polarization": 1.0}, "source.polarization", "|P| < 1"),
    ({"source.polarization": -1.2}, "source.polarization", "|P| < 1"),
    ({"centres.barrier_radius": "3.5 nm"}, "centres.barrier_radius", "smaller than the cell radius"),
    ({"centres.barrier_radius": None}, "centres.barrier_radius", "missing"),
    ({"centres.barrier": "wall"}, "centres.barrier", "one of 'hole', 'kept', 'physical', 'none'"),
    ({"geometry.concentration": "10 mM"}, "geometry", "exactly one of concentration"),
    ({"geometry.radius": "-1 nm"}, "geometry.radius", "must be > 0"),
    ({"protocol.stages.0.duration": "10 kg"}, "protocol.stages[0].duration", "wrong units"),
    ({"protocol.stages": []}, "protocol.stages", "at least 1"),
    ({"relaxation.P0": "thermal"}, "relaxation.P0", "[conditions]"),
    ({"source.model": "fixed", "centres.barrier": "kept"}, "source.model", "barrier = \"hole\""),
    ({"source.C6": None}, "source.C6", "needs C6"),
    ({"solver.rtol": 2.0}, "solver.rtol", "must be < 1"),
    ({"mesh.size_barrier": "1 nm"}, "mesh.size_barrier", "must not exceed"),
    ({"mesh.element_degree": 3}, "mesh.element_degree", "one of 1, 2"),
    ({"mesh.element_degree": 2, "solver.mass": "lumped"}, "solver.mass", "element_degree = 2"),
    ({"bogus": {"x": 1}}, "bogus", "unknown key"),
]


@pytest.mark.parametrize("changes,key,fragment", BAD, ids=[b[1] + ":" + b[2][:12] for b in BAD])
def test_bad_value_names_key(changes, key, fragment):
    from spindiff.errors import CaseError
    with pytest.raises(CaseError) as info:
        make_case(changes)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(key), msg
    assert fragment in msg, msg


def _write(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def test_cli_check_gives_one_line_and_exit_code(tmp_path):
    text = (CASES / "default.toml").read_text().replace('D0 = "5 nm^2/s"', 'D0 = "-5 nm^2/s"')
    path = _write(tmp_path, text)
    proc = subprocess.run([venv_bin("spindiff"), "check", str(path)], capture_output=True,
                          text=True, env=subprocess_env())
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "materials.glass.D0 = '-5 nm^2/s': must be > 0" in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_run_bad_case_writes_nothing(tmp_path):
    path = _write(tmp_path, (CASES / "default.toml").read_text() + "\n[extra]\nx = 1\n")
    out = tmp_path / "res"
    proc = subprocess.run([venv_bin("spindiff"), "run", str(path), "--out", str(out)],
                          capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 2
    assert "extra" in proc.stderr and "unknown key" in proc.stderr
    assert not out.exists() and not (tmp_path / "res.partial").exists()


def test_cli_reports_toml_syntax_and_missing_file(tmp_path):
    path = _write(tmp_path, "[case\nname = 1")
    proc = subprocess.run([venv_bin("spindiff"), "check", str(path)], capture_output=True,
                          text=True, env=subprocess_env())
    assert proc.returncode == 2 and "not valid TOML" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([venv_bin("spindiff"), "check", str(tmp_path / "nope.toml")],
                          capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_shipped_cases_validate(capsys, monkeypatch, derived_cache):
    """Every shipped case loads, is named after its file, and `spindiff check` accepts it
    (and computes the "derived" values of a case that has them, in the session's cache)."""
    monkeypatch.setenv("SPINDIFF_CACHE", derived_cache)
    from spindiff.case import Case, load_case
    from spindiff.cli import main
    paths = sorted(CASES.glob("*.toml"))
    assert len(paths) >= 9
    for path in paths:
        case = load_case(path)
        assert isinstance(case, Case) and case.case.name == path.stem
        assert case.end_time > 0 and case.source_dir == str(CASES.resolve())
        assert main(["check", str(path)]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"{path}: ok ({path.stem}:"), out
