"""The D(r; P_e) family near a centre for a case's [electron] model (docs/reference/physics.md
section 3.3): D for P_e = 0, 0.1, ..., 1 and for the P_e of each protocol stage, as a table,
a CSV, a figure and the ratio that HypRes turns on (D at r_h with the microwaves on vs off).

    from spindiff.diffusion_family import diffusion_family
    fam = diffusion_family(case)
    fam.D[:, 0]        # D(r) in nm^2/s for P_e = 0 at fam.r (nm)
"""
from __future__ import annotations

import csv
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .case.describe import conditions
from .case.schema import Case
from .errors import CaseError
from .figure_style import DPI, conditions_text
from .model import flipflop_params, transport_model
from .physics import flipflop
from .physics.flipflop_plots import plot_diffusion_family


@dataclass
class DiffusionFamily:
    """D(r; P_e) for each P_e in `polarizations` (columns of D, nm^2/s) at r (nm)."""
    r: np.ndarray
    polarizations: list[float]
    D: np.ndarray
    stage_polarizations: list[float]
    D0: float
    visible_radius: float
    cell_radius: float
    relative: bool

    def at_visible_radius(self, pe: float) -> float:
        """D(r_h; P_e) in nm^2/s."""
        return float(np.interp(self.visible_radius, self.r,
                               self.D[:, self.polarizations.index(pe)]))


def diffusion_family(case: Case, points: int = 300) -> DiffusionFamily:
    """The family for P_e = 0, 0.1, ..., 1 plus the stages' P_e (CaseError without [electron])."""
    params = flipflop_params(case)
    if params is None:
        raise CaseError("electron", "(missing)", "the D(r; P_e) family needs an [electron] table")
    model = transport_model(case)
    stage_pe = sorted({round(s.electron_polarization, 6) for s in model.stages})
    r = np.geomspace(0.2, max(10.0, 2 * case.cell_radius), points)
    r = np.union1d(r, [case.visible_radius])
    family = [float(p) for p in np.round(np.arange(0.0, 1.0001, 0.1), 10)]
    pes = family + [p for p in stage_pe if p not in family]
    D0 = next(iter(model.materials.values())).D0
    relative = case.electron.scale == "relative"
    cols = [D0 * flipflop.suppression_factor(r, p, params) if relative
            else flipflop.diffusion_coefficient(r, p, params) for p in pes]
    return DiffusionFamily(r, pes, np.column_stack(cols), stage_pe, D0, case.visible_radius,
                           case.cell_radius, relative)


def write(case: Case, family: DiffusionFamily, out: Path) -> None:
    """diffusion_family.png and diffusion_family.csv in the folder `out`."""
    params = flipflop_params(case)
    grid = [p for p in family.polarizations if p not in family.stage_polarizations
            or p in np.round(np.arange(0.0, 1.0001, 0.1), 10)]

    fig = plot_diffusion_family(params, family.r, grid, None, relative=family.relative,
                                r_h=family.visible_radius, r_mv=family.cell_radius,
                                title=f"{case.case.name}: D(r; P_e) for electron "
                                      "polarizations P_e = 0 ... 1\n"
                                      + textwrap.fill(conditions_text(conditions(case)), 90))
    for ax in fig.axes:  # the flip-flop module writes P̄ for the electron polarization
        legend = ax.get_legend()
        for text in legend.get_texts() if legend is not None else []:
            text.set_text(text.get_text().replace("P̄", "P_e"))
    fig.savefig(out / "diffusion_family.png", dpi=DPI)
    with open(out / "diffusion_family.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["r_nm"] + [f"D_nm2_per_s_Pe={p:g}" for p in family.polarizations])
        for i, ri in enumerate(family.r):
            w.writerow([repr(float(ri))] + [repr(float(d)) for d in family.D[i]])


def describe(family: DiffusionFamily) -> list[str]:
    """D at r_h for each stage's P_e, and the ratio between the lowest and highest P_e."""
    rh, D0 = family.visible_radius, family.D0
    lines = []
    for p in family.stage_polarizations:
        d = family.at_visible_radius(p)
        lines.append(f"  P_e = {p:.4f}: D(r_h = {rh:g} nm) = {d:.4g} nm^2/s ({d / D0:.3g} D0)")
    if len(family.stage_polarizations) > 1:
        lo, hi = family.stage_polarizations[0], family.stage_polarizations[-1]
        ratio = family.at_visible_radius(lo) / family.at_visible_radius(hi)
        lines.append(f"  D(r_h; P_e = {lo:.4f}) / D(r_h; P_e = {hi:.4f}) = {ratio:.3g}")
    return lines
