"""A corpus of bad inputs: each gets exactly one stderr line `spindiff: error: ...`, exit code 2,
no traceback and no folder created, from `spindiff check` as well as from `spindiff run`.

The bulk runs in-process through `spindiff.cli.main` (fast); a representative subset runs the
installed `spindiff` command in a subprocess (`check`, and `run --out`).
"""
from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from conftest import BASE_CASE, CASES, ROOT, subprocess_env, venv_bin

MESHES = ROOT / "meshes"

# --- base cases ---------------------------------------------------------------------------------

BOX_CASE = copy.deepcopy(BASE_CASE)
BOX_CASE["geometry"] = {"kind": "box", "side": "8 nm", "periodic": True}
BOX_CASE["centres"] = {"placement": "positions", "positions": [[4.0, 4.0, 4.0]],
                       "barrier": "kept", "barrier_radius": "0.6 nm", "visible_radius": "0.8 nm"}
BOX_CASE["mesh"] = {"model": "3d", "size_barrier": "0.3 nm", "size_bulk": "1.0 nm", "order": 1}

MESH_CASE = {
    "case": {"name": "usermesh"},
    "geometry": {"kind": "mesh", "file": str(MESHES / "two_material_slab.msh")},
    "centres": {"placement": "none", "barrier": "none"},
    "materials": {"A": {"nuclear_density": "40 nm^-3", "D0": "5 nm^2/s", "regions": ["matrix"]},
                  "B": {"nuclear_density": "40 nm^-3", "D0": "5 nm^2/s", "regions": ["film"]}},
    "source": {"model": "region", "rate": "0 1/s", "radius": "0.1 nm", "polarization": 0.1},
    "relaxation": {"P0": 0.0},
    "protocol": {"initial_polarization": 0.0,
                 "stages": [{"name": "s", "duration": "1 s", "outputs": 5}]},
    "mesh": {"model": "3d", "order": 1},
    "output": {"plots": False},
}

PULSED_CASE = copy.deepcopy(BASE_CASE)
PULSED_CASE["source"] = {"model": "region", "rate": "0 1/s", "radius": "1.2 nm",
                         "polarization": 0.5}
PULSED_CASE["protocol"]["stages"][0]["pulses"] = {"rate": "50 Hz", "exchange": 1.0}

SWEEP = {"group_size": 1, "parameters": {"materials.m.D0": ["5 nm^2/s", "20 nm^2/s"]}}


@dataclass
class Bad:
    """One bad input: a case (base + dotted changes), or raw file bytes, plus CLI arguments."""
    id: str
    changes: dict[str, Any] = field(default_factory=dict)
    base: dict = field(default_factory=lambda: BASE_CASE)
    data: bytes | None = None          # the case file's bytes instead of a TOML dump
    sets: list[str] = field(default_factory=list)
    petsc: list[str] = field(default_factory=list)  # --petsc (run only)
    setup: Callable[[Path], None] | None = None  # makes extra input files in the input dir
    directory: bool = False               # the case path is a directory
    run: bool = False                     # also `spindiff run --out` in a subprocess
    subprocess_check: bool = False        # `spindiff check` in a subprocess instead (hangs)


def _set(raw: dict, key: str, value: Any) -> None:
    """Set a dotted key in a raw case dict (list indices are integers; None deletes)."""
    parts = key.split(".")
    node: Any = raw
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    last = parts[-1]
    if value is None:
        node.pop(last, None)
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _valid_toml() -> str:
    return tomli_w.dumps(BASE_CASE)


def _garbage_vtu(d: Path) -> None:
    (d / "garbage.vtu").write_bytes(b"<?xml version='1.0'?><VTKFile type='Unstruct" + bytes(range(256)))


def _empty_msh(d: Path) -> None:
    (d / "empty.msh").write_bytes(b"")


def _mesh_dir(d: Path) -> None:
    (d / "adir.msh").mkdir()


def _xyz(d: Path) -> None:
    (d / "points.xyz").write_text("1 2 3\n4 5 6\n")


DEEP = ("[case]\nname = \"x\"\n[geometry]\nx = " + "[" * 200_000 + "]" * 200_000 + "\n").encode()

