"""Build the API reference of spindiff (HTML pages from the docstrings) with pdoc.

    .venv/bin/python docs/scripts/api_reference.py [OUT]     # default: docs/api

The public API (`spindiff.load_case`, `Case.with_changes`, `spindiff.run`, `Simulation`,
`RunResult`, `Observer`, `spindiff.fit`) and the extension points of docs/reference/architecture.md
(source laws, particle shapes and their Gmsh adapters, centre laws, the transport model).
Docstrings are Google style (Args, Returns). pdoc is in the `docs` extra of pyproject.toml.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["spindiff", "spindiff.case", "spindiff.case.schema", "spindiff.runner",
           "spindiff.simulation", "spindiff.run_types", "spindiff.observers",
           "spindiff.sources", "spindiff.centre_laws", "spindiff.model",
           "spindiff.physics.shapes", "spindiff.geometry.gmsh_tools", "spindiff.errors"]


def build(out: str | Path) -> list[str]:
    """Write the HTML pages into `out`; returns pdoc's warnings (one line each)."""
    import pdoc
    import pdoc.render

    import spindiff
    # the package root loads its API on first use (module __getattr__): resolve it, so that
    # pdoc finds the names of __all__ in the module
    for name in spindiff.__all__:
        setattr(spindiff, name, getattr(spindiff, name))
    pdoc.render.configure(docformat="google", show_source=False,
                          footer_text=f"spindiff {spindiff.__version__}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*MODULES, output_directory=Path(out))
    return [str(w.message).splitlines()[0] for w in caught]


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "api"
    for line in build(out):
        print(f"warning: {line}", file=sys.stderr)
    print(f"API reference: {out / 'index.html'}")
