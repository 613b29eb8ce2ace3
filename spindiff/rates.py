"""Source and relaxation terms from the quantum rate module for a case (source.model = "rates").

For every distinct microwave setting of the protocol (nutation w1 / 2 pi and offset) the
module `spindiff.physics.quantum` tabulates k(r), P_src(r) and the paramagnetic R1(r) of the
case's polarizing agent under the case's conditions (orientation- and EPR-line-averaged). The
tables are computed on rank 0, cached on disk (keyed by every input) and broadcast, so a second
run, or a sweep over other parameters, reuses them.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .case.schema import Case
from .errors import CaseError
from .physics.constants import MILLIMOLAR_IN_PER_NM3, nuclear_larmor
from .physics.quantum import (
    Conditions,
    lineshape,
    plot_rate_table,
    plot_sweep_profile,
    preset,
    rate_table,
    sweep_profile,
)
from .physics.quantum.broadline import BroadlineSettings, electron_state
from .physics.quantum.broadline_plots import plot_broadline_sweep, plot_electron_profile
from .physics.quantum.broadline_sweep import broadline_sweep, cached_broadline_table

TWO_PI = 2.0 * math.pi


def cache_dir() -> Path:
    """$SPINDIFF_CACHE, else $XDG_CACHE_HOME/spindiff/rates, else ~/.cache/spindiff/rates."""
    env = os.environ.get("SPINDIFF_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spindiff" / "rates"


def agent_of(case: Case):
    """The PolarizingAgent of the case's [agent] table (preset plus overrides)."""
    a = case.agent
    over = {}
    if a.g is not None:
        over["g"] = a.g
    if a.T1e is not None:
        over["t1e"] = a.T1e
    if a.T2e is not None:
        over["t2e"] = a.T2e
    if a.A_iso is not None:
        over["a_iso"] = TWO_PI * a.A_iso
    if a.line_fwhm is not None:
        over["line_fwhm"] = TWO_PI * a.line_fwhm
    if a.mechanism != "auto":
        over["mechanism"] = a.mechanism
    return preset(a.preset, **over)


def conditions_of(case: Case, nutation_hz: float, offset_hz: float):
    """quantum.Conditions for one microwave setting (frequencies in Hz)."""
    mat = next(iter(case.materials.values()))
    t1n = mat.T1n if math.isfinite(mat.T1n) else 1e6
    c = case.conditions
    conc = None
    if case.geometry.concentration is not None:
        conc = case.geometry.concentration / MILLIMOLAR_IN_PER_NM3
    return Conditions(b0=c.B0, temperature=c.temperature, nucleus=c.nucleus,
                      omega1=TWO_PI * nutation_hz, mw_offset=TWO_PI * offset_hz, t1n=t1n,
                      t2n=case.agent.T2n, concentration_mM=conc, r_ee=case.agent.ee_distance)


def microwave_settings(case: Case) -> dict[str, tuple[float, float]]:
    """(nutation Hz, offset Hz) per stage name; stages without microwaves borrow the first
    setting (their paramagnetic R1 does not depend on it)."""
    out: dict[str, tuple[float, float] | None] = {}
    first = None
    a = case.agent
    for st in case.protocol.stages:
        nu1 = a.microwave_nutation if a is not None and a.microwave_nutation is not None \
            else st.microwave_nutation
        off = a.microwave_offset if a is not None and a.microwave_offset is not None \
            else st.microwave_offset
        if nu1 is None and st.microwave_power is not None and case.electron is not None \
                and case.electron.nutation_per_sqrt_mW is not None:
            # the rules require the conversion factor whenever a power is given
            nu1 = case.electron.nutation_per_sqrt_mW * math.sqrt(st.microwave_power / 1e-3)
        if st.microwaves and nu1 is not None:
            out[st.name] = (float(nu1), float(off))
            first = first or out[st.name]
        else:
            out[st.name] = None
    default = first or (20e3, 0.0)
    return {k: (v if v is not None else default) for k, v in out.items()}


