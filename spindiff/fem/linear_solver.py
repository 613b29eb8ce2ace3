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
import re
from collections.abc import Mapping
from typing import Any

from petsc4py import PETSc

from ..errors import CaseError

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


def hypre_preconditioned(ksp: PETSc.KSP) -> bool:
    """True when a Krylov method is preconditioned by hypre (which keeps its own copy of the
    preconditioner's matrix, so that spindiff need not keep an assembled one)."""
    return ksp.getType() != "preonly" and ksp.getPC().getType() == "hypre"


def drop_preconditioner(ksp: PETSc.KSP) -> None:
    """Free the preconditioner's matrix and, for hypre, its whole hierarchy: PCReset keeps
    hypre's solver, which frees its old levels only inside the next set-up, after the next
    matrix has been made beside them. The hypre solver is made afresh with the same options
    (they stay in PETSc's options database under the solver's prefix)."""
    pc = ksp.getPC()
    pc.reset()  # the operators' references
    if not hypre_preconditioned(ksp):
        return
    hypre_type = pc.getHYPREType()
    pc.setType("none")  # destroys hypre's solver
    pc.setType("hypre")
    pc.setHYPREType(hypre_type)
    pc.setFromOptions()


def converged(ksp: PETSc.KSP) -> bool:
    return ksp.getConvergedReason() > 0


# --- PETSc's own check of a case's options -------------------------------------------------

def check_options(case, source: str | None = None) -> None:
    """Configure the step solver with the options on a 2 x 2 matrix: PETSc's own checks of the
    option values (unknown types, numbers that do not parse) as a one-line CaseError."""
    options = {k.strip().lstrip("-"): v for k, v in case.solver.petsc_options.items()}
    if not options:
        return
    kind = case.solver.linear_solver
    if kind == "auto":
        # every 1D reduction (sphere cell, particle, film) runs with the direct solver
        kind = "direct" if case.mesh.model == "radial" else "iterative"
    error = _petsc_error(kind, options)
    if error is None:
        return
    for name, value in options.items():  # name the first option PETSc refuses on its own
        if _petsc_error(kind, {name: value}) is not None:
            raise CaseError(f"solver.petsc_options.{name}", value,
                            f"PETSc refuses it ({error}); allowed: a valid value for it", source)
    raise CaseError("solver.petsc_options", options, f"PETSc refuses them ({error})", source)


def _petsc_error(kind: str, options: dict[str, Any]) -> str | None:
    """The last line of PETSc's error when a `kind` step solver is set up with `options`."""
    A = PETSc.Mat().createAIJ([2, 2], nnz=1, comm=PETSc.COMM_SELF)
    ksp = None
    try:
        A.setValue(0, 0, 1.0)
        A.setValue(1, 1, 1.0)
        A.assemble()
        ksp = make_ksp(PETSc.COMM_SELF, kind, 1e-10, True, options, role="check")
        ksp.setOperators(A)
        ksp.setUp()
        return None
    except PETSc.Error as exc:
        lines = [re.sub(r"^\[\d+\]\s*", "", ln.strip()) for ln in str(exc).splitlines()]
        lines = [ln.split(": http")[0].rstrip(":; ") for ln in lines if ln]
        return lines[-1] if lines else f"PETSc error code {exc.ierr}"
    finally:
        _clear_prefix(ksp)
        if ksp is not None:
            ksp.destroy()
        A.destroy()


def _clear_prefix(ksp) -> None:
    """Remove the options of a check solver from PETSc's options database."""
    if ksp is None:
        return
    prefix = ksp.getOptionsPrefix() or ""
    opts = PETSc.Options()
    for name in list(opts.getAll()):
        if prefix and name.startswith(prefix):
            opts.delValue(name)
