"""Give freed heap memory back to the operating system, and free dropped PETSc objects.

Gmsh allocates a meshed model, and DOLFINx a mesh or a sparsity pattern, as millions of small
heap objects; once they are freed glibc keeps the heap mapped (about 1 kB per second-order
tetrahedron after gmsh.finalize(), 0.4 kB per cell after building a DOLFINx mesh, tens of MB
per assembled matrix), so the next phase would run on top of it. malloc_trim(0) returns it. A
no-op where the C library has no malloc_trim.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's malloc_trim, or None (looked up once: find_library runs a subprocess)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def trim_heap() -> None:
    """Release freed heap memory to the OS (glibc); silently nothing elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def release_dropped(*alive: Any) -> None:
    """Destroy the PETSc objects whose last Python reference has gone, then trim the heap.

    petsc4py (3.18 and later) does not destroy such an object: destruction is collective, so
    it is put on the garbage list of its communicator until garbage_cleanup(comm) is called
    on every rank. DOLFINx gives matrices and vectors communicators of their own, so the
    lists are those of the communicators of `alive`: PETSc objects still in use that share
    them (a matrix of the space, a vector of the space). Collective on their ranks."""
    from petsc4py import PETSc
    cleanup = getattr(PETSc, "garbage_cleanup", None)
    if cleanup is not None:
        for obj in alive:
            cleanup(obj.getComm())
    trim_heap()
