"""Weak form of the transport equation and its assembled operators.

    n dP/dt = div(n D0 s(x) f(P) grad P) + n k (P_src - P) - n R1 (P - P0)

Multiplying by a test function v (times the 1D weight w = Domain.weight: 4 pi r^2, 2 pi r L
or A; else 1) and integrating by parts with zero flux on every outer or hole surface:

    M dP/dt = -(K Phi(P) + Q P) + g,        M = (n u, v)_w,     K = (n D0 s grad u, grad v)_w,
    Q = (n (k + R1) u, v)_w (one matrix),   g = (n (k P_src + R1 P0), v)_w.

For the polarization-dependent (corrected, local) diffusion the Kirchhoff transform
div(D0 s f(P) grad P) = div(D0 s grad Phi(P)), Phi = int f, is used with Phi interpolated at the
nodes (a product, or group, finite-element approximation): the stiffness matrix stays constant
and the Newton Jacobian is K diag(f(P)) without re-assembly. Conventional diffusion is Phi(P) = P.

Interfaces between materials need nothing: n multiplies every term, so P and the flux
n D dP/dn are continuous. A surface source adds (n kappa u, v)_{w, barrier} to the matrix and
(n kappa P_src, v)_{w, barrier} to g; a fixed source or a fixed outer polarization are Dirichlet
rows. Periodic boxes: a dolfinx_mpc multi-point constraint (slave dofs on the upper faces).

This module holds the `Discretization`: the function space, the field P, the material
coefficients, the quadrature fields, the mass matrix and the forms, and their assembly (into
the mass matrix's sparsity). What uses it is composed around it: the stage assembly of K, Q, g
(spindiff.fem.stage_assembly), the observables (spindiff.fem.observables), the field events
(spindiff.fem.events) and the step equations (spindiff.fem.systems).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import ufl
from dolfinx import fem
from petsc4py import PETSc

from ..mesh import compat
from ..mesh.domain import FACET_BARRIER, Domain
from ..mesh.heap import release_dropped, trim_heap
from ..model import TransportModel
from .fields import QuadratureFields, cellwise_function
from .materials import cell_materials
from .step_operator import lump


@dataclass(frozen=True)
class WeightedMeasure:
    """The measure of the observables and projections: forms (n f v w dx) with the test
    functions of V, the nuclear density n, the 1D weight w and the quadrature measure dx."""
    V: Any
    n: Any
    weight: Any
    dx: Any

    def form(self, factor=None):
        """The compiled linear form n [factor] v w dx (factor: a UFL coefficient or None)."""
        v = ufl.TestFunction(self.V)
        n = self.n if factor is None else self.n * factor
        return compat.form(n * v * self.weight * self.dx)

class Discretization:
    """Lagrange elements (degree 1 or 2) for the transport model on a domain: the field P, the
    coefficients, the forms and their assembly (see the module)."""

    def __init__(self, domain: Domain, model: TransportModel, quadrature_degree: int | None = None,
                 forcing=None, lumped_mass: bool = False, element_degree: int = 1):
        self.domain = domain
        self.model = model
        self.comm = domain.comm
        msh = domain.mesh
        assert not (lumped_mass and element_degree > 1), "lumping needs linear elements"
        self.element_degree = element_degree
        self.V0 = compat.lagrange_space(msh, element_degree)
        self.mpc = (compat.periodic_constraint(self.V0, domain.box_lower, domain.period)
                    if domain.periodic else None)
        #: forms on the constrained space (same cell dofs, extra ghosts): one dofmap, not two
        self.V = self.V0 = compat.constrained_space(self.mpc) if self.mpc is not None else self.V0
        self.P = fem.Function(self.V, name="P")
        self.ndofs = compat.num_dofs_global(self.V0)
        self.n_owned = compat.owned_size(self.V0)
        q = quadrature_degree or (6 if domain.serial else 4)
        self.quadrature_degree = q
        meta = {"quadrature_degree": q, "quadrature_scheme": "default"}
        self.dx = ufl.Measure("dx", domain=msh, metadata=meta)
        x = ufl.SpatialCoordinate(msh)
        self.weight = domain.weight(x) if domain.serial else fem.Constant(msh, 1.0)
        #: simulated time (s) seen by a forcing term
        self.time = fem.Constant(msh, 0.0)
        self.forcing = forcing(self.time, x) if forcing is not None else None
        self._setup_cell_data()
        self.qf = QuadratureFields(domain, q)
        trim_heap()  # the function spaces' dofmap building
        self._setup_fields()
        self._setup_forms()
        self.M, self.lumped_mass = self.assemble_matrix(self.forms["M"]), lumped_mass
        if lumped_mass:
            lump(self.M)
        #: n v w dx (observables, projections)
        self.measure = WeightedMeasure(self.V0, self.n, self.weight, self.dx)
        self.release_dropped()

    # --- assembly with or without the periodic constraint --------------------------------

    def assemble_matrix(self, a, into: PETSc.Mat | None = None, coeffs: dict | None = None) -> PETSc.Mat:
        """The matrix of `a`, after M in M's sparsity (a new pattern costs ~4 matrices); `into`:
        added to that matrix (of M's pattern) instead; `coeffs`: packed (compat.packed_law)."""
        template = getattr(self, "M", None)
        add = into is not None
        A = into if add else None if template is None else template.duplicate(copy=False)
        if self.mpc is not None:
            A = compat.assemble_matrix_mpc(a, self.mpc, A, add=add)
        else:
            A = compat.assemble_matrix(a) if A is None else compat.assemble_matrix_into(A, a, add, coeffs)
        if template is None:
            trim_heap()  # the sparsity pattern's freed heap
        return A

    def release_dropped(self) -> None:
        """Destroy the matrices and vectors dropped since the last call (collective)."""
        release_dropped(self.M, compat.petsc_vector(self.P))

    def assemble_vector(self, L, coeffs: dict | None = None) -> PETSc.Vec:
        return compat.assemble_vector_mpc(L, self.mpc) if self.mpc is not None else compat.assemble_vector(L, coeffs)

    def constrain(self, v: PETSc.Vec) -> None:
        """Make a (ghosted) vector satisfy the periodic constraint: slaves = masters."""
        if self.mpc is not None:
            compat.backsubstitute(self.mpc, v)

    def homogenize(self, v: PETSc.Vec) -> None:
        """Zero the slave entries (periodic constraint) of a ghosted vector."""
        if self.mpc is not None:
            compat.homogenize(self.mpc, v)

    # --- set-up --------------------------------------------------------------------------

    def _setup_cell_data(self) -> None:
        self._cell_space: fem.FunctionSpace | None = None
        mats = cell_materials(self.domain, self.model.materials, lambda: self.cell_space)
        #: index into self.material_names of every local cell (-1: none)
        self.material_names, self.material_of_cell = mats.names, mats.of_cell
        self.n, self.D0, self.R1_bulk_cell = mats.n, mats.D0, mats.R1_bulk

    @property
    def cell_space(self) -> fem.FunctionSpace:
        """The DG0 space of the cell-wise functions, made on first use."""
        if self._cell_space is None:
            self._cell_space = compat.dg0_space(self.domain.mesh)
        return self._cell_space

    @property
    def in_barrier(self) -> np.ndarray:
        """Quadrature points inside a kept barrier (tagged cells, or r < b by distance)."""
        qf = self.qf
        if self.domain.barrier_by_distance:
            return qf.cached("kept", lambda: qf.in_barrier | (qf.nearest < self.model.barrier_radius))
        return qf.in_barrier

    def _setup_fields(self) -> None:
        """Constants of the forms. No per-point law (k, k P_src, R1_para, s, the visible
        indicator) is kept: each is a quadrature function only while its operator is assembled."""
        msh = self.domain.mesh
        self.P_src, self.kappa = fem.Constant(msh, 0.0), fem.Constant(msh, float(self.model.source.surface_rate))
        self.P0 = fem.Constant(msh, float(self.model.thermal_polarization))
        #: the source target P_src when it is one number (the load is then k P_src from the
        #: quadrature function of k); 1 when the load's law is k P_src per point
        self.k_target = fem.Constant(msh, 1.0)

    def visible_indicator(self) -> np.ndarray:
        """1 at the quadrature points of the NMR-visible region (r > r_h from every centre,
        outside barriers), else 0."""
        qf, m = self.qf, self.model
        r = qf.cell_nearest if self.domain.conforms_to(m.visible_radius) else qf.nearest
        return ((r > m.visible_radius) & ~self.in_barrier).astype(float)

    def _setup_forms(self) -> None:
        u, v = ufl.TrialFunction(self.V0), ufl.TestFunction(self.V0)
        n, w, dx = self.n, self.weight, self.dx
        self.forms = {"M": compat.form(n * u * v * w * dx)}
        if self.model.source.barrier_flux:
            ds_b = ufl.Measure("ds", domain=self.domain.mesh, subdomain_data=self.domain.facets(),
                               metadata={"quadrature_degree": self.quadrature_degree})(FACET_BARRIER)
            self.forms["Q_s"] = compat.form(n * self.kappa * u * v * w * ds_b)
            self.forms["g_s"] = compat.form(n * self.kappa * self.P_src * v * w * ds_b)
        if self.forcing is not None:
            self.forms["g_f"] = compat.form(n * self.forcing * v * w * dx)
        self._dirichlet_dofs: dict[int, np.ndarray] = {}

    def dirichlet_dofs(self, tag: int) -> np.ndarray:
        """Local dofs on the facets tagged `tag`, located when a stage first needs them: a
        facet search makes DOLFINx build the mesh's facets (about 50 bytes per cell)."""
        if tag not in self._dirichlet_dofs:
            ft = self.domain.facets()
            self._dirichlet_dofs[tag] = (np.empty(0, dtype=np.int32) if ft is None
                                         else compat.locate_dofs_on_facets(self.V0, ft, tag))
        return self._dirichlet_dofs[tag]

    def law_form(self, kind: str, law: fem.Function, material: fem.Function | None = None):
        """The form of one law-dependent operator with the quadrature function `law`:
        "K" stiffness (law = s; restricted to a material indicator for the mean corrected law), "Q_k" / "g_k"
        source matrix and load (law = k; the load's is k P_src / k_target), "Q_R" / "g_R"
        relaxation (law = R1_para)."""
        u, v = ufl.TrialFunction(self.V0), ufl.TestFunction(self.V0)
        n, w, dx = self.n, self.weight, self.dx
        if kind == "K":
            ind = 1.0 if material is None else material
            return compat.form(ind * n * self.D0 * law * ufl.inner(ufl.grad(u), ufl.grad(v)) * w * dx)
        R1 = self.R1_bulk_cell + law
        integrand = {"Q_k": n * law * u * v, "g_k": n * law * self.k_target * v,
                     "Q_R": n * R1 * u * v, "g_R": n * R1 * self.P0 * v}[kind]
        return compat.form(integrand * w * dx)

    def assemble_with_law(self, kinds: str | tuple[str, ...], law: fem.Function | np.ndarray,
                        material: fem.Function | None = None, into: PETSc.Mat | None = None):
        """Assemble the operators `kinds` (one name, or several sharing the law) with the law
        given as a quadrature function (`qf.blank`, filled in place) or per quadrature point;
        the quadrature function lives only for the assembly. `into`: a matrix is added to it."""
        names = (kinds,) if isinstance(kinds, str) else kinds
        if not isinstance(law, fem.Function):
            law = self.qf.function(law, names[0])
        out = []
        for kind in names:
            form = self.law_form(kind, law, material)
            packed = None if self.mpc is not None else compat.packed_law(form, self.qf.packed(law))
            out.append(self.assemble_matrix(form, into, packed) if kind[0] in "KQ"
                       else self.assemble_vector(form, packed))
        del law, form
        self.release_dropped()
        return out[0] if isinstance(kinds, str) else tuple(out)

    # --- per stage -----------------------------------------------------------------------

    def points_in(self, material: str) -> np.ndarray:
        """Quadrature points lying in cells of a material."""
        return np.repeat(self.cells_of(material), self.qf.npts)

    def cells_of(self, material: str) -> np.ndarray:
        """Mask of the local cells (incl. ghosts) of a material."""
        names = self.material_names
        return self.material_of_cell == (names.index(material) if material in names else -2)

    def material_indicator(self, material: str) -> fem.Function:
        """1 in the cells of a material, else 0 (a DG0 function, 8 bytes per cell)."""
        return cellwise_function(self.cell_space, self.cells_of(material).astype(float))

    def forcing_vector(self, t: float) -> PETSc.Vec | None:
        """(n f(t), v)_w for a manufactured-solution forcing, or None."""
        if self.forcing is None:
            return None
        self.time.value = t
        return self.assemble_vector(self.forms["g_f"])

    def set_uniform(self, value: float) -> None:
        self.P.x.array[:] = value
