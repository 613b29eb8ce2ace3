"""One look for every spindiff figure (matplotlib, Agg backend; rank 0 only).

    with figure(ncols=2) as (fig, axes):
        ...
        subtitle(fig, conditions)               # sample, nucleus, B0, T, concentration
        save(fig, path, formats=("png", "pdf"))

Sizes are for a journal column pair (7 in wide) at DPI = 150 dpi; fonts 9 pt; readable ticks
on log axes (`log_ticks`: 1, 2, 5 per decade with plain numbers, no overlapping labels);
colours from one perceptual map (`colours`); axis labels of case keys as physical names with
units (`quantity_label`); every figure states its sample and conditions (`subtitle`, from the
dict `spindiff.case.describe.conditions` makes). `save` writes the PNG and, on request,
PDF/SVG next to it. This module sits at the bottom of the package (numpy and matplotlib only),
so that the physics layer's figures and the results folder's share one style.
"""
from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

#: figure formats `save` can write
FORMATS = ("png", "pdf", "svg")
#: resolution of every PNG spindiff writes
DPI = 150

STYLE = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 7.5,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.5, "lines.linewidth": 1.4, "legend.frameon": False,
    "savefig.dpi": DPI, "figure.dpi": 100, "axes.spines.top": False,
    "axes.spines.right": False, "pdf.fonttype": 42, "svg.fonttype": "none",
}


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@contextmanager
def figure(nrows: int = 1, ncols: int = 1, width: float = 7.0, height: float = 3.4, **kw):
    """(figure, axes) in the spindiff style; the figure is closed on exit."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False,
                                 layout="constrained", **kw)
        try:
            yield fig, axes
        finally:
            plt.close(fig)


@contextmanager
def panels_with_legend(ncols: int, width: float = 7.0, height: float = 3.8,
                       legend_height: float = 0.22, sharey: bool = True):
    """(figure, panel axes, legend axes): `ncols` panels side by side and, below them, an
    axes-less row for one legend shared by all panels."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width, height), layout="constrained")
        grid = fig.add_gridspec(2, ncols, height_ratios=[1.0, legend_height])
        axes = []
        for j in range(ncols):
            axes.append(fig.add_subplot(grid[0, j], sharey=axes[0] if axes and sharey else None))
            if j and sharey:
                axes[-1].tick_params(labelleft=False)
        legend_ax = fig.add_subplot(grid[1, :])
        legend_ax.axis("off")
        try:
            yield fig, axes, legend_ax
        finally:
            plt.close(fig)


def save(fig, path: str | Path, formats: Iterable[str] = ("png",)) -> list[Path]:
    """Write `path` (its suffix is replaced per format) for each of `formats`; returns the
    paths. PNG at 150 dpi; PDF and SVG are vector."""
    path = Path(path)
    out = []
    for fmt in dict.fromkeys(formats):
        if fmt not in FORMATS:
            raise ValueError(f"figure format {fmt!r}; allowed: {', '.join(FORMATS)}")
        target = path.with_suffix("." + fmt)
        fig.savefig(target)
        out.append(target)
    return out


def colours(n: int, cmap: str = "viridis", stop: float = 0.9) -> list:
    """n colours from a perceptual colour map (dark to light, the last one still visible)."""
    from matplotlib import colormaps
    return [colormaps[cmap](x) for x in np.linspace(0.0, stop, max(n, 1))]


def log_ticks(axis) -> None:
    """Plain-number major ticks at 1, 2, 5 x 10^k on a log axis (minor ticks unlabelled)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10) * 1.0, numticks=12))
    axis.set_minor_formatter(NullFormatter())


def thin_log_ticks(axis, lo: float, hi: float) -> None:
    """Like `log_ticks`, but only decades when the range spans more than 2.2 of them."""
    from matplotlib.ticker import LogLocator
    log_ticks(axis)
    if hi > 0 and lo > 0 and np.log10(hi / lo) > 2.2:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0,), numticks=12))


def _plain(x: float, _pos=None) -> str:
    if x <= 0:
        return ""
    exponent = int(np.floor(np.log10(x) + 1e-9))
    if -3 <= exponent <= 4:
        return f"{x:g}"
    mantissa = x / 10.0**exponent
    return (f"$10^{{{exponent}}}$" if abs(mantissa - 1) < 1e-6
            else f"${mantissa:g}\\times10^{{{exponent}}}$")


def is_log_spaced(t: Sequence[float]) -> bool:
    """Whether output times (from the stage start, > 0) are closer to geometric than to
    arithmetic spacing and span more than a decade and a half (then a log axis shows them)."""
    t = np.asarray([x for x in t if x > 0], dtype=float)
    if t.size < 4 or t[-1] / t[0] < 30:
        return False
    ratios = t[1:] / t[:-1]
    steps = np.diff(t)
    return float(np.std(np.log(ratios))) < float(np.std(steps) / np.mean(steps))


@contextmanager
def styled():
    """The spindiff rc settings for figures made outside `figure` (matplotlib.figure.Figure
    objects, pyplot.subplots)."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        yield plt


# --- what a figure says about its sample ----------------------------------------------------