CORPUS: list[Bad] = [
    # --- file format --------------------------------------------------------------------------
    Bad("binary-file", data=bytes(range(256)) * 8, run=True),
    Bad("utf16-bom", data=_valid_toml().encode("utf-16")),
    Bad("utf16le-no-bom", data=_valid_toml().encode("utf-16-le"), run=True),
    Bad("nul-in-comment", data=("# a\x00b\n" + _valid_toml()).encode()),
    Bad("latin1-description", data=_valid_toml().replace('name = "test"',
        'name = "test"\ndescription = "caf\xe9"').encode("latin-1")),
    Bad("case-is-directory", directory=True),
    Bad("deeply-nested-arrays", data=DEEP),
    Bad("toml-syntax", data=b"[case\nname = 1"),
    # --- non-finite and absurd numbers --------------------------------------------------------
    Bad("D0-inf", {"materials.m.D0": "inf nm^2/s"}),
    Bad("D0-nan", {"materials.m.D0": "nan nm^2/s"}),
    Bad("D0-1e400", {"materials.m.D0": "1e400 nm^2/s"}),
    Bad("D0-10^5000", {"materials.m.D0": "10^5000 nm^2/s"}),
    Bad("D0-unit-only", {"materials.m.D0": "nm^2/s"}, run=True),
    Bad("density-1e400", {"materials.m.nuclear_density": "1e400 nm^-3"}),
    Bad("radius-inf", {"geometry.radius": "inf nm"}),
    Bad("duration-inf", {"protocol.stages.0.duration": "inf s"}),
    Bad("duration-bare-inf", {"protocol.stages.0.duration": "inf"}),
    Bad("duration-1e400", {"protocol.stages.0.duration": "1e400 s"}),
    Bad("source-C6-nan", {"source.C6": "nan nm^6/s"}),
    Bad("relaxation-C6-inf", {"relaxation.C6": "inf nm^6/s"}),
    Bad("T1n-1e400", {"materials.m.T1n": "1e400 s"}),
    Bad("T1n-nan", {"materials.m.T1n": "nan s"}),
    Bad("centres-seed-negative", {"centres.seed": -1}),
    Bad("geometry-seed-negative", {"geometry.seed": -7}),
    Bad("seed-huge", {"centres.seed": 2**63 - 1}),
    Bad("offset-nan", {"protocol.stages.0.microwave_offset": "nan Hz"}),
    Bad("dt-initial-inf", {"solver.dt_initial": "inf s"}),
    Bad("rtol-nan", {"solver.rtol": float("nan")}),
    Bad("size-bulk-1e400", {"mesh.size_bulk": "1e400 nm"}),
    Bad("B0-inf", {"conditions": {"B0": "inf T", "temperature": "1 K"}, "relaxation.P0": "thermal"}),
    Bad("checkpoint-simulated-inf", {"output.checkpoint_simulated": "inf s"}),
    Bad("D0-absurdly-large", {"materials.m.D0": "1e90 m^2/s"}),
    Bad("regularization-nan", {"diffusion.regularization": float("nan")}),
    Bad("name-dotdot", {"case.name": ".."}),
    # --- unit strings -------------------------------------------------------------------------
    Bad("units-power-tower", {"materials.m.D0": "9**9**9 nm^2/s"}, subprocess_check=True),
    Bad("units-product", {"materials.m.D0": "5*5 nm^2/s"}),
    Bad("units-sum", {"materials.m.D0": "5 nm^2/s + 3 nm^2/s"}),
    Bad("units-times-zero", {"materials.m.D0": "5 nm^2/s * 0"}),
    Bad("units-trailing-number", {"materials.m.D0": "5 nm^2/s 5"}),
    Bad("units-empty", {"materials.m.D0": ""}),
    Bad("units-python", {"materials.m.D0": "__import__('os') nm^2/s"}),
    Bad("units-hex", {"geometry.radius": "0x10 nm"}),
    Bad("units-underscore-number", {"geometry.radius": "1_000 nm"}),
    Bad("units-exponent-expression", {"materials.m.D0": "5 nm^(9*9)/s"}),
    Bad("units-huge-exponent", {"materials.m.nuclear_density": "5 nm^-300000"}),
    Bad("units-two-pi", {"geometry.radius": "2*pi*1 nm"}),
    # --- resource bounds ----------------------------------------------------------------------
    Bad("mesh-size-tiny", {"mesh.model": "3d", "mesh.size_barrier": "1e-5 nm",
                           "mesh.size_bulk": "1e-5 nm"}),
    Bad("mesh-size-barrier-tiny", {"mesh.model": "3d", "mesh.size_barrier": "1e-6 nm"}),
    Bad("mesh-quadratic-too-many-dofs", {"mesh.model": "3d", "mesh.size_barrier": "0.007 nm",
                                         "mesh.size_bulk": "0.03 nm", "mesh.element_degree": 2}),
    Bad("mesh-huge-cell", {"mesh.model": "3d", "geometry.radius": None,
                           "geometry.concentration": "1e-12 mM"}),
    Bad("box-mesh-size-tiny", {"mesh.size_bulk": "0.001 nm", "mesh.size_barrier": "0.001 nm"},
        base=BOX_CASE),
    Bad("box-centre-count-huge", {"geometry.side": "10000 nm", "geometry.concentration": "10 mM",
                                  "centres.placement": "random", "centres.positions": None,
                                  "mesh.size_bulk": "500 nm", "mesh.size_barrier": "500 nm"},
        base=BOX_CASE),
    Bad("radial-cells-absurd", {"mesh.radial_cells": 10**12}),
    Bad("refine-absurd", {"mesh.refine": 9}),
    Bad("refine-negative", {"mesh.model": "3d", "mesh.refine": -1}, run=True),
    Bad("outputs-absurd", {"protocol.stages.0.outputs": 10**9}),
    Bad("pulses-1THz", {"protocol.stages.0.pulses.rate": "1 THz"}, base=PULSED_CASE, run=True),
    Bad("pulses-many", {"protocol.stages.0.pulses.rate": "1 MHz",
                        "protocol.stages.0.duration": "1e6 s"}, base=PULSED_CASE),
    Bad("sweep-grid-huge", {"sweep": {"parameters": {
        "materials.m.D0": [f"{i + 1} nm^2/s" for i in range(200)],
        "source.polarization": [0.5 + i * 1e-3 for i in range(200)]}}}),
    # --- check covers what run uses -----------------------------------------------------------
    Bad("sweep-bad-value", {"sweep": {"parameters": {"materials.m.D0": ["5 nm^2/s", "-1 nm^2/s"]}}}),
    Bad("sweep-unknown-key", {"sweep": {"parameters": {"materials.m.colour": ["red"]}}}),
    Bad("sweep-empty-list", {"sweep": {"parameters": {"materials.m.D0": []}}}),
    Bad("sweep-index-out-of-range", {"sweep": {"variants": [{"protocol.stages.3.duration": "1 s"}]}}),
    Bad("sweep-inconsistent", {"sweep": {"variants": [{"mesh.size_barrier": "5 nm"}]}}),
    Bad("sweep-below-scalar", {"sweep": {"variants": [{"case.name.x": 1}]}}),
    Bad("mesh-file-missing", {"geometry.file": "{IN}/nope.msh"}, base=MESH_CASE, run=True),
    Bad("mesh-file-directory", {"geometry.file": "{IN}/adir.msh"}, base=MESH_CASE, setup=_mesh_dir),
    Bad("mesh-file-not-a-mesh", {"geometry.file": str(MESHES / "not_a_mesh.msh")}, base=MESH_CASE),
    Bad("mesh-file-garbage-vtu", {"geometry.file": "{IN}/garbage.vtu"}, base=MESH_CASE,
        setup=_garbage_vtu, run=True),
    Bad("mesh-file-empty", {"geometry.file": "{IN}/empty.msh"}, base=MESH_CASE, setup=_empty_msh),
    Bad("mesh-file-xyz", {"geometry.file": "{IN}/points.xyz"}, base=MESH_CASE, setup=_xyz),
    Bad("mesh-missing-group", {"materials.A.regions": ["no_such_group"]}, base=MESH_CASE),
    Bad("mesh-no-physical", {"geometry.file": str(MESHES / "bad_no_physical.msh")}, base=MESH_CASE),
    Bad("mesh-centre-outside", {"centres.placement": "positions", "centres.positions": [[50, 1, 1]],
                                "centres.barrier": "kept", "centres.barrier_radius": "0.3 nm",
                                "source.radius": "0.5 nm"}, base=MESH_CASE),
    Bad("position-outside-box", {"centres.positions": [[100.0, 4.0, 4.0]]}, base=BOX_CASE, run=True),
    Bad("position-nan", {"centres.positions": [[float("nan"), 4.0, 4.0]]}, base=BOX_CASE),
    Bad("position-inf", {"centres.positions": [[4.0, float("inf"), 4.0]]}, base=BOX_CASE),
    Bad("position-negative", {"centres.positions": [[-1.0, 4.0, 4.0]]}, base=BOX_CASE),
    Bad("visible-below-barrier", {"centres.visible_radius": "0.5 nm"}),
    Bad("thermal-P0-is-one", {"conditions": {"B0": "1000 T", "temperature": "1 mK"},
                              "relaxation.P0": "thermal"}, run=True),
    Bad("thermal-2H-is-one", {"conditions": {"B0": "10000 T", "temperature": "1 mK",
                                             "nucleus": "2H"},
                              "relaxation.P0": "thermal", "protocol.initial_polarization": "thermal"}),
    Bad("petsc-bad-ksp-type", {"solver.petsc_options": {"ksp_type": "nonsense"}}, run=True),
    Bad("petsc-bad-pc-type", {"solver.petsc_options": {"pc_type": "bogus"}}),
    Bad("petsc-bad-number", {"solver.linear_solver": "iterative",
                             "solver.petsc_options": {"ksp_rtol": "abc"}}),
    # --- --set paths ----------------------------------------------------------------------------
    Bad("set-index-out-of-range", sets=["protocol.stages.5.duration=\"1 s\""], run=True),
    Bad("set-index-not-integer", sets=["protocol.stages.x.duration=\"1 s\""]),
    Bad("set-index-negative", sets=["protocol.stages.-1.duration=\"1 s\""]),
    Bad("set-below-scalar", sets=["case.name.x=1"]),
    Bad("set-below-string-quantity", sets=["materials.m.D0.value=\"5 nm^2/s\""]),
    Bad("set-below-int", sets=["mesh.radial_cells.0=5"]),
    Bad("set-empty-key", sets=["=5"]),
    Bad("set-empty-part", sets=["materials..D0=\"5 nm^2/s\""]),
    Bad("set-no-equals", sets=["materials.m.D0"]),
    Bad("set-missing-table", sets=["nosuch.table.key=1"]),
    Bad("set-into-list-of-scalars", sets=["centres.positions.0.1.2=1"], base=BOX_CASE),
    # --- PETSc options ------------------------------------------------------------------------
    Bad("petsc-ksp-view", {"solver.petsc_options": {"ksp_view": True}}),
    Bad("petsc-ksp-monitor", {"solver.petsc_options": {"ksp_monitor": ""}}),
    Bad("petsc-ksp-view-mat-file", {"solver.petsc_options": {"ksp_view_mat": "ascii:/tmp/x.txt"}}),
    Bad("petsc-log-view", {"solver.petsc_options": {"log_view": ""}}),
    Bad("petsc-options-left", {"solver.petsc_options": {"options_left": True}}),
    Bad("petsc-mat-view-binary", {"solver.petsc_options": {"mat_view": "binary:/tmp/m.bin"}}),
    Bad("petsc-converged-reason", {"solver.petsc_options": {"ksp_converged_reason": True}}),
    Bad("petsc-snes", {"solver.petsc_options": {"snes_type": "newtonls"}}),
    Bad("petsc-help", {"solver.petsc_options": {"help": True}}),
    Bad("petsc-hdf5-value", {"solver.petsc_options": {"pc_factor_mat_solver_type": "hdf5:/tmp/x"}}),
    Bad("petsc-draw", {"solver.petsc_options": {"draw_pause": 1}}),
    Bad("petsc-print-statistics", {"solver.petsc_options": {"pc_hypre_boomeramg_print_statistics": 1}}),
    Bad("petsc-monitor-true-residual", {"solver.petsc_options": {"-ksp_monitor_true_residual": True}}),
    Bad("petsc-value-nan", {"solver.petsc_options": {"ksp_rtol": float("nan")}}),
    Bad("petsc-slash-outside-relax-type", {"solver.petsc_options": {"pc_type": "SOR/Jacobi"}}),
    Bad("petsc-relax-type-path", {"solver.petsc_options": {
        "pc_hypre_boomeramg_relax_type_all": "/tmp/SOR/Jacobi"}}),
    Bad("petsc-value-path", {"solver.petsc_options": {"pc_type": "../../etc/passwd"}}),
    Bad("petsc-cli-view", petsc=["ksp_view=ascii:/tmp/spindiff-x.txt"], run=True),
]

