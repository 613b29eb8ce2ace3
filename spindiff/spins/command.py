"""`spindiff derive CASE [--seeds N] [--json FILE]`: D0 (its tensor) and the barrier radius that
the individual-nucleus model implies for the case's material, nucleus, field and linewidth,
with uncertainties (spindiff.spins.derive)."""
from __future__ import annotations

import json
from pathlib import Path


def command(args, overrides: dict, say) -> int:
    from mpi4py import MPI

    from ..case import load_case
    from ..errors import CaseError
    from .derive import format_derived
    from .resolve import cached_derive
    case = load_case(args.case, overrides)
    if case.conditions is None:
        raise CaseError("conditions", "(missing)", "spindiff derive needs [conditions] (nucleus "
                        "and B0 give the dipolar couplings)", args.case)
    d, info = cached_derive(case, seeds=args.seeds, say=say)
    say(format_derived(case, d))
    if info["from_cache"]:
        say(f"  (read from the cache: {info['cache_file']})")
    if args.json and MPI.COMM_WORLD.rank == 0:
        out = {"D0_nm2_s": d.D0, "D0_err_nm2_s": d.D0_err, "D_nm2_s": d.D_grating.tolist(),
               "D_err_nm2_s": d.D_grating_err.tolist(),
               "D_run_cutoff_nm2_s": d.D_grating_run.tolist(),
               "D_second_moment_nm2_s": d.D_tensor.tolist(), "cutoff_bounds": d.bounds,
               "barrier": {k: {kk: (vv.tolist() if hasattr(vv, "tolist") else vv)
                               for kk, vv in b.items()} for k, b in d.barrier.items()},
               "zeeman_projection": d.validity, "info": d.info}
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
        say(f"written: {args.json}")
    return 0


def check(case) -> str:
    """What `spindiff check` adds for a spins case: the XYZ file read (CaseError for a missing
    or malformed file); a note for the ok line."""
    if case.mesh.model != "spins" or case.spins is None or case.spins.lattice != "file":
        return ""
    from ..physics.nuclei import lookup
    from ..physics.spins.positions import read_xyz
    from .sample import file_path
    element = lookup(case.conditions.nucleus).name.lstrip("0123456789")
    x = read_xyz(file_path(case), element, case.spins.file_unit)
    return f"; {len(x)} {element} atoms in {case.spins.file}"
