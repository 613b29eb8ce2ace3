"""Fit files: which measured curves, which case models each, which case keys are free.

A fit file is TOML (paths relative to it):

    [fit]
    name = "concentration_series"   # results folder name (default: the file's stem)
    mesh_model = "radial"           # "radial" (1D reduction: sphere_cell, particle, layers) or "3d"
    solver_rtol = 1e-7              # integration tolerance used while fitting (smooth Jacobians)
    max_evaluations = 400           # per local fit: optimiser steps' model evaluations (Jacobians not counted)
    starts = 16                     # design points of the global stage (default 2^ceil(log2(4 (k+1))); 0: none)
    profile = ["materials.glass.D0"]  # chi-square profiles (also `--profile KEY`)
    auto_profile = true             # profile the parameters whose standard error is doubtful

    [[parameters]]                  # one table per free case key
    key = "source.C6"
    start = "4 nm^6/s"              # the unit of `start` is the unit of the fit (results, stderr)
    min = "0.1 nm^6/s"
    max = "100 nm^6/s"
    transform = "log"               # "log" (default when min > 0) or "linear"
    per_dataset = false             # true: one independent value per data set
    datasets = ["10mM", "20mM"]     # optional: only these data sets depend on it

    [[datasets]]
    name = "10mM"
    case = "../default.toml"
    data = "buildup_10mM.csv"       # columns time_s, value[, sigma]; or another format:
                                    #   spindiff.fit.data_formats (format, time_unit, ...)
    observable = "sample"           # "sample", "visible" or a material name
    quantity = "polarization"       # or "enhancement" (P / P0) or "signal" (scale * P)
    scale = 1.0                     # signal only: a fixed scale factor (absent: fitted)
    sigma = 0.002                   # optional uniform uncertainty when the CSV has none
    time_offset = "0 s"             # added to the CSV times (times measured from a later start)
    overrides = { "geometry.concentration" = "10 mM" }

Every failure is one line (spindiff.errors.CaseError naming the key, the value and what is
allowed).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

from .. import units
from ..errors import CaseError
from .data_formats import read_dataset

FIT_KEYS = {"name", "description", "mesh_model", "solver_rtol", "solver_atol",
            "max_evaluations", "profile", "profile_points", "absolute_sigma", "starts",
            "auto_profile"}
#: largest design of the global stage
MAX_STARTS = 4096
PARAMETER_KEYS = {"key", "start", "min", "max", "transform", "per_dataset", "datasets"}
DATASET_KEYS = {"name", "case", "data", "observable", "quantity", "scale", "sigma",
                "time_offset", "overrides", "columns",
                # spectrometer files (spindiff.fit.data_formats)
                "format", "time_unit", "integral", "ppm_range", "procno", "delay_list",
                "loop_delay"}
QUANTITIES = ("polarization", "enhancement", "signal")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")


@dataclass(frozen=True)
class Quantity:
    """A number with the unit it was written in: value in `unit` (unit "" for plain numbers)."""
    value: float
    unit: str

    def text(self, value: float | None = None) -> Any:
        """As written in a case file: "4.2 nm^6/s", or a plain float."""
        v = self.value if value is None else value
        return float(v) if not self.unit else f"{float(v):.10g} {self.unit}"


@dataclass
class ParameterSpec:
    """A free case key: start value and bounds in the unit of `start`; transform "log" or
    "linear" (the optimiser works on log(v / start) or (v - start) / |start|)."""
    key: str
    start: float
    lower: float
    upper: float
    unit: str
    transform: str
    per_dataset: bool = False
    datasets: list[str] | None = None

    def case_value(self, value: float) -> Any:
        return Quantity(value, self.unit).text()


@dataclass
class DatasetSpec:
    """One measured curve and the case that models it."""
    name: str
    case_path: Path
    data_path: Path
    observable: str
    quantity: str
    overrides: dict[str, Any]
    time_s: np.ndarray
    value: np.ndarray
    sigma: np.ndarray | None
    scale: float | None = None          # fixed scale of a "signal" (None: fitted)
    time_offset: float = 0.0

    @property
    def fitted_scale(self) -> bool:
        return self.quantity == "signal" and self.scale is None


@dataclass
class FitSpec:
    """A whole fit file, validated."""
    path: Path
    name: str
    description: str
    mesh_model: str | None
    solver_rtol: float
    solver_atol: float
    max_evaluations: int
    profile: list[str]
    profile_points: int
    absolute_sigma: bool
    parameters: list[ParameterSpec]
    datasets: list[DatasetSpec]
    text: str = field(default="", repr=False)
    #: design points of the global stage (None: spindiff.fit.search.auto_starts; 0: none)
    starts: int | None = None
    #: profile the parameters whose standard error is doubtful (spindiff.fit.identify)
    auto_profile: bool = True


def load_fit(path: str | Path) -> FitSpec:
    """Read and validate a fit file and its data files (CaseError for anything wrong)."""
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise CaseError("fit file", src, "no such file" if not path.exists() else
                        "not a regular file; allowed: a TOML fit file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError("fit file", src, f"cannot be read as UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CaseError("TOML", path.name, f"not valid TOML ({exc})", src) from None
    return fit_from_dict(raw, path, text)


def fit_from_dict(raw: dict[str, Any], path: str | Path, text: str = "") -> FitSpec:
    """Validate the nested dict of a fit file; relative paths are found next to `path`."""
    path = Path(path)
    src, base = str(path), path.resolve().parent
    _unknown(raw, {"fit", "parameters", "datasets"}, "", src)
    head = _table(raw.get("fit", {}), "fit", src)
    _unknown(head, FIT_KEYS, "fit.", src)
    name = head.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise CaseError("fit.name", name, "a file-safe name (letters, digits, _ . + -)", src)
    mesh_model = head.get("mesh_model")
    if mesh_model not in (None, "radial", "3d"):
        raise CaseError("fit.mesh_model", mesh_model, 'one of "radial", "3d"', src)
    rtol = _number(head.get("solver_rtol", 1e-7), "fit.solver_rtol", src, 1e-12, 1e-2)
    atol = _number(head.get("solver_atol", 1e-9), "fit.solver_atol", src, 1e-15, 1e-2)
    max_eval = head.get("max_evaluations", 400)
    if not isinstance(max_eval, int) or isinstance(max_eval, bool) or not 1 <= max_eval <= 100_000:
        raise CaseError("fit.max_evaluations", max_eval, "an integer from 1 to 100000", src)
    profile = head.get("profile", [])
    if isinstance(profile, str):
        profile = [profile]
    if not isinstance(profile, list) or not all(isinstance(p, str) for p in profile):
        raise CaseError("fit.profile", profile, "a list of parameter keys", src)
    points = head.get("profile_points", 11)
    if not isinstance(points, int) or isinstance(points, bool) or not 3 <= points <= 201:
        raise CaseError("fit.profile_points", points, "an integer from 3 to 201", src)
    absolute = head.get("absolute_sigma")
    if absolute is not None and not isinstance(absolute, bool):
        raise CaseError("fit.absolute_sigma", absolute, "true or false", src)
    starts = head.get("starts")
    if starts is not None and (not isinstance(starts, int) or isinstance(starts, bool)
                               or not 0 <= starts <= MAX_STARTS):
        raise CaseError("fit.starts", starts, f"an integer from 0 (no global stage) to "
                        f"{MAX_STARTS} (rounded up to a power of two)", src)
    auto_profile = head.get("auto_profile", True)
    if not isinstance(auto_profile, bool):
        raise CaseError("fit.auto_profile", auto_profile, "true or false", src)

    datasets = [_dataset(d, i, base, src) for i, d in enumerate(_tables(raw, "datasets", src))]
    names = [d.name for d in datasets]
    _distinct("datasets.name", names, "names must be distinct", src)
    params = [_parameter(p, i, names, src)
              for i, p in enumerate(_tables(raw, "parameters", src))]
    keys = [p.key for p in params]
    _distinct("parameters.key", keys, "each key may be free only once", src)
    if absolute is None:
        absolute = all(d.sigma is not None for d in datasets)
    elif absolute and any(d.sigma is None for d in datasets):
        raise CaseError("fit.absolute_sigma", True, "needs a sigma (CSV column or dataset "
                        "sigma) for every data set", src)
    return FitSpec(path=path, name=name, description=str(head.get("description", "")),
                   mesh_model=mesh_model, solver_rtol=rtol, solver_atol=atol,
                   max_evaluations=max_eval, profile=profile, profile_points=points,
                   absolute_sigma=absolute, parameters=params, datasets=datasets, text=text,
                   starts=starts, auto_profile=auto_profile)


# --- parameters ---------------------------------------------------------------------------

def parse_quantity(value: Any, key: str, src: str, unit: str | None = None) -> Quantity:
    """A "NUMBER UNIT" string or a plain number; converted to `unit` when given."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise CaseError(key, value, 'a quantity with units such as "4 nm^6/s" (or a plain '
                        'number for a dimensionless key)', src)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise CaseError(key, value, "a finite number", src)
        if unit:
            raise CaseError(key, value, f"needs the unit of start ({unit})", src)
        return Quantity(float(value), "")
    try:
        number, unit_text = units.split(value)
        q = units.quantity(value)
    except units.UnitParseError as exc:
        raise CaseError(key, value, str(exc), src) from None
    if unit is None:
        return Quantity(number, unit_text.strip())
    if unit == "":
        raise CaseError(key, value, "start is a plain number: give a plain number here too", src)
    try:
        return Quantity(float(q.to(units.quantity(f"1 {unit}").units).magnitude), unit)
    except Exception:
        raise CaseError(key, value, f"must be in units compatible with start ({unit})", src) from None


