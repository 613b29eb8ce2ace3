"""The API reference builds from the docstrings (docs/scripts/api_reference.py, pdoc) without a
warning, with a page per documented module and the public API on the package's page."""
from __future__ import annotations

import importlib.util

from conftest import ROOT


def test_api_reference_builds(tmp_path):
    spec = importlib.util.spec_from_file_location("api_reference",
                                                  ROOT / "docs" / "scripts" / "api_reference.py")
    api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(api)
    warnings = api.build(tmp_path)
    assert warnings == []
    for module in api.MODULES:
        assert (tmp_path / (module.replace(".", "/") + ".html")).is_file(), module
    root = (tmp_path / "spindiff.html").read_text()
    for name in ("load_case", "run", "Simulation", "Observer", "RunResult", "fit"):
        assert f'id="{name}"' in root or f'spindiff/{name}.html' in root, name
    runner = (tmp_path / "spindiff" / "runner.html").read_text()
    assert "Returns" in runner and "observers" in runner   # Google-style sections rendered
