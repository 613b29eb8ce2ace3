"""Dotted keys into the nested dict of a case file: "materials.glass.D0", "protocol.stages.0.duration"
(list items by index). Used by --set, case.with_changes, sweeps and fits."""
from __future__ import annotations

import re
from typing import Any

from ..errors import CaseError


def set_dotted(raw: dict[str, Any], key: str, value: Any, source: str | None = None) -> None:
    """Set raw["a"]["b"][0]["c"] from the dotted key "a.b.0.c" (creating tables as needed).

    List items are addressed by an existing index 0, 1, ...; CaseError (naming the key) for an
    empty part, an index that is not a non-negative integer or out of range, or a key below a
    value that is neither a table nor a list."""
    parts = key.split(".") if isinstance(key, str) else []
    if not parts or any(not p.strip() for p in parts):
        raise CaseError(str(key) or "(empty key)", value,
                        "a dotted key such as materials.glass.D0 (no empty parts)", source)
    node: Any = raw
    for depth, part in enumerate(parts):
        above = ".".join(parts[:depth]) or "(top level)"
        if isinstance(node, list):
            index = _list_index(part, node, key, above, value, source)
            if depth == len(parts) - 1:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if depth == len(parts) - 1:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise CaseError(key, value, f"{above} is the value {_shown(node)}, not a table or a "
                            f"list: nothing can be set below it", source)


def _list_index(part: str, items: list, key: str, above: str, value: Any,
                source: str | None) -> int:
    """The list index `part` of a dotted key: an integer 0 <= i < len(items)."""
    allowed = (f"{above} is a list of {len(items)} item(s): use an index 0 to {len(items) - 1}"
               if items else f"{above} is an empty list: no index exists")
    if not re.fullmatch(r"[0-9]+", part) or int(part) >= len(items):
        raise CaseError(key, value, f"{part!r} is not an index here; {allowed}", source)
    return int(part)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def remove_dotted(raw: dict[str, Any], key: str) -> None:
    """Delete raw["a"]["b"] for the dotted key "a.b" (list items by index); absent keys are fine."""
    node: Any = raw
    parts = key.split(".")
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else {}
        else:
            node = node.get(part, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def apply_changes(raw: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """raw with every dotted key of `changes` set (a value of None removes the key); returns raw."""
    for key, value in changes.items():
        if value is None:
            remove_dotted(raw, key)
        else:
            set_dotted(raw, key, value)
    return raw
