"""Unit parsing with pint: case files state units explicitly ("0.66 nm", "11 kHz", "50 mM").

Internal units: nm, s, T, K; frequencies in 1/s (Hz, cycles) unless a quantity is explicitly an
angular frequency (rad/s), see `to_angular`; concentrations as number densities in nm^-3.
"""
from __future__ import annotations

import math
from functools import lru_cache

import pint

from .physics.constants import MILLIMOLAR_IN_PER_NM3

#: internal unit for each named dimension used in case files
INTERNAL = {
    "length": "nm",
    "time": "s",
    "rate": "1/s",
    "diffusivity": "nm^2/s",
    "velocity": "nm/s",
    "c6": "nm^6/s",
    "density": "nm^-3",
    "field": "T",
    "temperature": "K",
    "frequency": "Hz",
    "angular_frequency": "rad/s",
    "power": "W",
}

EXAMPLES = {
    "length": '"0.8 nm"',
    "time": '"300 s"',
    "rate": '"1000 1/s"',
    "diffusivity": '"100 nm^2/s" or "1e-16 m^2/s"',
    "c6": '"5 nm^6/s"',
    "velocity": '"0.5 nm/s"',
    "density": '"66 nm^-3"',
    "field": '"7.05 T"',
    "temperature": '"1.2 K"',
    "frequency": '"11 kHz"',
    "angular_frequency": '"2*pi*11 kHz" or "69 krad/s"',
    "power": '"100 mW"',
    "concentration": '"10 mM" or "6.0e-3 nm^-3"',
}


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    return pint.UnitRegistry()


class UnitParseError(ValueError):
    """Raised with a message that says what was expected."""


def parse(value: object, kind: str) -> float:
    """Parse `value` (a string with units) as a quantity of `kind` and return its magnitude in
    the internal unit of that kind. Raises UnitParseError with an explanatory message."""
    example = EXAMPLES.get(kind, "")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UnitParseError(f"expected a quantity with units, e.g. {example}")
    if isinstance(value, (int, float)):
        if value == 0:
            return 0.0
        raise UnitParseError(f"a number needs a unit here, e.g. {example}")
    ureg = registry()
    try:
        q = ureg.Quantity(value.replace("µ", "u"))
    except Exception:
        raise UnitParseError(f"cannot parse as a quantity; expected e.g. {example}") from None
    if kind == "concentration":
        return _concentration(q, example)
    target = INTERNAL[kind]
    try:
        return float(q.to(target).magnitude)
    except pint.DimensionalityError:
        raise UnitParseError(f"wrong units ({q.units:~P}); expected {kind} in e.g. {example}") from None


def _concentration(q: pint.Quantity, example: str) -> float:
    if q.check("[substance]/[length]**3"):
        return float(q.to("mol/m^3").magnitude) * MILLIMOLAR_IN_PER_NM3
    if q.check("1/[length]**3"):
        return float(q.to("nm^-3").magnitude)
    raise UnitParseError(f"wrong units ({q.units:~P}); expected a concentration, e.g. {example}")


def to_angular(value: object) -> float:
    """Parse a frequency-like quantity as an angular frequency in rad/s.

    "11 kHz" is read as cycles per second and multiplied by 2 pi; "69 krad/s" is taken as is.
    """
    if isinstance(value, str) and "rad" in value:
        return parse(value, "angular_frequency")
    hz = parse(value, "frequency")
    return 2.0 * math.pi * hz
