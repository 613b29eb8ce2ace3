"""Particle-size series: `spindiff particle-series CASE` (relayed DNP into particles).

Runs a particle case (geometry kind "particle") at a list of particle sizes R_p (radius, or
half-thickness of a slab) at the case's volume fraction (the box side scales with R_p), by
default with the 1D reduction (mesh.model = "radial"), and tabulates per size the fitted
mono-exponential T_B and the final enhancement <P>/P0 of the particle, the matrix and the whole
sample (particle_series.csv/.json) and plots them against R_p on log axes
(particle_series.png) with the diffusion-limited law of the particle's slowest mode

    T_D = R_p^2 / (alpha^2 D_p),   alpha = pi (sphere), j_0,1 = 2.405 (cylinder), pi/2 (slab),

which T_B approaches for large particles when T1n of the particle is long. Each run lasts at
least 6 T_D (every stage's duration is scaled up by the same factor when needed), so that the
large particles reach their plateau. The homogenized matrix rates are computed once. Sizes come
from --sizes, else from the case's [sweep] parameters "geometry.particle_size", else 13 sizes
from 10 nm to 10 um. In 1D every rank runs its share of the sizes alone.
"""
from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mpi4py import MPI

from . import __version__
from .case import load_case
from .case.describe import conditions
from .case.schema import Case
from .errors import CaseError
from .figure_style import DPI, styled, subtitle
from .io.folders import output_folder
from .io.identity import case_identity
from .io.results import dumps_json
from .model import transport_model
from .physics.shapes import shape as shape_of
from .sources import source_law
from .units import parse

DEFAULT_SIZES = tuple(float(x) for x in np.geomspace(10.0, 10_000.0, 13))
#: runs last at least this many diffusion times T_D of the particle
SPAN = 6.0


def sizes_of(case: Case, given: Sequence[str] | None = None) -> list[float]:
    """Particle sizes (nm) of the series: `given` ("10 nm", "2 um", ...), the case's [sweep]
    list of geometry.particle_size, or DEFAULT_SIZES."""
    raw = list(given or [])
    if not raw and case.sweep is not None:
        raw = list(case.sweep.parameters.get("geometry.particle_size", []))
    if not raw:
        return list(DEFAULT_SIZES)
    out = []
    for v in raw:
        try:
            a = parse(v, "length")
        except Exception as exc:
            raise CaseError("particle-series sizes", v, f"a length such as \"2 um\" ({exc})") from None
        if not a > 0:
            raise CaseError("particle-series sizes", v, "a positive length")
        out.append(a)
    return sorted(out)


def diffusion_time(case: Case, size: float) -> float:
    """T_D = R_p^2 / (alpha^2 D_p) (s) of the case's particle at size R_p (nm)."""
    g = case.geometry
    return size**2 / (shape_of(g.shape).alpha ** 2 * case.materials[g.particle_material].D0)


def surface_limited_mean(shape: str, size: float, D: float, T1: float,
                         t: np.ndarray, nterms: int = 2000) -> np.ndarray:
    """Mean P(t) / P_s of a particle whose surface is held at P_s from t = 0 (P = 0 inside,
    internal D, T1; Crank's series with first-order decay, tests/README.md), normalised to its
    plateau: the diffusion-limited buildup of a large particle in a fast matrix."""
    form = shape_of(shape)
    p = form.power
    k = form.eigenvalues(nterms) / size
    inv_L2 = 0.0 if not math.isfinite(T1) else 1.0 / (D * T1)
    a = size * math.sqrt(inv_L2)   # R / L, L = sqrt(D T1)
    if a < 1e-6:
        ss = 1.0
    else:
        ss = form.steady_mean(a)
    w = 1.0 / (k**2 + inv_L2)
    lam = D * k**2 + inv_L2 * D
    return 1.0 - (2 * (p + 1) / size**2) * (np.exp(-np.outer(np.asarray(t, dtype=float), lam))
                                            * w).sum(axis=1) / ss


#: 3D element sizes (fractions of the particle size) where the case gives none: the interface
#: layers resolve the nm scales across the surface (docs/reference/heterogeneous.md)
THREE_D_SIZES = {"size_bulk": 0.5, "size_particle": 0.2, "size_barrier": 0.2, "size_interface": 0.1}


