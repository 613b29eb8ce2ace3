"""Checkpoints of a running simulation (HDF5 via h5py, written by rank 0).

A checkpoint holds the solver state after an output row: the protocol position, the time
stepper (time, step, history of solutions, start-up flags, statistics), the solution vectors in
PETSc's global ordering, the dof coordinates (to refuse a mismatched mesh) and the number of
rows written so far. It is written to a temporary file and renamed, so a kill -9 at any moment
leaves the previous checkpoint intact. Vectors are gathered to rank 0 and scattered back on
resume; on resume the values are matched to the dofs by their coordinates, so the mesh partition (and
the number of ranks) may differ; the same number of ranks reproduces the uninterrupted run.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI
from scipy.spatial import cKDTree

from ..errors import SpindiffError

NAME = "checkpoint.h5"


def _gather(comm: MPI.Comm, local: np.ndarray) -> np.ndarray | None:
    parts = comm.gather(np.ascontiguousarray(local), root=0)
    return np.concatenate(parts) if comm.rank == 0 else None


def save(folder: Path, comm: MPI.Comm, attrs: dict[str, Any], vectors: dict[str, Any],
         coordinates: np.ndarray) -> None:
    """Write folder/checkpoint.h5 atomically. `vectors`: name -> PETSc Vec (owned parts).
    An OSError (a full disk) is raised on every rank of `comm`; the previous checkpoint stays."""
    data = {name: _gather(comm, vec.array_r) for name, vec in vectors.items()}
    xyz = _gather(comm, coordinates)
    error = None
    if comm.rank == 0:
        try:
            write_atomically(folder / NAME, _image(attrs, comm.size, data, xyz))
        except OSError as exc:  # a full disk: the previous checkpoint stays
            error = exc
    error = comm.bcast(error, root=0)
    if error is not None:
        raise error


def _image(attrs: dict, ranks: int, data: dict, xyz: np.ndarray) -> bytes:
    """The HDF5 file as bytes, built in memory (so that HDF5 never meets a full disk)."""

    import h5py
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["state"] = json.dumps(attrs)
        f.attrs["ranks"] = ranks
        for name, arr in data.items():
            f.create_dataset(f"vectors/{name}", data=arr)
        f.create_dataset("dof_coordinates", data=xyz)
    return buffer.getvalue()


def write_atomically(path: Path, payload: bytes) -> None:
    """Write payload to path.tmp, fsync, rename over path: a crash or a full disk at any moment
    leaves the previous file intact (raises OSError, removing the temporary file)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def read_state(folder: Path) -> dict:
    """The scalar state of folder/checkpoint.h5 (protocol position, rows, stepper scalars)."""
    import h5py
    with h5py.File(Path(folder) / NAME, "r") as f:
        return json.loads(f.attrs["state"])


def exists(folder: Path) -> bool:
    return (Path(folder) / NAME).is_file()


def load(folder: Path, comm: MPI.Comm, template, coordinates: np.ndarray) -> tuple[dict, dict]:
    """(attrs, {name: numpy array of this rank's owned part}) from folder/checkpoint.h5.

    Values are matched to this run's dofs by their coordinates (a k-d tree), so the partition,
    and even the number of ranks, may differ from the run that wrote the checkpoint. Raises
    SpindiffError when some dof has no counterpart (another mesh)."""
    import h5py

    payload = None
    if comm.rank == 0:
        with h5py.File(Path(folder) / NAME, "r") as f:
            attrs = json.loads(f.attrs["state"])
            xyz = f["dof_coordinates"][:]
            vecs = {name: f[f"vectors/{name}"][:] for name in f["vectors"]}
        payload = (attrs, xyz, vecs)
    attrs, xyz, vecs = comm.bcast(payload, root=0)
    scale = max(float(np.ptp(xyz)), 1.0) if xyz.size else 1.0
    dist, idx = cKDTree(xyz).query(coordinates, k=1)
    ok = coordinates.shape[0] == 0 or float(np.max(dist)) < 1e-9 * scale
    if not comm.allreduce(ok, op=MPI.LAND) or comm.allreduce(coordinates.shape[0], op=MPI.SUM) != len(xyz):
        raise SpindiffError(f"the checkpoint in {folder} belongs to another mesh (different case or "
                            f"mesh settings)")
    return attrs, {name: arr[idx] for name, arr in vecs.items()}