def conditions_text(conditions: dict | None, extra: str = "") -> str:
    """One line: the sample and its conditions, e.g. "1H DNP buildup in a radical glass;
    1H, B0 = 7.05 T, T = 1.2 K, 10 mM centres". `conditions` as made by
    spindiff.case.describe.conditions (keys sample, nucleus, B0_T, temperature_K,
    concentration_mM, each may be None); `extra`: appended (e.g. "concentration swept")."""
    if not conditions:
        return extra
    parts = []
    if conditions.get("nucleus"):
        parts.append(str(conditions["nucleus"]))
    if conditions.get("B0_T"):
        parts.append(f"B0 = {conditions['B0_T']:.4g} T")
    if conditions.get("temperature_K"):
        parts.append(f"T = {conditions['temperature_K']:.4g} K")
    if conditions.get("concentration_mM"):
        parts.append(f"{conditions['concentration_mM']:.4g} mM centres")
    if extra:
        parts.append(extra)
    sample = str(conditions.get("sample") or "").strip()
    text = ", ".join(parts)
    return f"{sample}; {text}" if sample and text else (sample or text)


def subtitle(fig, conditions: dict | None, title: str = "", extra: str = "",
             fontsize: float = 8.0) -> None:
    """The figure's title and, below it, the sample and conditions line, wrapped to the
    figure's width."""
    width = max(int(fig.get_figwidth() * 110 / fontsize), 30)
    text = "\n".join(textwrap.fill(part, width) for part in
                     (title, conditions_text(conditions, extra)) if part)
    if text:
        fig.suptitle(text, fontsize=fontsize)


# --- axis labels ----------------------------------------------------------------------------

_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075"
                                            "\u2076\u2077\u2078\u2079")

#: physical names of case keys (the last parts of a dotted key; "*" a material name)
_NAMES = {
    ("geometry", "concentration"): "radical concentration",
    ("geometry", "radius"): "cell radius R",
    ("geometry", "side"): "box side",
    ("geometry", "particle_size"): "particle size R_p",
    ("geometry", "volume_fraction"): "volume fraction",
    ("geometry", "domain_size"): "domain size",
    ("centres", "barrier_radius"): "barrier radius b",
    ("centres", "visible_radius"): "visible radius r_h",
    ("centres", "saturation_width"): "saturation width",
    ("source", "C6"): "source strength C6",
    ("source", "polarization"): "source polarization P_src",
    ("source", "kappa"): "surface source rate κ",
    ("source", "rate"): "source exchange rate",
    ("source", "radius"): "source region radius",
    ("relaxation", "C6"): "paramagnetic relaxation C6",
    ("relaxation", "P0"): "relaxation target P0",
    ("conditions", "B0"): "field B0",
    ("conditions", "temperature"): "temperature T",
    ("protocol", "initial_polarization"): "initial polarization",
    ("diffusion", "regularization"): "regularization ε",
    ("electron", "T1e"): "electron T1e",
    ("electron", "T2e"): "electron T2e",
}
_MATERIAL_NAMES = {"D0": "spin-diffusion coefficient D0", "T1n": "bulk nuclear T1n",
                   "nuclear_density": "nuclear spin density n"}
_STAGE_NAMES = {"duration": "duration", "microwave_power": "microwave power",
                "microwave_nutation": "microwave nutation ω1/2π",
                "microwave_offset": "microwave offset", "source_polarization": "source polarization",
                "electron_polarization": "electron polarization P_e"}


def pretty_unit(unit: str) -> str:
    """"nm^6/s" -> "nm⁶/s" for figure labels."""
    return re.sub(r"\s*(?:\^|\*\*)\s*([+-]?\d+)",
                  lambda m: m.group(1).lstrip("+").translate(_SUPERSCRIPT), unit)


def quantity_name(key: str) -> str:
    """The physical name of a dotted case key or fit parameter ("materials.glass.D0" ->
    "spin-diffusion coefficient D0 (glass)", "scale[10mM]" -> "signal scale (10mM)");
    the key itself when it has none."""
    base, _, dataset = key.partition("[")
    dataset = dataset.rstrip("]")
    parts = base.split(".")
    name = None
    if base == "scale":
        name = "signal scale"
    elif len(parts) == 3 and parts[0] == "materials" and parts[2] in _MATERIAL_NAMES:
        name = f"{_MATERIAL_NAMES[parts[2]]} ({parts[1]})"
    elif len(parts) == 4 and parts[:2] == ["protocol", "stages"] and parts[3] in _STAGE_NAMES:
        name = f"{_STAGE_NAMES[parts[3]]} of stage {parts[2]}"
    elif tuple(parts[-2:]) in _NAMES and len(parts) == 2:
        name = _NAMES[tuple(parts)]
    if name is None:
        return key
    return f"{name} [{dataset}]" if dataset else name


def quantity_label(key: str, unit: str = "") -> str:
    """An axis label: the physical name of `key` with its unit, "radical concentration (mM)"."""
    unit = pretty_unit(unit.strip()) if unit else ""
    name = quantity_name(key)
    return f"{name} ({unit})" if unit else name


def coincide(a: Sequence[float], b: Sequence[float], fraction: float = 0.005) -> bool:
    """Whether two curves on the same axes lie within `fraction` of their common range of
    each other everywhere (then one hides the other at a line width)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    span = max(float(np.nanmax([a.max(), b.max()]) - np.nanmin([a.min(), b.min()])), 1e-300)
    return bool(np.nanmax(np.abs(a - b)) <= fraction * span)


def value_error(value: float, error: float | None) -> str:
    """"29.18 ± 0.027" (the value to 4 significant digits, the error to 2); the value alone
    when the error is unknown."""
    if error is None or not np.isfinite(error):
        return f"{value:.4g}"
    return f"{value:.4g} ± {error:.2g}"


def in_style(fn):
    """Decorator: the function draws (and saves) its figures with the spindiff rc settings."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper
