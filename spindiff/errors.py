"""Errors that reach the user as one line (never a traceback)."""
from __future__ import annotations

from typing import Any


class SpindiffError(Exception):
    """Base class: its message is printed as a single line by the CLI."""


class CaseError(SpindiffError):
    """A case file (or API input) is invalid: names the key, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, source: str | None = None):
        self.key, self.value, self.allowed, self.source = key, value, allowed, source
        where = f"{source}: " if source else ""
        shown = _short(value)
        super().__init__(f"{where}{key} = {shown}: {allowed}")


class MeshError(SpindiffError):
    """A mesh is unusable (missing physical groups, degenerate cells, ...)."""


class SolverError(SpindiffError):
    """The time integration cannot proceed (step size underflow, repeated solver failure)."""


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
