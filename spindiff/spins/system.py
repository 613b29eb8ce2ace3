"""The rate equations dp/dt = -A p + s of individual nuclei on a distributed PETSc matrix.

A = L + diag(kappa) (spindiff.physics.spins.operator) is a symmetric M-matrix stored as AIJ,
its rows split over the ranks in contiguous blocks of the Morton-ordered nuclei (neighbours in
space are mostly neighbours in the ordering, so few columns are off-rank). A BDF step of the
adaptive stepper (spindiff.fem.stepper.AdaptiveBDF2, the mass matrix is the identity) solves

    (c I + A) p = s - h,      c = a0 / dt,

with CG preconditioned by hypre BoomerAMG ("iterative"), or LU/MUMPS ("direct", small
systems). A is shifted in place by c for each solve; the preconditioner is rebuilt only when c
has drifted by more than PC_REBUILD_RATIO since it was built, or when the Krylov iteration
count has doubled (as the FEM step systems do).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from ..fem import linear_solver
from ..model import StageSpec
from .sample import SpinSample, StageRates

PC_REBUILD_RATIO = 3.0
#: BoomerAMG for the flip-flop graph (34 neighbours per row at the default cutoff, against
#: about 14 for a P1 tetrahedral mesh): hypre's Chebyshev smoother in place of its hybrid
#: Gauss-Seidel halves the cost of a V-cycle for the same iteration count (measured on 10^5
#: nuclei by benchmarks/bench_spins.py --smoother-baseline); the case's solver.petsc options override it.
HYPRE_SPINS = {"pc_hypre_boomeramg_relax_type_all": "Chebyshev"}
#: up to this many nuclei the "auto" solver is LU (MUMPS on several ranks); the flip-flop
#: graph is three-dimensional with tens of neighbours per row, so LU fills in fast beyond it
DIRECT_MAX = 400


def ownership(n: int, comm: MPI.Comm) -> tuple[int, int]:
    """PETSc's default split of n rows: [lo, hi) of this rank."""
    size, rank = comm.size, comm.rank
    base, extra = divmod(n, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


class SpinStepSystem:
    """Step solver of the spins model, with the interface the adaptive stepper needs."""

    def __init__(self, sample: SpinSample, comm: MPI.Comm, kind: str = "auto",
                 ksp_rtol: float = 1e-10, petsc_options: dict | None = None):
        self.sample, self.comm = sample, comm
        n = sample.count
        self.lo, self.hi = ownership(n, comm)
        self.kind = ("direct" if n <= DIRECT_MAX else "iterative") if kind == "auto" else kind
        options = (HYPRE_SPINS if self.kind == "iterative" else {}) | dict(petsc_options or {})
        self.ksp = linear_solver.make_ksp(comm, self.kind, ksp_rtol, True, options, "spins")
        self.ksp_rtol = ksp_rtol
        self.A: PETSc.Mat | None = None
        self.s = PETSc.Vec().createMPI((self.hi - self.lo, n), comm=comm)
        self.work = self.s.duplicate()
        self.shift = 0.0
        self.rates: StageRates | None = None
        self._pc_c: float | None = None
        self._pc_its = 1
        self.ops = SimpleNamespace(has_bc=False)  # no Dirichlet rows
        self.f_max_seen = 1.0
        self.nonzeros = 0
        self.stats = {"solves": 0, "krylov_its": 0, "pc_setups": 0, "failures": 0,
                      "matrix_builds": 0, "matrix_build_s": 0.0}

    def vector(self) -> PETSc.Vec:
        return self.s.duplicate()

    # --- stage ---------------------------------------------------------------------------

    def set_stage(self, stage: StageSpec) -> None:
        import time
        rates = self.sample.stage_rates(stage)
        if rates is self.rates:
            return
        t0 = time.perf_counter()
        self.rates = rates
        self._assemble(rates)
        self.s.array[:] = rates.source[self.lo:self.hi]
        self.kappa_vec = self.s.duplicate()
        self.kappa_vec.array[:] = rates.kappa[self.lo:self.hi]
        self.kappa_sum = self.kappa_vec.sum()
        self._pc_c = None
        self.stats["matrix_builds"] += 1
        self.stats["matrix_build_s"] += time.perf_counter() - t0

    def _assemble(self, rates: StageRates) -> None:
        lo, hi, n = self.lo, self.hi, self.sample.count
        blocks = list(rates.builder.blocks(lo, hi))
        d_nnz = np.concatenate([np.diff(b.indptr) for b in blocks]) if blocks else np.zeros(0)
        o_nnz = np.zeros(hi - lo, dtype=np.int64)
        for b in blocks:
            off = (b.indices < lo) | (b.indices >= hi)
            rows = np.repeat(np.arange(b.start, b.stop) - lo, np.diff(b.indptr))
            o_nnz += np.bincount(rows[off], minlength=hi - lo)
        d_nnz = d_nnz.astype(np.int64) - o_nnz
        if self.A is not None:
            self.ksp.reset()
            self.A.destroy()
        A = PETSc.Mat().createAIJ(((hi - lo, n), (hi - lo, n)), comm=self.comm)
        A.setPreallocationNNZ((d_nnz.astype(PETSc.IntType), o_nnz.astype(PETSc.IntType)))
        kappa = rates.kappa
        for b in blocks:
            rows = np.arange(b.start, b.stop)
            diag = b.indices == np.repeat(rows, np.diff(b.indptr))
            vals = b.values.copy()
            vals[diag] += kappa[b.start:b.stop]
            A.setValuesIJV(b.indptr.astype(PETSc.IntType), b.indices.astype(PETSc.IntType),
                           vals, rowmap=rows.astype(PETSc.IntType))
        del blocks
        A.assemble()
        self.A = A
        self.shift = 0.0
        self.nonzeros = int(self.comm.allreduce(A.getInfo()["nz_used"], op=MPI.SUM))

    def reset_preconditioner(self) -> None:
        self._pc_c = None

    def apply_dirichlet(self, P: PETSc.Vec) -> None:
        """No fixed values in the spins model."""

    def f_max(self) -> float:
        """The diffusion factor of corrected diffusion: always 1 here (conventional)."""
        return 1.0

    # --- the stepper's interface ---------------------------------------------------------

    def _shift_to(self, c: float) -> None:
        if c != self.shift:
            self.A.shift(c - self.shift)
            self.shift = c

    def time_derivative(self, P: PETSc.Vec, out: PETSc.Vec, t: float | None = None) -> None:
        """dp/dt = s - A p."""
        self.A.mult(P, out)
        if self.shift != 0.0:
            out.axpy(-self.shift, P)
        out.aypx(-1.0, self.s)

    def solve(self, c: float, hist: PETSc.Vec, guess: PETSc.Vec, out: PETSc.Vec,
              t: float | None = None) -> bool:
        """(c I + A) out = s - hist; returns success."""
        rhs = self.work
        self.s.copy(rhs)
        rhs.axpy(-1.0, hist)
        self._shift_to(c)
        if guess is not out:
            guess.copy(out)
        rebuild = (self._pc_c is None or self.kind == "direct" or c == 0.0
                   or max(c / self._pc_c, self._pc_c / c) > PC_REBUILD_RATIO)
        ok, its = self._krylov(rhs, out, rebuild)
        if not rebuild and (not ok or its > max(2 * self._pc_its, self._pc_its + 10)):
            ok, its = self._krylov(rhs, out, True)
            rebuild = True
        if ok:
            self._balance(c, rhs, out)
        if rebuild:
            self._pc_c, self._pc_its = c, max(its, 1)
            self.stats["pc_setups"] += 1
        self.stats["solves"] += 1
        self.stats["krylov_its"] += its
        if not ok:
            self.stats["failures"] += 1
            self._pc_c = None
        return ok

    def _balance(self, c: float, rhs: PETSc.Vec, x: PETSc.Vec) -> None:
        """Make the global balance of the step exact: 1^T (c I + A) = c 1^T + kappa^T, so
        c sum(x) + kappa . x must equal sum(rhs); a uniform shift of x by the (round-off or
        Krylov-residual sized) difference restores it. Without sources and relaxation this
        conserves sum_j p_j to round-off at any step size."""
        kappa = self.kappa_vec
        total = c * x.getSize() + self.kappa_sum
        if total <= 0.0:
            return
        gap = rhs.sum() - c * x.sum() - kappa.dot(x)
        x.shift(gap / total)

    def _krylov(self, rhs: PETSc.Vec, x: PETSc.Vec, rebuild: bool) -> tuple[bool, int]:
        self.ksp.setOperators(self.A)
        self.ksp.getPC().setReusePreconditioner(not rebuild)
        self.ksp.solve(rhs, x)
        return linear_solver.converged(self.ksp), self.ksp.getIterationNumber()

    def steady_state(self, out: PETSc.Vec) -> bool:
        """A p = s (needs relaxation to be well posed)."""
        zero = out.duplicate()
        zero.set(0.0)
        return self.solve(0.0, zero, out, out)