def size_case(case: Case, size: float, mesh_model: str) -> Case:
    """The case at particle size `size` (nm), same volume fraction, long enough for 6 T_D."""
    g = case.geometry
    f = size / g.particle_size
    changes: dict = {"geometry.particle_size": f"{float(size)!r} nm", "mesh.model": mesh_model,
                     "sweep": None, "case.name": f"{case.case.name}-{size:.4g}nm"}
    if g.sides is not None:
        changes["geometry.sides"] = [f"{float(f * s)!r} nm" for s in g.sides]
    else:
        changes["geometry.side"] = f"{float(f * g.side)!r} nm"
    total = sum(st.duration for st in case.protocol.stages)
    stretch = max(1.0, SPAN * diffusion_time(case, size) / total)
    if stretch > 1.0:  # the output times stretch too: the fit window scales with T_D
        for i, st in enumerate(case.protocol.stages):
            changes[f"protocol.stages.{i}.duration"] = f"{st.duration * stretch!r} s"
            if st.first_output is not None:
                changes[f"protocol.stages.{i}.first_output"] = f"{st.first_output * stretch!r} s"
    if mesh_model == "3d":
        m = case.mesh
        given = getattr(m, "model_fields_set", set())
        for key in ("size_bulk", "size_particle", "size_barrier", "size_interface"):
            if key in given and getattr(m, key) is not None:
                changes[f"mesh.{key}"] = f"{getattr(m, key) * f!r} nm"
            elif key in THREE_D_SIZES:   # not in the case: fractions of the particle size
                changes[f"mesh.{key}"] = f"{THREE_D_SIZES[key] * size!r} nm"
    return case.with_changes(changes)


def _row(case: Case, size: float, summary: dict, series: dict, t_case: float,
         wall: float) -> dict:
    """One table row; `t_case`: the end of the case's own protocol (s), where the enhancement
    an experiment of that length sees is read from the series (interpolated)."""
    g = case.geometry
    p, mtx = g.particle_material, g.matrix_material
    P0 = summary["thermal_polarization"]
    fit = next((f for f in summary["fits"].values() if f.get("source_on")), None) \
        or next(iter(summary["fits"].values()), {})

    def tb(key: str | None):
        f = fit.get("mono") if key is None else (fit.get("materials") or {}).get(key, {}).get("mono")
        return f["T_B_s"] if f else None

    fin = summary["final"]["P"]
    enh = (lambda v: v / P0 if P0 else None)
    err = summary.get("spatial_error", {})
    return {"R_p_nm": size, "T_B_particle_s": tb(p), "T_B_matrix_s": tb(mtx), "T_B_sample_s": tb(None),
            "enhancement_particle": enh(fin[p]), "enhancement_matrix": enh(fin[mtx]),
            "enhancement_sample": enh(fin["sample"]), "P_particle": fin[p], "P_matrix": fin[mtx],
            "P_sample": fin["sample"], "T_D_s": diffusion_time(case, size),
            "T_B_diffusion_limited_s": _limit(case, size, series["time_s"]),
            **{f"enhancement_{k}_at_case_end": enh(float(np.interp(t_case, series["time_s"],
                                                                 series[f"P_{n}"])))
               for k, n in (("particle", p), ("matrix", mtx), ("sample", "sample"))},
            "duration_s": summary["final"]["time_s"], "dofs": summary["mesh"]["dofs"],
            "spatial_error": err.get("max_relative"), "wall_time_s": wall}


def _limit(case: Case, size: float, t: np.ndarray) -> float | None:
    """T_B of the same mono-exponential fit of the diffusion-limited curve (surface held at
    the plateau from t = 0) on the run's output times: the large-particle limit of T_B."""
    from .analysis.fits import fit_buildup
    g = case.geometry
    mat = case.materials[g.particle_material]
    t = np.asarray(t, dtype=float)
    fit = fit_buildup(t, surface_limited_mean(g.shape, size, mat.D0, mat.T1n, t))["mono"]
    return fit["T_B_s"] if fit else None


