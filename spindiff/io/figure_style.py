"""One look for every spindiff figure (matplotlib, Agg backend; rank 0 only).

    with figure(ncols=2) as (fig, axes):
        ...
        save(fig, path, formats=("png", "pdf"))

Sizes are for a journal column pair (7 in wide) at 150 dpi; fonts 9 pt; readable ticks on log
axes (`log_ticks`: 1, 2, 5 per decade with plain numbers, no overlapping labels); colours from
one perceptual map (`colours`). `save` writes the PNG and, on request, PDF/SVG next to it.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

#: figure formats `save` can write
FORMATS = ("png", "pdf", "svg")

STYLE = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 7.5,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.5, "lines.linewidth": 1.4, "legend.frameon": False,
    "savefig.dpi": 150, "figure.dpi": 100, "axes.spines.top": False,
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
    from matplotlib.ticker import LogLocator, NullFormatter, FuncFormatter
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
