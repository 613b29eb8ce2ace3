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


def trim_heap() -> None:
    """Release freed heap memory to the OS (glibc); silently nothing elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