def run_series(case: Case, sizes: Sequence[float], out_dir: str | Path | None = None,
               comm: MPI.Comm = MPI.COMM_WORLD, mesh_model: str = "radial", overwrite: bool = False,
               say=None) -> dict:
    """Run the series; returns {"rows": [...], "wall_time_s": ...} on every rank and, with
    out_dir, writes particle_series.csv/.json/.png there (rank 0)."""
    from .homogenize import effective_rates
    from .runner import run  # the CLI builds its parser from this module: keep it light
    if case.geometry.kind != "particle":
        raise CaseError("geometry.kind", case.geometry.kind, "particle-series needs \"particle\"")
    wall0 = time.perf_counter()
    homog = effective_rates(case) if case.centres.representation == "homogenized" else None
    tables = None
    if source_law(case).needs_rate_tables:
        from .rates import tables_for_case
        tables = tables_for_case(case, comm)
    t_case = sum(st.duration for st in case.protocol.stages)
    serial = mesh_model == "radial"
    mine = range(comm.rank, len(sizes), comm.size) if serial else range(len(sizes))
    run_comm = MPI.COMM_SELF if serial else comm
    rows = {}
    for i in mine:
        c = size_case(case, sizes[i], mesh_model)
        t0 = time.perf_counter()
        res = run(c, comm=run_comm, progress=False, model=transport_model(c, tables, homog))
        rows[i] = _row(c, sizes[i], res.summary, res.series, t_case, time.perf_counter() - t0)
        if say is not None and (serial or comm.rank == 0):
            r = rows[i]
            say(f"  R_p = {sizes[i]:.4g} nm: T_B particle {r['T_B_particle_s'] or float('nan'):.4g} s, "
                f"enhancement {r['enhancement_particle'] or float('nan'):.4g} "
                f"({r['wall_time_s']:.2f} s)")
    if serial:
        rows = {k: v for part in comm.allgather(rows) for k, v in part.items()}
    info = {"rows": [rows[i] for i in range(len(sizes))], "wall_time_s": time.perf_counter() - wall0,
            "mesh_model": mesh_model, "shape": case.geometry.shape,
            "particle": case.geometry.particle_material, "matrix": case.geometry.matrix_material,
            "case_duration_s": t_case,
            "law": "T_D = R_p^2 / (alpha^2 D_p), alpha = "
                   f"{shape_of(case.geometry.shape).alpha:.6g}", "ranks": comm.size,
            "conditions": conditions(case)}
    if out_dir is not None:
        identity = {**case_identity(case), "sizes_nm": list(sizes), "mesh.model": mesh_model}
        with output_folder(out_dir, comm, "particle-series", identity, overwrite) as folder:
            if comm.rank == 0:
                write(info, folder.path, case.case.name)
    return info


def write(info: dict, out: Path, title: str) -> None:
    """particle_series.csv, particle_series.json and particle_series.png in `out`."""
    rows = info["rows"]
    with open(out / "particle_series.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "particle_series.json").write_text(dumps_json(info) + "\n")
    plot(info, out / "particle_series.png", title)


def plot(info: dict, path: Path, title: str = "") -> None:
    """T_B and enhancement against R_p, log axes, with the diffusion-limited law."""
    with styled() as plt:
        _plot(plt, info, path, title, DPI, subtitle)


def _plot(plt, info: dict, path: Path, title: str, dpi: int, subtitle) -> None:
    rows = info["rows"]
    R = np.array([r["R_p_nm"] for r in rows])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.5, 4.3), constrained_layout=True)
    names = (("particle", info["particle"], "C0", "o"), ("matrix", info["matrix"], "C1", "s"),
             ("sample", "whole sample", "k", "^"))
    for key, label, colour, marker in names:
        tb = np.array([r[f"T_B_{key}_s"] if r[f"T_B_{key}_s"] is not None else np.nan for r in rows])
        en = np.array([r[f"enhancement_{key}"] if r[f"enhancement_{key}"] is not None else np.nan
                       for r in rows])
        at = np.array([r[f"enhancement_{key}_at_case_end"] if r[f"enhancement_{key}_at_case_end"]
                       is not None else np.nan for r in rows])
        a1.loglog(R, tb, marker=marker, color=colour, label=label, ms=4)
        a2.semilogx(R, en, marker=marker, color=colour, label=f"{label}, end of run ($\\geq 6\\,T_D$)",
                    ms=4)
        a2.semilogx(R, at, marker=marker, color=colour, ls=":", mfc="none", ms=4,
                    label=f"{label}, at t = {info['case_duration_s']:.4g} s")
    TD = np.array([r["T_D_s"] for r in rows])
    lim = np.array([r["T_B_diffusion_limited_s"] or np.nan for r in rows])
    a1.loglog(R, TD, "--", color="0.55", lw=1.0, label=r"$T_D = R_p^2/(\alpha^2 D_p)$")
    a1.loglog(R, lim, "-.", color="0.25", lw=1.2,
              label="diffusion-limited: fit of Crank's series\n(surface held at the plateau)")
    xlabel = f"particle {shape_of(info['shape']).size_word}" + r" $R_p$ (nm)"
    a1.set_xlabel(xlabel)
    a1.set_ylabel(r"buildup time $T_B$ (s)")
    a1.set_ylim(0.3 * np.nanmin([np.nanmin(TD), *(r["T_B_matrix_s"] or np.nan for r in rows)]),
                3 * np.nanmax([np.nanmax(TD)] + [r["T_B_particle_s"] or np.nan for r in rows]))
    a1.legend(fontsize=8)
    a1.grid(True, which="major", alpha=0.3)
    a2.set_xlabel(xlabel)
    a2.set_ylabel(r"enhancement $\langle P\rangle / P_0$")
    a2.set_ylim(bottom=0)
    a2.legend(fontsize=8)
    a2.grid(True, which="major", alpha=0.3)
    subtitle(fig, info.get("conditions"), fontsize=9,
             title=f"{title}: {info['shape']} of {info['particle']} in {info['matrix']} "
                   f"({'1D reduction' if info['mesh_model'] == 'radial' else '3D'})")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def format_table(info: dict) -> str:
    head = (f"{'R_p (nm)':>10}{'T_B part (s)':>14}{'T_B matrix':>12}{'T_B sample':>12}"
            f"{'eps part':>10}{'eps matrix':>11}{'eps sample':>11}{'T_D (s)':>10}{'err':>9}")
    lines = [head]
    for r in info["rows"]:
        def g(v, fmt="10.4g"):
            return format(v, fmt) if v is not None else format("-", ">" + fmt.rstrip("g").split(".")[0])
        lines.append(f"{r['R_p_nm']:10.4g}{g(r['T_B_particle_s'], '14.4g')}{g(r['T_B_matrix_s'], '12.4g')}"
                     f"{g(r['T_B_sample_s'], '12.4g')}{g(r['enhancement_particle'])}"
                     f"{g(r['enhancement_matrix'], '11.4g')}{g(r['enhancement_sample'], '11.4g')}"
                     f"{r['T_D_s']:10.3g}{g(r['spatial_error'], '9.1e')}")
    lines.append(f"{len(info['rows'])} sizes in {info['wall_time_s']:.1f} s on {info['ranks']} rank(s)")
    return "\n".join(lines)


