"""Figures a referee accepts: every figure states its sample and conditions (nucleus, B0,
temperature, concentration), axis labels are physical names with units (no dotted case keys),
no two tick labels of an axis overlap, legends have no duplicate entries. Checked on every
figure spindiff saves while the test runs (matplotlib's Figure.savefig is wrapped)."""
from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from conftest import BASE_CASE, CASES

CONDITIONS = {"conditions": {"B0": "7.05 T", "temperature": "1.2 K", "nucleus": "1H"},
              "relaxation": {"C6": "0 nm^6/s", "P0": "thermal"},
              "protocol": {"initial_polarization": "thermal",
                           "stages": [{"name": "buildup", "duration": "30 s", "outputs": 20},
                                      {"name": "decay", "duration": "100 s", "microwaves": False,
                                       "outputs": 10, "spacing": "linear"}]}}


@pytest.fixture
def saved(monkeypatch):
    """Every figure saved during the test: (path, problems) with the problems found."""
    from matplotlib.figure import Figure
    found = []
    original = Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        if not hasattr(self.canvas, "get_renderer"):  # a bare Figure: an Agg canvas to measure
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            FigureCanvasAgg(self)
        self.canvas.draw()
        found.append((str(fname), problems(self), texts(self)))
        return original(self, fname, *args, **kwargs)
    monkeypatch.setattr(Figure, "savefig", savefig)
    return found


def texts(fig) -> str:
    """Every title, suptitle and axis label of a figure."""
    out = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return "\n".join(t for t in out if t)


def problems(fig) -> list[str]:
    """Overlapping tick labels on one axis, duplicate legend entries, raw case keys in axis
    labels."""
    out = []
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for axis, i in ((ax.xaxis, 0), (ax.yaxis, 1)):
            lo, hi = sorted(axis.get_view_interval())
            span = (hi - lo) * 1e-9
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()
                      and lo - span <= t.get_position()[i] <= hi + span]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for (a, ta), (b, tb) in itertools.combinations(zip(boxes, labels), 2):
                if a.overlaps(b) and a.width > 0 and b.width > 0:
                    out.append(f"ticks {ta.get_text()!r} and {tb.get_text()!r} overlap")
            offset = axis.get_offset_text().get_text()
            if "+" in offset.replace("e+", "e"):
                out.append(f"an additive offset {offset!r} instead of tick values")
        legend = ax.get_legend()
        if legend is not None:
            names = [t.get_text() for t in legend.get_texts()]
            if len(set(names)) != len(names):
                out.append(f"duplicate legend entries {names}")
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            if any(k in label for k in ("geometry.", "materials.", "source.", "relaxation.")):
                out.append(f"raw case key in the label {label!r}")
    return out


def assert_good(saved, conditions=("1H", "7.05 T", "1.2 K")):
    assert saved, "no figure was saved"
    for path, found, text in saved:
        assert not found, (path, found)
        for c in conditions:
            assert c in text, (path, c, text)


def small_case(**extra):
    from spindiff.case import Case
    raw = copy.deepcopy(BASE_CASE)
    raw.update(copy.deepcopy(CONDITIONS))
    raw["geometry"] = {"kind": "sphere_cell", "concentration": "20 mM"}
    raw["mesh"]["radial_cells"] = 60
    raw["output"] = {"plots": True, "profile": True, "profile_bins": 12}
    raw.update(extra)
    return Case.from_dict(raw)


def test_run_figures_state_their_conditions(tmp_path, saved):
    """buildup.png and profile.png of a two-stage run: subtitle with 1H, 7.05 T, 1.2 K and
    20 mM; the decay's fit labelled as T1 with its uncertainty; no overlaps."""
    from spindiff.runner import run
    run(small_case(), out_dir=tmp_path / "out", progress=False)
    assert {p.rsplit("/", 1)[-1] for p, _, _ in saved} == {"buildup.png", "profile.png"}
    assert_good(saved, ("1H", "7.05 T", "1.2 K", "20 mM"))


