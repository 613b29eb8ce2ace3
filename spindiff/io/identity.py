"""What makes two runs the same: the case as a flat {dotted key: value} dict (and the content of
a user mesh file), stored in a results folder's marker and compared on --resume."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def case_identity(case) -> dict[str, Any]:
    """The case as a flat {dotted key: value} dict, to tell whether two runs are the same.
    Keys that do not change the numbers (description, plots, checkpoint intervals) are left out."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(f"{prefix}.{i}", v)
        else:
            flat[prefix] = node if not isinstance(node, float) or node == node else "nan"

    walk("", case.model_dump())
    for key in ("case.description", "output.plots", "output.checkpoint_wall",
                "output.checkpoint_simulated"):
        flat.pop(key, None)
    mesh_file = getattr(case.geometry, "file", None)
    if mesh_file:
        base = getattr(case, "source_dir", None)
        path = Path(mesh_file) if base is None else Path(base) / mesh_file
        flat["geometry.file:sha256"] = _sha256(path)
    return {k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v))
            for k, v in flat.items()}


def _sha256(path: Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def differences(old: dict[str, Any], new: dict[str, Any], limit: int = 4) -> str:
    """'key (old -> new), ...' for the keys whose values differ ('' when none do)."""
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    shown = [f"{k} ({_short(old.get(k))} -> {_short(new.get(k))})" for k in keys[:limit]]
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(shown) + more


def _short(v: Any) -> str:
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= 30 else text[:27] + "..."
