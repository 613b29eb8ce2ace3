"""Measured curves from the files a spectrometer and its software write (docs/guide/fitting.md,
"Data files"): the data set's `format`, or found from the file:

    "csv"      a CSV with a header: `time_s`, `value`[, `sigma`], a `columns` map, or columns
               recognised by name where that is unambiguous ("t", "time (s)", "tau [ms]",
               "delay", "intensity", "integral", "signal", "error", ...); the unit of the time
               column from its name ("time (ms)", "t/min", "delay_s") or `time_unit`
    "text"     a headerless table of two or three numbers per line (time, value[, sigma]),
               separated by spaces, tabs, commas or semicolons; `time_unit` is required
    "topspin"  TopSpin's T1/T2 module export, pdata/<procno>/ct1t2.txt: per integral region a
               block "N points for Integral k, Integral Region from A to B ppm" with a table
               Point, Tau (a number with TopSpin's unit letter: s, m, u, n), Expt, Calc,
               Difference; Tau and Expt are read (`integral` picks the block)
    "bruker"   a Bruker pseudo-2D experiment folder (spindiff.fit.bruker_data; nmrglue)

Found from the file: a folder is "bruker", a file named ct1t2.txt or holding "points for
Integral" / "points for Peak" is "topspin", a first data line of numbers is "text", anything
else "csv". Every reader returns times (s), values and optional uncertainties, and stops at a
malformed file with one CaseError line naming the row (and the line of the file).
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import units
from ..errors import CaseError
from .bruker_data import read_bruker
from .data import read_data
from .data_rows import NUMBER, TOPSPIN_UNITS, checked_rows

FORMATS = ("csv", "text", "topspin", "bruker")
#: header names (lower case, unit removed) recognised for each column of a CSV
TIME_NAMES = ("t", "time", "tau", "delay", "vd", "wait", "buildup time", "build-up time",
              "polarization time", "recovery time", "time_s")
VALUE_NAMES = ("value", "p", "polarization", "polarisation", "intensity", "integral", "signal",
               "enhancement", "amplitude", "area", "expt", "y")
SIGMA_NAMES = ("sigma", "error", "err", "uncertainty", "std", "sd", "stderr", "dy", "noise")
_BLOCK = re.compile(r"(\d+)\s+points\s+for\s+(Integral|Peak)\s+(\d+)\s*,?\s*(.*)", re.I)
_SPLIT = re.compile(r"[\s,;]+")
_UNIT_IN_NAME = re.compile(r"^(.*?)\s*(?:\(([^)]*)\)|\[([^\]]*)\]|/\s*(\S+)|_(ms|us|s|min|h))$")


def read_dataset(path: Path, d: dict[str, Any], where: str, source: str | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Times (s), values and uncertainties (or None) of the data set table `d` of a fit file
    (`where` names it, e.g. "datasets[10mM]"; its `data` file is at `path`)."""
    key = f"{where}.data"
    fmt = d.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise CaseError(f"{where}.format", fmt, f"one of {', '.join(FORMATS)}", source)
    fmt = fmt or detect_format(path)
    unit = _time_unit(d.get("time_unit"), f"{where}.time_unit", source)
    if fmt == "bruker":
        t, y, s = read_bruker(path, d, where, source)
    elif fmt == "topspin":
        t, y, s = read_topspin(path, d.get("integral"), where, source)
    elif fmt == "text":
        if unit is None:
            raise CaseError(f"{where}.time_unit", "(missing)", f"{path} has no header: say "
                            'the unit of its first column, e.g. time_unit = "s" (or "ms", "min")',
                            source)
        t, y, s = read_text(path, key, source)
        t = t * unit
    else:
        t, y, s = read_csv(path, d.get("columns") or {}, unit, where, source)
    if d.get("quantity", "polarization") == "polarization" and np.max(np.abs(y)) > 1.0:
        raise CaseError(f"{where}.quantity", "polarization", f"values up to "
                        f"{np.max(np.abs(y)):.4g} in {path.name} are not polarizations; "
                        'quantity = "signal" fits a scale to them', source)
    return t, y, s


def detect_format(path: Path) -> str:
    """"bruker", "topspin", "text" or "csv" for the file or folder at path."""
    if path.is_dir():
        return "bruker"
    if path.name.lower() == "ct1t2.txt":
        return "topspin"
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as f:
            head = [ln for _, ln in zip(range(400), f)]
    except OSError:
        return "csv"            # read_csv says what is wrong with it
    if any(_BLOCK.search(ln) for ln in head):
        return "topspin"
    first = next((ln for ln in head if ln.strip() and not ln.lstrip().startswith("#")), "")
    fields = [x for x in _SPLIT.split(first.strip()) if x]
    return "text" if fields and all(_is_number(x) for x in fields) else "csv"


