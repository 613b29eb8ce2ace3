"""Groups of geometry kinds that share rules."""

#: one centre in one cell
SINGLE_CELL = ("sphere_cell", "periodic_cube")
#: box-shaped samples (centres placed in a box)
BOXES = ("box", "particle", "layers", "blend")