def command(args, overrides: dict) -> int:
    """`spindiff particle-series CASE [--sizes ...] [--3d] [--out DIR] [--overwrite]`
    (overrides: the --set keys, parsed by the command line)."""
    say = (lambda *a: print(*a, flush=True)) if MPI.COMM_WORLD.rank == 0 else (lambda *a: None)
    case = load_case(args.case, overrides)
    sizes = sizes_of(case, args.sizes)
    out = Path(args.out) if args.out else Path("results") / f"{case.case.name}-particle-series"
    model = "3d" if args.three_d else "radial"
    say(f"spindiff {__version__}: particle-series of {args.case}: {len(sizes)} sizes from "
        f"{sizes[0]:.4g} to {sizes[-1]:.4g} nm ({'3D' if args.three_d else '1D reduction'}) -> {out}")
    info = run_series(case, sizes, out, mesh_model=model, overwrite=args.overwrite,
                      say=None if args.quiet else say)
    say(format_table(info))
    say(f"results: {out}/ (particle_series.csv, particle_series.json, particle_series.png)")
    return 0


def add_parser(sub, func):
    """The `particle-series` subcommand (handled by `func`) on the subparsers `sub` of
    spindiff's command line."""
    c = sub.add_parser("particle-series", help="T_B and enhancement against particle size "
                       "(1D reduction; table and log-axes figure)")
    c.add_argument("case", help="a particle case (geometry kind \"particle\")")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a case key")
    c.add_argument("--sizes", nargs="+", metavar="SIZE",
                   help="particle sizes, e.g. --sizes \"10 nm\" \"100 nm\" \"1 um\" (default: the "
                        "case's [sweep] geometry.particle_size list, else 10 nm to 10 um)")
    c.add_argument("--3d", dest="three_d", action="store_true",
                   help="3D meshes instead of the 1D reduction (mesh sizes scale with R_p)")
    c.add_argument("--out", help="output folder (default results/<case name>-particle-series)")
    c.add_argument("--overwrite", action="store_true",
                   help="replace an earlier particle-series folder at the output path")
    c.add_argument("--quiet", action="store_true", help="no line per size")
    c.set_defaults(func=func)
    return c


def read_info(out: str | Path) -> dict:
    """The particle_series.json of a finished series."""
    return json.loads((Path(out) / "particle_series.json").read_text())