IDS = [b.id for b in CORPUS]
assert len(set(IDS)) == len(IDS) and len(CORPUS) >= 60


def prepare(bad: Bad, tmp: Path) -> tuple[list[str], Path]:
    """Write the inputs of `bad` into tmp/in; returns the CLI arguments after the command and
    the empty working directory tmp/cwd."""
    indir, cwd = tmp / "in", tmp / "cwd"
    indir.mkdir()
    cwd.mkdir()
    if bad.setup:
        bad.setup(indir)
    path = indir / "case.toml"
    if bad.directory:
        path = indir / "case_dir.toml"
        path.mkdir()
    elif bad.data is not None:
        path.write_bytes(bad.data)
    else:
        raw = copy.deepcopy(bad.base)
        for key, value in bad.changes.items():
            if isinstance(value, str):
                value = value.replace("{IN}", str(indir))
            _set(raw, key, value)
        path.write_bytes(tomli_w.dumps(raw).encode())
    args = [str(path)]
    for s in bad.sets:
        args += ["--set", s]
    return args, cwd


def listing(root: Path) -> list[tuple[str, int]]:
    """Every path under root with its size (files) or -1 (folders)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out.append((os.path.relpath(os.path.join(dirpath, name), root), -1))
        for name in filenames:
            p = os.path.join(dirpath, name)
            out.append((os.path.relpath(p, root), os.path.getsize(p)))
    return sorted(out)


def assert_one_line(code: int, stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("spindiff: error:"), stderr
    assert code == 2, (code, stderr)


IN_PROCESS = [b for b in CORPUS if not b.subprocess_check and not b.petsc]


@pytest.mark.parametrize("bad", IN_PROCESS, ids=[b.id for b in IN_PROCESS])
def test_check_rejects_in_one_line(bad, tmp_path, monkeypatch, capsys):
    from spindiff.cli import main
    args, cwd = prepare(bad, tmp_path)
    before = listing(tmp_path)
    monkeypatch.chdir(cwd)
    try:
        code = main(["check", *args])
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    assert_one_line(code, err)
    assert listing(tmp_path) == before


def _spindiff(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([venv_bin("spindiff"), *args], capture_output=True, text=True,
                              env=subprocess_env(), cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"spindiff {' '.join(args)} did not finish within {timeout} s")


SUBPROCESS_CHECK = [b for b in CORPUS if b.subprocess_check or (b.run and not b.petsc)][:6]


@pytest.mark.parametrize("bad", SUBPROCESS_CHECK, ids=[b.id for b in SUBPROCESS_CHECK])
def test_check_subprocess(bad, tmp_path):
    args, cwd = prepare(bad, tmp_path)
    before = listing(tmp_path)
    proc = _spindiff(["check", *args], cwd, timeout=60)
    assert_one_line(proc.returncode, proc.stderr)
    assert listing(tmp_path) == before


RUN = [b for b in CORPUS if b.run]


@pytest.mark.parametrize("bad", RUN, ids=[b.id for b in RUN])
def test_run_rejects_and_writes_nothing(bad, tmp_path):
    args, cwd = prepare(bad, tmp_path)
    before = listing(tmp_path)
    petsc = [a for p in bad.petsc for a in ("--petsc", p)]
    proc = _spindiff(["run", *args, "--out", str(tmp_path / "out"), "--quiet", *petsc], cwd,
                     timeout=120)
    assert_one_line(proc.returncode, proc.stderr)
    assert listing(tmp_path) == before
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_shipped_cases_still_check(capsys):
    from spindiff.cli import main
    for path in sorted(CASES.glob("*.toml")):
        assert main(["check", str(path)]) == 0, capsys.readouterr().err


GOOD_QUANTITIES = [
    ("length", "0.8 nm", 0.8), ("length", "8 Å", 0.8), ("time", "0.5 us", 0.5e-6),
    ("time", "0.5 µs", 0.5e-6), ("time", "0.5 μs", 0.5e-6), ("rate", "1000 1/s", 1000.0),
    ("rate", "0 1/s", 0.0), ("diffusivity", "1e-16 m^2/s", 100.0),
    ("diffusivity", "5 nm**2/s", 5.0), ("density", "66 nm^-3", 66.0),
    ("frequency", "-572.5 MHz", -572.5e6), ("frequency", "+11 kHz", 11e3),
    ("temperature", "1.2 K", 1.2), ("c6", "5 nm^6 / s", 5.0), ("power", "50 mW", 0.05),
    ("angular_frequency", "69 krad/s", 69e3), ("length", ".5 nm", 0.5), ("length", "5. nm", 5.0),
    ("rate", "1000 /s", 1000.0), ("temperature", "-272 degC", 1.15),
    ("length", "2E+1 nm", 20.0), ("velocity", "0.5 nm/s", 0.5), ("field", "7.05 T", 7.05),
]


@pytest.mark.parametrize("kind,text,expected", GOOD_QUANTITIES)
def test_documented_quantity_forms_parse(kind, text, expected):
    from spindiff import units
    assert units.parse(text, kind) == pytest.approx(expected, rel=1e-12)


def test_concentration_and_infinite_T1():
    from conftest import make_case
    from spindiff import units
    assert units.parse("6.0e-3 nm^-3", "concentration") == pytest.approx(6e-3)
    assert units.parse("10 mM", "concentration") > 0
    assert make_case({"materials.m.T1n": "inf"}).materials["m"].T1n == float("inf")


def test_hypre_smoother_names_with_a_slash_are_allowed():
    """hypre's SOR/Jacobi smoothers are the one value with a slash that a case may set."""
    from conftest import make_case
    for name in ("symmetric-SOR/Jacobi", "SOR/Jacobi", "l1scaled-SOR/Jacobi", "Chebyshev"):
        case = make_case({"solver.petsc_options": {"pc_hypre_boomeramg_relax_type_all": name}})
        assert case.solver.petsc_options["pc_hypre_boomeramg_relax_type_all"] == name


def test_protocol_events_bound_pulses():
    """The event list itself refuses a pulse count that would not fit in memory (API use)."""
    from spindiff.errors import CaseError
    from spindiff.model import StageSpec
    from spindiff.protocol import protocol_events
    ok = StageSpec("s", 10.0, False, 0.5, pulse_rate=50.0)
    assert sum(e.kind == "pulse" for e in protocol_events([ok])) == 500
    with pytest.raises(CaseError, match="pulses.rate"):
        protocol_events([StageSpec("s", 10.0, False, 0.5, pulse_rate=1e12)])


@pytest.mark.parametrize("key", ["a..b", "", "protocol.stages.1.duration", "case.name.x",
                                 "protocol.stages.01x.name", "protocol.stages.\u00b2.name"])
def test_set_dotted_one_line(key):
    from spindiff.case import set_dotted
    from spindiff.errors import CaseError
    raw = copy.deepcopy(BASE_CASE)
    with pytest.raises(CaseError) as info:
        set_dotted(raw, key, 1)
    assert "\n" not in str(info.value)
