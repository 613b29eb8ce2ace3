"""Geometry layer: Gmsh builders and 1D radial meshes that return a `Domain`."""
from .domain import Domain

__all__ = ["Domain"]
