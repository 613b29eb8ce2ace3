"""What every data-file reader of spindiff.fit shares: TopSpin's time letters, the number
pattern, and the checks on the rows read (times, sigma)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CaseError
from .data import MAX_POINTS

#: TopSpin's unit letters after a time (vdlist, ct1t2.txt): seconds per unit
TOPSPIN_UNITS = {"": 1.0, "s": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
#: a decimal number with an optional exponent
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def checked_rows(a: np.ndarray, lines: list[int], path: Path, key: str, source: str | None):
    """Rows of (time, value[, sigma]): 2 to MAX_POINTS, times >= 0 and increasing, sigma > 0;
    `lines` are the file lines of the rows, for the message."""
    if not 2 <= len(a) <= MAX_POINTS:
        raise CaseError(key, str(path), f"{len(a)} data rows; allowed: 2 to {MAX_POINTS}", source)
    bad = np.flatnonzero(np.concatenate([[a[0, 0] < 0], np.diff(a[:, 0]) <= 0]))
    if len(bad):
        i = int(bad[0])
        raise CaseError(key, str(path), f"data row {i + 1} (line {lines[i]}): times must be >= 0 "
                        "and strictly increasing", source)
    if a.shape[1] == 3 and np.any(a[:, 2] <= 0):
        i = int(np.argmax(a[:, 2] <= 0))
        raise CaseError(key, str(path), f"data row {i + 1} (line {lines[i]}): sigma must be > 0",
                        source)
    return a