def broadline_settings_of(case: Case):
    """BroadlineSettings from the [agent] keys of agent.method = "broadline" (CaseError for
    agents or geometries it cannot treat)."""
    a = case.agent
    if a.preset == "MnII":
        raise CaseError("agent.preset", a.preset, 'method = "broadline" treats radicals with a '
                        'continuous EPR line (TEMPOL, trityl); use "full" or "effective" for MnII')
    if case.geometry.concentration is None:
        raise CaseError("geometry.concentration", None, 'method = "broadline" needs the radical '
                        'concentration (e-e couplings, spectral diffusion)')
    kw = {}
    if a.ee_min_distance is not None:
        kw["r0"] = float(a.ee_min_distance)
    if a.spectral_diffusion_scale is not None:
        kw["esd_scale"] = float(a.spectral_diffusion_scale)
    if a.T1D is not None:
        kw["t1d"] = float(a.T1D)
    return BroadlineSettings(**kw)


def tables_for_case(case: Case, comm=None, progress: bool = False) -> dict:
    """{stage name: RateTable}, computed on rank 0 (disk cache) and broadcast."""
    settings = microwave_settings(case)
    distinct = sorted(set(settings.values()))
    tables = {}
    if comm is None or comm.rank == 0:
        agent = agent_of(case)
        for setting in distinct:
            cond = conditions_of(case, *setting)
            if case.agent.method == "broadline":
                tables[setting] = cached_broadline_table(agent, cond, broadline_settings_of(case),
                                                         cache_dir=cache_dir())
                continue
            tables[setting] = rate_table(agent, cond, method=case.agent.method,
                                         cache_dir=cache_dir(), warn=False)
    if comm is not None and comm.size > 1:
        tables = comm.bcast(tables, root=0)
    return {name: tables[s] for name, s in settings.items()}


def format_table(case: Case, tables: dict) -> str:
    """Plain-text report: one block per distinct microwave setting."""
    seen, lines = set(), []
    settings = microwave_settings(case)
    for name, table in tables.items():
        if id(table) in seen:
            continue
        seen.add(id(table))
        nu1, off = settings[name]
        stages = [n for n, t in tables.items() if t is table]
        lines.append(f"stages {', '.join(stages)}: w1/2pi = {nu1 / 1e3:g} kHz, microwave offset "
                     f"{off / 1e6:g} MHz ({table.meta.get('method', '')}, "
                     f"{table.meta.get('mechanism', '')})")
        lines.append(f"  {'r (nm)':>8} {'k (1/s)':>11} {'P_src':>9} {'R1_para (1/s)':>14}")
        for r, k, p, r1 in zip(table.r, table.k, table.p_src, table.r1_para):
            lines.append(f"  {r:8.3f} {k:11.4g} {p:9.4f} {r1:14.4g}")
        lines.append(f"  C6 fits: source {table.c6_src:.4g} nm^6/s (fitted exponent "
                     f"{table.exponent_src:.2f}), paramagnetic {table.c6_rel:.4g} nm^6/s "
                     f"(exponent {table.exponent_rel:.2f}); thermal P0 = {table.p_thermal:.4g}")
        if table.meta.get("method") == "broadline":
            m, b = table.meta, table.meta.get("bath", {})
            lines.append(f"  broad-line model: stationary nuclear P = {m['p_nuclear_stationary']:.4f}, "
                         f"mean P_e = {m['mean_p_e_on']:.4f}, beta_D/beta_L = "
                         f"{m['beta_d_over_beta_l']:.4g}; D_D/2pi = {b.get('D_D_Hz', 0) / 1e6:.3g} MHz, "
                         f"D0/2pi = {b.get('D0_Hz', 0) / 1e6:.4g} MHz, r0 = {b.get('r0_nm', 0):g} nm")
            comp = table.components
            tot = max(comp["tsf"]["rate_per_B2"] + comp["se"]["rate_per_B2"], 1e-300)
            lines.append("  share of the microwave-on rate (stationary target): " + ", ".join(
                f"{k.upper()} {comp[k]['rate_per_B2'] / tot:.3f} ({comp[k]['target']:+.4f})"
                for k in ("ce", "tm", "se")))
        warn = (table.validity or {}).get("warnings") or []
        for w in warn:
            lines.append(f"  warning: {w}")
    return "\n".join(lines)


