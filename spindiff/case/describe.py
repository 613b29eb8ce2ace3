"""What a figure or a summary says about a case's sample: its name or description, the
observed nucleus, the field, the temperature and the centre concentration."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..physics.constants import MILLIMOLAR_IN_PER_NM3

if TYPE_CHECKING:
    from .schema import Case


def conditions(case: Case) -> dict:
    """{"sample", "nucleus", "B0_T", "temperature_K", "concentration_mM"} of a case (None
    where the case does not say: no [conditions], no centre concentration). The sample is
    the case's description, or its name."""
    c = case.conditions
    conc = case.geometry.concentration
    return {"sample": case.case.description or case.case.name,
            "nucleus": c.nucleus if c is not None else None,
            "B0_T": float(c.B0) if c is not None else None,
            "temperature_K": float(c.temperature) if c is not None else None,
            "concentration_mM": float(conc) / MILLIMOLAR_IN_PER_NM3 if conc is not None else None}
