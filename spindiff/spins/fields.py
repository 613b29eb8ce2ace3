"""fields/P.xdmf for the spins model: the nuclei as a point cloud (one vertex cell per nucleus)
with the polarization P and the distance to the nearest electron r_nm as point data, one time
step per output row (meshio's XDMF time series; ParaView opens it, "Point Gaussian" shows the
nuclei). Rank 0 gathers and writes."""
from __future__ import annotations

import numpy as np

from ..simulation import Observer


class NucleiWriter(Observer):
    """Point-cloud time series of the nuclear polarizations."""

    def __init__(self, writer, sim, resumes: int = 0):
        self.writer, self.sim = writer, sim
        name = "P.xdmf" if resumes == 0 else f"P.resumed{resumes}.xdmf"
        self.path = writer.path / "fields" / name
        self.series = None
        if sim.comm.rank == 0:
            import meshio
            self.path.parent.mkdir(parents=True, exist_ok=True)
            x = sim.sample.x
            self.series = meshio.xdmf.TimeSeriesWriter(str(self.path))
            self.series.__enter__()
            self.series.write_points_cells(x, [("vertex", np.arange(len(x))[:, None])])
            self.r = sim.sample.nearest

    def on_row(self, sim, event, row: list) -> None:
        self.writer.ensure_space(16 * sim.sample.count + 2**18, "fields/P.h5")
        p = sim.gather()
        if self.series is not None:
            self.series.write_data(float(row[0]), point_data={"P": p, "r_nm": self.r})

    def close(self, sim) -> None:
        if self.series is not None:
            self.series.__exit__(None, None, None)
            self.series = None
