"""A Bruker pseudo-2D experiment folder (EXPNO) as a measured curve: one integral per row.

Read with nmrglue (an optional dependency: `pip install "spindiff[bruker]"`):

  - the spectra: pdata/<procno>/2rr (processed in TopSpin: phased, baseline-corrected), on
    TopSpin's chemical-shift axis, point k at OFFSET - k SW_p / (SF SI) ppm (procs); without
    a 2rr, the rows of the ser are Fourier transformed here (nmrglue's digital-filter removal,
    the first point halved, no apodization, one zero-order phase for all rows: the one that
    makes the integral of the strongest row real and positive), on the axis nmrglue derives
    from acqus: enough for one well-separated line, otherwise process in TopSpin;
  - the integral of each row: the sum of its points whose shift lies in `ppm_range` (the two
    ends in any order), times the point spacing in ppm (arbitrary units: fit it as
    quantity = "signal");
  - the times, one per row (the first TD1 = acqu2s TD rows), from the variable-delay list
    (`vdlist`: delays with TopSpin's unit letters s, m, u, n; plain numbers are seconds) or
    the variable-counter list (`vclist`: loop counts, times = count x `loop_delay`, a
    pulse-program delay such as "d20" (acqus D[20], s) or "p15" (P[15], us), several of them
    summed as a list, or a quantity such as "12.5 ms"). `delay_list` chooses; by default the
    vdlist if there is one, else the vclist.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import units
from ..errors import CaseError
from .data_rows import NUMBER, TOPSPIN_UNITS, checked_rows

INSTALL = 'reading a Bruker experiment folder needs nmrglue: pip install "spindiff[bruker]" ' \
          '(or pip install nmrglue)'
LISTS = ("vdlist", "vclist")


def read_bruker(path: Path, d: dict[str, Any], where: str, source: str | None):
    """(times s, integrals, None) of the experiment folder at `path` for the data set `d`."""
    key = f"{where}.data"
    try:
        import nmrglue as ng
    except ImportError:
        raise CaseError(key, str(path), INSTALL, source) from None
    if not (path / "acqus").is_file():
        raise CaseError(key, str(path), "a folder without acqus: not a Bruker experiment "
                        "(EXPNO) folder", source)
    lo, hi = _ppm_range(d.get("ppm_range"), f"{where}.ppm_range", source)
    procno = d.get("procno", 1)
    if isinstance(procno, bool) or not isinstance(procno, int) or procno < 1:
        raise CaseError(f"{where}.procno", procno, "a processing number >= 1 (pdata/<procno>)",
                        source)
    try:
        acqus = ng.bruker.read_acqus_file(str(path))
    except Exception as exc:  # noqa: BLE001 - a malformed parameter file
        raise CaseError(key, str(path), f"acqus cannot be read ({_first(exc)})", source) from None
    rows = int(acqus.get("acqu2s", {}).get("TD", 0) or 0)
    ppm, spectra = _spectra(ng, path, procno, key, source)
    if rows <= 0 or rows > len(spectra):
        rows = len(spectra)
    times, list_path, list_lines = _times(path, d, acqus, rows, where, source)
    inside = (ppm >= lo) & (ppm <= hi)
    if inside.sum() < 1:
        raise CaseError(f"{where}.ppm_range", [hi, lo], f"holds no point of the spectrum "
                        f"({ppm.min():.4g} to {ppm.max():.4g} ppm)", source)
    if np.iscomplexobj(spectra):   # from the ser: one zero-order phase for every row
        sums = spectra[:rows, inside].sum(axis=1)
        spectra = np.real(spectra * np.exp(-1j * np.angle(sums[np.argmax(np.abs(sums))])))
    step = abs(float(ppm[1] - ppm[0])) if len(ppm) > 1 else 1.0
    integrals = spectra[:rows, inside].sum(axis=1) * step
    a = checked_rows(np.column_stack([times, integrals]), list_lines, list_path, key, source)
    return a[:, 0], a[:, 1], None


def _ppm_range(value: Any, key: str, source: str | None) -> tuple[float, float]:
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
          and value[0] != value[1])
    if not ok:
        raise CaseError(key, value if value is not None else "(missing)", "two chemical shifts "
                        "in ppm to integrate between, e.g. ppm_range = [12.0, -4.0]", source)
    return float(min(value)), float(max(value))


def _spectra(ng, path: Path, procno: int, key: str, source: str | None):
    """(ppm axis, spectra (rows, points)): real from pdata/<procno>/2rr, else complex from the
    ser (digital filter removed, first point halved, Fourier transformed)."""
    pdata = path / "pdata" / str(procno)
    if (pdata / "2rr").is_file():
        try:
            dic, data = ng.bruker.read_pdata(str(pdata), scale_data=True)
            p = dic["procs"]
            si = int(p["SI"])
            ppm = float(p["OFFSET"]) - np.arange(si) * float(p["SW_p"]) / (float(p["SF"]) * si)
        except Exception as exc:  # noqa: BLE001
            raise CaseError(key, str(pdata / "2rr"), f"cannot be read ({_first(exc)})",
                            source) from None
        data = np.asarray(data, dtype=float)
        if data.ndim != 2 or data.shape[1] != si:
            raise CaseError(key, str(pdata / "2rr"), f"a {data.shape} array; allowed: a "
                            "pseudo-2D spectrum (rows of SI points)", source)
        return ppm, data
    if not (path / "ser").is_file():
        raise CaseError(key, str(path), f"neither pdata/{procno}/2rr nor ser: no spectra to "
                        "integrate", source)
    try:
        with warnings.catch_warnings():   # nmrglue's notes on the indirect (list) dimension
            warnings.simplefilter("ignore")
            dic, data = ng.bruker.read(str(path))
            data = np.atleast_2d(ng.bruker.remove_digital_filter(dic, data)).copy()
            data[:, 0] *= 0.5      # the first point halved (TopSpin's FCOR): no baseline offset
            spec = ng.proc_base.fft(data)
            udic = ng.bruker.guess_udic(dic, spec)
            ppm = ng.fileiobase.uc_from_udic(udic, dim=spec.ndim - 1).ppm_scale()
    except Exception as exc:  # noqa: BLE001
        raise CaseError(key, str(path / "ser"), f"cannot be read ({_first(exc)})",
                        source) from None
    return np.asarray(ppm, float), spec


def _times(path: Path, d: dict, acqus: dict, rows: int, where: str, source: str | None):
    """(times s of the first `rows` rows, the list file, the line of each time)."""
    which = d.get("delay_list")
    if which is None:
        which = next((w for w in LISTS if (path / w).is_file()), None)
        if which is None:
            raise CaseError(f"{where}.data", str(path), "no vdlist or vclist in the experiment "
                            "folder: the times of the rows are not known", source)
    elif which not in LISTS:
        raise CaseError(f"{where}.delay_list", which, f"one of {', '.join(LISTS)}", source)
    list_path = path / which
    entries, lines = _read_list(list_path, which, f"{where}.data", source)
    if len(entries) < rows:
        raise CaseError(f"{where}.data", str(list_path), f"{len(entries)} entries for the "
                        f"{rows} rows of the experiment (acqu2s TD)", source)
    entries, lines = entries[:rows], lines[:rows]
    if which == "vdlist":
        return entries, list_path, lines
    return entries * _loop_delay(d.get("loop_delay"), acqus, where, source), list_path, lines


def _read_list(path: Path, which: str, key: str, source: str | None):
    """Values of a vdlist (seconds) or vclist (counts), one per line, and their lines."""
    if not path.is_file():
        raise CaseError(key, str(path), f"no {which} in the experiment folder", source)
    values, lines = [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        text = line.split("#")[0].strip()
        if not text:
            continue
        m = re.fullmatch(rf"({NUMBER})\s*([a-zA-Z]?)", text)
        if which == "vclist":
            m = m if m and not m.group(2) and float(m.group(1)).is_integer() else None
        if not m or m.group(2).lower() not in TOPSPIN_UNITS:
            allowed = ("a delay with s, m, u or n (seconds without)" if which == "vdlist"
                       else "a whole number of loops")
            raise CaseError(key, str(path), f"{path.name} row {len(values) + 1} (line {number}): "
                            f"{text!r}; allowed: {allowed}", source)
        values.append(float(m.group(1)) * TOPSPIN_UNITS[m.group(2).lower()])
        lines.append(number)
    return np.array(values), lines


def _loop_delay(value: Any, acqus: dict, where: str, source: str | None) -> float:
    """Seconds per loop of a vclist: pulse-program delays (d<N>, p<N>) or quantities, summed."""
    key = f"{where}.loop_delay"
    if value is None:
        raise CaseError(key, "(missing)", 'a vclist counts loops: give the time of one, e.g. '
                        'loop_delay = "d20" (or ["d20", "p1"], or "12.5 ms")', source)
    total = 0.0
    for item in value if isinstance(value, list) else [value]:
        m = re.fullmatch(r"\s*([dDpP])(\d{1,2})\s*", item) if isinstance(item, str) else None
        if m:
            table, seconds = ("D", 1.0) if m.group(1).lower() == "d" else ("P", 1e-6)
            array = acqus.get("acqus", {}).get(table) or []
            i = int(m.group(2))
            if i >= len(array):
                raise CaseError(key, item, f"acqus has no {table}[{i}]", source)
            total += float(array[i]) * seconds
            continue
        try:
            total += units.parse(item, "time")
        except units.UnitParseError:
            raise CaseError(key, item, 'a pulse-program delay ("d20", "p1") or a time such as '
                            '"12.5 ms"', source) from None
    if not total > 0:
        raise CaseError(key, value, "must add up to a positive time", source)
    return total


def _first(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
