"""Keys that would have no effect under the chosen models are refused in one line naming what
overrides them; a nucleus other than the one the materials' values describe is refused,
naming the parameters that are still the other nucleus's (spindiff.case.unused)."""
from __future__ import annotations

import pytest

from conftest import BASE_CASE, CASES, make_case


def test_relaxation_c6_with_the_rate_module_is_refused():
    """[relaxation] C6 with source.model = "rates": the rate module computes R1(r), so the
    key changed nothing (identical time series with 0) and `check` accepted it."""
    from spindiff.case import load_case
    from spindiff.errors import CaseError
    with pytest.raises(CaseError) as exc:
        load_case(CASES / "mn_lto_rates.toml", {"relaxation.C6": "7e-4 nm^6/s"})
    msg = str(exc.value)
    assert "relaxation.C6 = '0.0007 nm^6/s'" in msg and 'source.model = "rates"' in msg, msg
    assert "\n" not in msg
    load_case(CASES / "mn_lto_rates.toml")  # the shipped case itself is fine


@pytest.mark.parametrize("changes, key, overrider", [
    ({"source.kappa": "0.5 nm/s"}, "source.kappa", 'source.model = "volume"'),
    ({"source.rate": "100 1/s"}, "source.rate", 'source.model = "volume"'),
    ({"source.model": "region", "source.rate": "100 1/s", "source.radius": "1.0 nm",
      "source.C6": "4 nm^6/s"}, "source.C6", 'source.model = "region"'),
    ({"diffusion.regularization": 1e-3}, "diffusion.regularization", "conventional"),
    ({"diffusion.polarization": "mean"}, "diffusion.polarization", "conventional"),
    ({"centres.barrier_diffusion": 0.1}, "centres.barrier_diffusion", 'centres.barrier = "hole"'),
    ({"centres.saturation_width": "0.1 nm"}, "centres.saturation_width", 'saturate = "visible"'),
    ({"output.profile_bins": 20}, "output.profile_bins", "output.profile = false"),
    ({"protocol.stages.0.microwaves": False, "protocol.stages.0.source_polarization": 0.5},
     "protocol.stages[0].source_polarization", "the source off"),
    ({"protocol.stages.0.spacing": "linear", "protocol.stages.0.first_output": "0.1 s"},
     "protocol.stages[0].first_output", 'spacing = "linear"'),
])
def test_keys_without_effect_are_refused(changes, key, overrider):
    from spindiff.errors import CaseError
    with pytest.raises(CaseError) as exc:
        make_case(changes)
    msg = str(exc.value)
    assert msg.startswith(key) and overrider in msg and "has no effect" in msg, msg


def test_defaults_and_used_keys_pass():
    """The same keys where they act, and every default, are accepted; so is every shipped
    case."""
    from spindiff.case import load_case
    make_case({"diffusion.model": "corrected", "diffusion.regularization": 1e-3,
               "diffusion.polarization": "mean"})
    make_case({"centres.barrier": "kept", "centres.barrier_diffusion": 0.1})
    make_case({"output.profile": True, "output.profile_bins": 20})
    make_case({"centres.saturation_width": "0.1 nm", "protocol.stages": [
        {"name": "a", "duration": "1 s"}, {"name": "b", "duration": "1 s", "saturate": "visible",
                                           "microwaves": False}]})
    for path in sorted(CASES.glob("*.toml")) + [CASES / "fit_example" / "buildup.toml"]:
        load_case(path)


def test_a_nucleus_the_materials_do_not_describe_is_refused():
    """conditions.nucleus = "13C" with the 1H density, D0 and C6 of the default case: the
    error names the parameters that are still 1H values; stating the materials' nucleus
    accepts the case (P0 is then the 13C one)."""
    from spindiff.case import load_case
    from spindiff.errors import CaseError
    with pytest.raises(CaseError) as exc:
        load_case(CASES / "default.toml", {"conditions.nucleus": "13C"})
    msg = str(exc.value)
    for key in ("materials.glass.nuclear_density", "materials.glass.D0", "materials.glass.T1n",
                "source.C6", "relaxation.C6"):
        assert key in msg, msg
    assert "still the 1H values" in msg and 'materials.glass.nucleus = "13C"' in msg
    case = load_case(CASES / "default.toml", {"conditions.nucleus": "13C",
                                              "materials.glass.nucleus": "13C"})
    one_h = load_case(CASES / "default.toml")
    assert case.thermal_polarization == pytest.approx(one_h.thermal_polarization * 0.2515, rel=1e-3)
    with pytest.raises(CaseError, match="materials.glass.nucleus = '1H': differs from the observed"):
        load_case(CASES / "default.toml", {"conditions.nucleus": "13C",
                                           "materials.glass.nucleus": "1H"})
    assert BASE_CASE.get("conditions") is None  # cases without [conditions] have no nucleus


def test_compare_of_a_case_with_corrected_diffusion_keys():
    """compare runs the conventional model without the corrected model's own keys."""
    from spindiff.compare import with_diffusion
    case = make_case({"diffusion.model": "corrected", "diffusion.polarization": "mean"})
    conv = with_diffusion(case, "conventional")
    assert conv.diffusion.model == "conventional"
    assert with_diffusion(case, "corrected").diffusion.polarization == "mean"