def _parameter(p: Any, i: int, datasets: list[str], src: str) -> ParameterSpec:
    where = f"parameters.{i}"
    p = _table(p, where, src)
    _unknown(p, PARAMETER_KEYS, where + ".", src)
    key = p.get("key")
    if not isinstance(key, str) or not key or any(not s for s in key.split(".")):
        raise CaseError(f"{where}.key", key, "a dotted case key such as materials.glass.D0", src)
    where = f"parameters[{key}]"
    for needed in ("start", "min", "max"):
        if needed not in p:
            raise CaseError(f"{where}.{needed}", "(missing)", "start, min and max are required", src)
    start = parse_quantity(p["start"], f"{where}.start", src)
    lower = parse_quantity(p["min"], f"{where}.min", src, start.unit).value
    upper = parse_quantity(p["max"], f"{where}.max", src, start.unit).value
    if not lower < upper:
        raise CaseError(f"{where}.min", p["min"], f"must be below max ({p['max']})", src)
    if not lower <= start.value <= upper:
        raise CaseError(f"{where}.start", p["start"],
                        f"outside the bounds [{p['min']}, {p['max']}]", src)
    transform = p.get("transform", "log" if lower > 0 else "linear")
    if transform not in ("log", "linear"):
        raise CaseError(f"{where}.transform", transform, 'one of "log", "linear"', src)
    if transform == "log" and not lower > 0:
        raise CaseError(f"{where}.transform", transform, "log needs min > 0", src)
    per = p.get("per_dataset", False)
    if not isinstance(per, bool):
        raise CaseError(f"{where}.per_dataset", per, "true or false", src)
    subset = p.get("datasets")
    if subset is not None:
        if not isinstance(subset, list) or not subset or any(s not in datasets for s in subset):
            raise CaseError(f"{where}.datasets", subset,
                            f"a list of data set names among {datasets}", src)
    return ParameterSpec(key=key, start=start.value, lower=lower, upper=upper, unit=start.unit,
                         transform=transform, per_dataset=per, datasets=subset)


