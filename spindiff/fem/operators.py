"""Weak form of the transport equation and its assembled operators.

    n dP/dt = div(n D grad P) + n k (P_src - P) - n R1 (P - P0)

Multiplying by a test function v (times the radial weight w = 4 pi r^2 in 1D, else 1) and
integrating by parts with zero flux on every outer or hole surface:

    M dP/dt = -(K + Q_k + Q_R) P + g,
    M   = (n u, v)_w,          K   = (n D grad u, grad v)_w,
    Q_k = (n k u, v)_w,        Q_R = (n R1 u, v)_w,       g = (n (k P_src + R1 P0), v)_w.

Interfaces between materials need nothing: n multiplies every term, so P and the flux
n D dP/dn are continuous. A surface source adds (n kappa u, v)_{w, barrier} to the matrix and
(n kappa P_src, v)_{w, barrier} to g; a fixed source or a fixed outer polarization are
Dirichlet rows. The operators depend on the stage (source on or off) only through Q_k, the
surface terms, g and the Dirichlet rows, which are re-assembled at stage changes; M and K are
assembled once. An optional forcing f(x, t) (manufactured solutions) adds (n f, v)_w to g.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem
from petsc4py import PETSc

from ..errors import MeshError
from ..geometry.domain import FACET_BARRIER, FACET_OUTER, Domain
from ..model import StageSpec, TransportModel
from . import compat
from .fields import QuadratureFields, cell_tag_array, cellwise_function

SAME = PETSc.Mat.Structure.SAME_NONZERO_PATTERN


@dataclass
class StageOperators:
    """S = K + Q (the stage's stiffness-plus-reaction matrix), its load vector g and the
    Dirichlet rows: owned local dof indices, their PETSc global indices and values."""
    S: PETSc.Mat
    g: PETSc.Vec
    name: str
    bc_local: np.ndarray
    bc_global: np.ndarray
    bc_values: np.ndarray
    #: True when any rank has Dirichlet rows (collective operations depend on it)
    has_bc: bool = False


class Discretization:
    """P1 finite elements for the transport model on a domain."""

    def __init__(self, domain: Domain, model: TransportModel, quadrature_degree: int | None = None,
                 forcing=None):
        self.domain = domain
        self.model = model
        self.comm = domain.comm
        msh = domain.mesh
        self.V = compat.lagrange_space(msh, 1)
        self.P = fem.Function(self.V, name="P")
        self.ndofs = compat.num_dofs_global(self.V)
        q = quadrature_degree or (6 if domain.radial else 4)
        self.quadrature_degree = q
        self.dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": q,
                                                          "quadrature_scheme": "default"})
        self.ds = ufl.Measure("ds", domain=msh, subdomain_data=domain.facet_tags,
                              metadata={"quadrature_degree": q})
        x = ufl.SpatialCoordinate(msh)
        self.weight = 4.0 * math.pi * x[0] ** 2 if domain.radial else fem.Constant(msh, 1.0)
        #: simulated time (s) seen by a forcing term
        self.time = fem.Constant(msh, 0.0)
        self.forcing = forcing(self.time, x) if forcing is not None else None

        self._setup_cell_data()
        self.qf = QuadratureFields(domain, q)
        self._setup_fields()
        self._setup_forms()
        self.M = compat.assemble_matrix(self.forms["M"])
        self.K = compat.assemble_matrix(self.forms["K"])
        self.Q_R = compat.assemble_matrix(self.forms["Q_R"])
        self.g_R = compat.assemble_vector(self.forms["g_R"])
        self._observable_vectors()

    # --- set-up --------------------------------------------------------------------------

    def _setup_cell_data(self) -> None:
        d, m = self.domain, self.model
        tags = cell_tag_array(d)
        n = np.full(tags.shape, np.nan)
        D = np.full(tags.shape, np.nan)
        r1 = np.full(tags.shape, np.nan)
        self.material_of_cell = np.full(tags.shape, "", dtype=object)
        for name, tag_values in d.materials.items():
            if name not in m.materials:
                raise MeshError(f"mesh material {name!r} is not defined in the case "
                                f"(defined: {', '.join(m.materials)})")
            props = m.materials[name]
            sel = np.isin(tags, tag_values)
            n[sel], D[sel], r1[sel] = props.nuclear_density, props.D0, props.R1_bulk
            self.material_of_cell[sel] = name
        barrier = np.isin(tags, d.barrier_tags)
        D[barrier] *= m.barrier_diffusion
        nlocal = compat.num_cells_local(d.mesh, with_ghosts=False)
        if np.isnan(n[:nlocal]).any():
            bad = sorted(set(tags[:nlocal][np.isnan(n[:nlocal])].tolist()))
            raise MeshError(f"cells with tags {bad} belong to no material")
        n[np.isnan(n)] = 1.0
        D[np.isnan(D)] = 0.0
        r1[np.isnan(r1)] = 0.0
        self.n = cellwise_function(d, n, "n")
        self.D = cellwise_function(d, D, "D0")
        self.R1_bulk_cell = cellwise_function(d, r1, "R1_bulk")

    def _setup_fields(self) -> None:
        qf, m = self.qf, self.model
        self.k = qf.function(qf.centre_sum(m.source_rate), "k")
        r1 = qf.centre_sum(m.paramagnetic_rate)
        self.R1_para = qf.function(r1, "R1_para")
        visible = (qf.nearest > m.visible_radius) & ~qf.in_barrier
        self.visible = qf.function(visible.astype(float), "visible")
        self.P_src = fem.Constant(self.domain.mesh, 0.0)
        self.P0 = fem.Constant(self.domain.mesh, float(m.thermal_polarization))

    def _setup_forms(self) -> None:
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        n, w, dx = self.n, self.weight, self.dx
        R1 = self.R1_bulk_cell + self.R1_para
        ds_b = self.ds(FACET_BARRIER)
        kappa = fem.Constant(self.domain.mesh, float(self.model.surface_rate))
        self.forms = {
            "Q_s": compat.form(n * kappa * u * v * w * ds_b),
            "g_s": compat.form(n * kappa * self.P_src * v * w * ds_b),
            "M": compat.form(n * u * v * w * dx),
            "K": compat.form(n * self.D * ufl.inner(ufl.grad(u), ufl.grad(v)) * w * dx),
            "Q_k": compat.form(n * self.k * u * v * w * dx),
            "Q_R": compat.form(n * R1 * u * v * w * dx),
            "g_k": compat.form(n * self.k * self.P_src * v * w * dx),
            "g_R": compat.form(n * R1 * self.P0 * v * w * dx),
        }
        if self.forcing is not None:
            self.forms["g_f"] = compat.form(n * self.forcing * v * w * dx)
        self._dirichlet_dofs = {}
        ft = self.domain.facet_tags
        if ft is not None:
            for key, tag in (("barrier", FACET_BARRIER), ("outer", FACET_OUTER)):
                self._dirichlet_dofs[key] = compat.locate_dofs_on_facets(self.V, ft, tag)

    def _observable_vectors(self) -> None:
        v = ufl.TestFunction(self.V)
        n, w, dx = self.n, self.weight, self.dx
        self.weights = {"sample": compat.assemble_vector(compat.form(n * v * w * dx)),
                        "visible": compat.assemble_vector(compat.form(n * self.visible * v * w * dx))}
        if len(self.domain.materials) > 1:
            for name in self.domain.materials:
                ind = cellwise_function(self.domain,
                                        (self.material_of_cell == name).astype(float))
                self.weights[name] = compat.assemble_vector(compat.form(n * ind * v * w * dx))
        self.totals = {key: vec.sum() for key, vec in self.weights.items()}

    # --- per stage -----------------------------------------------------------------------

    def stage_operators(self, stage: StageSpec) -> StageOperators:
        """Assemble S = K + Q_R (+ source terms), g and the Dirichlet rows for a stage."""
        m = self.model
        S = self.K.copy()
        S.axpy(1.0, self.Q_R, structure=SAME)
        g = self.g_R.copy()
        fixed: list[tuple[np.ndarray, float]] = []
        if stage.source_on:
            self.P_src.value = stage.source_polarization
            if m.source_model == "volume":
                S.axpy(1.0, compat.assemble_matrix(self.forms["Q_k"]), structure=SAME)
                g.axpy(1.0, compat.assemble_vector(self.forms["g_k"]))
            elif m.source_model == "surface":
                S.axpy(1.0, compat.assemble_matrix(self.forms["Q_s"]), structure=SAME)
                g.axpy(1.0, compat.assemble_vector(self.forms["g_s"]))
            elif m.source_model == "fixed":
                fixed.append((self._dirichlet_dofs["barrier"], stage.source_polarization))
        if m.outer_boundary == "fixed":
            fixed.append((self._dirichlet_dofs["outer"], m.outer_polarization))
        return StageOperators(S=S, g=g, name=stage.name, **self._dirichlet_rows(fixed))

    def _dirichlet_rows(self, fixed: list[tuple[np.ndarray, float]]) -> dict:
        nowned = compat.owned_size(self.V)
        offset = compat.global_offset(self.V)
        loc, val = [np.empty(0, dtype=np.int32)], [np.empty(0)]
        for dofs, value in fixed:
            d = np.asarray(dofs, dtype=np.int32)
            d = d[d < nowned]
            loc.append(d)
            val.append(np.full(d.size, float(value)))
        bc_local = np.concatenate(loc)
        bc_local, first = np.unique(bc_local, return_index=True)
        bc_values = np.concatenate(val)[first]
        from mpi4py import MPI
        has_bc = self.comm.allreduce(int(bc_local.size), op=MPI.SUM) > 0
        return {"bc_local": bc_local, "bc_global": (bc_local + offset).astype(PETSc.IntType),
                "bc_values": bc_values, "has_bc": has_bc}

    def forcing_vector(self, t: float) -> PETSc.Vec | None:
        """(n f(t), v)_w for a manufactured-solution forcing, or None."""
        if self.forcing is None:
            return None
        self.time.value = t
        return compat.assemble_vector(self.forms["g_f"])

    # --- observables ---------------------------------------------------------------------

    def averages(self, P: PETSc.Vec) -> dict[str, float]:
        """Nuclear-density-weighted averages of P over the sample, the visible region and,
        with several materials, each material."""
        return {key: (vec.dot(P) / self.totals[key]) if self.totals[key] > 0 else float("nan")
                for key, vec in self.weights.items()}

    def set_uniform(self, value: float) -> None:
        self.P.x.array[:] = value

    def saturate(self, region: str) -> None:
        """Set P = 0 at the nodes of a region: "all", "visible" (r >= r_h from every centre,
        outside barriers) or "hidden" (r <= r_h)."""
        if region == "none":
            return
        if region == "all":
            self.P.x.array[:] = 0.0
            return
        xyz = compat.dof_coordinates(self.V)
        if self.domain.radial:
            xyz = xyz.copy()
        r = self.domain.nearest_distance(xyz)
        rh = self.model.visible_radius
        mask = r >= rh * (1 - 1e-12) if region == "visible" else r <= rh * (1 + 1e-12)
        self.P.x.array[mask] = 0.0
