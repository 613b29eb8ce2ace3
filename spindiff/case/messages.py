"""pydantic validation errors as the one-line CaseError users see: the dotted key, the value,
and what is allowed (for an unknown key, the closest allowed key and the keys the table does
allow), in the words of a case file rather than pydantic's ("a plain number", "one of ...")."""
from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import CaseError


def first_error(exc: ValidationError, root: type[BaseModel], source: str | None) -> CaseError:
    """The first pydantic validation error as a one-line CaseError (key, value, what is allowed)."""
    errors = exc.errors()
    # an unknown key first: a misspelt key ("D_0") also makes the real one ("D0") missing
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
    key = _dotted(loc)
    kind = err["type"]
    if kind == "missing":
        return CaseError(key, "(missing)", "required key is missing", source)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], root)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6) if loc else []
        if not close and loc:  # case-insensitive and separator-blind match ("d_0", "t1N")
            squash = {a.lower().replace("_", ""): a for a in allowed}
            close = [squash[k] for k in [str(loc[-1]).lower().replace("_", "")] if k in squash]
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return CaseError(key, err.get("input"), f"unknown key{guess}{hint}", source)
    msg = _plain(err, loc)
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return CaseError(key, err.get("input"), msg, source)


#: keys whose value is a polarization (a fraction, |P| < 1)
POLARIZATIONS = {"polarization", "initial_polarization", "P0", "source_polarization",
                 "electron_polarization", "outer_polarization"}


def _plain(err: dict, loc: list[Any]) -> str:
    """What is allowed, for pydantic's type errors (the other messages are spindiff's own)."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    name = str(loc[-1]) if loc else ""
    if kind in ("float_parsing", "float_type"):
        if name in POLARIZATIONS:
            hint = " (80 % is 0.8)" if isinstance(value, str) and "%" in value else ""
            return f"a plain number with |P| < 1, a fraction{hint}"
        return "a plain number"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "a whole number"
    if kind in ("bool_parsing", "bool_type"):
        return "true or false"
    if kind == "literal_error":
        options = str(ctx.get("expected", "")).replace(" or ", ", ")
        close = difflib.get_close_matches(str(value), [o.strip("' ") for o in options.split(",")],
                                          n=1, cutoff=0.6)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        return f"one of {options}{guess}"
    if kind in ("string_type", "str_type"):
        return "a text in quotes"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()), "")
        shown = f"{limit:g}" if isinstance(limit, (int, float)) else limit
        return f"must be {bounds[kind]} {shown}"
    return err["msg"]


def _dotted(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _allowed_keys(loc: list[Any], root: type[BaseModel]) -> list[str]:
    """Field names of the model found by following `loc` through the schema from `root`."""
    annotation: Any = root
    for part in loc:
        model = _inner_model(annotation)
        if isinstance(part, int) or model is None:
            continue
        if _is_mapping(annotation):
            annotation = model  # part is a user-chosen key such as a material name
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
    model = _inner_model(annotation)
    return list(model.model_fields) if model is not None else []


def _is_mapping(annotation: Any) -> bool:
    if typing.get_origin(annotation) is dict:
        return True
    return any(_is_mapping(a) for a in typing.get_args(annotation))


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside Optional[...], list[...] or dict[str, ...] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
