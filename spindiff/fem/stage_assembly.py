"""The stage assembly: the operators of the transport equation for a protocol stage.

A stage's laws around the centres (StageLaws: k, P_src, R1_para, s_e) are evaluated at the
quadrature points of the Discretization (spindiff.fem.operators), the law-dependent operators
re-assembled only when their laws change, and the per-point arrays then dropped:

    K = (n D0 s grad u, grad v)_w           (one per material for the mean corrected law)
    Q = (n (k + R1) u, v)_w,  g = (n (k P_src + R1 P0), v)_w

(with conventional diffusion K is stored added into Q, no third matrix beside M); a surface
source adds (n kappa u, v)_{w, barrier} and its load, a fixed source or a fixed outer
polarization are Dirichlet rows (`StageOperators`). What the source does is asked of the
model's source law (spindiff.sources), how D depends on P of its diffusion law.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from ..centre_laws import StageLaws
from ..mesh import compat
from ..mesh.domain import FACET_BARRIER, FACET_OUTER
from ..model import StageSpec, TransportModel
from .operators import Discretization

#: conventional diffusion: the stiffness matrix is stored added into the reaction matrix
FOLD_STIFFNESS = True
#: the StageLaws fields that enter the reaction operator Q and its load g
REACTION_LAWS = ("paramagnetic_rate", "source_rate", "source_target", "uniform")


@dataclass
class StageOperators:
    """The reaction matrix Q as its terms (relaxation and volume source in one matrix, plus K
    with conventional diffusion; a surface source as a second), the load g and the Dirichlet
    rows (owned local indices, PETSc global indices, values) of a stage."""
    Q: tuple[PETSc.Mat, ...]
    g: PETSc.Vec
    name: str
    bc_local: np.ndarray
    bc_global: np.ndarray
    bc_values: np.ndarray
    #: True when any rank has Dirichlet rows (collective operations depend on it)
    has_bc: bool = False


class StageAssembly:
    """The stage laws and operators of a model on a Discretization: K (or its material parts),
    the reaction matrix Q and load g of the current laws, and each stage's StageOperators."""

    def __init__(self, disc: Discretization, model: TransportModel):
        self.disc, self.model = disc, model
        #: the stiffness matrix (None when it is held in the reaction matrix, or per material)
        self.K: PETSc.Mat | None = None
        self.stiffness_in_reaction = FOLD_STIFFNESS and model.diffusion.constant
        #: the stiffness matrix of each material (the mean corrected law)
        self.K_parts: dict[str, PETSc.Mat] = {}
        self._laws: StageLaws | None = None
        #: (Q, g) of relaxation plus volume source for the current laws
        self._reaction: tuple[PETSc.Mat, PETSc.Vec] | None = None

    def update_laws(self, laws: StageLaws) -> bool:
        """Evaluate the stage laws at the quadrature points, re-assemble the operators that
        changed (K, or its material parts for the mean corrected law; Q and g), drop the
        per-point arrays.
        Conventional diffusion uses only K + Q: Q is assembled into K's matrix (no third matrix
        beside M; a stage that changes either law assembles both). True if K changed."""
        qf, old, fold = self.disc.qf, self._laws, self.stiffness_in_reaction
        self._laws = laws
        reaction_changed = old is None or any(getattr(old, a) != getattr(laws, a) for a in REACTION_LAWS)
        stiffness_changed = old is None or old.suppression != laws.suppression or fold and reaction_changed
        if stiffness_changed:
            self.K, self.K_parts = None, {}
            self._reaction = None if fold else self._reaction  # K goes into a new one below
            law, s = qf.blank("s")
            s[:] = 1.0
            if laws.suppression is not None:
                qf.evaluate(laws.suppression, qf.nearest, s)
            if self.model.barrier != "physical":
                s[self.disc.in_barrier] = self.model.barrier_diffusion
            if laws.suppression is not None:
                r2 = qf.points[:, 0] ** 2 if self.disc.domain.radial else None
                s[:] = qf.harmonic_cellwise(s, r2)
            qf.commit(law, s)
            del s
            self._drop_distances()
            if self.model.diffusion.per_material:  # only the material parts are used
                for name in self.disc.domain.materials:
                    ind = self.disc.material_indicator(name)
                    self.K_parts[name] = self.disc.assemble_with_law("K", law, ind)
            else:
                self.K = self.disc.assemble_with_law("K", law)
            del law
        if reaction_changed or stiffness_changed and fold:
            self._drop_distances()
            self._reaction = None  # freed before the new one is assembled
            self._reaction = self._assemble_reaction(laws, into=self.K if fold else None)
            self.K = None if fold else self.K
        qf.release()
        self.disc.release_dropped()
        return stiffness_changed

    def _drop_distances(self) -> None:
        """Keep the kept-barrier mask (made from the nearest-centre distances), drop the
        distances (8 bytes per point): no assembly needs them."""
        _ = self.disc.in_barrier
        self.disc.qf.forget("nearest")

    def _assemble_reaction(self, laws: StageLaws, into: PETSc.Mat | None = None) -> tuple[PETSc.Mat, PETSc.Vec]:
        """Q = n (R1 + k) u v and g = n R1 P0 v + n k P_src v, with g assembled as
        n (R1 + k) P0 v + n k (P_src - P0) v, so that one per-point array holds first k, then
        R1 + k (a stage that changes either law evaluates both); `into`: Q added to it."""
        qf, P0 = self.disc.qf, float(self.model.thermal_polarization)
        law, rate = qf.blank("R1")
        g = None
        if laws.source_rate is not None or laws.uniform:
            rate, kp = self._source_values(laws, rate)
            if isinstance(kp, float):  # one target: the load from the same law
                self.disc.k_target.value = kp - P0
                qf.commit(law, rate)
                g = self.disc.assemble_with_law("g_k", law)
            else:
                self.disc.k_target.value = 1.0
                kp -= P0 * rate
                g = self.disc.assemble_with_law("g_k", kp)
            del kp
        qf.centre_sum(laws.paramagnetic_rate, out=rate, add=True, barrier=self.disc.in_barrier)
        for mat, _, _, ru in laws.uniform:
            rate[self.disc.points_in(mat)] += ru
        qf.commit(law, rate)
        del rate
        g_R = self.disc.assemble_with_law("g_R", law)
        if g is not None:
            g_R.axpy(1.0, g)
        del g
        return self.disc.assemble_with_law("Q_R", law, into=into), g_R

    def _source_values(self, laws: StageLaws, k: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray | float]:
        """k (1/s) at the quadrature points, written into `k` (the sums over centres plus the
        uniform, homogenized, sources of materials) and the target: one number P_src when
        every source has the same constant target, else k P_src (1/s) per point."""
        qf = self.disc.qf
        tgt = laws.source_target if laws.source_rate is not None else None
        targets = {float(pu) for _, _, pu, _ in laws.uniform}
        if tgt is not None and not callable(tgt):
            targets.add(float(tgt))
        one = (len(targets) == 1 and not callable(tgt))
        if laws.source_rate is None:
            k[:] = 0.0
            kp = None if one else np.zeros(qf.size)
        else:
            step = getattr(laws.source_rate, "radius", None)
            cellwise = step is not None and self.disc.domain.conforms_to(step)
            if callable(tgt):
                k, kp = qf.centre_sums([laws.source_rate, lambda r: laws.source_rate(r) * tgt(r)],
                                       cellwise, [k, None], barrier=self.disc.in_barrier)
            else:
                qf.centre_sum(laws.source_rate, cellwise, k, barrier=self.disc.in_barrier)
                kp = None if one else k * float(tgt)
        for mat, ku, pu, _ in laws.uniform:
            sel = self.disc.points_in(mat)
            k[sel] += ku
            if kp is not None:
                kp[sel] += ku * pu
        return k, (targets.pop() if kp is None else kp)

    def stage_operators(self, stage: StageSpec) -> StageOperators:
        """The operators of a stage: its laws (re-assembled where they changed), a surface
        source's matrix and load, the Dirichlet rows of a fixed source or outer value."""
        m = self.model
        self.update_laws(m.laws(stage))
        Q, g = self._reaction  # relaxation and volume source
        terms = [Q]
        fixed: list[tuple[np.ndarray, float]] = []
        if stage.source_on and m.source.barrier_flux:
            g = g.copy()  # the reaction load is shared with the later stages of these laws
            self.disc.P_src.value = stage.source_polarization
            terms.append(self.disc.assemble_matrix(self.disc.forms["Q_s"]))
            g.axpy(1.0, self.disc.assemble_vector(self.disc.forms["g_s"]))
        if stage.source_on and m.source.fixes_barrier:
            fixed.append((self.disc.dirichlet_dofs(FACET_BARRIER), stage.source_polarization))
        if m.outer_boundary == "fixed":
            fixed.append((self.disc.dirichlet_dofs(FACET_OUTER), m.outer_polarization))
        return StageOperators(Q=tuple(terms), g=g, name=stage.name, **self._dirichlet_rows(fixed))

    def _dirichlet_rows(self, fixed: list[tuple[np.ndarray, float]]) -> dict:
        nowned = self.disc.n_owned
        offset = compat.global_offset(self.disc.V0)
        loc, val = [np.empty(0, dtype=np.int32)], [np.empty(0)]
        for dofs, value in fixed:
            d = np.asarray(dofs, dtype=np.int32)
            d = d[d < nowned]
            loc.append(d)
            val.append(np.full(d.size, float(value)))
        bc_local = np.concatenate(loc)
        bc_local, first = np.unique(bc_local, return_index=True)
        bc_values = np.concatenate(val)[first]
        has_bc = self.disc.comm.allreduce(int(bc_local.size), op=MPI.SUM) > 0
        return {"bc_local": bc_local, "bc_global": (bc_local + offset).astype(PETSc.IntType),
                "bc_values": bc_values, "has_bc": has_bc}
