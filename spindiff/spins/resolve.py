"""Case keys given as "derived": computed from the individual nuclei before a run, cached.

    [materials.juice]
    D0 = "derived"                 # the hydrodynamic D of the nuclei (spindiff derive: D0)
    [centres]
    barrier_radius = "derived"     # the buildup-equivalent hole b_eq

    from spindiff.spins.resolve import resolve
    numeric = resolve(load_case("cases/tempol_dnp_juice.toml"))   # D0, b as numbers

The numbers are those of `spindiff.spins.derive.derive(case)`: D0 = the trace / 3 of the
hydrodynamic diffusion tensor of the rate equations (a decaying grating, converged cutoff),
b = b_eq, the radius of the zero-flux hole with which the radial continuum has the buildup
time of the nuclei of the case's Wigner-Seitz cell (the number a continuum with a hole needs;
the half-quenching radius b_half is larger and is recorded beside it). They are computed on
rank 0 (pure numpy/scipy) and broadcast, and stored as JSON in the rate-table cache folder
(spindiff.rates.cache_dir()) as derived_<key>.json, key = sha256 of the validated case without
the keys derive does not read (NOT_READ: names, outputs, sweeps, 3D mesh sizes, every D0),
with the version of the method and its sample sizes; a second run reads the file, a changed
input (field, density, linewidth, source, protocol, ...) gives another key.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..case.derived import b_is_derived
from ..case.schema import Case
from ..physics.quantum.tables import cache_key
from ..rates import cache_dir
from .derive import Derived, bulk_diffusion, derive
from .sample import flipflop_settings, spins_table

#: the module spindiff.spins.derive (its name in the package is the function derive)
derive_module = importlib.import_module(".derive", __package__)

#: bump when what derive computes changes (stored values are then recomputed)
DERIVE_VERSION = 2
#: top-level tables and [mesh] keys that derive does not read (a 3D mesh, names, outputs)
NOT_READ = ("case", "output", "sweep")
MESH_NOT_READ = ("model", "error_estimate", "size_barrier", "size_bulk", "size_particle",
                 "size_interface", "order", "interface", "refine")
_ARRAYS = ("D_tensor", "D_tensor_err", "D_grating", "D_grating_err", "D_grating_run",
           "D_truncated")
_BARRIER_ARRAYS = ("r_nm", "ratio")


def bulk_payload(case: Case, seeds: int) -> dict:
    """What the bulk diffusion tensor (derive.bulk_diffusion) depends on: the flip-flop
    settings far from the electrons (nucleus, Larmor frequency, Gamma_2, hyperfine rule), the
    placement and cutoff of [spins], the nuclear density, the method's version and sizes."""
    s = spins_table(case)
    return {"version": DERIVE_VERSION, "settings": asdict(flipflop_settings(case)),
            "spins": {k: getattr(s, k) for k in ("lattice", "min_distance", "cutoff", "tail")},
            "density": next(iter(case.materials.values())).nuclear_density, "seeds": seeds,
            "boxes": derive_module.BOX_SPACINGS, "reference_cutoff": derive_module.REFERENCE_CUTOFF}


def payload(case: Case, seeds: int, equivalent: bool) -> dict:
    """Everything the derived values depend on: the validated case in internal units minus
    NOT_READ, MESH_NOT_READ and the materials' D0, plus the method's version and sizes."""
    data = case.model_dump(mode="json")
    for key in NOT_READ:
        data.pop(key, None)
    for key in MESH_NOT_READ:
        data["mesh"].pop(key, None)
    for m in data["materials"].values():
        m.pop("D0", None)
    return {"version": DERIVE_VERSION, "case": data, "seeds": seeds, "equivalent": equivalent,
            "boxes": derive_module.BOX_SPACINGS, "reference_cutoff": derive_module.REFERENCE_CUTOFF,
            "cells": derive_module.CELLS_PER_SEED}