def test_hypres_figures(tmp_path, saved):
    """The HypRes case (coarse 1D): three stage panels (the wait stage says why it is not
    fitted), the profile's stage names, the subtitle."""
    from spindiff.case import load_case
    from spindiff.runner import run
    case = load_case(CASES / "hypres_tempol.toml", {"mesh.model": "radial", "mesh.radial_cells": 60,
                                                    "mesh.error_estimate": "off",
                                                    "output.profile": True})
    run(case, out_dir=tmp_path / "out", progress=False)
    assert_good(saved, ("1H", "7.05 T", "1.2 K", "50 mM"))
    assert any("not fitted" in text for _, _, text in saved)


def test_sweep_figure_labels_the_swept_key_and_the_stage(tmp_path, saved):
    from spindiff.case import Case
    from spindiff.sweep import run_sweep
    raw = small_case().raw()
    raw["output"] = {"plots": False}
    raw["sweep"] = {"parameters": {"geometry.concentration": ["5 mM", "20 mM"]}}
    run_sweep(Case.from_dict(raw), tmp_path / "sw", progress=False, say=lambda *a: None)
    assert_good(saved)
    text = saved[-1][2]
    assert "radical concentration (mM)" in text and "'buildup'" in text, text
    assert "20 mM centres" not in text  # the swept concentration is not one condition


def test_compare_figure_shows_both_curves_and_their_difference(tmp_path, saved):
    from spindiff import compare as cmp
    c = cmp.compare(small_case(output={"plots": False}))
    cmp.write([c], tmp_path)
    assert_good(saved)
    text = saved[-1][2]
    assert "largest difference" in text and "ΔP" in text, text


def test_fit_figures(tmp_path, saved):
    """fit.png and a profile figure: the verdicts, the conditions, physical axis labels."""
    import tomli_w

    from spindiff.fit import fit
    from spindiff.runner import run
    case = small_case(output={"plots": False})
    (tmp_path / "case.toml").write_text(tomli_w.dumps(case.raw()))
    res = run(case, progress=False)
    sel = res.series["stage"] == "buildup"
    t, y = res.series["time_s"][sel][1:], res.series["P_sample"][sel][1:]
    y = y + np.random.default_rng(2).normal(0, 0.003, len(y))
    (tmp_path / "data.csv").write_text("time_s,value,sigma\n" + "\n".join(
        f"{float(a)!r},{float(b)!r},0.003" for a, b in zip(t, y)))
    (tmp_path / "fit.toml").write_text(tomli_w.dumps({
        "fit": {"name": "f", "starts": 0, "profile_points": 5},
        "parameters": [{"key": "source.C6", "start": "2 nm^6/s", "min": "0.1 nm^6/s",
                        "max": "100 nm^6/s"}],
        "datasets": [{"name": "d", "case": "case.toml", "data": "data.csv"}]}))
    res = fit(tmp_path / "fit.toml", out=tmp_path / "out", profile="source.C6")
    assert_good(saved, ("1H", "7.05 T", "1.2 K", "20 mM"))
    text = "\n".join(t for _, _, t in saved)
    assert "source strength C6 (nm⁶/s)" in text, text
    # fit.png states the verdict the summary prints, word for word
    from spindiff.figure_style import pretty_unit
    from spindiff.fit.report import parameter_text
    flat = " ".join(text.split())
    for name, p in res.parameters.items():
        head, verdict = parameter_text(name, p, pretty_unit)
        assert " ".join(f"{head}   {verdict}".split()) in flat, (verdict, flat)
        assert verdict.split(" (")[0] in " ".join(res.summary()), verdict


def test_physics_figures_use_the_style(tmp_path, saved):
    """The flip-flop family (physics layer) is saved at the shared DPI with the shared fonts."""
    from spindiff.figure_style import DPI, STYLE
    from spindiff.physics.flipflop import FlipFlopParams
    from spindiff.physics.flipflop_plots import plot_diffusion_family
    params = FlipFlopParams(a=0.66, gamma2=11e3, gamma2_unit="Hz", tau_c=0.5e-6, nucleus="1H",
                            b0=7.05)
    fig = plot_diffusion_family(params, np.geomspace(0.2, 5, 50), None, str(tmp_path / "f.png"))
    assert saved and not saved[0][1], saved
    from PIL import Image
    with Image.open(tmp_path / "f.png") as im:
        assert im.size == (int(6.4 * DPI), int(4.8 * DPI))
    assert fig.axes[0].xaxis.label.get_fontsize() == STYLE["axes.labelsize"]
