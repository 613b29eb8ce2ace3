"""PETSc Krylov solver configuration.

"direct": MUMPS LU (any number of ranks). "iterative": CG (or GMRES for non-symmetric
Jacobians) preconditioned by hypre BoomerAMG. "auto" picks direct for 1D radial problems
(tridiagonal: LU is exact and cheap) and iterative for meshes in 2D/3D, where the step matrix
changes with dt and an LU refactorisation per step costs more than a few AMG-CG iterations with
a reused preconditioner. Extra PETSc options (from the case file or the CLI) are put in
the options database under this solver's prefix and override the defaults.
"""
from __future__ import annotations

import itertools
from typing import Mapping

from petsc4py import PETSc

_counter = itertools.count()

#: BoomerAMG settings for 3D P1 diffusion-reaction matrices (hypre's 2D-oriented defaults
#: cost ~5x more per iteration on tetrahedral meshes); any of them can be overridden.
HYPRE_3D = {
    "pc_hypre_boomeramg_strong_threshold": 0.5,
    "pc_hypre_boomeramg_coarsen_type": "HMIS",
    "pc_hypre_boomeramg_interp_type": "ext+i",
    "pc_hypre_boomeramg_P_max": 4,
    "pc_hypre_boomeramg_agg_nl": 1,
}

def choose_kind(kind: str, ndofs: int, radial: bool) -> str:
    if kind != "auto":
        return kind
    return "direct" if radial else "iterative"


def make_ksp(comm, kind: str, rtol: float = 1e-10, symmetric: bool = True,
             options: Mapping[str, object] | None = None, role: str = "step") -> PETSc.KSP:
    """A configured KSP; `kind` is "direct" or "iterative"; `role` only names the prefix."""
    ksp = PETSc.KSP().create(comm)
    prefix = f"spindiff_{role}{next(_counter)}_"
    ksp.setOptionsPrefix(prefix)
    opts = PETSc.Options()
    if kind == "direct":
        ksp.setType("preonly")
        pc = ksp.getPC()
        pc.setType("lu")
        if comm.size > 1 and PETSc.Sys.hasExternalPackage("mumps"):
            pc.setFactorSolverType("mumps")  # PETSc's own LU is serial only
        else:
            pc.setFactorSolverType("petsc")  # far less per-call overhead on small systems
    elif kind == "iterative":
        ksp.setType("cg" if symmetric else "gmres")
        pc = ksp.getPC()
        if PETSc.Sys.hasExternalPackage("hypre"):
            pc.setType("hypre")
            pc.setHYPREType("boomeramg")
            for key, value in HYPRE_3D.items():
                opts[f"{prefix}{key}"] = value
        else:  # pragma: no cover
            pc.setType("gamg")
        ksp.setTolerances(rtol=rtol, atol=1e-50, max_it=1000)
        ksp.setInitialGuessNonzero(True)
    elif kind == "mass":
        ksp.setType("cg")
        ksp.getPC().setType("jacobi")
        ksp.setTolerances(rtol=rtol, atol=1e-50, max_it=2000)
    else:
        raise ValueError(f"unknown linear solver kind {kind!r}")
    for key, value in (options or {}).items():
        opts[f"{prefix}{key.lstrip('-')}"] = value
    ksp.setFromOptions()
    return ksp


def converged(ksp: PETSc.KSP) -> bool:
    return ksp.getConvergedReason() > 0