def _plain(v):
    """numpy arrays and scalars as JSON lists and numbers, recursively."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v.item() if isinstance(v, np.generic) else v


def to_jsonable(d: Derived) -> dict:
    """A JSON-ready dict of `d` (arrays as lists; floats keep every digit)."""
    return {name: _plain(getattr(d, name)) for name in Derived.__dataclass_fields__}


def from_jsonable(data: dict) -> Derived:
    """The Derived that `to_jsonable` wrote."""
    kw = dict(data)
    for name in _ARRAYS:
        kw[name] = np.asarray(kw[name], float)
    kw["barrier"] = {stage: {k: (np.asarray(v, float) if k in _BARRIER_ARRAYS else v)
                             for k, v in b.items()} for stage, b in kw["barrier"].items()}
    return Derived(**kw)


def _read(path: Path):
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None  # an unreadable file is computed again and replaced


def _store(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(_plain(data), f)
    os.replace(tmp, path)  # atomic: concurrent runs never read half a file


def cached_derive(case: Case, seeds: int | None = None, equivalent: bool = True,
                  say=None) -> tuple[Derived, dict]:
    """derive(case) through the disk cache: (Derived, {"cache_key", "cache_file",
    "from_cache", "wall_s"}). Two entries: the bulk diffusion tensor (derived_bulk_<key>.json,
    the costly part, keyed by `bulk_payload`, so that a changed source, protocol or
    temperature reuses it) and the whole result (derived_<key>.json, keyed by `payload`).
    Serial (call it on one rank); say(line) announces a computation."""
    seeds = derive_module.SEEDS if seeds is None else seeds
    key = cache_key(payload(case, seeds, equivalent))
    path = cache_dir() / f"derived_{key}.json"
    info = {"cache_key": key, "cache_file": str(path), "from_cache": True, "wall_s": 0.0}
    stored = _read(path)
    if stored is not None:
        try:
            return from_jsonable(stored), info
        except (KeyError, TypeError):
            pass
    if say is not None:
        say(f"deriving {', '.join(case.derived_keys) or 'D0 and the barrier'} from individual "
            f"nuclei (spindiff derive; stored in {path.parent} for the next run)")
    t0 = time.perf_counter()
    bulk_path = cache_dir() / f"derived_bulk_{cache_key(bulk_payload(case, seeds))}.json"
    bulk = _read(bulk_path)
    if bulk is None:
        bulk = bulk_diffusion(case, seeds)
        _store(bulk_path, bulk)
    bulk = {k: (np.asarray(v, float) if isinstance(v, list) and k != "bounds" else v)
            for k, v in bulk.items()}
    d = derive(case, seeds=seeds, equivalent=equivalent, bulk=bulk)
    info.update(from_cache=False, wall_s=time.perf_counter() - t0)
    _store(path, to_jsonable(d))
    return d, info


def values(case: Case, d: Derived) -> dict[str, dict]:
    """{dotted key: {"value", "uncertainty", "unit", "definition", ...}} for the case's
    derived keys."""
    out = {}
    for key in case.derived_keys:
        if key.endswith(".D0"):
            out[key] = {"value": d.D0, "uncertainty": d.D0_err, "unit": "nm^2/s",
                        "definition": f"hydrodynamic D of the individual nuclei (a decaying "
                        f"grating under the rate equations, cutoff "
                        f"{d.info['reference_cutoff_nm']:.4g} nm), trace / 3",
                        "tensor_nm2_s": list(map(float, d.D_grating))}
            continue
        eq = d.barrier["equivalent_hole"]
        half = next(b for name, b in d.barrier.items() if name != "equivalent_hole")
        out[key] = {"value": eq["b_eq_nm"], "uncertainty": eq.get("b_eq_err", float("nan")),
                    "unit": "nm", "definition": f"buildup-equivalent hole b_eq (the radial "
                    f"continuum with D0 = {eq.get('D0_nm2_s', float('nan')):.4g} nm^2/s has the "
                    f"T_B = {eq['T_B_spins_s']:.4g} s of the nuclei of the Wigner-Seitz cell)",
                    "b_half_nm": half["b_half_nm"], "b_half_err": half["b_half_err"]}
    return out


def record(case: Case, comm=None, say=None) -> dict:
    """The derived values of the case (computed on rank 0 of `comm`, or read from the cache,
    and broadcast): {"values": values(...), "cache_key", "cache_file", "from_cache", "wall_s"}."""
    rec = None
    if comm is not None and comm.size > 1:
        # rank 0 runs small simulations on COMM_SELF: PETSc's initialisation (a duplicate of
        # COMM_WORLD) is collective, so every rank makes it here first
        import dolfinx  # noqa: F401
    if comm is None or comm.rank == 0:
        d, info = cached_derive(case, equivalent=b_is_derived(case), say=say)
        rec = {"values": values(case, d), **info}
        if "centres.barrier_radius" in rec["values"] and not np.isfinite(
                rec["values"]["centres.barrier_radius"]["value"]):
            rec["error"] = d.barrier["equivalent_hole"].get("note", "no b_eq found")
    if comm is not None and comm.size > 1:
        rec = comm.bcast(rec, root=0)
    return rec


def resolve(case: Case, comm=None, progress: bool = False) -> Case:
    """The case with its "derived" keys replaced by numbers (itself if it has none); the
    record (values, uncertainties, cache key) is on the result's `derived_record` and goes into
    summary.json's model_notes. CaseError when a value cannot be derived."""
    if not case.derived_keys:
        return case
    from ..errors import CaseError
    say = None
    if progress and (comm is None or comm.rank == 0):
        def say(line):  # progress, as the run's other set-up phases
            print(line, file=sys.stderr, flush=True)
    rec = record(case, comm, say)
    if "error" in rec:
        raise CaseError("centres.barrier_radius", "derived", rec["error"])
    if say is not None:
        say("derived: " + "; ".join(f"{k} = {v['value']:.4g} +- {v['uncertainty']:.2g} "
                                    f"{v['unit']}" for k, v in rec["values"].items())
            + (" (cache)" if rec["from_cache"] else ""))
    changes = {key: f"{float(v['value'])!r} {v['unit']}" for key, v in rec["values"].items()}
    try:
        out = case.with_changes(changes)
    except CaseError as exc:
        used = ", ".join(f"{k} = {v['value']:.4g} {v['unit']}" for k, v in rec["values"].items())
        raise CaseError(exc.key, exc.value, f"{exc.allowed} (with the derived {used})") from None
    out._derived = rec
    return out


def format_record(rec: dict) -> list[str]:
    """What `spindiff check` prints: one line per derived key, and where it came from."""
    lines = []
    for key, v in rec["values"].items():
        extra = (f"; half-quenching radius b_half = {v['b_half_nm']:.3g} +- "
                 f"{v['b_half_err']:.2g} nm" if "b_half_nm" in v else "")
        lines.append(f"{key} = \"derived\": {v['value']:.4g} +- {v['uncertainty']:.2g} "
                     f"{v['unit']}, {v['definition']}{extra}")
    where = ("read from the cache" if rec["from_cache"] else
             f"computed in {rec['wall_s']:.0f} s and stored")
    lines.append(f"  ({where}: {rec['cache_file']})")
    return lines
