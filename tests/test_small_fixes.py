"""Small things a new user runs into: the radial profile of Simulation.run(), the command a
STATUS note names, --vary with units, a polarization written as a percentage."""
from __future__ import annotations

import shlex
import signal

import numpy as np
import pytest

from conftest import BASE_CASE, make_case


def test_simulation_run_returns_the_radial_profile(tmp_path):
    """Simulation(case).run() with output.profile = true returns the profile (it returned
    None, and to_dataframe("profile") asked for output.profile = true); the same as the
    results folder's profile.csv."""
    from spindiff.runner import run
    from spindiff.simulation import Simulation
    case = make_case({"output.profile": True, "output.profile_bins": 8, "mesh.radial_cells": 60})
    res = Simulation(case).run()
    assert res.profile is not None and res.profile["P"].shape == (len(res.series["time_s"]), 8)
    assert len(res.to_dataframe("profile")) == 8 * len(res.series["time_s"])
    folder = run(case, out_dir=tmp_path / "out", progress=False)
    assert np.allclose(folder.profile["P"], res.profile["P"], rtol=0, atol=1e-12)
    assert np.allclose(folder.profile["r_nm"], res.profile["r_nm"], rtol=1e-12)
    off = Simulation(make_case({"mesh.radial_cells": 60})).run()
    with pytest.raises(ValueError, match="output.profile = false"):
        off.to_dataframe("profile")


def test_status_names_the_command_that_continues_the_run(tmp_path, capsys, monkeypatch):
    """An interrupted `spindiff run CASE --set ...`: STATUS and the one line name the command
    with the case file and the overrides (STATUS said `spindiff run <case file> --resume`),
    and that command completes the run."""
    import tomli_w

    from spindiff import cli
    from spindiff.io import interrupt
    case = tmp_path / "case.toml"
    case.write_text(tomli_w.dumps(BASE_CASE))
    out = tmp_path / "out"
    original = interrupt.SignalGuard.__enter__

    def enter(self):  # as if Ctrl-C came during the first step
        original(self)
        self.signum = signal.SIGINT
        return self
    monkeypatch.setattr(interrupt.SignalGuard, "__enter__", enter)
    code = cli.main(["run", str(case), "--out", str(out), "--quiet",
                     "--set", 'materials.m.D0="20 nm^2/s"'])
    err = capsys.readouterr().err.strip().splitlines()
    again = shlex.join(["spindiff", "run", str(case), "--set", 'materials.m.D0="20 nm^2/s"',
                        "--resume", str(out)])
    assert code == 130 and len(err) == 1 and err[0].endswith(f"continue with: {again}"), err
    status = (tmp_path / "out.partial" / "STATUS").read_text()
    assert f"continue with: {again}" in status, status
    monkeypatch.setattr(interrupt.SignalGuard, "__enter__", original)
    assert cli.main(shlex.split(again)[1:] + ["--quiet"]) == 0
    assert (out / "summary.json").is_file()


@pytest.mark.parametrize("text, key, values", [
    ("materials.juice.D0=0.1 nm^2/s,1 nm^2/s", "materials.juice.D0", ["0.1 nm^2/s", "1 nm^2/s"]),
    ('materials.juice.D0="0.1 nm^2/s", "1 nm^2/s"', "materials.juice.D0",
     ["0.1 nm^2/s", "1 nm^2/s"]),
    ("source.polarization=0.5,0.9", "source.polarization", [0.5, 0.9]),
    ("centres.positions=[[1, 2, 3]],[[4, 5, 6]]", "centres.positions",
     [[[1, 2, 3]], [[4, 5, 6]]]),
])
def test_vary_values_with_units(text, key, values):
    """--vary 'materials.juice.D0=0.1 nm^2/s,1 nm^2/s' failed as materials.juice.D0 = '['."""
    from spindiff.cli_options import parse_vary
    assert parse_vary(text) == (key, values)


def test_vary_without_values_is_one_line():
    from spindiff.cli_options import parse_vary
    from spindiff.errors import SpindiffError
    with pytest.raises(SpindiffError, match="expected KEY=V1,V2"):
        parse_vary("source.polarization=")


def test_a_polarization_as_a_percentage_says_what_is_allowed():
    """source.polarization = "80 %": one line in the words of a case file (it was pydantic's
    'Input should be a valid number, unable to parse string as a number')."""
    from spindiff.errors import CaseError
    with pytest.raises(CaseError) as exc:
        make_case({"source.polarization": "80 %"})
    msg = str(exc.value)
    assert msg == "source.polarization = '80 %': a plain number with |P| < 1, a fraction (80 % is 0.8)"
    with pytest.raises(CaseError, match="one of 'conventional', 'corrected' .did you mean 'corrected'"):
        make_case({"diffusion.model": "corected"})
    with pytest.raises(CaseError, match="outputs = 2.5: a whole number"):
        make_case({"protocol.stages.0.outputs": 2.5})
