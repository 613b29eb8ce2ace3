"""Material spin densities from a composition (spindiff.physics.composition): the nuclear
density of each [materials.NAME] given by `preset` or `composition`, for the case's nucleus."""
from __future__ import annotations

from ..errors import CaseError
from ..physics.composition import COMPONENTS, NUCLEI_GIVEN, PRESETS, Mixture, mixture, preset_mixture

CHOICES = ("nuclear_density", "preset", "composition")


def material_mixture(m) -> Mixture | None:
    """The Mixture of a validated Material with a preset or a composition, else None."""
    if m.preset is not None:
        return preset_mixture(m.preset, m.deuteration, m.carbon13)
    if m.composition is not None:
        return mixture(m.composition, m.fractions, m.deuteration, m.carbon13)
    return None


def fill_material_densities(case) -> None:
    """Set nuclear_density of the materials given by preset or composition (one CaseError line
    for a material with none or two of nuclear_density, preset, composition, or isotope
    fractions of components it does not hold)."""
    nucleus = case.conditions.nucleus if case.conditions is not None else "1H"
    for name, m in case.materials.items():
        key = f"materials.{name}"
        given = [k for k in CHOICES if getattr(m, k) is not None]
        if not given:
            raise CaseError(f"{key}.nuclear_density", "(missing)",
                            "give one of nuclear_density, preset or composition")
        if len(given) > 1:
            raise CaseError(f"{key}.{given[1]}", getattr(m, given[1]), f"give only one of "
                            f"nuclear_density, preset or composition ({given[0]} is given too)")
        if given == ["nuclear_density"]:
            for k in ("deuteration", "carbon13"):
                if getattr(m, k) is not None:
                    raise CaseError(f"{key}.{k}", getattr(m, k), "only with a preset or composition")
            continue
        _check_isotopes(m, key)
        mix = material_mixture(m)
        if nucleus not in NUCLEI_GIVEN:
            raise CaseError(f"{key}.{given[0]}", getattr(m, given[0]),
                            f"a composition gives the 1H, 2H and 13C densities; for "
                            f"conditions.nucleus = {nucleus} give nuclear_density")
        if not mix.density(nucleus) > 0:
            raise CaseError(f"{key}.{given[0]}", getattr(m, given[0]),
                            f"holds no {nucleus}: give nuclear_density or another composition")
        object.__setattr__(m, "nuclear_density", float(mix.density(nucleus)))
        m._mixture = mix


def _check_isotopes(m, key: str) -> None:
    """deuteration and carbon13 name components of the sample (deuterated ones, carbons)."""
    held = set(PRESETS[m.preset].fractions) if m.preset is not None else set(m.composition)
    for k, wants in (("deuteration", "labelled"), ("carbon13", "C")):
        for comp in getattr(m, k) or {}:
            c = COMPONENTS.get(comp)
            if comp not in held:
                raise CaseError(f"{key}.{k}", comp, f"a component of the sample: "
                                f"{', '.join(sorted(held))}")
            if (c.labelled if wants == "labelled" else c.atoms.get("C", 0)) == 0:
                what = "no deuterated positions" if wants == "labelled" else "no carbon"
                raise CaseError(f"{key}.{k}", comp, f"{comp} has {what}")


def material_lines(case) -> list[str]:
    """What `spindiff check` prints for materials given by preset or composition: the density
    used, every spin density, the composition and the source of each number."""
    nucleus = case.conditions.nucleus if case.conditions is not None else "1H"
    out = []
    for name, m in case.materials.items():
        mix = m._mixture
        if mix is None:
            continue
        lines = mix.lines()
        out.append(f"materials.{name}: nuclear_density = {m.nuclear_density:.4g} nm^-3 of "
                   f"{nucleus}; {lines[0]}")
        out += ["  " + line for line in lines[1:]]
        if m.D0 != "derived":
            out.append(f"  (D0 = {m.D0:g} nm^2/s is the case's own value: a composition gives "
                       "spin densities; D0 = \"derived\" takes it from the individual nuclei)")
    return out
