#!/usr/bin/env python3
"""The same cases run on several software stacks, compared: DIR/STACK/CASE is the results
folder of CASE run on STACK (scripts/stack.sh SUITE cases DIR; `make compare-stacks` runs them
all). Every pair of stacks that ran a case is compared: per numeric column of timeseries.csv,
max |a - b| / max |a| over the output times, and the relative difference of every fitted time
constant (T_*, its standard error in units of the constant; fits marked undetermined left
out; two values within a tenth of the standard error agree) and final polarization in
summary.json. Exits 1 when any difference exceeds
--tolerance (or a stack lacks a case another ran), 0 otherwise.

    python scripts/compare_stacks.py DIR [--tolerance 1e-3] [--reference host]

The stacks do not produce identical meshes (each Gmsh release places the vertices of the same
geometry differently), so their results agree to the discretization error of the mesh, not to
the solver tolerance: the tolerance is a bound on that (docs/guide/install.md gives the measured
differences).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

#: columns reported on their own line (when present), besides the overall maximum
MAIN_COLUMNS = ("P_sample", "P_visible", "P_bulk")
#: default bound on every relative difference (justified in docs/guide/install.md)
TOLERANCE = 1e-3
#: a fitted time's two values within this fraction of its standard error agree
SIGMA_FRACTION = 0.1


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


def relative_difference(a: np.ndarray, b: np.ndarray) -> float | None:
    """max |a - b| / max |a| over the entries finite in both (absolute where a is zero there);
    inf if the lengths differ or an entry is finite in one only; None if none is finite (an
    enhancement over a zero thermal polarization, say)."""
    if a.shape != b.shape:
        return float("inf")
    finite = np.isfinite(a)
    if not np.array_equal(finite, np.isfinite(b)):
        return float("inf")
    if not finite.any():
        return None
    a, b = a[finite], b[finite]
    scale = float(np.max(np.abs(a))) or 1.0
    return float(np.max(np.abs(a - b))) / scale


def summary_numbers(folder: Path) -> dict[str, tuple[float, float, float]]:
    """Entries of summary.json compared between stacks, as (value, scale, standard error, 0
    where there is none): every number named
    T_* (fitted buildup times and their standard errors) and the final polarizations
    (final.P.*). A standard error's scale is the time it is the error of (an uncertainty is
    compared in units of its quantity: two stacks agree when they report T_B +- sigma alike to
    the tolerance of T_B; a small sigma relative to itself moves with the last digits of the
    residuals). A fit marked "determined": false (a bi-exponential whose two times coincide,
    say) is left out: its parameters are arbitrary along the direction the data do not fix."""
    path = folder / "summary.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    found: dict[str, tuple[float, float, float]] = {}

    def walk(node, prefix: str) -> None:
        if not isinstance(node, dict) or node.get("determined") is False:
            return
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if key.startswith("T_") and isinstance(value, (int, float)):
                of = node.get(key.replace("_stderr", ""), value) if "_stderr" in key else value
                sigma = node.get(key[:-2] + "_stderr_s") if key.endswith("_s") else None
                found[name] = (float(value), abs(float(of)) or 1.0,
                               float(sigma) if isinstance(sigma, (int, float)) else 0.0)
            else:
                walk(value, name)
    walk(data.get("fits", {}), "fits")
    for key, value in data.get("final", {}).get("P", {}).items():
        if isinstance(value, (int, float)):
            found[f"final.P.{key}"] = (float(value), abs(float(value)) or 1.0, 0.0)
    return found


def stack_line(name: str, folder: Path) -> str:
    """The stack's versions and its mesh size, from a results folder's summary.json."""
    data = json.loads((folder / "summary.json").read_text())
    v, m = data.get("versions", {}), data.get("mesh", {})
    return (f"{name}: DOLFINx {v.get('dolfinx', '?')}, PETSc {v.get('petsc', '?')}, "
            f"Gmsh {v.get('gmsh', '-')}; {m.get('cells', '?')} cells, {m.get('dofs', '?')} dofs")


def compare(a: Path, b: Path) -> dict[str, float]:
    """Relative differences between two results folders of the same case, by quantity. A fitted
    time whose two values lie within a tenth of its standard error of each other counts as 0:
    an ill-conditioned parameter (the fast time of a bi-exponential carrying 2 % of the
    amplitude, say) amplifies a curve difference of 4e-5 to 1e-3 of itself, a shift no data
    could resolve."""
    ca, cb = read_columns(a), read_columns(b)
    diffs: dict[str, float] = {}
    ta, tb = ca.get("time_s"), cb.get("time_s")
    same_times = ta is not None and tb is not None and ta.shape == tb.shape and np.allclose(ta, tb)
    for k in ca:
        if k in cb and k not in ("time_s", "t"):
            if not same_times and ta is not None and tb is not None:
                cb[k] = np.interp(ta, tb, cb[k])  # output times differ: b at a's times
            d = relative_difference(ca[k], cb[k])
            if d is not None:
                diffs[k] = d
    sa, sb = summary_numbers(a), summary_numbers(b)
    for k in sorted(set(sa) & set(sb)):
        gap, sigma = abs(sa[k][0] - sb[k][0]), max(sa[k][2], sb[k][2])
        diffs[k] = 0.0 if gap <= SIGMA_FRACTION * sigma else gap / sa[k][1]
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help=f"largest relative difference allowed (default {TOLERANCE:g})")
    parser.add_argument("--reference", default="host", help="the stack listed first")
    args = parser.parse_args()
    stacks = sorted((p for p in args.dir.iterdir() if p.is_dir()) if args.dir.is_dir() else [],
                    key=lambda p: (p.name != args.reference, p.name))
    if len(stacks) < 2:
        print(f"[stacks] {len(stacks)} stack(s) in {args.dir}: nothing to compare")
        return 0
    cases = sorted({c.name for s in stacks for c in s.iterdir() if (c / "timeseries.csv").exists()})
    failures: list[str] = []
    worst_overall = 0.0
    for case in cases:
        ran = [s for s in stacks if (s / case / "timeseries.csv").exists()]
        for s in stacks:
            if s not in ran:
                failures.append(f"{case}: no results on {s.name}")
        for s in ran:
            print(f"[stacks] {case}: {stack_line(s.name, s / case)}")
        for i, sa in enumerate(ran):
            for sb in ran[i + 1:]:
                diffs = compare(sa / case, sb / case)
                label = f"{case} {sa.name} vs {sb.name}"
                shown = [k for k in MAIN_COLUMNS if k in diffs] + sorted(
                    k for k in diffs if k.startswith(("fits.", "final.")))
                print(f"[stacks] {label}: " + ", ".join(f"{k} {diffs[k]:.1e}" for k in shown))
                if diffs:
                    worst = max(diffs, key=diffs.get)
                    worst_overall = max(worst_overall, diffs[worst])
                    print(f"[stacks] {label}: largest of {len(diffs)}: {worst} {diffs[worst]:.1e}")
                failures += [f"{label}: {k} differs by {d:.2e} (> {args.tolerance:g})"
                             for k, d in diffs.items() if not d <= args.tolerance]
    for line in failures:
        print(f"[stacks] FAILED {line}")
    print(f"[stacks] {len(cases)} case(s) on {len(stacks)} stacks: largest relative difference "
          f"{worst_overall:.1e}, tolerance {args.tolerance:g}: {'FAILED' if failures else 'passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
