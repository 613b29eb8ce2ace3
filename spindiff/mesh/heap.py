"""Give freed heap memory back to the operating system.

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
