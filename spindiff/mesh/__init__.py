"""The meshed domain (`Domain`: mesh, tags, centres, materials) and every DOLFINx version seam
(`compat`): the layer both the Gmsh builders (spindiff.geometry) and the finite-element code
(spindiff.fem) stand on, so that neither imports the other."""
