"""What an interruption costs: SIGTERM, SIGINT and kill -9 on 1 and 2 ranks.

For each signal, a run of a small 3D sphere cell is interrupted once it has written some rows
(kill -9 after its first wall-clock checkpoint), then resumed with --resume. Printed per case:
the exit code, the one-line message, whether STATUS and a checkpoint exist, the simulated time
of the checkpoint against the last row written (work lost), and the largest relative
difference of the resumed time series to an uninterrupted run measured in the same session.

    .venv/bin/python benchmarks/interruptions.py
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPINDIFF = str(Path(sys.executable).with_name("spindiff"))
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
          "-n"]
SETS = ["--set", 'mesh.size_barrier="0.2 nm"', "--set", 'mesh.size_bulk="0.6 nm"',
        "--set", "protocol.stages.0.outputs=200", "--set", 'output.checkpoint_wall="1 s"',
        "--set", 'solver.dt_max="0.1 s"', "--set", "output.plots=false"]


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PMI_"))}
    return e


def command(ranks: int, *args: str) -> list[str]:
    cmd = [SPINDIFF, *args, "--quiet", *SETS]
    return (MPIRUN + [str(ranks)] + cmd) if ranks > 1 else cmd


def rows(path: Path) -> int:
    try:
        return max(len(path.read_text().splitlines()) - 1, 0)
    except OSError:
        return 0


def interrupt(case: Path, out: Path, ranks: int, sig: int) -> dict:
    partial = out.with_name(out.name + ".partial")
    proc = subprocess.Popen(command(ranks, "run", str(case), "--out", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                            start_new_session=True)
    t0 = time.time()
    while proc.poll() is None:
        ready = rows(partial / "timeseries.csv") >= 10
        if sig == signal.SIGKILL:
            ready = ready and (partial / "checkpoint.h5").exists()
        if ready:
            break
        time.sleep(0.05)
    sent = time.time()
    if proc.poll() is not None:
        raise RuntimeError("the run finished before it could be interrupted: make it longer")
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, sig)  # kill -9 reaches every rank and mpirun itself
    else:
        os.kill(proc.pid, sig)  # to mpirun (it forwards) or the serial process
    _, err = proc.communicate()
    lines = [ln for ln in err.splitlines() if ln.startswith("spindiff:")]
    from spindiff.io.checkpoint import read_state
    ck = read_state(partial) if (partial / "checkpoint.h5").exists() else None
    written = rows(partial / "timeseries.csv")
    return {"code": proc.returncode, "message": lines[0][:90] if lines else "(none)",
            "status": (partial / "STATUS").exists(), "checkpoint_t": ck["t"] if ck else None,
            "rows_written": written, "rows_in_checkpoint": ck["rows"] if ck else 0,
            "stop_s": time.time() - sent, "ran_s": sent - t0}


def main() -> None:
    from spindiff.io.results import read_timeseries
    case = ROOT / "cases" / "default.toml"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for ranks in (1, 2):
            ref = tmp / f"ref{ranks}"
            subprocess.run(command(ranks, "run", str(case), "--out", str(ref)), check=True,
                           capture_output=True, env=env())
            full = read_timeseries(ref)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
                out = tmp / f"r{ranks}_{sig}"
                info = interrupt(case, out, ranks, sig)
                proc = subprocess.run(command(ranks, "run", str(case), "--resume", str(out)),
                                      capture_output=True, text=True, env=env())
                if proc.returncode != 0:
                    print(f"{ranks} rank(s) {signal.Signals(sig).name}: resume failed: "
                          f"{proc.stderr.strip()[:200]}")
                    continue
                res = read_timeseries(out)
                diff = float(np.max(np.abs(res["P_sample"] - full["P_sample"])
                                    / np.abs(full["P_sample"])))
                lost = info["rows_written"] - info["rows_in_checkpoint"]
                print(f"{ranks} rank(s) {signal.Signals(sig).name:8s} after {info['ran_s']:5.1f} s: "
                      f"exit {info['code']}, stopped in {info['stop_s']:.2f} s, STATUS "
                      f"{'yes' if info['status'] else 'no '}, checkpoint at t = "
                      f"{info['checkpoint_t']:.4g} s, rows written {info['rows_written']}, "
                      f"rows redone on resume {lost}; resumed vs uninterrupted: {diff:.1e}")
                print(f"    message: {info['message']}")


if __name__ == "__main__":
    main()
