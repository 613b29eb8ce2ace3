#!/usr/bin/env python3
"""Memory and time of the one-process mesh build: spindiff.mesh.compat.tetrahedral_mesh on a
Kuhn cube (n^3 cubes of six tetrahedra, first order), once with the compiled helper
(spindiff.mesh.serial_build) where it is available and once with DOLFINx's create_mesh, each in
a fresh process. Prints per builder the cells, the peak resident memory above what the process
held just before the build (the input arrays included, which the build frees), in bytes per
cell, and the wall time.

    python benchmarks/bench_mesh_build.py [--n 80]

The peak is Linux's VmHWM after resetting it (/proc/self/clear_refs) right before the build.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def kuhn_cube(n: int):
    """[0, 1]^3 cut into n^3 cubes of six tetrahedra each (Kuhn), no tags on facets."""
    import itertools

    import numpy as np

    from spindiff.mesh.refine import TetMesh
    g = np.linspace(0.0, 1.0, n + 1)
    x = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    idx = np.arange((n + 1) ** 3, dtype=np.int64).reshape(n + 1, n + 1, n + 1)
    base = idx[:n, :n, :n].ravel()
    stride = np.array([(n + 1) ** 2, n + 1, 1], dtype=np.int64)
    cells = []
    for perm in itertools.permutations(range(3)):  # one tetrahedron per path through the cube
        step = np.zeros(3, dtype=np.int64)
        path = [base.copy()]
        for axis in perm:
            step[axis] = 1
            path.append(base + step @ stride)
        cells.append(np.stack(path, axis=1))
    cells = np.stack(cells, axis=1).reshape(-1, 4)
    return TetMesh(x, cells, np.ones(len(cells), dtype=np.int32))


def status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def one(n: int, helper: bool) -> dict:
    """Build the mesh in this process; the figures as a dict."""
    from mpi4py import MPI

    from spindiff.mesh import compat, serial_build
    if not helper:
        serial_build.serial_mesh_builder = lambda: None
    elif serial_build.serial_mesh_builder() is None:
        return {"builder": "helper", "available": False,
                "reason": serial_build.unavailable_reason()}
    held = [kuhn_cube(n)]
    ncells = len(held[0].cells)
    before = status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident size
    t0 = time.perf_counter()
    msh, _, _ = compat.tetrahedral_mesh(MPI.COMM_SELF, held, 1)
    wall = time.perf_counter() - t0
    peak = status_kb("VmHWM")
    assert compat.num_cells_local(msh) == ncells
    return {"builder": "helper" if helper else "create_mesh", "available": True, "cells": ncells,
            "peak_above_input_bytes_per_cell": (peak - before) * 1024 / ncells,
            "wall_s": wall,
            "dolfinx": compat.DOLFINX_VERSION}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=80, help="cubes per side (6 n^3 tetrahedra)")
    p.add_argument("--one", choices=["helper", "create_mesh"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.n, args.one == "helper")))
        return
    for builder in ("helper", "create_mesh"):
        out = subprocess.run([sys.executable, __file__, "--n", str(args.n), "--one", builder],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if not r["available"]:
            print(f"{builder:12s} not available: {r['reason']}")
            continue
        print(f"{r['builder']:12s} DOLFINx {r['dolfinx']}: {r['cells']:,} cells, peak "
              f"{r['peak_above_input_bytes_per_cell']:.0f} bytes per cell above the input, "
              f"{r['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
