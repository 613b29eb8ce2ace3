"""Keys a case gives that the chosen models would not use, and a nucleus that is only a label.

A key given explicitly (a default never counts) that has no effect under the case's models is
refused in one line naming what overrides it, so that a number in a case file always means
something: e.g. [relaxation] C6 with source.model = "rates" (the rate module computes the
paramagnetic relaxation), a [source] kappa with a volume source, diffusion.regularization
with conventional diffusion. The rules follow the model code (spindiff.model,
spindiff.centre_laws, spindiff.fem): each entry of `UNUSED` says when its key is not read;
the [source] keys a source law reads, and whether it computes the paramagnetic relaxation
itself, are declared by the law (spindiff.sources.SourceLaw.reads, .computes_relaxation), so
a law added from outside the package is checked the same way.

The nucleus rule: the transport parameters of a material (nuclear_density, D0, T1n) and the
rates of the case (source C6, kappa, rate; relaxation C6) are those of one nucleus, which a
material states with `nucleus` (default: 1H). It must be the observed nucleus
conditions.nucleus; a case that observes 13C with materials that do not say so is refused,
naming the parameters that are still the 1H ones.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import CaseError
from ..sources import SOURCE_LAWS

if TYPE_CHECKING:
    from .schema import Case

#: the nucleus a material's values describe when it does not say
DEFAULT_NUCLEUS = "1H"


def _source_law(case: Case):
    return SOURCE_LAWS[case.source.model]


def _why(case: Case) -> str:
    law = _source_law(case)
    note = f" ({law.unread_note})" if law.unread_note else ""
    return f'source.model = "{law.name}"{note}'


def _not_read(key: str) -> Callable[[Case], str | None]:
    """A [source] key the case's source law does not read (SourceLaw.reads)."""
    return lambda case: None if key in _source_law(case).reads else _why(case)


def _relaxation_computed(case: Case) -> str | None:
    """The source law computes the paramagnetic relaxation itself."""
    return _why(case) if _source_law(case).computes_relaxation else None


def _conventional(case: Case) -> str | None:
    return ('diffusion.model = "conventional" (D = D0: no polarization dependence)'
            if case.diffusion.model == "conventional" else None)


def _not_kept(case: Case) -> str | None:
    b = case.centres.barrier
    return None if b == "kept" else (f'centres.barrier = "{b}" (barrier_diffusion is D / D0 '
                                     'inside a "kept" barrier)')


def _no_partial_saturation(case: Case) -> str | None:
    if any(st.saturate in ("visible", "hidden") for st in case.protocol.stages):
        return None
    return 'no stage with saturate = "visible" or "hidden" (the width smooths their edge)'


def _no_profile(case: Case) -> str | None:
    return None if case.output.profile else "output.profile = false (no radial profile is written)"


#: (section, key, unit shown, when it is not used: a reason or None)
UNUSED: list[tuple[str, str, str, Callable[[Case], str | None]]] = [
    ("source", "C6", " nm^6/s", _not_read("C6")),
    ("source", "polarization", "", _not_read("polarization")),
    ("source", "kappa", " nm/s", _not_read("kappa")),
    ("source", "rate", " 1/s", _not_read("rate")),
    ("source", "radius", " nm", _not_read("radius")),
    ("relaxation", "C6", " nm^6/s", _relaxation_computed),
    ("diffusion", "polarization", "", _conventional),
    ("diffusion", "regularization", "", _conventional),
    ("centres", "barrier_diffusion", "", _not_kept),
    ("centres", "saturation_width", " nm", _no_partial_saturation),
    ("output", "profile_bins", "", _no_profile),
]


def check_unused(case: Case, source: str | None = None) -> None:
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
            why = _not_read("polarization")(case) or (None if on or st.pulses is not None else
                                   "the source off in this stage (microwaves = false, no pulses)")
            if why is not None:
                raise CaseError(f"protocol.stages[{i}].source_polarization", st.source_polarization,
                                f"has no effect with {why}: remove it", source)
        if st.first_output is not None and st.spacing == "linear":
            raise CaseError(f"protocol.stages[{i}].first_output", _shown(st.first_output, " s"),
                            'has no effect with spacing = "linear" (outputs at duration / '
                            'outputs, 2 duration / outputs, ...): remove it or use "log"', source)
    check_nucleus(case, source)


def check_nucleus(case: Case, source: str | None = None) -> None:
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
