"""Individual nuclei (mesh.model = "spins"): the sample of a case as nuclei, the PETSc step
system, the Simulation adapter, point-cloud fields, and what the discrete model implies for
the continuum (`derive`). The physics (positions, couplings, rates, kMC) is in
spindiff.physics.spins."""


def derive(case, seeds: int = 3):
    """D0 (with its tensor) and barrier radii implied by the discrete model
    (spindiff.spins.derive.derive)."""
    from .derive import derive as _derive
    return _derive(case, seeds)


__all__ = ["derive"]
