"""Spin densities from a sample's composition (spindiff.physics.composition) and the case keys
that use them ([materials.NAME] preset / composition; spindiff.case.materials).

The reference numbers are computed here by hand from the stated inputs (densities, molar
masses, hydrogen counts, deuteration), independently of the module's bookkeeping, and against
textbook anchors: water holds 2 x 0.99820 / 18.0149 mol/cm^3 = 110.8 M of hydrogen
(66.73 nm^-3), ice Ih 61.28 nm^-3.
"""
from __future__ import annotations

import math

import pytest

from conftest import CASES, make_case
from spindiff.errors import CaseError
from spindiff.physics import composition as comp

N_A = 6.02214076e23
PER_NM3 = N_A * 1e-21
M1, M2 = 1.00782503, 2.01410178
XN, YN = 0.000115, 0.0107          # natural 2H and 13C (IUPAC 2001)


def _h(x):
    return (1 - x) * M1 + x * M2


def test_water_ice_glycerol_anchors():
    water = comp.mixture({"H2O": 1})
    m_water = 2 * _h(XN) + 15.999
    assert water.density("1H") == pytest.approx(2 * (1 - XN) * 0.99820 / m_water * PER_NM3, rel=1e-12)
    assert water.density("1H") == pytest.approx(66.73, abs=0.01)
    assert comp.preset_mixture("ice").density("1H") == pytest.approx(61.28, abs=0.01)
    glycerol = comp.mixture({"glycerol": 1})
    m_gly = 8 * _h(XN) + 3 * 12.011 + 3 * 15.999
    assert glycerol.density("1H") == pytest.approx(8 * (1 - XN) * 1.2613 / m_gly * PER_NM3,
                                                   rel=1e-12)
    assert glycerol.density("13C") == pytest.approx(3 * YN * 1.2613 / m_gly * PER_NM3, rel=1e-12)
    assert water.density("13C") == 0.0


def test_dnp_juice_by_hand():
    """glycerol-d8/D2O/H2O 6:3:1 by volume, 98 and 99.9 atom % D: 1H 7.485 nm^-3."""
    m_gly_h = 8 * _h(XN) + 3 * 12.011 + 3 * 15.999
    m_gly_d = 8 * _h(0.98) + 3 * 12.011 + 3 * 15.999
    rho_gly_d = 1.2613 * m_gly_d / m_gly_h                     # molar volume of glycerol
    m_d2o, m_h2o = 2 * _h(0.999) + 15.999, 2 * _h(XN) + 15.999
    n_gly, n_d2o, n_h2o = 0.6 * rho_gly_d / m_gly_d, 0.3 * 1.1050 / m_d2o, 0.1 * 0.99820 / m_h2o
    h1 = (8 * 0.02 * n_gly + 2 * 0.001 * n_d2o + 2 * (1 - XN) * n_h2o) * PER_NM3
    h2 = (8 * 0.98 * n_gly + 2 * 0.999 * n_d2o + 2 * XN * n_h2o) * PER_NM3
    juice = comp.preset_mixture("dnp_juice")
    assert juice.density("1H") == pytest.approx(h1, rel=1e-12)
    assert juice.density("2H") == pytest.approx(h2, rel=1e-12)
    assert juice.density("1H") == pytest.approx(7.485, abs=5e-4)
    assert juice.density("13C") == pytest.approx(3 * YN * n_gly * PER_NM3, rel=1e-12)
    assert juice.mass_density == pytest.approx(0.6 * rho_gly_d + 0.3 * 1.1050 + 0.1 * 0.99820,
                                               rel=1e-12)


def test_mass_fractions_and_isotopes():
    juice = comp.preset_mixture("dnp_juice")
    c = comp.COMPONENTS
    masses = {n: f * comp.density(c[n])[0] for n, f in juice.fractions.items()}
    by_mass = comp.mixture(masses, "mass")
    for nucleus in ("1H", "2H", "13C"):
        assert by_mass.density(nucleus) == pytest.approx(juice.density(nucleus), rel=1e-12)
    full = comp.mixture({"glycerol-d8": 6, "D2O": 4}, deuteration={"glycerol-d8": 1.0, "D2O": 1.0})
    assert full.density("1H") == 0.0
    half = comp.mixture({"glycerol-d8": 1}, deuteration={"glycerol-d8": 0.5})
    both = half.density("1H") + half.density("2H")
    assert half.density("1H") == pytest.approx(0.5 * both, rel=1e-12)
    labelled = comp.mixture({"glycerol": 1}, carbon13={"glycerol": 1.0})
    m = 8 * _h(XN) + 3 * 13.00335484 + 3 * 15.999
    rho = 1.2613 * m / (8 * _h(XN) + 3 * 12.011 + 3 * 15.999)
    assert labelled.density("13C") == pytest.approx(3 * rho / m * PER_NM3, rel=1e-12)
    with pytest.raises(ValueError, match="unknown component 'glycerin'"):
        comp.mixture({"glycerin": 1})
    with pytest.raises(ValueError, match="H2O has no deuterated positions"):
        comp.mixture({"H2O": 1}, deuteration={"H2O": 0.5})


