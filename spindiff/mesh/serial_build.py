"""A one-process mesh built without DOLFINx's distribution step (a small compiled helper).

DOLFINx 0.5's create_mesh sends every cell through its distribution step even on one process
and then reorders the cells by a dual graph: about 330 bytes per cell for a moment, the peak of
a first-order run (6 tetrahedra per dof: 2 GB per million dofs). Its Python layer has no other
way to make a mesh, so serial_mesh.cpp makes the topology and the geometry directly with
DOLFINx's C++ functions (create_topology, create_geometry), as create_mesh does after
distributing, in about 160 bytes per cell; the cells are given in the order of a
space-filling curve (spindiff.mesh.compat.morton_order) with their input indices, where
create_mesh would reorder them by a dual graph.

The helper is compiled once per source, DOLFINx build and Python into the user's cache folder
($XDG_CACHE_HOME or ~/.cache, then spindiff/) with the system's C++ compiler against the
DOLFINx that is imported (pkg-config, pybind11). It is not tried where DOLFINx's own Python
bindings are not pybind11 (from 0.8 on they are nanobind: the helper could not take or return
DOLFINx's objects). Where it cannot be built (that, or no compiler or headers) the failure is
recorded there, `serial_mesh_builder()` returns None and create_mesh is used;
`unavailable_reason()` says why in one line.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path

SOURCE = Path(__file__).with_name("serial_mesh.cpp")
MODULE = "spindiff_serial_mesh"
PKG_CONFIG_NAMES = ("dolfinx_real", "dolfinx")


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "spindiff"


_REASON: list[str] = []


@functools.lru_cache(maxsize=1)
def serial_mesh_builder() -> Callable | None:
    """build(comm_fortran_handle, cells AdjacencyList_int64 (emptied), x (N, 3), original
    (int64, each cell's input index), degree) -> the C++ mesh; or None where the helper cannot
    be compiled or loaded (`unavailable_reason()` says why)."""
    try:
        return _load().build
    except Exception as err:  # noqa: BLE001 - any failure means: use create_mesh
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        _REASON[:] = [next((line for line in lines if "error" in line), lines[0] if lines else repr(err))]
        return None


def unavailable_reason() -> str | None:
    """One line saying why the helper is not available (None where it is)."""
    if serial_mesh_builder() is not None:
        return None
    return _REASON[0] if _REASON else "not available"


def _binds_with_pybind11() -> bool:
    """True where DOLFINx's Python bindings are pybind11's (0.5 to 0.7), whose objects the
    helper takes and returns; nanobind (0.8 on) registers its types apart."""
    from dolfinx import cpp
    return type(cpp.graph.AdjacencyList_int64).__module__.startswith("pybind11")


def _flags() -> list[str] | None:
    pkg = shutil.which("pkg-config")
    for name in PKG_CONFIG_NAMES if pkg else ():
        out = subprocess.run([pkg, "--cflags", "--libs", name], capture_output=True, text=True)
        if out.returncode == 0:
            return [f for f in out.stdout.split() if not f.startswith("-DDOLFINX_VERSION")]
    return None


def _load():
    import dolfinx
    if not _binds_with_pybind11():
        raise RuntimeError("DOLFINx's Python bindings are nanobind, the helper's pybind11 "
                           "(create_mesh is used)")
    flags = _flags()
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if flags is None or compiler is None:
        raise RuntimeError("no DOLFINx build flags or no C++ compiler")
    include = sysconfig.get_paths()["include"]
    command = [compiler, "-O2", "-shared", "-fPIC", "-std=c++20", "-w", f"-I{include}",
               str(SOURCE), "-o", "OUT", *flags]
    key = hashlib.sha256("\n".join([SOURCE.read_text(), dolfinx.__version__, sys.version,
                                    *command]).encode()).hexdigest()[:16]
    folder = cache_folder() / f"serial_mesh-{key}"
    path = folder / f"{MODULE}{sysconfig.get_config_var('EXT_SUFFIX')}"
    failed = folder / "failed.txt"
    if failed.exists():
        raise RuntimeError(failed.read_text())
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            out = Path(tmp) / path.name
            run = subprocess.run([str(out) if a == "OUT" else a for a in command],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                failed.write_text(run.stderr[-4000:])
                raise RuntimeError(run.stderr[-400:])
            os.replace(out, path)  # atomic: another process may be compiling too
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