# --- data sets ----------------------------------------------------------------------------

def _dataset(d: Any, i: int, base: Path, src: str) -> DatasetSpec:
    where = f"datasets.{i}"
    d = _table(d, where, src)
    _unknown(d, DATASET_KEYS, where + ".", src)
    name = d.get("name", f"dataset{i}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise CaseError(f"{where}.name", name, "a file-safe name (letters, digits, _ . + -)", src)
    where = f"datasets[{name}]"
    for needed in ("case", "data"):
        if not isinstance(d.get(needed), str):
            raise CaseError(f"{where}.{needed}", d.get(needed, "(missing)"),
                            "a file name (relative to the fit file)", src)
    case_path = _near(d["case"], base)
    if not case_path.is_file():
        raise CaseError(f"{where}.case", d["case"], f"no such file ({case_path})", src)
    observable = d.get("observable", "sample")
    if not isinstance(observable, str) or not observable:
        raise CaseError(f"{where}.observable", observable,
                        '"sample", "visible" or a material name', src)
    quantity = d.get("quantity", "polarization")
    if quantity not in QUANTITIES:
        raise CaseError(f"{where}.quantity", quantity, f"one of {', '.join(QUANTITIES)}", src)
    scale = d.get("scale")
    if scale is not None:
        if quantity != "signal":
            raise CaseError(f"{where}.scale", scale, 'only for quantity = "signal"', src)
        scale = _number(scale, f"{where}.scale", src, 1e-300, 1e300)
    overrides = d.get("overrides", {})
    if not isinstance(overrides, dict):
        raise CaseError(f"{where}.overrides", overrides,
                        'a table of dotted case keys, e.g. { "geometry.concentration" = "5 mM" }', src)
    offset = 0.0
    if "time_offset" in d:
        try:
            offset = units.parse(d["time_offset"], "time")
        except units.UnitParseError as exc:
            raise CaseError(f"{where}.time_offset", d["time_offset"], str(exc), src) from None
    columns = d.get("columns", {})
    if not isinstance(columns, dict) or set(columns) - {"time", "value", "sigma"} or not all(
            isinstance(v, str) for v in columns.values()):
        raise CaseError(f"{where}.columns", columns, 'a table such as { time = "t", value = "P", '
                        'sigma = "err" } naming the CSV columns', src)
    data_path = _near(d["data"], base)
    t, y, s = read_dataset(data_path, d, where, src)
    if s is None and "sigma" in d:
        s = np.full_like(y, _number(d["sigma"], f"{where}.sigma", src, 1e-300, 1e300))
    t = t + offset
    if t[0] < 0:
        raise CaseError(f"{where}.time_offset", d.get("time_offset", 0),
                        "the shifted times must be >= 0", src)
    return DatasetSpec(name=name, case_path=case_path, data_path=data_path,
                       observable=observable, quantity=quantity, overrides=dict(overrides),
                       time_s=t, value=y, sigma=s, scale=scale, time_offset=offset)


# --- helpers ------------------------------------------------------------------------------

def _near(name: str, base: Path) -> Path:
    p = Path(name)
    return p if p.is_absolute() else base / p


def _table(value: Any, key: str, src: str) -> dict:
    if not isinstance(value, dict):
        raise CaseError(key, value, "a table", src)
    return value


def _unknown(table: dict, allowed: set[str], prefix: str, src: str) -> None:
    for k in table:
        if k not in allowed:
            raise CaseError(prefix + k, table[k], "unknown key; allowed: "
                            + ", ".join(sorted(allowed)), src)


def _number(value: Any, key: str, src: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise CaseError(key, value, f"a number from {lo:g} to {hi:g}", src)
    return float(value)


def _tables(raw: dict, name: str, src: str) -> list:
    """The non-empty array of tables raw[name] ([[datasets]], [[parameters]])."""
    items = raw.get(name)
    if not isinstance(items, list) or not items:
        raise CaseError(name, items if items is not None else "(missing)",
                        f"at least one [[{name}]] table", src)
    return items


def _distinct(key: str, values: list, allowed: str, src: str) -> None:
    if len(set(values)) != len(values):
        raise CaseError(key, values, allowed, src)
