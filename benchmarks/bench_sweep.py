"""Sweep throughput: variants per minute with groups of ranks side by side vs one after another.

Runs the [sweep] of cases/sweep_concentration.toml (6 variants of a 3D sphere cell) three
ways, each in a fresh process: on 1 rank (variants one after another), with `mpirun -n 2` and
group size 1 (two variants at a time), and with `mpirun -n 2` and group size 2 (each variant
on both ranks), and prints wall time, variants per minute and the speed-up over 1 rank.

    python benchmarks/bench_sweep.py      # about 2 minutes
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "sweep_concentration.toml"


def main() -> None:
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    spindiff = str(Path(sys.executable).with_name("spindiff"))
    mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2"]
    runs = [("1 rank, one after another", [spindiff], 1),
            ("2 ranks, groups of 1 (2 variants at a time)", mpirun + [spindiff], 1),
            ("2 ranks, groups of 2 (each variant on 2 ranks)", mpirun + [spindiff], 2)]
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="spindiff-sweep-bench-"))
    try:
        # warm the JIT cache so that every configuration starts alike
        subprocess.run([spindiff, "run", str(CASE), "--out", str(tmp / "warm"), "--quiet",
                        "--set", 'protocol.stages.0.duration="1 s"'], check=True,
                       capture_output=True, env=dict(os.environ))
        for label, cmd, group in runs:
            out = tmp / f"g{group}-{len(rows)}"
            t0 = time.perf_counter()
            proc = subprocess.run(cmd + ["sweep", str(CASE), "--out", str(out), "--quiet",
                                         "--group-size", str(group)],
                                  capture_output=True, text=True, env=dict(os.environ))
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            info = json.loads((out / "sweep.json").read_text())
            rows.append((label, len(info["variants"]), wall, 60 * len(info["variants"]) / wall))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"sweep throughput: {CASE.name}")
    print(f"{'configuration':<48}{'variants':>9}{'wall s':>9}{'variants/min':>14}{'speed-up':>10}")
    for label, n, wall, vpm in rows:
        print(f"{label:<48}{n:9d}{wall:9.1f}{vpm:14.2f}{vpm / rows[0][3]:10.2f}")
    print("wall time of the whole command (start-up, meshing, JIT loading included)")


if __name__ == "__main__":
    main()
