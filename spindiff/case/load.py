"""Read, validate and cross-check case files; every failure is one line naming the key."""
from __future__ import annotations

import copy
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import CaseError
from .schema import Case


def load_case(path: str | Path, overrides: dict[str, Any] | None = None) -> Case:
    """Load and validate the TOML case file at `path`.

    `overrides` maps dotted keys ("materials.matrix.D0") to values that replace the file's.
    Raises CaseError (one line: file, key, value, what is allowed).
    """
    path = Path(path)
    if not path.is_file():
        raise CaseError("case file", str(path), "no such file")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CaseError("TOML", path.name, f"not valid TOML ({exc})", source=str(path)) from None
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value)
    case = case_from_dict(raw, source=str(path))
    object.__setattr__(case, "_source_dir", str(path.resolve().parent))
    return case


def case_from_dict(raw: dict[str, Any], source: str | None = None) -> Case:
    """Validate a case given as a nested dict (the TOML structure)."""
    try:
        case = Case.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc, raw, source) from None
    check_consistency(case, source)
    object.__setattr__(case, "_raw", copy.deepcopy(raw))
    return case


def raw_dict(case: Case) -> dict[str, Any]:
    """The nested dict a case was validated from (for re-validation with changes)."""
    return copy.deepcopy(getattr(case, "_raw"))


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set raw["a"]["b"][0]["c"] from the dotted key "a.b.0.c" (creating tables as needed)."""
    parts = key.split(".")
    node: Any = raw
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def check_consistency(case: Case, source: str | None = None) -> None:
    """Rules that involve several keys."""
    g, c = case.geometry, case.centres
    _check_geometry(case, source)
    if c.barrier != "none" and c.barrier_radius is None:
        raise CaseError("centres.barrier_radius", "(missing)",
                        f"required with barrier = {c.barrier!r} (or set barrier = \"none\")", source)
    if g.kind in ("sphere_cell", "periodic_cube"):
        size = case.cell_radius if g.kind == "sphere_cell" else case.cube_side / 2
        what = "the cell radius R" if g.kind == "sphere_cell" else "half the cube side"
        if case.barrier_radius >= size:
            raise CaseError("centres.barrier_radius", f"{case.barrier_radius:g} nm",
                            f"must be smaller than {what} = {size:.4g} nm", source)
        if case.visible_radius >= size:
            raise CaseError("centres.visible_radius", f"{case.visible_radius:g} nm",
                            f"must be smaller than {what} = {size:.4g} nm", source)
    if case.relaxation.P0 == "thermal" and case.conditions is None:
        raise CaseError("relaxation.P0", "thermal",
                        "needs a [conditions] table (B0, temperature, nucleus) or a number", source)
    if case.mesh.size_barrier > case.mesh.size_bulk:
        raise CaseError("mesh.size_barrier", f"{case.mesh.size_barrier:g} nm",
                        f"must not exceed mesh.size_bulk = {case.mesh.size_bulk:g} nm", source)
    if case.solver.dt_max is not None and case.solver.dt_max < case.solver.dt_initial:
        raise CaseError("solver.dt_max", f"{case.solver.dt_max:g} s",
                        "must be >= solver.dt_initial", source)
    if g.kind == "periodic_cube" and case.mesh.model == "radial":
        raise CaseError("mesh.model", "radial", "the radial reduction needs a sphere_cell", source)
    src = case.source
    if src.model != "rates" and src.polarization is None:
        raise CaseError("source.polarization", "(missing)",
                        "required (|P| < 1) unless source.model = \"rates\"", source)
    if src.model == "rates" and (case.agent is None or case.conditions is None):
        raise CaseError("source.model", "rates", "needs [agent] and [conditions] tables", source)
    if src.model == "rates":
        for i, st in enumerate(case.protocol.stages):
            if st.microwaves and (st.source is None or st.source) and st.microwave_nutation is None \
                    and st.microwave_power is None:
                raise CaseError(f"protocol.stages[{i}].microwave_nutation", "(missing)",
                                "the rate module needs the microwave field: microwave_nutation "
                                "(w1 / 2 pi, e.g. \"20 kHz\") and microwave_offset", source)
    if src.model == "volume" and src.C6 is None:
        raise CaseError("source.C6", "(missing)", "source model \"volume\" needs C6, e.g. \"5 nm^6/s\"", source)
    if src.model == "surface" and src.kappa is None:
        raise CaseError("source.kappa", "(missing)", "source model \"surface\" needs kappa, e.g. \"0.5 nm/s\"", source)
    if src.model in ("surface", "fixed") and c.barrier != "hole":
        raise CaseError("source.model", src.model, "surface and fixed sources need centres.barrier = \"hole\"", source)
    if src.model == "region" and (src.rate is None or src.radius is None):
        raise CaseError("source.rate" if src.rate is None else "source.radius", "(missing)",
                        "a \"region\" source needs rate (e.g. \"1000 1/s\") and radius (e.g. \"0.5 nm\")", source)
    if c.barrier == "none" and src.model != "region":
        raise CaseError("source.model", src.model,
                        "without a barrier only a \"region\" source is allowed (C6/r^6 diverges at r = 0)", source)
    if c.barrier == "none" and case.relaxation.C6 > 0:
        raise CaseError("relaxation.C6", f"{case.relaxation.C6:g} nm^6/s",
                        "must be 0 without a barrier (C6/r^6 diverges at r = 0)", source)
    if src.model == "region" and src.radius <= case.barrier_radius:
        raise CaseError("source.radius", f"{src.radius:g} nm",
                        f"must exceed the barrier radius {case.barrier_radius:g} nm", source)
    if c.barrier == "physical" and case.electron is None:
        raise CaseError("centres.barrier", "physical",
                        "needs an [electron] table (the suppression s_e(r; P_e) is the barrier)", source)
    if case.electron is not None and case.conditions is None:
        raise CaseError("electron", "(table)",
                        "needs [conditions] (B0 and temperature give the thermal P_e)", source)
    for i, st in enumerate(case.protocol.stages):
        if st.first_output is not None and st.first_output > st.duration:
            raise CaseError(f"protocol.stages[{i}].first_output", f"{st.first_output:g} s",
                            f"must not exceed the stage duration {st.duration:g} s", source)
        mw = [k for k in ("microwave_nutation", "microwave_power", "electron_polarization")
              if getattr(st, k) is not None]
        if mw and case.electron is None and not (src.model == "rates" and mw[0] == "microwave_nutation"):
            raise CaseError(f"protocol.stages[{i}].{mw[0]}", getattr(st, mw[0]),
                            "needs an [electron] table", source)
        if len(mw) > 1:
            raise CaseError(f"protocol.stages[{i}]", ", ".join(mw), "give at most one of these", source)
        if mw and not st.microwaves and mw[0] != "electron_polarization":
            raise CaseError(f"protocol.stages[{i}].{mw[0]}", getattr(st, mw[0]),
                            "microwave settings need microwaves = true", source)
        if st.microwave_power is not None and (case.electron is None or case.electron.nutation_per_sqrt_mW is None):
            raise CaseError(f"protocol.stages[{i}].microwave_power", f"{st.microwave_power:g} W",
                            "needs electron.nutation_per_sqrt_mW (e.g. \"20 kHz\")", source)
        if case.electron is not None and st.microwaves and not mw:
            raise CaseError(f"protocol.stages[{i}].microwaves", True,
                            "with [electron], say how the microwaves set P_e: microwave_nutation, "
                            "microwave_power or electron_polarization", source)
        if st.pulses is not None and src.model != "region":
            raise CaseError(f"protocol.stages[{i}].pulses", "(table)",
                            "pulses act on the source region: needs source.model = \"region\"", source)
    if (g.outer_boundary == "fixed") != (g.outer_polarization is not None):
        raise CaseError("geometry.outer_polarization", g.outer_polarization,
                        "give it exactly when geometry.outer_boundary = \"fixed\"", source)
    names = [s.name for s in case.protocol.stages]
    if len(set(names)) != len(names):
        raise CaseError("protocol.stages.name", ", ".join(names), "stage names must be unique", source)


SINGLE_CELL = ("sphere_cell", "periodic_cube")
BOXES = ("box", "particle", "layers", "blend")


def _check_geometry(case: Case, source: str | None) -> None:
    """Which [geometry] keys each kind needs, and how materials and centres fit it."""
    g, c = case.geometry, case.centres
    names = list(case.materials)
    if g.kind in SINGLE_CELL:
        allowed = ("concentration", "radius") if g.kind == "sphere_cell" else ("concentration", "side")
        given = [k for k in ("concentration", "radius", "side") if getattr(g, k) is not None]
        if len(given) != 1 or given[0] not in allowed:
            raise CaseError("geometry", ", ".join(given) or "(none)",
                            f"a {g.kind} needs exactly one of {' or '.join(allowed)}", source)
        if len(names) != 1:
            raise CaseError("materials", ", ".join(names),
                            f"geometry kind {g.kind!r} holds exactly one material", source)
        if c.placement != "cell":
            raise CaseError("centres.placement", c.placement,
                            f"a {g.kind} has one centre at its middle: use \"cell\"", source)
        if c.representation != "resolved":
            raise CaseError("centres.representation", c.representation,
                            f"a {g.kind} resolves its centre", source)
        if g.kind == "periodic_cube" and g.outer_boundary != "zero_flux":
            raise CaseError("geometry.outer_boundary", g.outer_boundary,
                            "a periodic cube has no outer boundary", source)
        return
    if case.mesh.model == "radial":
        raise CaseError("mesh.model", "radial", "the radial reduction needs a sphere_cell", source)
    if g.outer_boundary != "zero_flux":
        raise CaseError("geometry.outer_boundary", g.outer_boundary,
                        f"only \"zero_flux\" for geometry kind {g.kind!r}", source)
    if g.kind in BOXES and not case.box_sides:
        raise CaseError("geometry.side", "(missing)", f"a {g.kind} needs side (or sides), e.g. \"20 nm\"",
                        source)
    need = {"particle": ("particle_size", "particle_material", "matrix_material"),
            "layers": ("thicknesses", "layer_materials"),
            "blend": ("volume_fraction", "domain_size", "particle_material", "matrix_material"),
            "mesh": ("file",)}.get(g.kind, ())
    for key in need:
        if getattr(g, key) is None:
            raise CaseError(f"geometry.{key}", "(missing)", f"required for geometry kind {g.kind!r}",
                            source)
    used = {"box": names[:1], "particle": [g.particle_material, g.matrix_material],
            "blend": [g.particle_material, g.matrix_material],
            "layers": list(dict.fromkeys(g.layer_materials or [])),
            "mesh": names}[g.kind]
    if g.kind == "box" and len(names) != 1:
        raise CaseError("materials", ", ".join(names), "a box holds exactly one material", source)
    for i, name in enumerate(used):
        if name not in case.materials:
            key = {"particle": ["geometry.particle_material", "geometry.matrix_material"],
                   "blend": ["geometry.particle_material", "geometry.matrix_material"]}.get(
                g.kind, ["geometry.layer_materials"] * len(used))[i]
            raise CaseError(key, name, f"not a [materials] table (defined: {', '.join(names)})",
                            source)
    if g.kind == "layers" and len(g.thicknesses) != len(g.layer_materials):
        raise CaseError("geometry.layer_materials", g.layer_materials,
                        f"one material per layer ({len(g.thicknesses)} thicknesses)", source)
    if g.kind == "mesh":
        for name, m in case.materials.items():
            if not m.regions:
                raise CaseError(f"materials.{name}.regions", "(missing)",
                                "a user mesh needs the physical groups of every material", source)
    elif any(m.regions for m in case.materials.values()):
        bad = next(n for n, m in case.materials.items() if m.regions)
        raise CaseError(f"materials.{bad}.regions", case.materials[bad].regions,
                        "only for geometry kind \"mesh\"", source)
    if c.material is not None and c.material not in case.materials:
        raise CaseError("centres.material", c.material, f"not a [materials] table (defined: "
                        f"{', '.join(names)})", source)
    if c.placement == "cell":
        raise CaseError("centres.placement", "cell",
                        f"geometry kind {g.kind!r} needs random, lattice, positions or none", source)
    if c.placement in ("random", "lattice") and g.concentration is None and c.count is None:
        raise CaseError("geometry.concentration", "(missing)",
                        f"placement {c.placement!r} needs the centre concentration (or centres.count)",
                        source)
    if c.placement == "positions" and not c.positions:
        raise CaseError("centres.positions", "(missing)",
                        "placement \"positions\" needs positions = [[x, y, z], ...] in nm", source)
    if c.positions and any(len(p) != 3 for p in c.positions):
        raise CaseError("centres.positions", c.positions, "each position is [x, y, z] in nm", source)
    if c.representation == "homogenized" and g.concentration is None:
        raise CaseError("centres.representation", "homogenized",
                        "needs the centre concentration (geometry.concentration)", source)
    if c.representation == "homogenized" and c.barrier == "none":
        raise CaseError("centres.representation", "homogenized", "needs a barrier radius", source)


def _first_error(exc: ValidationError, raw: dict[str, Any], source: str | None) -> CaseError:
    err = exc.errors()[0]
    loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
    key = _dotted(loc)
    kind = err["type"]
    if kind == "missing":
        return CaseError(key, "(missing)", "required key is missing", source)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return CaseError(key, err.get("input"), f"unknown key{hint}", source)
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return CaseError(key, err.get("input"), msg, source)


def _dotted(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _allowed_keys(loc: list[Any]) -> list[str]:
    """Field names of the model found by following `loc` through the schema."""
    annotation: Any = Case
    for part in loc:
        model = _inner_model(annotation)
        if isinstance(part, int) or model is None:
            continue
        if _is_mapping(annotation):
            annotation = model  # part is a user-chosen key such as a material name
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
    model = _inner_model(annotation)
    return list(model.model_fields) if model is not None else []


def _is_mapping(annotation: Any) -> bool:
    if typing.get_origin(annotation) is dict:
        return True
    return any(_is_mapping(a) for a in typing.get_args(annotation))


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside Optional[...], list[...] or dict[str, ...] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
