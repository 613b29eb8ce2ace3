"""PETSc options a case file may set: solver and preconditioner settings only (names starting
with PETSC_PREFIXES, none that views, monitors, logs or writes files), with plain values. PETSc
itself then checks the values when the solver is set up (spindiff.fem.linear_solver.check_options)."""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from ..errors import CaseError

if TYPE_CHECKING:
    from .schema import Case

#: PETSc option names allowed in solver.petsc_options (Krylov solver, preconditioner, matrix)
PETSC_PREFIXES = ("ksp_", "pc_", "mat_")
#: parts of option names that are refused: they view, monitor, log, print or write files
PETSC_FORBIDDEN = ("view", "monitor", "log", "draw", "print", "history", "options_left",
                   "reason", "dump", "save", "output", "file", "info", "test", "error_if",
                   "help")
_PETSC_NAME = re.compile(r"[a-z][a-z0-9_]*")
_PETSC_WORD = re.compile(r"[A-Za-z0-9_.+-]{0,64}")
#: hypre's smoother names with a slash (pc_hypre_boomeramg_relax_type_*: "SOR/Jacobi",
#: "symmetric-SOR/Jacobi", "l1scaled-SOR/Jacobi", ...), the one slash a value may hold
_HYPRE_RELAX = re.compile(r"[A-Za-z0-9-]{0,32}SOR/Jacobi")
#: MUMPS output streams and print level
_PETSC_MUMPS_OUTPUT = re.compile(r"mat_mumps_icntl_[1-4]")
MAX_PETSC_OPTIONS = 100


def check_petsc_options(case: Case, source: str | None = None) -> None:
    """solver.petsc_options: at most MAX_PETSC_OPTIONS solver/preconditioner settings (names
    starting with PETSC_PREFIXES, none containing PETSC_FORBIDDEN), values that are numbers,
    booleans or plain words (no file paths or viewer specs), and accepted by PETSc."""
    options = case.solver.petsc_options
    if len(options) > MAX_PETSC_OPTIONS:
        raise CaseError("solver.petsc_options", f"{len(options)} options",
                        f"allowed: at most {MAX_PETSC_OPTIONS}", source)
    for name, value in options.items():
        key = f"solver.petsc_options.{name}"
        bare = name.strip().lstrip("-")
        if (not _PETSC_NAME.fullmatch(bare) or not bare.startswith(PETSC_PREFIXES)
                or any(word in bare for word in PETSC_FORBIDDEN)
                or _PETSC_MUMPS_OUTPUT.fullmatch(bare)):
            raise CaseError(key, value, f"not an allowed PETSc option; allowed: solver and "
                            f"preconditioner settings named {', '.join(p + '*' for p in PETSC_PREFIXES)}"
                            f" that do not view, monitor, log, print or write files", source)
        if not _petsc_value_ok(value) and not (
                bare.startswith("pc_hypre_boomeramg_relax_type")
                and isinstance(value, str) and _HYPRE_RELAX.fullmatch(value.strip())):
            raise CaseError(key, value, "allowed: a finite number, true/false or a word of letters, "
                            "digits and _.+- (no file paths or viewers; hypre's X-SOR/Jacobi "
                            "smoothers for pc_hypre_boomeramg_relax_type_*)", source)


def _petsc_value_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and _PETSC_WORD.fullmatch(value.strip()) is not None
