"""Events that act on the polarization field during a protocol: saturation of a region
(HypRes: the visible spins, conserving the hidden magnetization exactly) and the pulses of an
intermittent source (docs/reference/physics.md section 5), on the field P of a Discretization
(spindiff.fem.operators).
"""
from __future__ import annotations

import numpy as np
import ufl
from petsc4py import PETSc

from ..mesh import compat
from . import linear_solver


class FieldEvents:
    """Saturation and pulses on the field P of `disc` (a Discretization).

    region_radius, barrier_radius: the source region of the pulses, r_b <= r <= r_s around
    each centre (nm); visible_radius r_h and saturation_width w (nm) of a "visible"
    saturation."""

    def __init__(self, disc, region_radius: float, barrier_radius: float, visible_radius: float,
                 saturation_width: float = 0.0):
        self.disc = disc
        self.region_radius, self.barrier_radius = region_radius, barrier_radius
        self.visible_radius, self.saturation_width = visible_radius, saturation_width
        self._source_mask: np.ndarray | None = None
        self._keep_forms: dict | None = None
        self._proj_ksp = None

    @classmethod
    def of(cls, disc) -> FieldEvents:
        """The events of a Discretization, with its model's source region and visibility."""
        m = disc.model
        return cls(disc, m.source.region_radius, m.barrier_radius, m.visible_radius,
                   m.saturation_width)

    def source_region_mask(self) -> np.ndarray:
        """Local dofs (incl. ghosts) within the source radius of a centre and outside barriers."""
        if self._source_mask is None:
            xyz = compat.dof_coordinates(self.disc.V0)
            r = self.disc.domain.nearest_distance(xyz)
            self._source_mask = ((r <= self.region_radius * (1 + 1e-9))
                                 & (r >= self.barrier_radius * (1 - 1e-9)))
        return self._source_mask

    def apply_pulse(self, target: float, exchange: float, P: PETSc.Vec) -> None:
        """P <- P + exchange (target - P) at the nodes of the source region."""
        mask = self.source_region_mask()
        field = self.disc.P
        arr = field.x.array[: mask.size]
        arr[mask] += exchange * (target - arr[mask])
        compat.scatter_forward(field)
        self.disc.constrain(P)

    def saturation_profile(self):
        """Fraction of the polarization a "visible" saturation removes: the sharp visible
        indicator, or with a saturation width w a smooth step 0.5 (1 + tanh((r - r_h) / w))
        (spins whose hyperfine shift is comparable to the saturation bandwidth are only
        partly saturated)."""
        width = self.saturation_width
        disc = self.disc
        qf = disc.qf
        if width <= 0:
            return qf.function(disc.visible_indicator(), "visible")
        chi = 0.5 * (1.0 + np.tanh((qf.nearest - self.visible_radius) / width))
        chi[disc.in_barrier] = 0.0
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
        disc = self.disc
        if region == "none":
            return
        if region == "all":
            disc.P.x.array[:] = 0.0
            return
        if self._keep_forms is None:
            v = ufl.TestFunction(disc.V0)
            n, w, dx = disc.n, disc.weight, disc.dx
            chi = self.saturation_profile()
            self._keep_forms = {
                "visible": compat.form(n * (1.0 - chi) * disc.P * v * w * dx),
                "hidden": compat.form(n * chi * disc.P * v * w * dx),
            }
            self._lumped_n = disc.assemble_vector(compat.form(n * v * w * dx))
            disc.qf.release()
        compat.scatter_forward(disc.P)
        kept = disc.assemble_vector(self._keep_forms[region])
        vec = compat.petsc_vector(disc.P) if P is None else P
        if disc.element_degree > 1:
            # quadratic elements: the vertex functions integrate to negative values, so only the
            # consistent projection is defined (P before the saturation is the initial guess)
            self._projection_solver().solve(kept, vec)
        elif self.saturation_width > 0:
            # a smooth (resolved) edge: consistent L2 projection, second order and conservative
            ksp = self._projection_solver()
            vec.pointwiseDivide(kept, self._lumped_n)  # initial guess
            ksp.solve(kept, vec)
        else:
            vec.pointwiseDivide(kept, self._lumped_n)
        disc.constrain(vec)
        compat.scatter_forward(disc.P)

    def _projection_solver(self):
        if self._proj_ksp is None:
            disc = self.disc
            self._proj_ksp = linear_solver.make_ksp(disc.comm, "mass", 1e-12, True, None, "proj")
            self._proj_ksp.setInitialGuessNonzero(True)
            M = disc.M if not disc.lumped_mass else disc.assemble_matrix(disc.forms["M"])
            self._proj_ksp.setOperators(M)
        return self._proj_ksp
