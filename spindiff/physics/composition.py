"""Nuclear spin densities of a sample from its composition: glassing matrices, ice, mixtures.

A mixture is given as fractions by volume (ideal mixing: the volumes add) or by mass of named
components (COMPONENTS). Per unit volume of the mixture each component contributes
n_i = N_A phi_i rho_i / M_i molecules (by volume; by mass, w_i / M_i per gram over the
mixture's volume sum_j w_j / rho_j), and the densities of the spins follow from the atoms per
molecule:

    1H:  sum_i n_i [h_i - l_i] (1 - x_nat) + n_i l_i (1 - x_i)
    2H:  sum_i n_i [h_i - l_i] x_nat + n_i l_i x_i
    13C: sum_i n_i c_i y_i

h_i hydrogen positions, l_i of them labelled with 2H in a deuterated compound (glycerol-d8:
all 8) at the atom fraction x_i (its deuteration, e.g. 0.98), x_nat and y_nat the natural 2H
and 13C abundances, y_i the 13C fraction of the carbons (natural, or an enrichment). H/D
exchange between hydroxyl groups and water moves 1H between molecules and leaves these totals
unchanged. Densities come out in nm^-3 (1 M of 1H is 0.6022 nm^-3).

Sources of the numbers:
  - liquid densities at 20 C: CRC Handbook of Chemistry and Physics, 97th ed. (2016): water
    0.99820 g/cm^3 and heavy water 1.1050 g/cm^3 ("Properties of water in the range 0-100 C",
    "Properties of heavy water"), glycerol 1.2613 and dimethyl sulfoxide 1.1010 g/cm^3
    ("Physical constants of organic compounds"); ice Ih at 0 C 0.9167 g/cm^3 ("Properties of
    ice and supercooled water");
  - a deuterated compound (glycerol-d8, glycerol-d5, DMSO-d6, D2O ice) has the molar volume of
    its protonated parent, rho = rho_parent M / M_parent (the isotope effect on the molar
    volume is a few 0.1 %: D2O from H2O this way gives 1.1096 g/cm^3 against the measured
    1.1050);
  - atomic masses: 1H 1.00782503, 2H 2.01410178, 13C 13.00335484 u (AME 2020, Wang et al.,
    Chin. Phys. C 45, 030003 (2021)); standard atomic weights C 12.011, N 14.007, O 15.999,
    S 32.06 (IUPAC/CIAAW conventional values);
  - natural abundances 2H 0.0115 %, 13C 1.07 % (IUPAC 2001, spindiff.physics.nuclei);
  - deuteration of the labelled compounds as usually sold for DNP: glycerol-d8 and -d5
    98 atom % D, D2O and DMSO-d6 99.9 atom % D (state yours with `deuteration`).

Not included: the contraction of a sample on freezing and cooling (a frozen glass at 1-100 K
is a few per cent denser than the liquid at 20 C), the excess volume of mixing (about -1 % for
glycerol-water), and the protons of the radical itself (40 mM TEMPOL adds 0.43 nm^-3).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .constants import N_A
from .nuclei import NUCLEI

M_1H, M_2H, M_12C, M_13C = 1.00782503, 2.01410178, 12.0, 13.00335484
ATOMIC_WEIGHT = {"C": 12.011, "N": 14.007, "O": 15.999, "S": 32.06}
X_2H_NATURAL = NUCLEI["2H"].abundance / 100.0
Y_13C_NATURAL = NUCLEI["13C"].abundance / 100.0
CRC = "CRC Handbook of Chemistry and Physics, 97th ed. (2016)"
#: mol/cm^3 -> nm^-3
PER_NM3 = N_A * 1e-21
NUCLEI_GIVEN = ("1H", "2H", "13C")


@dataclass(frozen=True)
class Component:
    """A molecule: hydrogen positions h (l of them labelled with 2H at atom fraction
    `deuteration`), other atoms, density (g/cm^3) with its source, or `parent` whose molar
    volume it shares."""
    name: str
    formula: str
    h: int
    atoms: dict
    density: float | None = None
    density_source: str = ""
    labelled: int = 0
    deuteration: float = 0.0
    parent: str | None = None


COMPONENTS = {c.name: c for c in (
    Component("H2O", "H2O", 2, {"O": 1}, 0.99820, f"{CRC}, water at 20 C"),
    Component("D2O", "D2O", 2, {"O": 1}, 1.1050, f"{CRC}, heavy water at 20 C", labelled=2,
              deuteration=0.999),
    Component("glycerol", "C3H8O3", 8, {"C": 3, "O": 3}, 1.2613, f"{CRC}, glycerol at 20 C"),
    Component("glycerol-d8", "C3D8O3", 8, {"C": 3, "O": 3}, labelled=8, deuteration=0.98,
              parent="glycerol"),
    Component("glycerol-d5", "C3D5H3O3 (C-D)", 8, {"C": 3, "O": 3}, labelled=5,
              deuteration=0.98, parent="glycerol"),
    Component("DMSO", "C2H6OS", 6, {"C": 2, "O": 1, "S": 1}, 1.1010,
              f"{CRC}, dimethyl sulfoxide at 20 C"),
    Component("DMSO-d6", "C2D6OS", 6, {"C": 2, "O": 1, "S": 1}, labelled=6, deuteration=0.999,
              parent="DMSO"),
    Component("ice", "H2O (ice Ih)", 2, {"O": 1}, 0.9167, f"{CRC}, ice Ih at 0 C"),
    Component("ice-D2O", "D2O (ice Ih)", 2, {"O": 1}, labelled=2, deuteration=0.999,
              parent="ice"),
)}


@dataclass(frozen=True)
class Preset:
    """A named composition (fractions of COMPONENTS) and what it is."""
    name: str
    fractions: dict
    by: str
    description: str


PRESETS = {p.name: p for p in (
    Preset("dnp_juice", {"glycerol-d8": 6, "D2O": 3, "H2O": 1}, "volume",
           "\"DNP juice\": glycerol-d8/D2O/H2O 6:3:1 by volume"),
    Preset("glycerol_water", {"glycerol": 6, "H2O": 4}, "volume",
           "glycerol/H2O 6:4 by volume (protonated)"),
    Preset("glycerol_d8_d2o", {"glycerol-d8": 6, "D2O": 4}, "volume",
           "glycerol-d8/D2O 6:4 by volume (deuterated)"),
    Preset("dmso_juice", {"DMSO-d6": 6, "D2O": 3, "H2O": 1}, "volume",
           "DMSO-d6/D2O/H2O 6:3:1 by volume"),
    Preset("dmso_water", {"DMSO": 6, "H2O": 4}, "volume", "DMSO/H2O 6:4 by volume (protonated)"),
    Preset("ice", {"ice": 1}, "volume", "H2O ice Ih"),
    Preset("ice_d2o", {"ice-D2O": 1}, "volume", "D2O ice Ih"),
)}


@dataclass
class Mixture:
    """Spin densities (nm^-3) of a composition, with what went into them."""
    densities: dict
    mass_density: float
    fractions: dict
    by: str
    description: str
    sources: list = field(default_factory=list)

    def density(self, nucleus: str) -> float:
        return self.densities[nucleus]

    def lines(self) -> list[str]:
        """Human-readable lines: the densities, the composition, the sources."""
        d = self.densities
        out = [f"1H {d['1H']:.4g} nm^-3, 2H {d['2H']:.4g} nm^-3, 13C {d['13C']:.4g} nm^-3 "
               f"(mass density {self.mass_density:.4g} g/cm^3) from {self.description}"]
        return out + [f"  {s}" for s in self.sources] + [
            "  liquid densities at 20 C with ideal mixing: a frozen sample is a few per cent "
            "denser; the radical's own protons are not included"]


def molar_mass(c: Component, deuteration: float | None = None, carbon13: float | None = None
               ) -> float:
    """g/mol of the component with its labelled positions at `deuteration` and its carbons at
    the 13C fraction `carbon13` (defaults: the component's, natural)."""
    x = c.deuteration if deuteration is None else deuteration
    h_mass = ((c.h - c.labelled) * _h_mass(X_2H_NATURAL) + c.labelled * _h_mass(x))
    heavy = sum(ATOMIC_WEIGHT[e] * n for e, n in c.atoms.items() if e != "C")
    carbons = c.atoms.get("C", 0)
    c_mass = ATOMIC_WEIGHT["C"] if carbon13 is None else (1 - carbon13) * M_12C + carbon13 * M_13C
    return h_mass + heavy + carbons * c_mass


def density(c: Component, deuteration: float | None = None, carbon13: float | None = None
            ) -> tuple[float, str]:
    """(g/cm^3, source): measured, or the parent's molar volume times this molar mass."""
    if c.density is not None and deuteration is None and carbon13 is None:
        return c.density, c.density_source
    base = COMPONENTS[c.parent] if c.parent else c
    rho = base.density * molar_mass(c, deuteration, carbon13) / molar_mass(base)
    return rho, (f"molar volume of {base.name} ({base.density:g} g/cm^3, "
                 f"{base.density_source}), so {rho:.4f} g/cm^3")


def mixture(fractions: dict[str, float], by: str = "volume",
            deuteration: dict[str, float] | None = None,
            carbon13: dict[str, float] | None = None, description: str = "") -> Mixture:
    """Spin densities of the mixture of COMPONENTS in `fractions` (by "volume" or "mass"; any
    positive numbers, normalised here). deuteration: atom fraction of 2H at the labelled
    positions of a component; carbon13: 13C fraction of a component's carbons. ValueError
    (one line) for an unknown component or a value outside its range."""
    deuteration, carbon13 = deuteration or {}, carbon13 or {}
    for name in list(fractions) + list(deuteration) + list(carbon13):
        if name not in COMPONENTS:
            raise ValueError(f"unknown component {name!r}; known: {', '.join(COMPONENTS)}")
    for name in deuteration:
        if COMPONENTS[name].labelled == 0:
            raise ValueError(f"{name} has no deuterated positions (a deuterated one: "
                             + ", ".join(c.name for c in COMPONENTS.values() if c.labelled) + ")")
    total = sum(fractions.values())
    if by not in ("volume", "mass") or not total > 0 or min(fractions.values()) < 0:
        raise ValueError("fractions must be >= 0 with a positive sum, by volume or mass")
    counts = {"1H": 0.0, "2H": 0.0, "13C": 0.0}
    volume = mass = 0.0
    sources = []
    for name, amount in fractions.items():
        c = COMPONENTS[name]
        x = deuteration.get(name)
        y = carbon13.get(name)
        rho, source = density(c, x, y)
        m_mol = molar_mass(c, x, y)
        share = amount / total
        grams = share * rho if by == "volume" else share
        volume += share if by == "volume" else share / rho
        mass += grams
        moles = grams / m_mol
        xd = c.deuteration if x is None else x
        yc = Y_13C_NATURAL if y is None else y
        counts["1H"] += moles * ((c.h - c.labelled) * (1 - X_2H_NATURAL) + c.labelled * (1 - xd))
        counts["2H"] += moles * ((c.h - c.labelled) * X_2H_NATURAL + c.labelled * xd)
        counts["13C"] += moles * c.atoms.get("C", 0) * yc
        label = f", {xd:.4g} 2H at the {c.labelled} labelled positions" if c.labelled else ""
        sources.append(f"{name} ({c.formula}{label}): {m_mol:.4f} g/mol, density {source}")
    shown = "/".join(fractions) + " " + ":".join(f"{v:g}" for v in fractions.values())
    return Mixture({k: v / volume * PER_NM3 for k, v in counts.items()}, mass / volume,
                   {k: v / total for k, v in fractions.items()}, by,
                   description or f"{shown} by {by}", sources)


def preset_mixture(name: str, deuteration: dict[str, float] | None = None,
                   carbon13: dict[str, float] | None = None) -> Mixture:
    """The Mixture of PRESETS[name] (ValueError naming the presets for an unknown one)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    p = PRESETS[name]
    return mixture(p.fractions, p.by, deuteration, carbon13, f"{p.name}: {p.description}")


def _h_mass(x_2h: float) -> float:
    return (1 - x_2h) * M_1H + x_2h * M_2H
