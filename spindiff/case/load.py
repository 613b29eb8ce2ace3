"""Read case files: the TOML text, overrides by dotted key, validation (spindiff.case.schema,
whose model validator applies the cross-field rules, resource bounds and PETSc option rules)
and the user mesh file; every failure is one line naming the key."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomllib

from ..errors import CaseError
from .dotted import set_dotted
from .schema import Case

#: largest case file read (bytes)
MAX_CASE_BYTES = 10_000_000


def load_case(path: str | Path, overrides: dict[str, Any] | None = None) -> Case:
    """Load and validate the TOML case file at `path`.

    Args:
        path: the case file (TOML; docs/reference/case_files.md gives every key).
        overrides: dotted keys ("materials.matrix.D0") mapped to values, written as in a case
            file ("20 nm^2/s"), that replace the file's.

    Returns:
        The validated Case, every quantity in internal units (nm, s).

    Raises:
        CaseError: one line naming the file, the key, the value and what is allowed.
    """
    path = Path(path)
    text = read_case_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError("TOML", path.name, f"not valid TOML ({exc})", source=str(path)) from None
    except RecursionError:
        raise CaseError("TOML", path.name, "nested too deeply; allowed: tables and arrays a few "
                        "levels deep", source=str(path)) from None
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value, source=str(path))
    base = str(path.resolve().parent)
    case = Case.from_dict(raw, source=str(path), source_dir=base)
    check_mesh_file(case, base, str(path))
    return case


def read_case_text(path: Path) -> str:
    """The text of a case file: a regular file of at most MAX_CASE_BYTES bytes of UTF-8 text
    without NUL bytes (a UTF-8 byte-order mark is skipped). CaseError otherwise."""
    if path.is_dir():
        raise CaseError("case file", str(path), "is a directory; allowed: a TOML file")
    if not path.is_file():
        raise CaseError("case file", str(path), "no such file")
    try:
        size = path.stat().st_size
        if size > MAX_CASE_BYTES:
            raise CaseError("case file", str(path), f"{size} bytes; allowed: a TOML file of at "
                            f"most {MAX_CASE_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise CaseError("case file", str(path), f"cannot be read ({exc.strerror or exc})") from None
    if b"\x00" in data:
        raise CaseError("case file", str(path), "contains NUL bytes (binary, or UTF-16 text); "
                        "allowed: a UTF-8 TOML text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaseError("case file", str(path), f"is not UTF-8 text (byte {exc.start}); allowed: "
                        "a UTF-8 TOML text file") from None


def case_from_dict(raw: dict[str, Any], source: str | None = None) -> Case:
    """Validate a case given as a nested dict (the TOML structure); see Case.from_dict."""
    return Case.from_dict(raw, source=source)


def raw_dict(case: Case) -> dict[str, Any]:
    """The nested dict a case was validated from (for re-validation with changes)."""
    return case.raw()


def mesh_file_path(case: Case, base_dir: str | None = None) -> Path:
    """The user mesh file of a geometry kind "mesh", as the run finds it: geometry.file as
    given, or relative to the case file's folder when that does not exist."""
    path = Path(case.geometry.file)
    base = base_dir or getattr(case, "_source_dir", None)
    if not path.is_absolute() and not path.exists() and base:
        path = Path(base) / path
    return path


def check_mesh_file(case: Case, base_dir: str | None = None, source: str | None = None) -> None:
    """A user mesh file exists, is a readable, non-empty regular file (CaseError otherwise);
    its content is checked by `spindiff check` (spindiff.geometry.user_mesh.inspect_user_mesh)."""
    if case.geometry.kind != "mesh" or case.geometry.file is None:
        return
    path = mesh_file_path(case, base_dir)
    name = case.geometry.file
    allowed = "allowed: a Gmsh .msh file or a meshio mesh file with cell tags"
    if not path.exists():
        raise CaseError("geometry.file", name, f"no such file ({path}); {allowed}", source)
    if not path.is_file():
        raise CaseError("geometry.file", name, f"not a regular file (a directory?); {allowed}", source)
    if not os.access(path, os.R_OK):
        raise CaseError("geometry.file", name, f"not readable; {allowed}", source)
    if path.stat().st_size == 0:
        raise CaseError("geometry.file", name, f"an empty file; {allowed}", source)
