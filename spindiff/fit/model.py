"""The model of one data set: its case with the free keys set, evaluated at the measured times.

The case is integrated with `Simulation.advance_to(t_i)` for each measured time t_i, so the
model is evaluated at exactly the measured times whatever the case's output settings; the
protocol's events (stage starts, saturations, pulses) are processed on the way.
"""
from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..case import load_case
from ..case.schema import Case
from ..errors import CaseError, SpindiffError
from .spec import DatasetSpec, FitSpec, ParameterSpec


@dataclass
class FreeParameter:
    """One component of the parameter vector: a case key shared by `datasets` (or a data set's
    signal scale, key None), with start and bounds in `unit`."""
    name: str
    key: str | None
    datasets: list[str]
    unit: str
    start: float
    lower: float
    upper: float
    transform: str

    def case_value(self, value: float) -> Any:
        return float(value) if not self.unit else f"{float(value):.10g} {self.unit}"


def free_parameters(spec: FitSpec, scales: dict[str, float] | None = None) -> list[FreeParameter]:
    """The parameter vector: shared keys once, per-data-set keys once per data set
    ("key[dataset]"), then the fitted scale of each "signal" data set ("scale[dataset]";
    start from `scales`, default 1)."""
    names = [d.name for d in spec.datasets]
    out: list[FreeParameter] = []
    for p in spec.parameters:
        sets = p.datasets or names
        groups = [[d] for d in sets] if p.per_dataset else [sets]
        for g in groups:
            name = f"{p.key}[{g[0]}]" if p.per_dataset else p.key
            out.append(FreeParameter(name, p.key, list(g), p.unit, p.start, p.lower, p.upper,
                                     p.transform))
    for d in spec.datasets:
        if d.fitted_scale:
            s = (scales or {}).get(d.name, 1.0)
            out.append(FreeParameter(f"scale[{d.name}]", None, [d.name], "", s, s * 1e-6,
                                     s * 1e6, "log"))
    return out


#: geometries with a 1D reduction (sphere cell; particle and film in a homogenized matrix)
RADIAL_KINDS = ("sphere_cell", "particle", "layers")


class DatasetModel:
    """A data set's case (with its overrides and the fit's mesh model and tolerances) and
    its model curve for given values of the free keys."""

    def __init__(self, spec: FitSpec, data: DatasetSpec, params: list[ParameterSpec]):
        self.data, self.spec = data, spec
        where = f"{spec.path}: datasets[{data.name}]"
        base = load_case(data.case_path, dict(data.overrides))
        kind = base.geometry.kind
        model = spec.mesh_model or ("radial" if kind == "sphere_cell" else base.mesh.model)
        if model == "radial" and kind not in RADIAL_KINDS:
            raise CaseError("fit.mesh_model", "radial", f"the 1D reduction needs geometry kind "
                            f"{', '.join(RADIAL_KINDS)} ({data.name} is {kind})", str(spec.path))
        self.mesh_model = model
        self.case = base.with_changes({"mesh.model": model})
        self.fit_case = self.case.with_changes({"solver.rtol": min(spec.solver_rtol, self.case.solver.rtol),
                                                "solver.atol": min(spec.solver_atol, self.case.solver.atol)})
        end = self.case.end_time
        if data.time_s[-1] > end * (1 + 1e-12):
            raise CaseError(f"datasets[{data.name}].data", str(data.data_path),
                            f"times reach {data.time_s[-1]:g} s, beyond the end of the case's "
                            f"protocol ({end:g} s): lengthen its stages", str(spec.path))
        self._check_observable(where)
        for p in params:
            if p.datasets is None or data.name in p.datasets:
                for v in (p.start, p.lower, p.upper):
                    try:
                        self.case.with_changes({p.key: p.case_value(v)})
                    except CaseError as exc:
                        raise CaseError(f"parameters[{p.key}]", p.case_value(v),
                                        f"not accepted by the case {data.case_path.name}: "
                                        f"{exc.key}: {exc.allowed}", str(spec.path)) from None
        self._cache: OrderedDict = OrderedDict()
        self._domain: tuple[str, Any] | None = None
        self.simulations = 0
        self.sim_time = 0.0

    def _check_observable(self, where: str) -> None:
        names = set(self.case.materials)
        allowed = {"sample", "visible", *names}
        if self.data.observable not in allowed:
            raise CaseError(f"datasets[{self.data.name}].observable", self.data.observable,
                            f"one of {', '.join(sorted(allowed))}", str(self.spec.path))

    def case_with(self, changes: dict[str, Any], fitting: bool = True) -> Case:
        """The data set's case with the free keys set (values written as in a case file)."""
        return (self.fit_case if fitting else self.case).with_changes(changes)

    def curve(self, changes: dict[str, Any], times: np.ndarray | None = None) -> np.ndarray:
        """<P> of the observable (or P / P0 for "enhancement") at `times` (default: the
        measured times), for the case with `changes`. Signals are returned unscaled."""
        times = self.data.time_s if times is None else np.asarray(times, dtype=float)
        key = (tuple(sorted((k, str(v)) for k, v in changes.items())), times.tobytes())
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        # MPI and the solver on the first forward run, not when a fit file is read
        from mpi4py import MPI

        from ..runner import model_for_case
        from ..simulation import Simulation
        from ..spins.resolve import resolve
        t0 = time.perf_counter()
        comm = MPI.COMM_SELF if self.mesh_model == "radial" else MPI.COMM_WORLD
        case = resolve(self.case_with(changes), comm)  # "derived" keys (cached)
        domain = None
        if self.mesh_model == "3d":
            # a 3D mesh is kept while the keys that shape it do not change
            dkey = domain_key(case)
            if self._domain is not None and self._domain[0] == dkey:
                domain = self._domain[1]
        sim = Simulation(case, model=model_for_case(case, comm), mesh_model=self.mesh_model,
                         comm=comm, domain=domain)
        if self.mesh_model == "3d":
            self._domain = (dkey, sim.domain)
        obs = self.data.observable
        values = np.empty(len(times))
        try:
            for i, t in enumerate(times):
                sim.advance_to(float(t))
                avg = sim.averages()
                values[i] = avg[obs] if obs in avg else avg["sample"]
        finally:
            sim.close()
        if self.data.quantity == "enhancement":
            P0 = sim.model.thermal_polarization
            if P0 == 0:
                raise SpindiffError(f"datasets[{self.data.name}]: quantity = \"enhancement\" "
                                    "needs a thermal polarization P0 != 0 ([conditions])")
            values = values / P0
        self.simulations += 1
        self.sim_time += time.perf_counter() - t0
        self._cache[key] = values
        if len(self._cache) > 64:
            self._cache.popitem(last=False)
        return values


def domain_key(case: Case) -> str:
    """What the mesh of a case depends on: geometry, centres, mesh, the materials' names and
    regions, and the radius of a "region" source."""
    data = {"geometry": case.geometry.model_dump(), "centres": case.centres.model_dump(),
            "mesh": case.mesh.model_dump(),
            "materials": {n: m.regions for n, m in case.materials.items()},
            "source": [case.source.model, case.source.radius]}
    return json.dumps(data, sort_keys=True, default=str)
