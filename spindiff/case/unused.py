"""Keys a case gives that the chosen models would not use, and a nucleus that is only a label.

A key given explicitly (a default never counts) that has no effect under the case's models is
refused in one line naming what overrides it, so that a number in a case file always means
something: e.g. [relaxation] C6 with source.model = "rates" (the rate module computes the
paramagnetic relaxation), a [source] kappa with a volume source, diffusion.regularization
with conventional diffusion. The rules follow the model code (spindiff.model,
spindiff.centre_laws, spindiff.fem): each entry of `UNUSED` says when its key is not read.

The nucleus rule: the transport parameters of a material (nuclear_density, D0, T1n) and the
rates of the case (source C6, kappa, rate; relaxation C6) are those of one nucleus, which a
material states with `nucleus` (default: 1H). It must be the observed nucleus
conditions.nucleus; a case that observes 13C with materials that do not say so is refused,
naming the parameters that are still the 1H ones.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..errors import CaseError

if TYPE_CHECKING:
    from .schema import Case

#: the nucleus a material's values describe when it does not say
DEFAULT_NUCLEUS = "1H"


def _rates(case: "Case") -> str | None:
    return ('source.model = "rates" (the quantum rate module computes k(r), P_src(r) and the '
            'paramagnetic R1(r) for the [agent])' if case.source.model == "rates" else None)


def _not_surface(case: "Case") -> str | None:
    m = case.source.model
    return None if m == "surface" else f'source.model = "{m}" (kappa is the rate of a "surface" source)'


def _not_region(case: "Case") -> str | None:
    m = case.source.model
    return None if m == "region" else (f'source.model = "{m}" (rate and radius describe a '
                                       '"region" source)')


def _region_or_rates(case: "Case") -> str | None:
    m = case.source.model
    if m == "region":
        return 'source.model = "region" (its exchange rate replaces C6 / r^6)'
    return _rates(case)


def _conventional(case: "Case") -> str | None:
    return ('diffusion.model = "conventional" (D = D0: no polarization dependence)'
            if case.diffusion.model == "conventional" else None)


def _not_kept(case: "Case") -> str | None:
    b = case.centres.barrier
    return None if b == "kept" else (f'centres.barrier = "{b}" (barrier_diffusion is D / D0 '
                                     'inside a "kept" barrier)')


def _no_partial_saturation(case: "Case") -> str | None:
    if any(st.saturate in ("visible", "hidden") for st in case.protocol.stages):
        return None
    return 'no stage with saturate = "visible" or "hidden" (the width smooths their edge)'


def _no_profile(case: "Case") -> str | None:
    return None if case.output.profile else "output.profile = false (no radial profile is written)"


#: (section, key, unit shown, when it is not used: a reason or None)
UNUSED: list[tuple[str, str, str, Callable[["Case"], str | None]]] = [
    ("source", "C6", " nm^6/s", _region_or_rates),
    ("source", "polarization", "", _rates),
    ("source", "kappa", " nm/s", lambda c: _rates(c) or _not_surface(c)),
    ("source", "rate", " 1/s", lambda c: _rates(c) or _not_region(c)),
    ("source", "radius", " nm", lambda c: _rates(c) or _not_region(c)),
    ("relaxation", "C6", " nm^6/s", _rates),
    ("diffusion", "polarization", "", _conventional),
    ("diffusion", "regularization", "", _conventional),
    ("centres", "barrier_diffusion", "", _not_kept),
    ("centres", "saturation_width", " nm", _no_partial_saturation),
    ("output", "profile_bins", "", _no_profile),
]


def check_unused(case: "Case", source: str | None = None) -> None:
    """CaseError for the first key given explicitly that the case's models do not use."""
    for section, key, unit, unused in UNUSED:
        table = getattr(case, section)
        if table is None or key not in table.model_fields_set:
            continue
        why = unused(case)
        if why is not None:
            raise CaseError(f"{section}.{key}", _shown(getattr(table, key), unit),
                            f"has no effect with {why}: remove it", source)
    for i, st in enumerate(case.protocol.stages):
        on = st.microwaves if st.source is None else st.source
        if "source_polarization" in st.model_fields_set:
            why = _rates(case) or (None if on or st.pulses is not None else
                                   "the source off in this stage (microwaves = false, no pulses)")
            if why is not None:
                raise CaseError(f"protocol.stages[{i}].source_polarization", st.source_polarization,
                                f"has no effect with {why}: remove it", source)
        if st.first_output is not None and st.spacing == "linear":
            raise CaseError(f"protocol.stages[{i}].first_output", _shown(st.first_output, " s"),
                            'has no effect with spacing = "linear" (outputs at duration / '
                            'outputs, 2 duration / outputs, ...): remove it or use "log"', source)
    check_nucleus(case, source)


def check_nucleus(case: "Case", source: str | None = None) -> None:
    """The materials' values describe the observed nucleus (module docstring)."""
    if case.conditions is None:
        return
    observed = case.conditions.nucleus
    rates = [k for k in ("source.C6", "source.kappa", "source.rate", "relaxation.C6")
             if k.split(".")[1] in getattr(case, k.split(".")[0]).model_fields_set]
    for name, m in case.materials.items():
        stated = m.nucleus or DEFAULT_NUCLEUS
        if stated == observed:
            continue
        given = [k for k in ("nuclear_density", "D0", "T1n") if k in m.model_fields_set]
        still = ", ".join([f"materials.{name}.{k}" for k in given] + rates)
        if m.nucleus is None:
            raise CaseError("conditions.nucleus", observed,
                            f"materials.{name} does not state its nucleus, so its values are "
                            f"taken as {DEFAULT_NUCLEUS} ones: {still} are still the "
                            f"{DEFAULT_NUCLEUS} values; give the {observed} values and say so "
                            f"with materials.{name}.nucleus = \"{observed}\"", source)
        raise CaseError(f"materials.{name}.nucleus", stated,
                        f"differs from the observed conditions.nucleus = \"{observed}\": {still} "
                        f"would be the {stated} values; give the {observed} values (and "
                        f"nucleus = \"{observed}\")", source)


def _shown(value, unit: str) -> str:
    return f"{value:g}{unit}" if isinstance(value, float) else value
