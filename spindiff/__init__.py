"""spindiff: nuclear spin diffusion in hyperpolarized solids (DNP), solved with FEniCSx.

Layers (data flows one way):
    case file -> validated model (spindiff.case) -> geometry (spindiff.geometry)
    -> FEM problem and time stepping (spindiff.fem) -> observables and files (spindiff.io).

The physics layer (spindiff.physics) is pure numpy/scipy and never imports dolfinx; importing
`spindiff` itself does not either (`run` and friends load the FEM stack on first use).
"""

__version__ = "0.1.0"

__all__ = ["load_case", "run", "Simulation", "Observer", "RunResult", "steady_state", "fit",
           "__version__"]


def __getattr__(name):
    if name == "load_case":
        from .case import load_case
        return load_case
    if name == "fit":  # the package, callable as its fit function (spindiff.fit(...))
        import importlib
        return importlib.import_module(".fit", __name__)
    if name == "run":
        from .runner import run
        return run
    if name in ("Simulation", "Observer", "RunResult", "steady_state"):
        from . import simulation
        return getattr(simulation, name)
    raise AttributeError(f"module 'spindiff' has no attribute {name!r}")
