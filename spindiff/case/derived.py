"""Which keys may be "derived", and when: the rules for values computed from the
individual-nucleus model before a run (spindiff.spins.resolve).

    materials.NAME.D0 = "derived"        the hydrodynamic D of the nuclei at the material's
                                         density (spindiff.spins.derive: D0)
    centres.barrier_radius = "derived"   the buildup-equivalent hole b_eq (zero-flux hole with
                                         which the radial continuum has the nuclei's T_B)

Both come from the rate equations of individual spin-1/2 nuclei (Chessari Eq. 9 flip-flops)
at the case's density, nucleus, field and linewidth; b_eq also from a run of the case's
Wigner-Seitz cell as nuclei and as a continuum. A case that this model cannot describe is
refused with one line naming the key.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CaseError
from ..physics.nuclei import lookup

if TYPE_CHECKING:
    from .schema import Case

DERIVED = "derived"
#: the geometries whose sample the individual-nucleus model fills (one material)
DERIVED_GEOMETRIES = ("sphere_cell", "periodic_cube", "box")
#: source laws that act at every nucleus's own distance (b_eq is fitted with them)
DERIVED_SOURCES = ("volume", "rates")


def b_is_derived(case: Case) -> bool:
    """Whether centres.barrier_radius = "derived" (and a barrier is used)."""
    return case.centres.barrier != "none" and case.centres.barrier_radius == DERIVED


def check_derived(case: Case, source: str | None = None) -> None:
    """CaseError (key, "derived", what is allowed) for a "derived" value the
    individual-nucleus model cannot give for this case."""
    keys = case.derived_keys
    if not keys:
        return
    key = keys[0]

    def refuse(allowed: str, name: str = key) -> None:
        raise CaseError(name, DERIVED, allowed, source)
    if case.conditions is None:
        refuse("needs [conditions] (the nucleus and B0 give the dipolar couplings of the "
               "individual nuclei); or give a number with its unit")
    nucleus = lookup(case.conditions.nucleus)
    if nucleus.spin != 0.5:
        refuse(f"the individual-nucleus model (Chessari Eq. 9 flip-flops) treats spin-1/2 "
               f"nuclei; {nucleus.name} has I = {nucleus.spin:g}: give a number with its unit")
    g = case.geometry
    if g.kind not in DERIVED_GEOMETRIES:
        refuse(f"derived from the individual nuclei of a sphere_cell, periodic_cube or box of "
               f"one material (geometry kind is {g.kind!r}): give a number with its unit")
    if case.spins is not None and case.spins.lattice == "file":
        refuse("derived at the material's density with random, sc or fcc positions "
               "(spins.lattice = \"file\"): give a number with its unit")
    if not b_is_derived(case):
        return
    key = "centres.barrier_radius"
    if case.centres.barrier != "hole":
        refuse(f"the derived radius is that of a zero-flux hole (b_eq): needs centres.barrier = "
               f"\"hole\" (barrier is {case.centres.barrier!r})", key)
    if case.source.model not in DERIVED_SOURCES:
        refuse(f"b_eq is fitted with a source acting at every nucleus (source.model \"volume\" "
               f"or \"rates\"; it is {case.source.model!r})", key)
    st = case.protocol.stages[0]
    if not (st.microwaves if st.source is None else st.source) or st.pulses is not None:
        refuse("b_eq is fitted to the buildup time of the first stage: it needs a continuous "
               "source there (microwaves on, no pulses)", key)
    if case.spins is not None and case.spins.pair_distance is not None:
        refuse("electron pairs (spins.pair_distance) have no single-centre buildup-equivalent "
               "hole: give a number with its unit", key)
    for what, value, allowed in (
            ("diffusion.model", case.diffusion.model, "conventional"),
            ("geometry.outer_boundary", g.outer_boundary, "zero_flux"),
            ("centres.representation", case.centres.representation, "resolved")):
        if value != allowed:
            refuse(f"b_eq comes from a run of the Wigner-Seitz cell as individual nuclei, "
                   f"which needs {what} = \"{allowed}\" (it is {value!r})", key)
