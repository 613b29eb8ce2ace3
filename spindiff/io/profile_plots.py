"""profile.png: the radial profile P(r, t) around the centres (from profile.csv).

Left: P against the distance r from the nearest centre at a few output times (colour: time,
with a colour bar). Right: P(r, t) as a colour map, one row per output time (rows in output
order, so log-spaced outputs get equal room; the axis is labelled with their times and stage
boundaries are marked).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..figure_style import figure, save, subtitle


def chosen_rows(times: np.ndarray, count: int = 8) -> list[int]:
    """About `count` rows spread evenly in output order, always the first and the last."""
    n = len(times)
    return sorted(set(np.round(np.linspace(0, n - 1, min(count, n))).astype(int).tolist()))


def plot_profile(profile: dict, path: str | Path, title: str = "",
                 stages: Sequence[dict] | None = None, rows: Sequence[int] | None = None,
                 formats: Iterable[str] = ("png",), conditions: dict | None = None) -> list[Path]:
    """The profile figure from {"time_s", "r_nm", "P"} (spindiff.io.results.read_profile);
    conditions: the sample and its conditions for the subtitle (summary.json)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    t, r, P = profile["time_s"], profile["r_nm"], profile["P"]
    rows = list(rows) if rows is not None else chosen_rows(t)
    cmap = colormaps["viridis"]
    with figure(1, 2, width=8.0, height=3.6) as (fig, axes):
        ax, ax2 = axes[0]
        norm = Normalize(0, len(rows) - 1)
        for j, i in enumerate(rows):
            ax.plot(r, P[i], color=cmap(0.9 * norm(j)), lw=1.3)
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=_truncated(cmap)), ax=ax, pad=0.01)
        bar.set_ticks(range(len(rows)))
        bar.set_ticklabels(time_labels(t[rows]))
        bar.set_label("time (s)")
        ax.set_xlabel("distance from the nearest centre r (nm)")
        ax.set_ylabel("<P> in the shell around r")
        ax.set_title("profiles at chosen output times")
        edges = np.concatenate([[r[0] - 0.5 * (r[1] - r[0])], 0.5 * (r[1:] + r[:-1]),
                                [r[-1] + 0.5 * (r[-1] - r[-2])]]) if len(r) > 1 else [0, 1]
        image = ax2.pcolormesh(edges, np.arange(len(t) + 1) - 0.5, np.ma.masked_invalid(P),
                               cmap=cmap, shading="flat")
        fig.colorbar(image, ax=ax2, pad=0.01, label="P")
        ticks = chosen_rows(t, 7)
        ax2.set_yticks(ticks, time_labels(t[ticks]))
        ax2.grid(False)
        last = {"right": -np.inf, "left": -np.inf}
        for stage in (stages or [])[1:]:
            k = int(np.searchsorted(t, float(stage["start_s"]), side="right"))
            ax2.axhline(k - 0.5, color="w", lw=0.8, ls="--")
            # the name on the right, or on the left where it would run into the one before
            side = next((s for s in ("right", "left") if k - last[s] >= 0.06 * len(t)), None)
            if side is not None:
                ax2.text(edges[-1] if side == "right" else edges[0], k - 0.5,
                         f" {stage['name']} ", color="w", ha=side, va="bottom", fontsize=7)
                last[side] = k
        ax2.set_xlabel("distance from the nearest centre r (nm)")
        ax2.set_ylabel("output time (s), one row per output")
        ax2.set_title("P(r, t)")
        subtitle(fig, conditions, title=title, fontsize=9)
        return save(fig, path, formats)


def _truncated(cmap):
    from matplotlib.colors import ListedColormap
    return ListedColormap(cmap(np.linspace(0.0, 0.9, 256)))


def time_labels(times: Sequence[float]) -> list[str]:
    """Times (s) with as many significant digits (3 to 9) as it takes to tell them apart."""
    for digits in range(3, 10):
        labels = [f"{float(x):.{digits}g}" for x in times]
        if len(set(labels)) == len(set(float(x) for x in times)):
            return labels
    return labels
