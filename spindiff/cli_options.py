"""Command-line values: --set KEY=VALUE, --petsc KEY=VALUE, --vary KEY=V1,V2,..., and the
command that continues an interrupted run (for its STATUS note)."""
from __future__ import annotations

import re
import shlex

import tomllib

from .errors import SpindiffError


def petsc_overrides(items: list[str] | None) -> dict:
    """--petsc KEY=VALUE pairs -> solver.petsc_options.KEY overrides (the names and values are
    then checked like the case file's, spindiff.case.petsc.check_petsc_options)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", key):
            raise SpindiffError(f"--petsc {item!r}: expected KEY=VALUE with a PETSc option name "
                                "(letters, digits, _), e.g. pc_hypre_boomeramg_strong_threshold=0.7")
        out[f"solver.petsc_options.{key}"] = value.strip()
    return out


def parse_set(items: list[str]) -> dict:
    """--set key=value pairs; values are parsed as TOML values when possible (else kept as
    text). The key is a dotted path with non-empty parts; where it leads is checked when the
    case is loaded (spindiff.case.dotted.set_dotted)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part.strip() for part in key.split(".")):
            raise SpindiffError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. "
                                "materials.glass.D0=\"50 nm^2/s\"")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
        except RecursionError:
            raise SpindiffError(f"--set {key}: the value is nested too deeply") from None
    return out


def parse_vary(text: str) -> tuple[str, list]:
    """--vary KEY=V1,V2,...: the key and its values, each parsed as a TOML value when it is
    one (0.5, "5 nm^2/s") and kept as text otherwise (5 nm^2/s); commas inside quotes or
    brackets do not split."""
    key, sep, values = text.partition("=")
    key = key.strip()
    parts, depth, quote, current = [], 0, "", ""
    for ch in values:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    parts = [v.strip() for v in parts]
    if not sep or not key or not all(parts):
        raise SpindiffError(f"--vary {text!r}: expected KEY=V1,V2,... with a dotted key and "
                            "values, e.g. source.polarization=0.5,0.9 or "
                            "'materials.glass.D0=0.1 nm^2/s,1 nm^2/s'")
    out = []
    for v in parts:
        try:
            out.append(tomllib.loads(f"v = {v}")["v"])
        except tomllib.TOMLDecodeError:
            out.append(v)
    return key, out


def resume_command(args, out) -> str:
    """The command that continues this run: the same case and overrides, --resume OUT."""
    words = ["spindiff", "run", args.case]
    for item in args.set or []:
        words += ["--set", item]
    for item in getattr(args, "petsc", None) or []:
        words += ["--petsc", item]
    if getattr(args, "radial", False):
        words.append("--radial")
    return " ".join(shlex.quote(str(w)) for w in [*words, "--resume", out])