# --- CSV with a header ------------------------------------------------------------------------

def read_csv(path: Path, columns: dict, unit: float | None, where: str, source: str | None):
    """A CSV with a header row: the `columns` map, the default names, or names recognised.
    Times in seconds unless `unit` (s per unit) or the time column's name says otherwise."""
    key = f"{where}.data"
    header = _csv_header(path, key, source)
    if columns or ("time_s" in header and "value" in header):
        time_col = columns.get("time", "time_s")
        t, y, s = read_data(path, time_col, columns.get("value", "value"),
                            columns.get("sigma", "sigma"), key, source)
        return t * (unit or _unit_of_name(time_col) or 1.0), y, s
    picked = {role: _recognised(header, names) for role, names in
              (("time", TIME_NAMES), ("value", VALUE_NAMES), ("sigma", SIGMA_NAMES))}
    missing = [r for r in ("time", "value") if len(picked[r]) != 1]
    if missing or len(picked["sigma"]) > 1:
        role = missing[0] if missing else "sigma"
        found = picked[role]
        why = (f"several columns could be the {role} ({', '.join(found)})" if len(found) > 1
               else f"no column is recognisable as the {role}")
        raise CaseError(key, str(path), f"{why}; its columns are {', '.join(header)}: name them "
                        'with columns = { time = "...", value = "...", sigma = "..." }', source)
    time_col, value_col = picked["time"][0], picked["value"][0]
    sigma_col = picked["sigma"][0] if picked["sigma"] else "\0none"
    named = _unit_of_name(time_col)
    if named is None and unit is None:
        raise CaseError(f"{where}.time_unit", "(missing)", f"the time column {time_col!r} of "
                        f'{path.name} does not say its unit: give time_unit = "s" (or "ms", "min")',
                        source)
    t, y, s = read_data(path, time_col, value_col, sigma_col, key, source)
    return t * (unit if unit is not None else named), y, s


def _csv_header(path: Path, key: str, source: str | None) -> list[str]:
    if not path.is_file():
        raise CaseError(key, str(path), "no such file; allowed: a CSV or text file, TopSpin's "
                        "ct1t2.txt or a Bruker experiment folder", source)
    try:
        with path.open(encoding="utf-8-sig") as f:
            for line in f:
                if line.strip() and not line.lstrip().startswith("#"):
                    return [h.strip() for h in next(csv.reader([line]))]
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(key, str(path), f"cannot be read as text ({exc})", source) from None
    raise CaseError(key, str(path), "empty; allowed: a header and rows", source)


def _recognised(header: list[str], names: tuple[str, ...]) -> list[str]:
    return [h for h in header if _bare_name(h) in names]


def _bare_name(name: str) -> str:
    m = _UNIT_IN_NAME.match(name.strip())
    base = m.group(1) if m and m.group(1) else name
    return " ".join(base.lower().replace("_", " ").split())


def _unit_of_name(name: str) -> float | None:
    """Seconds per unit of a column name such as "time (ms)", "t [s]", "t/min", "delay_s"."""
    m = _UNIT_IN_NAME.match(name.strip())
    if not m or not m.group(1):
        return None
    text = next(g for g in m.groups()[1:] if g is not None).strip()
    try:
        return units.parse(f"1 {text}", "time")
    except units.UnitParseError:
        return None


def _time_unit(value: Any, key: str, source: str | None) -> float | None:
    """Seconds per unit of the `time_unit` key ("s", "ms", "min", "h"), or None."""
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise units.UnitParseError("")
        return units.parse(f"1 {value.strip()}", "time")
    except units.UnitParseError:
        raise CaseError(key, value, 'a unit of time such as "s", "ms", "min"', source) from None


# --- headerless text --------------------------------------------------------------------------

