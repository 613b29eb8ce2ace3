#!/usr/bin/env python3
"""Largest differences between the time series of two results folders of the same case (run on
two software stacks, say): per numeric column, max |a - b| / max |a|, and the buildup time
constants from summary.json where both have them. Prints one line per comparison; exits 0.

    python scripts/compare_stacks.py RESULTS_A RESULTS_B [--label NAME]
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

#: columns reported on their own line (when present), besides the overall maximum
MAIN_COLUMNS = ("P_sample", "P_visible", "P_bulk")


def read_columns(folder: Path) -> dict[str, np.ndarray]:
    """Numeric columns of folder/timeseries.csv."""
    with open(folder / "timeseries.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        try:
            out[name] = np.array([float(r[j]) for r in body])
        except ValueError:
            continue
    return out


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |a| (absolute where a is zero everywhere); inf if lengths differ."""
    if a.shape != b.shape:
        return float("inf")
    scale = float(np.max(np.abs(a))) or 1.0
    return float(np.max(np.abs(a - b))) / scale


def time_constants(folder: Path) -> dict[str, float]:
    """Numeric entries named T_* anywhere in summary.json (buildup times and the like)."""
    path = folder / "summary.json"
    if not path.exists():
        return {}
    found: dict[str, float] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                name = f"{prefix}.{key}" if prefix else key
                if key.startswith("T_") and isinstance(value, (int, float)):
                    found[name] = float(value)
                else:
                    walk(value, name)
    walk(json.loads(path.read_text()), "")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--label", default="case")
    args = parser.parse_args()
    ca, cb = read_columns(args.a), read_columns(args.b)
    common = [k for k in ca if k in cb and k != "t"]
    diffs = {k: relative_difference(ca[k], cb[k]) for k in common}
    for k in MAIN_COLUMNS:
        if k in diffs:
            print(f"[stacks] {args.label}: max relative difference of {k}: {diffs[k]:.2e}")
    if diffs:
        worst = max(diffs, key=diffs.get)
        print(f"[stacks] {args.label}: largest over {len(diffs)} columns: {worst} "
              f"{diffs[worst]:.2e}")
    ta, tb = time_constants(args.a), time_constants(args.b)
    for k in sorted(set(ta) & set(tb)):
        rel = abs(ta[k] - tb[k]) / (abs(ta[k]) or 1.0)
        print(f"[stacks] {args.label}: {k} {ta[k]:.6g} vs {tb[k]:.6g} (relative {rel:.1e})")


if __name__ == "__main__":
    main()
