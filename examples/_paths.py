"""Where the examples find the repository's cases/ (also when run as notebooks from examples/),
and whether they run short (SPINDIFF_EXAMPLE_QUICK=1: the test suite's setting)."""
from __future__ import annotations

import os
from pathlib import Path

QUICK = os.environ.get("SPINDIFF_EXAMPLE_QUICK") == "1"


def cases_dir() -> Path:
    """The cases/ folder next to examples/ (found from this file, else from the working dir)."""
    for base in (Path(__file__).resolve().parent, Path.cwd()):
        for folder in (base, *base.parents):
            if (folder / "cases" / "default.toml").is_file():
                return folder / "cases"
    raise FileNotFoundError("cases/ not found: run the examples from the spindiff repository")