def read_text(path: Path, key: str, source: str | None):
    """Two or three numbers per line (time in the file's unit, value, sigma); '#' comments."""
    rows, lines = [], []
    for number, line in _lines(path, key, source):
        fields = [x for x in _SPLIT.split(line.strip()) if x]
        if len(fields) not in (2, 3) or (rows and len(fields) != len(rows[0])):
            want = f"{len(rows[0])}" if rows else "2 or 3"
            raise CaseError(key, str(path), f"data row {len(rows) + 1} (line {number}): "
                            f"{len(fields)} fields in {line.strip()!r}; allowed: {want} numbers "
                            "(time, value[, sigma])", source)
        try:
            vals = [float(x) for x in fields]
        except ValueError:
            bad = next(x for x in fields if not _is_number(x))
            raise CaseError(key, str(path), f"data row {len(rows) + 1} (line {number}): "
                            f"{bad!r} is not a number", source) from None
        if not all(math.isfinite(v) for v in vals):
            raise CaseError(key, str(path), f"data row {len(rows) + 1} (line {number}): "
                            f"{line.strip()!r}; allowed: finite numbers", source)
        rows.append(vals)
        lines.append(number)
    a = checked_rows(np.array(rows, dtype=float).reshape(-1, len(rows[0]) if rows else 2),
                 lines, path, key, source)
    return a[:, 0], a[:, 1], (a[:, 2] if a.shape[1] == 3 else None)


# --- TopSpin's T1/T2 module export -------------------------------------------------------------

def read_topspin(path: Path, integral: Any, where: str, source: str | None):
    """(tau in s, Expt, None) of one integral block of a ct1t2.txt."""
    key = f"{where}.data"
    blocks = _topspin_blocks(path, key, source)
    if not blocks:
        raise CaseError(key, str(path), 'no "N points for Integral k" block: not a TopSpin '
                        'T1/T2 export (ct1t2.txt); give format = "csv" or "text" for a table',
                        source)
    names = ", ".join(f"{b['index']} ({b['where']})" for b in blocks)
    if integral is None:
        if len(blocks) > 1:
            raise CaseError(f"{where}.integral", "(missing)", f"{path.name} holds integrals "
                            f"{names}: choose one with integral = N", source)
        block = blocks[0]
    else:
        block = next((b for b in blocks if b["index"] == integral), None)
        if block is None or isinstance(integral, bool):
            raise CaseError(f"{where}.integral", integral, f"one of the integrals of "
                            f"{path.name}: {names}", source)
    rows, lines = block["rows"], block["lines"]
    if len(rows) != block["points"]:
        raise CaseError(key, str(path), f"integral {block['index']} announces {block['points']} "
                        f"points and its table has {len(rows)} rows (lines {block['line']}-)", source)
    a = checked_rows(np.array(rows, dtype=float).reshape(-1, 2), lines, path, key, source)
    return a[:, 0], a[:, 1], None


def _topspin_blocks(path: Path, key: str, source: str | None) -> list[dict]:
    """Each block: index, points, where (region), rows [(tau s, Expt)], their line numbers."""
    blocks: list[dict] = []
    cur = None
    in_table = False
    for number, line in _lines(path, key, source, comments=False):
        m = _BLOCK.search(line)
        if m:
            where = re.sub(r"^(?:Integral Region from|Peak Point at)\s*", "", m.group(4).strip())
            cur = {"index": int(m.group(3)), "points": int(m.group(1)), "where": where or "-",
                   "rows": [], "lines": [], "line": number}
            blocks.append(cur)
            in_table = False
            continue
        if cur is None:
            continue
        words = line.split()
        if words[:2] and words[0].lower() == "point" and "tau" in (w.lower() for w in words):
            in_table = True
            continue
        if not in_table:
            continue
        if set(line.strip()) <= set("=-"):
            in_table = False
            continue
        row = len(cur["rows"]) + 1
        m = re.match(rf"^\s*(\d+)\s+({NUMBER})\s*([a-zA-Z]?)\s*({NUMBER})", line)
        if not m or m.group(3).lower() not in TOPSPIN_UNITS:
            raise CaseError(key, str(path), f"integral {cur['index']}, data row {row} (line "
                            f"{number}): {line.strip()!r}; allowed: Point, Tau (with s, m, u or "
                            "n), Expt, Calc, Difference", source)
        tau = float(m.group(2)) * TOPSPIN_UNITS[m.group(3).lower()]
        cur["rows"].append((tau, float(m.group(4))))
        cur["lines"].append(number)
    return blocks


# --- shared -----------------------------------------------------------------------------------

def _lines(path: Path, key: str, source: str | None, comments: bool = True):
    """(line number, text) of the non-empty lines ('#' comments left out when `comments`)."""
    if not path.is_file():
        raise CaseError(key, str(path), "no such file", source)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(key, str(path), f"cannot be read as text ({exc})", source) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not (comments and line.lstrip().startswith("#")):
            yield number, line


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
