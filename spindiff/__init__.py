"""spindiff: nuclear spin diffusion in hyperpolarized solids (DNP), solved with FEniCSx.

Layers (data flows one way):
    case file -> validated model (spindiff.case) -> geometry (spindiff.geometry)
    -> FEM problem and time stepping (spindiff.fem) -> observables and files (spindiff.io).

The physics layer (spindiff.physics) is pure numpy/scipy and never imports dolfinx.
"""

__version__ = "0.1.0"