@pytest.mark.parametrize("preset", sorted(comp.PRESETS))
def test_every_preset_states_its_sources(preset):
    mix = comp.preset_mixture(preset)
    text = "\n".join(mix.lines())
    assert all(math.isfinite(v) and v >= 0 for v in mix.densities.values())
    for name in comp.PRESETS[preset].fractions:
        c = comp.COMPONENTS[name]
        assert name in text
        assert ("CRC Handbook" in comp.density(c)[1]) or f"molar volume of {c.parent}" in text


def _juice(changes=None, nucleus="1H"):
    base = {"materials.m.nuclear_density": None, "materials.m.preset": "dnp_juice",
            "conditions": {"B0": "7.05 T", "temperature": "1.2 K", "nucleus": nucleus},
            "materials.m.nucleus": nucleus}
    return make_case({**base, **(changes or {})})


def test_case_density_from_preset_and_composition():
    juice = comp.preset_mixture("dnp_juice")
    assert _juice().materials["m"].nuclear_density == pytest.approx(juice.density("1H"), rel=1e-12)
    assert _juice(nucleus="2H").materials["m"].nuclear_density == pytest.approx(
        juice.density("2H"), rel=1e-12)
    same = _juice({"materials.m.preset": None,
                   "materials.m.composition": {"glycerol-d8": 0.6, "D2O": 0.3, "H2O": 0.1}})
    assert same.materials["m"].nuclear_density == pytest.approx(juice.density("1H"), rel=1e-12)
    purer = _juice({"materials.m.deuteration": {"glycerol-d8": 0.99}})
    assert purer.materials["m"].nuclear_density < juice.density("1H")
    changed = _juice().with_changes({"materials.m.preset": "ice"})
    assert changed.materials["m"].nuclear_density == pytest.approx(61.28, abs=0.01)


@pytest.mark.parametrize("changes,nucleus,fragment", [
    ({"materials.m.nuclear_density": "50 nm^-3"}, "1H",
     "materials.m.preset = 'dnp_juice': give only one of nuclear_density, preset or composition"),
    ({"materials.m.preset": None}, "1H",
     "materials.m.nuclear_density = '(missing)': give one of nuclear_density, preset"),
    ({"materials.m.preset": "juice"}, "1H", "materials.m.preset = 'juice': one of dnp_juice"),
    ({"materials.m.preset": None, "materials.m.composition": {"glycerin": 1}}, "1H",
     "unknown component 'glycerin'"),
    ({"materials.m.deuteration": {"H2O": 0.5}}, "1H", "materials.m.deuteration = 'H2O': H2O has "
     "no deuterated positions"),
    ({"materials.m.carbon13": {"DMSO": 0.5}}, "1H", "materials.m.carbon13 = 'DMSO': a component "
     "of the sample"),
    ({}, "7Li", "for conditions.nucleus = 7Li give nuclear_density"),
    ({"materials.m.preset": "ice"}, "13C", "holds no 13C"),
])
def test_case_composition_errors_are_one_line(changes, nucleus, fragment):
    with pytest.raises(CaseError) as e:
        _juice(changes, nucleus)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_check_prints_the_derived_densities_and_sources(capsys):
    from spindiff.cli import main
    # given numbers for D0 and b (the shipped case derives them: tests/test_derived_keys.py)
    assert main(["check", str(CASES / "tempol_dnp_juice.toml"), "--set",
                 'materials.juice.D0="5 nm^2/s"', "--set", 'centres.barrier_radius="0.8 nm"']) == 0
    out = capsys.readouterr().out
    assert "materials.juice: nuclear_density = 7.485 nm^-3 of 1H" in out
    assert "2H 58.72 nm^-3" in out and "CRC Handbook" in out and "molar volume of glycerol" in out
    assert "D0 = 5 nm^2/s is the case's own value" in out
