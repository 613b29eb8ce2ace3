// A DOLFINx mesh of tetrahedra built on one process without mesh::create_mesh's distribution
// step (spindiff/mesh/serial_build.py compiles this file against the system's DOLFINx).
//
// On one process create_mesh still sends every cell through graph::build::distribute (a send
// and a receive buffer of 7 integers per cell, the received lists reserved twice) and reorders
// the cells by a dual graph: about 330 bytes per cell for a moment. Here the caller's cell list
// is taken over (it is left empty), the cells keep the order they are given in (with the
// caller's original index of each) and the topology and geometry are made directly, as create_mesh does after distributing:
// about 160 bytes per cell at the peak.
#include <dolfinx/fem/CoordinateElement.h>
#include <dolfinx/graph/AdjacencyList.h>
#include <dolfinx/mesh/Geometry.h>
#include <dolfinx/mesh/Mesh.h>
#include <dolfinx/mesh/Topology.h>
#include <dolfinx/mesh/cell_types.h>
#include <dolfinx/mesh/topologycomputation.h>
#include <dolfinx/mesh/utils.h>
#include <memory>
#include <mpi.h>
#include <numeric>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using namespace dolfinx;

namespace
{
/// Tetrahedra of Lagrange geometry `degree` (nodes per cell in DOLFINx order) with node
/// coordinates x (num_nodes, 3) and each cell's index in the caller's input (`original`);
/// comm (a Fortran handle) must have one process.
std::shared_ptr<mesh::Mesh> build(long comm_f, graph::AdjacencyList<std::int64_t>& cells,
                                  const py::array_t<double, py::array::c_style>& x,
                                  const py::array_t<std::int64_t, py::array::c_style>& original_in,
                                  int degree)
{
  MPI_Comm comm = MPI_Comm_f2c(static_cast<MPI_Fint>(comm_f));
  int size = 0;
  MPI_Comm_size(comm, &size);
  if (size != 1)
    throw std::runtime_error("serial mesh build on a communicator of more than one process");
  const mesh::CellType tet = mesh::CellType::tetrahedron;
  fem::CoordinateElement element(tet, degree);
  const fem::ElementDofLayout layout = element.create_dof_layout();
  graph::AdjacencyList<std::int64_t> nodes(std::move(cells.array()),
                                           std::move(cells.offsets()));
  if (original_in.size() != nodes.num_nodes())
    throw std::runtime_error("one original index per cell is needed");
  std::vector<std::int64_t> original(original_in.data(), original_in.data() + original_in.size());
  mesh::Topology topology = [&]
  {
    if (degree == 1)
      return mesh::create_topology(comm, nodes, original, {}, tet, mesh::GhostMode::none);
    const graph::AdjacencyList<std::int64_t> vertices
        = mesh::extract_topology(tet, layout, nodes);
    return mesh::create_topology(comm, vertices, original, {}, tet, mesh::GhostMode::none);
  }();
  std::vector<std::int64_t>().swap(original);
  const int tdim = topology.dim();
  for (int e = 1; e < tdim; ++e)
  {
    if (layout.num_entity_dofs(e) > 0)
    {
      auto [cell_entity, entity_vertex, index_map]
          = mesh::compute_entities(comm, topology, e);
      if (cell_entity)
        topology.set_connectivity(cell_entity, tdim, e);
      if (entity_vertex)
        topology.set_connectivity(entity_vertex, e, 0);
      if (index_map)
        topology.set_index_map(e, index_map);
    }
  }
  if (element.needs_dof_permutations())
    topology.create_entity_permutations();
  mesh::Geometry geometry = mesh::create_geometry(
      comm, topology, element, nodes, std::span<const double>(x.data(), x.size()), 3);
  return std::make_shared<mesh::Mesh>(comm, std::move(topology), std::move(geometry));
}
} // namespace

PYBIND11_MODULE(spindiff_serial_mesh, m)
{
  m.def("build", &build, py::arg("comm_f"), py::arg("cells"), py::arg("x"), py::arg("original"),
        py::arg("degree"));
}
