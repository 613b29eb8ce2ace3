"""FEM layer (DOLFINx): forms, operators, linear/nonlinear solves, time stepping."""
