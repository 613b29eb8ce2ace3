"""Physics layer: constants, polarizations, transport laws and rate models.

Pure numpy/scipy; importing anything from here must never import dolfinx, petsc4py or mpi4py.
Internal units: nm, s, rad/s (angular frequencies), T, K; number densities in nm^-3.
"""
