"""The one-process mesh build without DOLFINx's distribution step (spindiff.mesh.serial_build,
a compiled helper) makes the mesh create_mesh makes: every input cell with its own nodes, first
and second order, tags kept; a whole run is the same as with create_mesh."""
from __future__ import annotations

import numpy as np
import pytest
from test_mesh_refine import kuhn_cube

from conftest import make_case


def _cells_by_input_index(msh) -> np.ndarray:
    """The node coordinates of every cell, sorted within the cell, in input order."""
    from spindiff.mesh import compat
    x = msh.geometry.x
    dofmap = compat.geometry_dofmap(msh)
    coords = np.sort(np.round(x[dofmap], 12).view("f8,f8,f8").reshape(dofmap.shape), axis=1)
    out = np.empty_like(coords)
    out[np.asarray(msh.topology.original_cell_index)] = coords
    return out


def test_helper_is_built_where_dolfinx_python_cannot_make_a_mesh_otherwise():
    """Where DOLFINx's Python layer binds no create_geometry (0.5), the helper compiles."""
    from dolfinx import cpp

    from spindiff.mesh.serial_build import serial_mesh_builder
    if not hasattr(cpp.mesh, "create_geometry"):
        assert serial_mesh_builder() is not None


@pytest.mark.parametrize("order", [1, 2])
def test_serial_build_makes_the_mesh_create_mesh_makes(order, monkeypatch):
    """Both builds hold every input cell with exactly its nodes (cells matched by their
    original index), the same cell tags and facet tags, and integrate to the same volume and
    moment; the caller's arrays are given up."""
    import ufl
    from dolfinx import fem
    from mpi4py import MPI

    from spindiff.mesh import compat, serial_build
    from spindiff.mesh.refine import second_order
    comm = MPI.COMM_SELF
    available = serial_build.serial_mesh_builder() is not None
    base = kuhn_cube(5)
    base.cell_values = (np.arange(len(base.cells), dtype=np.int32) * 7) % 5 + 1
    meshes = []
    for helper in (True, False):
        m = second_order(base, []) if order == 2 else base
        if not helper:
            monkeypatch.setattr(serial_build, "serial_mesh_builder", lambda: None)
        held = [m]
        msh, ct, ft = compat.tetrahedral_mesh(comm, held, order)
        assert held == []
        meshes.append((msh, ct, ft.build()))
    (a, ct_a, ft_a), (b, ct_b, ft_b) = meshes
    if available:  # the helper's cells: a permutation of the input, each with its index
        assert np.array_equal(np.sort(a.topology.original_cell_index), np.arange(len(base.cells)))
    assert np.array_equal(_cells_by_input_index(a), _cells_by_input_index(b))
    for (ma, ta), (mb, tb) in (((a, ct_a), (b, ct_b)),):
        va = np.empty(len(ta.values), dtype=np.int32)
        va[np.asarray(ma.topology.original_cell_index)[ta.indices]] = ta.values
        vb = np.empty(len(tb.values), dtype=np.int32)
        vb[np.asarray(mb.topology.original_cell_index)[tb.indices]] = tb.values
        assert np.array_equal(va, vb) and np.array_equal(va, base.cell_values)
    assert np.array_equal(np.bincount(ft_a.values), np.bincount(ft_b.values))
    for msh, ft in ((a, ft_a), (b, ft_b)):
        x = ufl.SpatialCoordinate(msh)
        ds = ufl.Measure("ds", domain=msh, subdomain_data=ft)
        got = [fem.assemble_scalar(fem.form(x[0] ** 2 * x[1] * ufl.dx(domain=msh))),
               fem.assemble_scalar(fem.form(x[2] * ds(2)))]
        assert got == pytest.approx([1.0 / 6.0, 0.5], rel=1e-12)


def test_serial_build_gives_the_same_run(monkeypatch):
    """A refined sphere cell (first order, refine 1) run on a mesh from the helper equals the
    run on create_mesh's mesh to the Krylov tolerance, with the same steps."""
    from spindiff.mesh import serial_build
    from spindiff.simulation import Simulation
    case = make_case({"mesh.model": "3d", "mesh.size_barrier": "0.25 nm",
                      "mesh.size_bulk": "1.0 nm", "mesh.refine": 1, "mesh.order": 1,
                      "protocol.stages.0.duration": "0.05 s"})
    finals = []
    for helper in (True, False):
        if not helper:
            monkeypatch.setattr(serial_build, "serial_mesh_builder", lambda: None)
        sim = Simulation(case)
        sim.advance_to(0.05)
        finals.append((sim.averages(), sim.stepper.stats.accepted))
        sim.close()
    (a, steps_a), (b, steps_b) = finals
    assert steps_a == steps_b
    assert a.keys() == b.keys() and len(a) >= 2
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-8)
