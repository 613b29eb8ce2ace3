"""Individual nuclei (pure numpy/scipy): positions (positions), couplings and Eq. 9 flip-flop
rates per pair (couplings), the cutoff's tail and its correction (tail), per-nucleus laws
(laws), electron pairs' cross-effect rates (pairs), the rate equations (operator) and kinetic
Monte Carlo (kmc). The PETSc step system and the Simulation adapter are in spindiff.spins."""
