"""Make the SYNTHETIC data of the fit example: buildup curves of buildup.toml at several
radical concentrations, computed with the 1D radial model for known parameters, plus Gaussian
noise. Run from this folder: python make_data.py (the .csv files are rewritten)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from mpi4py import MPI

from spindiff.case import load_case
from spindiff.simulation import Simulation

HERE = Path(__file__).resolve().parent
#: the values the fit should recover
TRUTH = {"materials.glass.D0": "5 nm^2/s", "source.C6": "4 nm^6/s",
         "materials.glass.T1n": "200 s"}
CONCENTRATIONS_MM = (1, 5, 10, 40)
SIGMA = 0.004
TIMES = np.geomspace(0.3, 300.0, 60)


def curve(concentration_mm: float, times: np.ndarray, changes: dict | None = None) -> np.ndarray:
    """<P>_sample of buildup.toml at `times` (s) for a concentration (mM)."""
    case = load_case(HERE / "buildup.toml", {"geometry.concentration": f"{concentration_mm} mM",
                                             "solver.rtol": 1e-7, "solver.atol": 1e-9,
                                             **TRUTH, **(changes or {})})
    sim = Simulation(case, mesh_model="radial", comm=MPI.COMM_SELF)
    out = []
    for t in times:
        sim.advance_to(float(t))
        out.append(sim.averages()["sample"])
    return np.array(out)


def main() -> None:
    rng = np.random.default_rng(20261130)
    for c in CONCENTRATIONS_MM:
        y = curve(c, TIMES) + rng.normal(0.0, SIGMA, len(TIMES))
        lines = [f"# SYNTHETIC data (not a measurement): <P>_sample of buildup.toml at {c} mM "
                 f"(1D radial model), D0 = 5 nm^2/s, source C6 = 4 nm^6/s, T1n = 200 s, plus "
                 f"Gaussian noise of sigma = {SIGMA} (make_data.py, seed 20261130)",
                 "time_s,value,sigma"]
        lines += [f"{t:.6g},{v:.6f},{SIGMA}" for t, v in zip(TIMES, y)]
        (HERE / f"buildup_{c}mM.csv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
