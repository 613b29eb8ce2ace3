"""Lightweight quantum rate module: small electron-nuclear spin systems -> PDE source terms.

Layers (one job each):
    operators   spin-1/2 operators, rotating-frame Hamiltonian terms (docs/reference/physics.md section 6)
    model       parameter containers of the small-system problem (SpinParams, SpinBatch)
    couplings   dipolar A, B, d_ee from distances and angles
    liouville   Lindblad dissipators, Gibbs reference, real-basis Liouvillian (batched)
    steady      steady state + nuclear buildup rate (linear solves, inverse iteration)
    effective   Zeeman-projected rate model (Karabanov Eq. 4), validity parameters
    powder      ZCW / Fibonacci / Gauss-Legendre orientation grids
    agents      PolarizingAgent, Conditions, presets (TEMPOL, trityl, MnII), EPR lineshapes
    ensembles   electron offsets / pairs sampled from the EPR line
    tables      k(r), P_src(r), R1_para(r), C6 fits, cache (the PDE interface)
    mn          Mn(II) isotropic-hyperfine cross effect: sweep profile, mismatch, matching
    plots       PNG figures (matplotlib imported lazily)
    spectral_diffusion  broad EPR lines: spin packets, CW saturation, electron spectral diffusion,
                e-e interaction reservoir (Provotorov), stationary P_e(omega)
    broadline   triple spin flips (CE + TM, Wenckebach) + solid effect -> nuclear rates, PDE table
    broadline_sweep, broadline_plots   DNP sweep profile, cached table, figures

Pure numpy/scipy: never imports dolfinx, petsc4py or mpi4py.
"""
from .agents import (
                     PRESETS,
                     Conditions,
                     PolarizingAgent,
                     central_transition_fraction,
                     ee_distance,
                     lineshape,
                     preset,
                     resolve_mechanism,
                     spin_params,
)
from .broadline import BroadlineSettings, broadline_table, gaussian_line, solve_broadline, user_line
from .broadline_sweep import BroadlineSweep, broadline_sweep, cached_broadline_table
from .couplings import ee_dipolar_from_angle, en_prefactor, hyperfine_from_angle
from .effective import EffectiveResult, solve_effective
from .mn import SweepProfile, matching_fraction, mismatch_scan, sweep_profile
from .model import SpinBatch, SpinParams
from .operators import SpinSystem
from .plots import plot_rate_table, plot_sweep_profile
from .powder import PowderGrid, fibonacci, gauss_legendre_cos, zcw
from .solve import OnOff, solve_on_off
from .steady import SteadyResult, solve_steady
from .tables import RateTable, cache_key, default_r_grid, fit_c6, load_table, rate_table, save_table

__all__ = [
    "PRESETS", "Conditions", "PolarizingAgent", "central_transition_fraction", "ee_distance",
    "lineshape", "preset", "resolve_mechanism", "spin_params", "ee_dipolar_from_angle",
    "en_prefactor", "hyperfine_from_angle", "EffectiveResult", "solve_effective", "SweepProfile",
    "matching_fraction", "mismatch_scan", "sweep_profile", "SpinBatch", "SpinParams",
    "SpinSystem", "plot_rate_table", "plot_sweep_profile", "PowderGrid", "fibonacci",
    "gauss_legendre_cos", "zcw", "OnOff", "solve_on_off", "SteadyResult", "solve_steady",
    "RateTable", "cache_key", "default_r_grid", "fit_c6", "load_table", "rate_table",
    "save_table", "BroadlineSettings", "broadline_table", "gaussian_line", "solve_broadline",
    "user_line", "BroadlineSweep", "broadline_sweep", "cached_broadline_table",
]
