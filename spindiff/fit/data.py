"""Measured curves: a CSV of times (s), values and optional uncertainties."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..errors import CaseError

#: most data points read from one CSV
MAX_POINTS = 100_000


def read_data(path: Path, time_col: str = "time_s", value_col: str = "value",
              sigma_col: str = "sigma", key: str = "data", source: str | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Times (s), values and optional uncertainties from a CSV with a header row; lines that
    start with '#' are comments (errors name data rows, counted from 1 after the header).
    Times strictly increasing and >= 0, values finite, sigma > 0."""
    shown = str(path)
    if not path.is_file():
        raise CaseError(key, shown, "no such file; allowed: a CSV file with columns "
                        f"{time_col}, {value_col}[, {sigma_col}]", source)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8-sig").splitlines()
                 if ln.strip() and not ln.lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(key, shown, f"cannot be read as text ({exc})", source) from None
    rows = list(csv.reader(lines))
    if not rows:
        raise CaseError(key, shown, f"empty; allowed: a header {time_col},{value_col} and rows", source)
    header = [h.strip() for h in rows[0]]
    for col in (time_col, value_col):
        if col not in header:
            raise CaseError(key, shown, f"no column {col!r} (header: {','.join(header)}); "
                            f"allowed: columns {time_col}, {value_col}[, {sigma_col}]", source)
    body = rows[1:]
    if len(body) < 2 or len(body) > MAX_POINTS:
        raise CaseError(key, shown, f"{len(body)} data rows; allowed: 2 to {MAX_POINTS}", source)
    cols = {c: header.index(c) for c in (time_col, value_col, sigma_col) if c in header}
    out: dict[str, list[float]] = {c: [] for c in cols}
    for n, row in enumerate(body, start=1):
        for c, j in cols.items():
            cell = row[j].strip() if j < len(row) else ""
            try:
                v = float(cell)
            except ValueError:
                raise CaseError(key, shown, f"data row {n}, column {c}: {cell!r} is not a number", source) from None
            if not math.isfinite(v):
                raise CaseError(key, shown, f"data row {n}, column {c}: {cell!r}; allowed: finite numbers", source)
            out[c].append(v)
    t, y = np.array(out[time_col]), np.array(out[value_col])
    if t[0] < 0 or np.any(np.diff(t) <= 0):
        bad = int(np.argmax(np.diff(t) <= 0)) + 2 if t[0] >= 0 else 1
        raise CaseError(key, shown, f"data row {bad}: times must be >= 0 and strictly increasing", source)
    s = None
    if sigma_col in cols:
        s = np.array(out[sigma_col])
        if np.any(s <= 0):
            raise CaseError(key, shown, f"data row {int(np.argmax(s <= 0)) + 1}: sigma must be > 0", source)
    return t, y, s
