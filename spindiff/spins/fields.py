"""fields/P.xdmf for the spins model: the nuclei as a point cloud (Polyvertex topology, one
point per nucleus) with the polarization P at every output row and the distance to the
nearest electron r_nm, in fields/P.h5 (h5py) next to it. ParaView opens P.xdmf ("Point
Gaussian" shows the nuclei). Rank 0 gathers and writes; the XML is rewritten after every row,
so an interrupted run leaves a readable file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..simulation import Observer


def xdmf_text(h5: str, n: int, times: list[float]) -> str:
    """The XDMF 3 temporal collection of a point cloud of n points."""
    steps = []
    for k, t in enumerate(times):
        steps.append(
            f'<Grid Name="nuclei" GridType="Uniform"><Time Value="{float(t)!r}"/>'
            f'<Topology TopologyType="Polyvertex" NumberOfElements="{n}" NodesPerElement="1"/>'
            f'<Geometry GeometryType="XYZ"><DataItem Dimensions="{n} 3" NumberType="Float" '
            f'Precision="8" Format="HDF">{h5}:/geometry</DataItem></Geometry>'
            f'<Attribute Name="P" AttributeType="Scalar" Center="Node"><DataItem '
            f'Dimensions="{n}" NumberType="Float" Precision="8" Format="HDF">{h5}:/P/{k}'
            f'</DataItem></Attribute>'
            f'<Attribute Name="r_nm" AttributeType="Scalar" Center="Node"><DataItem '
            f'Dimensions="{n}" NumberType="Float" Precision="8" Format="HDF">{h5}:/r_nm'
            f'</DataItem></Attribute></Grid>')
    return ('<?xml version="1.0"?>\n<Xdmf Version="3.0"><Domain><Grid Name="P" '
            'GridType="Collection" CollectionType="Temporal">' + "".join(steps)
            + "</Grid></Domain></Xdmf>\n")


class NucleiWriter(Observer):
    """Point-cloud time series of the nuclear polarizations."""

    def __init__(self, writer, sim, resumes: int = 0):
        self.writer, self.sim = writer, sim
        stem = "P" if resumes == 0 else f"P.resumed{resumes}"
        self.xdmf = Path(writer.path) / "fields" / f"{stem}.xdmf"
        self.h5name = f"{stem}.h5"
        self.file = None
        self.times: list[float] = []
        if sim.comm.rank == 0:
            import h5py
            self.xdmf.parent.mkdir(parents=True, exist_ok=True)
            self.file = h5py.File(self.xdmf.parent / self.h5name, "w")
            self.file.create_dataset("geometry", data=sim.sample.x)
            r = np.where(np.isfinite(sim.sample.nearest), sim.sample.nearest, -1.0)
            self.file.create_dataset("r_nm", data=r)

    def on_row(self, sim, event, row: list) -> None:
        self.writer.ensure_space(8 * sim.sample.count + 2**16, f"fields/{self.h5name}")
        p = sim.gather()
        if self.file is not None:
            self.file.create_dataset(f"P/{len(self.times)}", data=p)
            self.file.flush()
            self.times.append(float(row[0]))
            self.xdmf.write_text(xdmf_text(self.h5name, sim.sample.count, self.times))

    def close(self, sim) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
