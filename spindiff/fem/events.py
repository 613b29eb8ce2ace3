"""Events that act on the polarization field during a protocol: saturation of a region
(HypRes: the visible spins, conserving the hidden magnetization exactly) and the pulses of an
intermittent source (docs/physics.md section 5). A mixin of `Discretization`
(spindiff.fem.operators).
"""
from __future__ import annotations

import numpy as np
import ufl
from petsc4py import PETSc

from ..mesh import compat


class FieldEventsMixin:
    """Saturation and pulses on the discretization's field P."""

    def source_region_mask(self) -> np.ndarray:
        """Local dofs (incl. ghosts) within the source radius of a centre and outside barriers."""
        if not hasattr(self, "_source_mask"):
            xyz = compat.dof_coordinates(self.V0)
            r = self.domain.nearest_distance(xyz)
            m = self.model
            radius = m.source.region_radius
            self._source_mask = (r <= radius * (1 + 1e-9)) & (r >= m.barrier_radius * (1 - 1e-9))
        return self._source_mask

    def apply_pulse(self, target: float, exchange: float, P: PETSc.Vec) -> None:
        """P <- P + exchange (target - P) at the nodes of the source region."""
        mask = self.source_region_mask()
        arr = self.P.x.array[: mask.size]
        arr[mask] += exchange * (target - arr[mask])
        compat.scatter_forward(self.P)
        self.constrain(P)

    def _saturation_profile(self):
        """Fraction of the polarization a "visible" saturation removes: the sharp visible
        indicator, or with a saturation width w a smooth step 0.5 (1 + tanh((r - r_h) / w))
        (spins whose hyperfine shift is comparable to the saturation bandwidth are only
        partly saturated)."""
        width = self.model.saturation_width
        qf = self.qf
        if width <= 0:
            return qf.function(self.visible_indicator(), "visible")
        chi = 0.5 * (1.0 + np.tanh((qf.nearest - self.model.visible_radius) / width))
        chi[self.in_barrier] = 0.0
        return qf.function(chi, "saturation")

    def saturate(self, region: str, P: PETSc.Vec | None = None) -> None:
        """Remove the polarization of a region: "all", "visible" (r > r_h from every centre,
        outside barriers) or "hidden" (the rest).

        "all" sets P = 0. Otherwise P is replaced by the L2 projection of (1 - chi) P, chi the
        fraction saturated: with a saturation width w > 0 the smooth step
        0.5 (1 + tanh((r - r_h) / w)) and the consistent projection (second order); with a
        sharp edge (w = 0) the region's indicator and the lumped projection
        P_i <- int n (1 - chi) P phi_i / int n phi_i (monotone).
        This keeps the other region's magnetization exactly (a nodal reset would also wipe
        the part of it carried by the nodes on r = r_h, an O(h) loss) and cannot create
        negative values; with a sharp edge the price is a residual of size O(h) in the
        region's own average next to the interface, which `centres.saturation_width` (a
        smooth edge, resolved by the mesh) removes. Quadratic elements always use the
        consistent projection (it may undershoot next to a sharp edge).
        """
        if region == "none":
            return
        if region == "all":
            self.P.x.array[:] = 0.0
            return
        if not hasattr(self, "_keep_forms"):
            v = ufl.TestFunction(self.V0)
            n, w, dx = self.n, self.weight, self.dx
            chi = self._saturation_profile()
            self._keep_forms = {
                "visible": compat.form(n * (1.0 - chi) * self.P * v * w * dx),
                "hidden": compat.form(n * chi * self.P * v * w * dx),
            }
            self._lumped_n = self.assemble_vector(compat.form(n * v * w * dx))
            self.qf.release()
        compat.scatter_forward(self.P)
        kept = self.assemble_vector(self._keep_forms[region])
        vec = compat.petsc_vector(self.P) if P is None else P
        if self.element_degree > 1:
            # quadratic elements: the vertex functions integrate to negative values, so only the
            # consistent projection is defined (P before the saturation is the initial guess)
            self._projection_solver().solve(kept, vec)
        elif self.model.saturation_width > 0:
            # a smooth (resolved) edge: consistent L2 projection, second order and conservative
            ksp = self._projection_solver()
            vec.pointwiseDivide(kept, self._lumped_n)  # initial guess
            ksp.solve(kept, vec)
        else:
            vec.pointwiseDivide(kept, self._lumped_n)
        self.constrain(vec)
        compat.scatter_forward(self.P)

    def _projection_solver(self):
        if not hasattr(self, "_proj_ksp"):
            from . import linear_solver
            self._proj_ksp = linear_solver.make_ksp(self.comm, "mass", 1e-12, True, None, "proj")
            self._proj_ksp.setInitialGuessNonzero(True)
            M = self.M if not self.lumped_mass else self.assemble_matrix(self.forms["M"])
            self._proj_ksp.setOperators(M)
        return self._proj_ksp
