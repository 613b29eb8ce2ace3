"""Nuclear spin properties of the common NMR nuclei: gyromagnetic ratio, spin, natural abundance.

Source: R. K. Harris, E. D. Becker, S. M. Cabral de Menezes, R. Goodfellow, P. Granger,
"NMR nomenclature. Nuclear spin properties and conventions for chemical shifts (IUPAC
Recommendations 2001)", Pure Appl. Chem. 73, 1795-1818 (2001), Table 1 (gamma in
10^7 rad s^-1 T^-1, spin I, natural abundance in %). The proton value is CODATA 2018 through
scipy.constants ("proton gyromag. ratio"), which agrees with Table 1 to 2e-7.

Names are written mass number first, as in NMR papers: "1H", "2H", "13C", "27Al", "119Sn".
`lookup` also accepts "H1", "Al-27", "al27", "D" (deuteron), and says what is known otherwise.

    from spindiff.physics.nuclei import NUCLEI, lookup
    NUCLEI["27Al"].gamma        # rad/s/T (signed)
    lookup("29si").spin         # 0.5
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from scipy import constants as _c


@dataclass(frozen=True)
class Nucleus:
    """One isotope: gamma (rad/s/T, signed), spin I, natural abundance (%)."""
    name: str
    gamma: float
    spin: float
    abundance: float

    @property
    def larmor_hz_per_tesla(self) -> float:
        """|gamma| / 2 pi in Hz/T (42.577e6 for 1H)."""
        return abs(self.gamma) / (2.0 * 3.141592653589793)


# name: (gamma / 1e7 rad s^-1 T^-1, spin, natural abundance %), Harris et al. 2001 Table 1
_TABLE: dict[str, tuple[float, float, float]] = {
    "1H": (26.7522128, 0.5, 99.9885),
    "2H": (4.10662791, 1.0, 0.0115),
    "3He": (-20.3801587, 0.5, 0.000137),
    "6Li": (3.9371709, 1.0, 7.59),
    "7Li": (10.3977013, 1.5, 92.41),
    "9Be": (-3.759666, 1.5, 100.0),
    "10B": (2.8746786, 3.0, 19.9),
    "11B": (8.5847044, 1.5, 80.1),
    "13C": (6.728284, 0.5, 1.07),
    "14N": (1.9337792, 1.0, 99.632),
    "15N": (-2.71261804, 0.5, 0.368),
    "17O": (-3.62808, 2.5, 0.038),
    "19F": (25.18148, 0.5, 100.0),
    "23Na": (7.0808493, 1.5, 100.0),
    "25Mg": (-1.63887, 2.5, 10.00),
    "27Al": (6.9762715, 2.5, 100.0),
    "29Si": (-5.3190, 0.5, 4.6832),
    "31P": (10.8394, 0.5, 100.0),
    "33S": (2.055685, 1.5, 0.76),
    "35Cl": (2.624198, 1.5, 75.78),
    "37Cl": (2.184368, 1.5, 24.22),
    "39K": (1.2500608, 1.5, 93.2581),
    "43Ca": (-1.803069, 3.5, 0.135),
    "45Sc": (6.5087973, 3.5, 100.0),
    "51V": (7.0455117, 3.5, 99.750),
    "55Mn": (6.6452546, 2.5, 100.0),
    "57Fe": (0.8680624, 0.5, 2.119),
    "59Co": (6.332, 3.5, 100.0),
    "63Cu": (7.1117890, 1.5, 69.17),
    "65Cu": (7.60435, 1.5, 30.83),
    "67Zn": (1.676688, 2.5, 4.10),
    "69Ga": (6.438855, 1.5, 60.108),
    "71Ga": (8.181171, 1.5, 39.892),
    "73Ge": (-0.9360303, 4.5, 7.73),
    "75As": (4.596163, 1.5, 100.0),
    "77Se": (5.1253857, 0.5, 7.63),
    "79Br": (6.725616, 1.5, 50.69),
    "81Br": (7.249776, 1.5, 49.31),
    "87Rb": (8.786400, 1.5, 27.83),
    "87Sr": (-1.1639376, 4.5, 7.00),
    "89Y": (-1.3162791, 0.5, 100.0),
    "91Zr": (-2.49743, 2.5, 11.22),
    "93Nb": (6.5674, 4.5, 100.0),
    "95Mo": (-1.751, 2.5, 15.92),
    "103Rh": (-0.8468, 0.5, 100.0),
    "107Ag": (-1.0889181, 0.5, 51.839),
    "109Ag": (-1.2518634, 0.5, 48.161),
    "111Cd": (-5.6983131, 0.5, 12.80),
    "113Cd": (-5.9609155, 0.5, 12.22),
    "115In": (5.8972, 4.5, 95.71),
    "117Sn": (-9.58879, 0.5, 7.68),
    "119Sn": (-10.0317, 0.5, 8.59),
    "121Sb": (6.4435, 2.5, 57.21),
    "125Te": (-8.5108404, 0.5, 7.07),
    "127I": (5.389573, 2.5, 100.0),
    "129Xe": (-7.452103, 0.5, 26.44),
    "131Xe": (2.209076, 1.5, 21.18),
    "133Cs": (3.5332539, 3.5, 100.0),
    "139La": (3.8083318, 3.5, 99.910),
    "183W": (1.1282403, 0.5, 14.31),
    "195Pt": (5.8385, 0.5, 33.832),
    "199Hg": (4.8457913, 0.5, 16.87),
    "203Tl": (15.5393338, 0.5, 29.524),
    "205Tl": (15.6921808, 0.5, 70.476),
    "207Pb": (5.58046, 0.5, 22.1),
    "209Bi": (4.3750, 4.5, 100.0),
}

#: every tabulated nucleus by name ("1H", "27Al", ...)
NUCLEI: dict[str, Nucleus] = {
    name: Nucleus(name, g * 1e7, spin, abundance) for name, (g, spin, abundance) in _TABLE.items()}
NUCLEI["1H"] = Nucleus("1H", _c.physical_constants["proton gyromag. ratio"][0], 0.5, 99.9885)

_ALIASES = {"D": "2H", "H": "1H", "T": None}


def canonical(name: str) -> str | None:
    """The table name of `name` ("Al27", "al-27", "27al" -> "27Al"; "D" -> "2H"), or None."""
    text = str(name).strip().replace("-", "").replace("_", "").replace(" ", "")
    if text in NUCLEI:
        return text
    if text.upper() in _ALIASES:
        return _ALIASES[text.upper()]
    m = re.fullmatch(r"(\d+)([A-Za-z]{1,2})|([A-Za-z]{1,2})(\d+)", text)
    if m is None:
        return None
    mass, symbol = (m[1], m[2]) if m[1] else (m[4], m[3])
    guess = f"{int(mass)}{symbol.capitalize()}"
    return guess if guess in NUCLEI else None


def suggestions(name: str, n: int = 3) -> list[str]:
    """Close table names for an unknown nucleus (difflib)."""
    return difflib.get_close_matches(str(name), list(NUCLEI), n=n, cutoff=0.5)


def lookup(name: str) -> Nucleus:
    """The Nucleus called `name`; ValueError naming close matches and the table otherwise."""
    key = canonical(name)
    if key is None:
        close = suggestions(name)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise ValueError(f"unknown nucleus {name!r}; {hint}known: {', '.join(NUCLEI)}")
    return NUCLEI[key]
