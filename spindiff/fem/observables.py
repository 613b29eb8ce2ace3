"""Observables of a discretized polarization field: nuclear-density-weighted averages over the
sample, the NMR-visible region and each material, and the radial profile around the centres
(docs/reference/physics.md section 8).

    <P>_X = int_X n P w dx / int_X n w dx  =  (weights_X . P) / sum(weights_X)

The weight vectors are assembled once per mesh (`Observables`, made from a Discretization by
`Observables.of`); the radial profile's shells when first asked for.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from ..mesh import compat
from .fields import QuadratureFields


class Observables:
    """Averages and profiles from assembled weight vectors.

    measure: n v w dx (spindiff.fem.operators.WeightedMeasure); qf: the quadrature fields;
    visible: makes the array that is 1 at the quadrature points of the NMR-visible region,
    else 0 (called here, so that the array is freed before the weights are assembled, when
    DOLFINx packs the coefficient: 8 bytes per point less at the set-up's peak); materials: the
    material names, with `indicator(name)` their cell indicators (used with more than one
    material); comm: the mesh's communicator; profile_from: the innermost radius (nm) of
    the radial profile's shells (the barrier radius of a hole, else 0)."""

    def __init__(self, measure, qf: QuadratureFields, visible: Callable[[], np.ndarray],
                 materials: Sequence[str],
                 indicator: Callable[[str], fem.Function], comm: MPI.Comm, profile_from: float = 0.0):
        self.measure, self.qf, self.comm = measure, qf, comm
        self.profile_from = profile_from
        chi = qf.function(visible(), "visible")
        self.weights = {"sample": compat.assemble_vector(measure.form()),
                        "visible": compat.assemble_vector(measure.form(chi))}
        del chi
        if len(materials) > 1:
            for name in materials:
                self.weights[name] = compat.assemble_vector(measure.form(indicator(name)))
        self.totals = {key: vec.sum() for key, vec in self.weights.items()}
        qf.release_space()
        self.material_weights = {name: self.weights.get(name, self.weights["sample"])
                                 for name in materials}
        self._profile_bins: int | None = None

    @classmethod
    def of(cls, disc) -> Observables:
        """The observables of a Discretization (spindiff.fem.operators) and its model."""
        m = disc.model
        obs = cls(disc.measure, disc.qf, disc.visible_indicator, list(disc.domain.materials),
                  disc.material_indicator, disc.comm,
                  m.barrier_radius if m.barrier == "hole" else 0.0)
        disc.release_dropped()
        return obs

    def radial_profile_shells(self, nbins: int) -> np.ndarray:
        """The mid radii (nm) of `nbins` shells around the centres, set up on first use (a
        second call with the same number of shells reuses them)."""
        if self._profile_bins != nbins:
            self._profile_radii = self.radial_profile_setup(nbins)
            self._profile_bins = nbins
        return self._profile_radii

    def radial_profile_setup(self, nbins: int) -> np.ndarray:
        """Shells around every centre (nearest-centre distance) from `profile_from` to the
        largest distance in the sample; returns the shell mid radii (nm)."""
        qf = self.qf
        # the distances are computed block by block twice (their maximum, then the shell
        # numbers): no per-point float array beside the one quadrature function below
        rmax = max((float(np.max(np.where(np.isfinite(r), r, 0.0), initial=0.0))
                    for _, r in qf.nearest_chunks()), default=0.0)
        rmax = self.comm.allreduce(rmax, op=MPI.MAX)
        edges = np.linspace(self.profile_from, rmax * (1 + 1e-9), nbins + 1)
        # shell k holds the points with edges[k] <= r < edges[k + 1]; the shell numbers (2
        # bytes per point) replace the distances, and one quadrature function is refilled
        # for every shell
        shell = np.empty(qf.size, dtype=np.int16 if nbins < 2**15 else np.int32)
        for sl, r in qf.nearest_chunks():
            shell[sl] = np.digitize(r, edges) - 1
        qf.release()
        chi, values = qf.blank("shell")
        form = self.measure.form(chi)
        # each shell's weights kept only where they are nonzero (a dof touches one or two
        # shells): 40 shells cost about 20 bytes per dof instead of 40 vectors
        self._profile = []
        for k in range(nbins):
            values[:] = shell == k
            qf.commit(chi, values)
            vec = compat.assemble_vector(form)
            w = vec.array_r
            idx = np.flatnonzero(w).astype(np.int32)
            self._profile.append((idx, w[idx].copy(), vec.sum()))
            del vec
        del chi, values, form, shell
        qf.release()
        return 0.5 * (edges[:-1] + edges[1:])

    def radial_profile(self, P: PETSc.Vec) -> list[float]:
        """<P> in each shell (n-weighted), nan for empty shells."""
        p = P.array_r
        local = np.array([float(np.dot(w, p[idx])) for idx, w, _ in self._profile])
        total = self.comm.allreduce(local, op=MPI.SUM)
        return [s / tot if tot > 0 else float("nan")
                for s, (_, _, tot) in zip(total, self._profile)]

    def averages(self, P: PETSc.Vec) -> dict[str, float]:
        """Nuclear-density-weighted averages of P over the sample, the visible region and,
        with several materials, each material."""
        return {key: (vec.dot(P) / self.totals[key]) if self.totals[key] > 0 else float("nan")
                for key, vec in self.weights.items()}

    def material_means(self, P: PETSc.Vec) -> dict[str, float]:
        """<P> per material (n-weighted)."""
        return {name: vec.dot(P) / vec.sum() for name, vec in self.material_weights.items()}
