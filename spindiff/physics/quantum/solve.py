"""One entry point for both solvers: microwave-on and -off rates/polarizations of a batch."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .effective import solve_effective
from .model import SpinBatch, SpinParams
from .steady import solve_steady

METHODS = ("full", "effective")
CHUNK = 1024


@dataclass
class OnOff:
    """Per-member nuclear rates (1/s) and polarizations with microwaves on and off.

    For two nuclei the polarizations are the mean over nuclei.
    """

    gamma_on: np.ndarray
    gamma_off: np.ndarray
    p_on: np.ndarray
    p_off: np.ndarray
    p_e_on: np.ndarray
    eta1: np.ndarray | None = None
    gamma_over_r2: np.ndarray | None = None
    residual: np.ndarray | None = None


def solve_on_off(batch: SpinBatch, params: SpinParams, method: str = "full",
                 chunk: int = CHUNK, off: bool = True) -> OnOff:
    """Solve every member with microwaves on and off, in chunks of `chunk` members.

    method: "full" (Lindblad master equation) or "effective" (Zeeman-projected rates; no warning
    here, the callers aggregate the validity parameters and warn once).
    off=False skips the microwave-off problem (gamma_off, p_off are then NaN).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    parts = []
    for i in range(0, len(batch), chunk):
        sub = batch.subset(slice(i, i + chunk))
        nan = np.full(len(sub), np.nan)
        if method == "full":
            on = solve_steady(sub, params, True)
            mo = solve_steady(sub, params, False) if off else None
            parts.append(OnOff(on.gamma, mo.gamma if off else nan,
                               on.p_n.mean(1), mo.p_n.mean(1) if off else nan, on.p_e,
                               residual=np.maximum(on.residual, mo.residual) if off
                               else on.residual))
        else:
            on = solve_effective(sub, params, True, warn=False)
            mo = solve_effective(sub, params, False, warn=False) if off else None
            parts.append(OnOff(on.gamma, mo.gamma if off else nan, on.p_n.mean(1),
                               mo.p_n.mean(1) if off else nan, on.p_e,
                               eta1=on.eta1, gamma_over_r2=on.gamma_over_r2))
    cat = lambda name: (None if getattr(parts[0], name) is None  # noqa: E731
                        else np.concatenate([getattr(p, name) for p in parts]))
    return OnOff(*(cat(n) for n in ("gamma_on", "gamma_off", "p_on", "p_off", "p_e_on", "eta1",
                                     "gamma_over_r2", "residual")))