def write_outputs(case: Case, tables: dict, folder: Path, sweep: bool = True,
                  say=print) -> list[str]:
    """rates_<i>.json and rates_<i>.png for each distinct table and, for agents with discrete
    EPR lines (Mn(II)), the sweep profile (nuclear polarization against microwave offset);
    returns the names written into `folder`."""

    written = []
    for i, table in enumerate({id(t): t for t in tables.values()}.values()):
        plot_rate_table(table, str(folder / f"rates_{i}.png"))
        (folder / f"rates_{i}.json").write_text(json.dumps(table.to_dict(), indent=1) + "\n")
        written += [f"rates_{i}.png", f"rates_{i}.json"]
    agent = agent_of(case)
    if case.agent.method == "broadline":
        return written + _write_broadline(case, agent, folder, sweep, say)
    if agent.discrete_lines and sweep:
        nu1, off = next(iter(microwave_settings(case).values()))
        say(f"computing the sweep profile ({case.agent.method} master equation; --no-sweep skips it)")
        prof = sweep_profile(agent, conditions_of(case, nu1, off), method=case.agent.method)
        plot_sweep_profile(prof, str(folder / "sweep_profile.png"))
        written.append("sweep_profile.png")
    elif not agent.discrete_lines:
        say("(sweep profile: the module draws it for agents with discrete EPR lines, e.g. MnII)")
    return written


def _write_broadline(case: Case, agent, folder: Path, sweep: bool, say) -> list[str]:
    """Broad-line model: electron line with its burnt-in polarization profile per microwave
    setting (broadline_profile_<i>.png) and the DNP sweep profile with its two extrema
    (broadline_sweep.png, .csv)."""

    settings = broadline_settings_of(case)
    written = []
    mhz = TWO_PI * 1e6
    for i, (nu1, off) in enumerate(sorted(set(microwave_settings(case).values()))):
        cond = conditions_of(case, nu1, off)
        line = lineshape(agent, cond)
        st, model = electron_state(agent, cond, settings, line)
        wn = _omega_n(case)
        plot_electron_profile(st, line, folder / f"broadline_profile_{i}.png", wn,
                              f"{agent.name}: burnt-in electron polarization, w1/2pi = "
                              f"{nu1 / 1e3:g} kHz, offset {off / 1e6:g} MHz")
        written.append(f"broadline_profile_{i}.png")
        say(f"electron line ({agent.name}): mean P_e = {np.sum(st.grid.f * st.p):.4f} "
            f"(thermal {np.sum(st.grid.f * st.p0):.4f}), min P_e = {st.p.min():.4f}, "
            f"beta_D / beta_L = {st.beta_d / model.beta_l:.4g}, {len(st.p)} packets")
    if sweep:
        nu1, off = next(iter(microwave_settings(case).values()))
        say("computing the DNP sweep profile (broad-line model; --no-sweep skips it)")
        cond = conditions_of(case, nu1, off)
        sw = broadline_sweep(agent, cond, settings)
        line = lineshape(agent, cond)
        plot_broadline_sweep(sw, line, folder / "broadline_sweep.png")
        rows = np.column_stack([sw.offsets / mhz, sw.p_n, sw.p_tsf, sw.p_ce, sw.p_tm, sw.p_se,
                                sw.rate, sw.beta_ratio, sw.mean_pe])
        np.savetxt(folder / "broadline_sweep.csv", rows, delimiter=",",
                   header="offset_MHz,P_n,P_tsf,P_ce,P_tm,P_se,rate_per_B2,betaD_over_betaL,"
                          "mean_Pe", comments="")
        e = sw.extrema
        say(f"sweep extrema: P_n = {e['max'][1]:+.4f} at {e['max'][0] / mhz:.1f} MHz, "
            f"{e['min'][1]:+.4f} at {e['min'][0] / mhz:.1f} MHz; separation "
            f"{e['separation'] / mhz:.1f} MHz (2 omega_n / 2pi = {2 * sw.omega_n / mhz:.1f} MHz)")
        written += ["broadline_sweep.png", "broadline_sweep.csv"]
    return written


def _omega_n(case: Case) -> float:
    return nuclear_larmor(case.conditions.nucleus, case.conditions.B0)
