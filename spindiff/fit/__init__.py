"""Fit cases to measured buildup, decay or resurgence curves (`spindiff fit FIT.toml`).

    import spindiff.fit
    result = spindiff.fit.fit("cases/fit_example/fit.toml", out="results/fit_example")
    print("\n".join(result.lines()))

The package itself is callable as the function, so `spindiff.fit(...)` works whether the name
is resolved as this package or as its `fit` function. Modules: spec (fit files), data (CSV curves),
model (a data set's case evaluated at its measured times), problem (the parameter vector and
cached, MPI-parallel evaluations), search (the global stage: a design and local fits), solve
(covariance and goodness of fit), identify (whether the data determine each parameter;
chi-square profiles), report (fit.json and the printed summary), plots (fit.png), folder (the
results folder, streamed evaluations, resume), api (`fit`), command (the `spindiff fit`
command).
"""
from __future__ import annotations

import sys
import types

from .api import FitResult, fit
from .spec import FitSpec, load_fit

__all__ = ["fit", "FitResult", "FitSpec", "load_fit"]


class _CallableModule(types.ModuleType):
    """This package, callable as `fit` (spindiff.fit(...) is spindiff.fit.fit(...))."""

    def __call__(self, *args, **kwargs):
        return fit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
