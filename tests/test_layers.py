"""The package's import structure: no cycles, and imports only point down the layers.

Read with the ast module (every import, at the top of a module or inside a function), so a
lazy import cannot hide an upward edge. Layers, bottom to top:

    errors, figure_style         the one-line errors; the one figure style
    physics, io                  pure numpy/scipy; files and signals
    units, analysis, centre_laws unit parsing; curve fits; k(r), P_src(r), R1(r), s_e(r)
                                 around a centre
    sources                      the source laws a case names (source.model)
    case                         case files
    rates                        rate tables of the quantum module for a case
    model, protocol              the transport model, protocol events (no dolfinx);
                                 the D(r; P_e) family near a centre
    mesh                         the meshed Domain and every DOLFINx seam (compat)
    geometry | fem               Gmsh builders | weak forms and time stepping (siblings)
    domains, run_types           case -> Domain; the Observer protocol and RunResult
    simulation                   the Simulation object
    observers, homogenize, spins results-folder observers; homogenized matrices; individual
                                 nuclei (the step system and the Simulation adapter)
    runner                       spindiff.run
    compare, sweep, fit          studies built on run; command-line values (cli_options)
    cli                          the command line
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spindiff"

LAYERS = [
    {"spindiff", "errors", "figure_style"},
    {"physics", "io"},
    {"units", "analysis", "centre_laws"},
    {"sources"},
    {"case"},
    {"rates"},
    {"model"},
    {"protocol", "diffusion_family"},
    {"mesh"},
    {"geometry", "fem"},
    {"domains", "run_types"},
    {"simulation"},
    {"observers", "homogenize", "error_estimate", "spins"},
    {"runner"},
    {"compare", "sweep", "fit", "particle_series", "cli_options"},
    {"cli"},
]
LEVEL = {name: i for i, group in enumerate(LAYERS) for name in group}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """spindiff modules imported by `name` (absolute or relative, anywhere in the file)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue  # annotations only: not an import at run time
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "spindiff"
    if key not in LEVEL:
        raise AssertionError(f"{module}: not in a layer; add it to LAYERS in tests/test_layers.py")
    return LEVEL[key]


def test_every_module_has_a_layer():
    for name in modules():
        layer(name)


def test_imports_point_down():
    bad = []
    for src, targets in graph().items():
        for dst in targets:
            same_package = src.split(".")[:2] == dst.split(".")[:2]
            if "spindiff" in (src, dst) or same_package:
                continue  # the package root only re-exports the API lazily
            if layer(dst) >= layer(src):
                bad.append(f"{src} -> {dst}")
    assert not bad, "upward or sideways imports:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(g[node]):
            if nxt == "spindiff" or nxt.startswith(node + "."):
                continue  # a package re-exporting its own modules
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_physics_never_imports_dolfinx():
    for name, path in modules().items():
        if name.startswith(("spindiff.physics", "spindiff.case", "spindiff.model",
                            "spindiff.protocol", "spindiff.units")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                        else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not any(m.split(".")[0] in ("dolfinx", "ufl", "basix", "dolfinx_mpc")
                               for m in mods), name


@pytest.mark.parametrize("name,path", sorted(modules().items()))
def test_module_size_or_a_reason(name, path):
    """Modules stay under about 400 lines, or say at their top why they are longer."""
    text = path.read_text()
    lines = text.count("\n")
    if lines <= MAX_LINES:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert "Longer than" in doc, f"{name}: {lines} lines and no 'Longer than ...' reason at its top"
