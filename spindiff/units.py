"""Unit parsing with pint: case files state units explicitly ("0.66 nm", "11 kHz", "50 mM").

Internal units: nm, s, T, K (a field may also be written as an NMR frequency, `parse_field`);
frequencies in 1/s (Hz, cycles) unless a quantity is explicitly an angular frequency (rad/s),
see `to_angular`; concentrations as number densities in nm^-3.

A quantity is read as ONE decimal number followed by a unit expression ("0.8 nm",
"-572.5 MHz", "1e-16 m^2/s", "1000 1/s", "66 nm^-3"); nothing is evaluated as arithmetic
("5*5 nm", "9**9**9 nm^2/s" and "2*pi*11 kHz" are refused). The unit expression is unit names
joined by spaces, "*" or "/", each with an optional integer power ("^2", "**-3", at most two
digits), optionally after a leading "1/" or "/"; pint turns it into a unit. The number must be finite
and the value, in internal units, at most MAX_MAGNITUDE in size (and 0 or at least
MIN_MAGNITUDE), so that no overflow or underflow reaches the solver.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

import pint

from .physics.constants import MILLIMOLAR_IN_PER_NM3
from .physics.nuclei import NUCLEI, canonical, suggestions

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
    "angular_frequency": '"69 krad/s"',
    "power": '"100 mW"',
    "concentration": '"10 mM" or "6.0e-3 nm^-3"',
}

#: largest magnitude accepted in internal units (nm, s, nm^-3, ...)
MAX_MAGNITUDE = 1e30
#: smallest non-zero magnitude accepted in internal units
MIN_MAGNITUDE = 1e-30
#: longest quantity string accepted
MAX_LENGTH = 100

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?"
_NAME = r"[A-Za-z_\u00b5\u03bc\u00c5\u03a9\u00b0]+"
_POWER = r"(?:\s*(?:\^|\*\*)\s*[+-]?\d{1,2})?"
_FACTOR = _NAME + _POWER
_UNIT = rf"(?:(?:1\s*)?/\s*)?{_FACTOR}(?:\s*(?:/|\*|\s)\s*{_FACTOR})*"
_QUANTITY = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>{_UNIT})\s*")
_NON_FINITE = re.compile(r"\s*[+-]?(inf|nan)", re.IGNORECASE)


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
    q = quantity(value, example)
    if kind == "concentration":
        return _bounded(_concentration(q, example), example)
    target = INTERNAL[kind]
    try:
        magnitude = float(q.to(target).magnitude)
    except pint.DimensionalityError:
        raise UnitParseError(f"wrong units ({q.units:~P}); expected {kind} in e.g. {example}") from None
    except (OverflowError, ArithmeticError, ValueError):
        raise UnitParseError(f"out of range; allowed: a finite value, e.g. {example}") from None
    return _bounded(magnitude, example)


def split(text: str, example: str = "") -> tuple[float, str]:
    """The number and the unit expression of "NUMBER UNIT" (the number finite, the unit made of
    names and small integer powers only); UnitParseError otherwise."""
    form = f"a number followed by a unit, e.g. {example}" if example else "a number and a unit"
    if len(text) > MAX_LENGTH:
        raise UnitParseError(f"too long (more than {MAX_LENGTH} characters); expected {form}")
    match = _QUANTITY.fullmatch(text)
    if match is None and _NON_FINITE.match(text):
        raise UnitParseError(f"inf and nan are not allowed; expected {form}")
    if match is None:
        raise UnitParseError(f"expected {form} (one decimal number, no arithmetic)")
    number = float(match["number"])
    if not math.isfinite(number):
        raise UnitParseError(f"the number is too large; allowed: a finite number, e.g. {example}")
    return number, match["unit"]


def quantity(text: str, example: str = "") -> pint.Quantity:
    """A pint quantity from "NUMBER UNIT" (see `split`); never evaluates arithmetic."""
    number, unit_text = split(text, example)
    unit_text = unit_text.replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00c5", "angstrom")
    if unit_text.startswith("/"):
        unit_text = "1" + unit_text
    ureg = registry()
    try:
        unit = ureg.parse_units(unit_text)
    except Exception:
        raise UnitParseError(f"unknown unit {unit_text!r}; expected e.g. {example}") from None
    return ureg.Quantity(number, unit)


def _bounded(magnitude: float, example: str) -> float:
    """`magnitude` if finite and 0 or between MIN_MAGNITUDE and MAX_MAGNITUDE in size."""
    size = abs(magnitude)
    if not math.isfinite(magnitude) or size > MAX_MAGNITUDE or (0 < size < MIN_MAGNITUDE):
        raise UnitParseError(f"out of range; allowed: 0 or a size between {MIN_MAGNITUDE:g} and "
                             f"{MAX_MAGNITUDE:g} in internal units (nm, s), e.g. {example}")
    return magnitude


def _concentration(q: pint.Quantity, example: str) -> float:
    try:
        if q.check("[substance]/[length]**3"):
            return float(q.to("mol/m^3").magnitude) * MILLIMOLAR_IN_PER_NM3
        if q.check("1/[length]**3"):
            return float(q.to("nm^-3").magnitude)
    except (OverflowError, ArithmeticError, ValueError):
        raise UnitParseError(f"out of range; allowed: a finite value, e.g. {example}") from None
    raise UnitParseError(f"wrong units ({q.units:~P}); expected a concentration, e.g. {example}")


_NUCLEUS_SUFFIX = re.compile(r"^(?P<quantity>.*?)\s+(?P<nucleus>\d+\s*-?\s*[A-Za-z]{1,2}|[A-Za-z]{1,2}\s*-?\s*\d+)\s*$")


def parse_field(value: object, default_nucleus: str = "1H") -> float:
    """A magnetic field B0 in T, written as a field ("7.05 T") or as the NMR frequency
    of a nucleus at that field, the way magnets are named: "400 MHz" is the 1H Larmor frequency
    (B0 = 2 pi f / gamma_1H = 9.395 T), "100.6 MHz 13C" that of 13C (spindiff.physics.nuclei).
    UnitParseError (with close nucleus names) otherwise."""
    example = '"7.05 T", "400 MHz" (1H frequency) or "100.6 MHz 13C"'
    nucleus = None
    if isinstance(value, str):
        m = _NUCLEUS_SUFFIX.match(value)
        if m is not None:
            name = m["nucleus"].replace(" ", "")
            nucleus = canonical(name)
            if nucleus is None:
                close = suggestions(name)
                hint = f" (did you mean {' or '.join(close)}?)" if close else ""
                raise UnitParseError(f"unknown nucleus {name!r}{hint}; allowed: a field or a "
                                     f"frequency with a nucleus of {len(NUCLEI)} tabulated, "
                                     f"e.g. {example}")
            value = m["quantity"]
    if isinstance(value, str):
        q = quantity(value, example)
        if q.check("[frequency]"):
            hz = _bounded(float(q.to("Hz").magnitude), example)
            gamma = abs(NUCLEI[nucleus or default_nucleus].gamma)
            return _bounded(2.0 * math.pi * hz / gamma, example)
        if nucleus is not None:
            raise UnitParseError(f"a nucleus name goes with a frequency (\"400 MHz 1H\"), not "
                                 f"with {q.units:~P}; e.g. {example}")
    try:
        return parse(value, "field")
    except UnitParseError as exc:
        if "wrong units" not in str(exc):
            raise
        raise UnitParseError(f"wrong units; expected a field or an NMR frequency, e.g. "
                             f"{example}") from None


def to_angular(value: object) -> float:
    """Parse a frequency-like quantity as an angular frequency in rad/s.

    "11 kHz" is read as cycles per second and multiplied by 2 pi; "69 krad/s" is taken as is.
    """
    if isinstance(value, str) and "rad" in value:
        return parse(value, "angular_frequency")
    hz = parse(value, "frequency")
    return 2.0 * math.pi * hz
