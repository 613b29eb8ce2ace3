"""Geometry layer: Gmsh builders and 1D radial meshes that return a `Domain` (spindiff.mesh)."""
