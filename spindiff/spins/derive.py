"""What the discrete model implies for the continuum: D0 and the barrier radius of a case.

    from spindiff.spins import derive
    d = derive(load_case("cases/default.toml"))
    d.D0, d.D0_err, d.barrier["buildup"]["b_half_nm"]        # nm^2/s, nm^2/s, nm

Far from every electron, for the case's material (nuclear density, nucleus), placement
([spins] lattice), field and zero-quantum linewidth Gamma_2 ([electron] gamma2), in periodic
test boxes of BOX_SPACINGS mean spacings (one for a lattice, SEEDS for random positions):
  - the second moment D_l = (1/2) sum_k W_jk (x_k - x_j)_l^2 per axis (B0 along z),
    untruncated (lattice sums; random: the kept pairs plus the continuum tail). On a lattice
    it is the diffusion tensor exactly (every site alike: cos(q x) is an eigenvector);
  - a decaying grating: the rate equations started from p = cos(2 pi x_l / L), whose decay
    rate lambda_l = D_l (2 pi / L)^2 measures D from the dynamics (a spreading profile),
    at the case's cutoff and at REFERENCE_CUTOFF n^(-1/3) (tail-corrected both). In a random
    solid close pairs exchange fast but carry little polarization far: the hydrodynamic D is
    well below the second moment (about 0.45 of it at d_min = 0.5 n^(-1/3)).
D0 is the grating's (D_xx + D_yy + D_zz) / 3 at the reference cutoff (the isotropic value a
continuum with one D0 uses: <r^2> = 6 D0 t), +- the standard error over the boxes and the
change from 3/4 of that cutoff.
The barrier: for each distinct electron polarization of the protocol, the nuclei of SEEDS
spheres around one electron (the case's density and placement) and their total flip-flop rate
Gamma_j = sum_k W_jk (Eq. 9 with their own couplings), averaged in shells of the distance r to
the electron and divided by its value without the electron; b_half is the radius where this
ratio crosses 1/2 (spin diffusion half quenched), b_10 and b_90 where it crosses 0.1 and 0.9
(the barrier's width), mean +- standard error over the spheres. b_eq (equivalent_hole): the
zero-flux hole with which the radial continuum builds up at the mean rate of CELLS_PER_SEED x
SEEDS Wigner-Seitz cells of individual nuclei.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..case.schema import Case
from ..physics.spins import positions as pos
from ..physics.spins import tail as tails
from ..physics.spins.couplings import ElectronField, Electrons, nuclear_prefactor
from ..physics.spins.operator import RowBuilder, laplacian
from .sample import flipflop_settings, spin_model, spins_table, stage_electron

SEEDS = 3
#: Wigner-Seitz cells per seed for b_eq: the buildup time of one cell varies by about 15 %
#: from sample to sample (the few nuclei closest to the electron, k ~ r^-6), so 30 cells
#: give the mean rate to about 3 %
CELLS_PER_SEED = 10
BOX_SPACINGS = 12  # periodic test boxes of 12 mean spacings (about 1,700 nuclei)
#: the converged hydrodynamic D is measured with this cutoff (units of n^(-1/3))
REFERENCE_CUTOFF = 3.5


@dataclass
class Derived:
    """Values with standard errors (see the module docstring)."""
    D_tensor: np.ndarray            # (3,) nm^2/s, untruncated second moment
    D_tensor_err: np.ndarray
    D0: float                       # nm^2/s, hydrodynamic (grating), trace / 3
    D0_err: float
    D_grating: np.ndarray           # (3,) grating at the reference cutoff
    D_grating_err: np.ndarray
    D_grating_run: np.ndarray       # (3,) grating at the case's cutoff
    D_truncated: np.ndarray         # (3,) second moment of the kept pairs only
    D0_case: float
    barrier: dict = field(default_factory=dict)   # stage name -> {...}
    bounds: dict = field(default_factory=dict)
    validity: list = field(default_factory=list)
    info: dict = field(default_factory=dict)


def _far_field_K(case: Case) -> float:
    s = flipflop_settings(case)
    return nuclear_prefactor(s.nucleus) ** 2 / (8.0 * s.gamma2)


def _test_box(case: Case, seed: int) -> tuple[np.ndarray, pos.Region, float]:
    s = spins_table(case)
    n = next(iter(case.materials.values())).nuclear_density
    a = n ** (-1 / 3)
    region = pos.Region.box(BOX_SPACINGS * a, True)
    md = s.min_distance if s.min_distance is not None else 0.5 * a
    kind = s.lattice if s.lattice in ("sc", "fcc") else "random"
    p = pos.place(kind, n, region, seed=seed, min_distance=md)
    return p.positions, region, p.density


def _grating(x: np.ndarray, region: pos.Region, L) -> list[float]:
    """D_l (nm^2/s) of each axis from the decay of cos(2 pi x_l / side) under dp/dt = -L p:
    the amplitude's decay rate between t and 3 t (t = 1 / its initial rate), after the fast
    local exchange of close pairs has settled (the hydrodynamic D)."""
    from scipy.sparse.linalg import expm_multiply
    q = 2 * math.pi / region.sides[0]
    out = []
    for axis in range(3):
        v = np.cos(q * x[:, axis])
        t = 1.0 / max(float(v @ (L @ v) / (v @ v)), 1e-30)
        v1 = expm_multiply(-L * t, v)
        v3 = expm_multiply(-L * (2 * t), v1)
        out.append(math.log(float(v1 @ v) / float(v3 @ v)) / (2 * t) / q ** 2)
    return out


def bulk_diffusion(case: Case, seeds: int = SEEDS) -> dict:
    """D tensor (second moment; grating at the case's cutoff and at the reference cutoff
    REFERENCE_CUTOFF n^(-1/3); kept pairs only), standard errors over the test boxes."""
    K = _far_field_K(case)
    settings = flipflop_settings(case)
    s = spins_table(case)
    n = next(iter(case.materials.values())).nuclear_density
    a = n ** (-1 / 3)
    rc = s.cutoff if s.cutoff is not None else tails.DEFAULT_CUTOFF * a
    rc_ref = max(REFERENCE_CUTOFF * a, rc)
    lattice = s.lattice in ("sc", "fcc")
    full, kept, run, ref, ref3, bounds = [], [], [], [], [], None
    for seed in range(1 if lattice else seeds):
        x, region, dens = _test_box(case, seed + 1)

        def correction(cut):
            return (tails.lattice_correction(s.lattice, dens, cut) if lattice else
                    tails.sample_correction(x, dens, cut, region.boxsize, sample=1500, seed=seed))
        corr = correction(rc)
        bounds = corr.bounds
        full.append(corr.full_moment * K)
        kept.append(corr.kept_moment * K)
        use = corr if s.tail == "second_moment" else None
        run.append(_grating(x, region, laplacian(RowBuilder(x, region, rc, settings, None, use))))
        for cut, store in ((rc_ref, ref), (0.75 * rc_ref, ref3)):
            L = laplacian(RowBuilder(x, region, cut, settings, None, correction(cut)))
            store.append(_grating(x, region, L))
    full, kept, run, ref, ref3 = (np.array(v) for v in (full, kept, run, ref, ref3))
    m = len(full)

    def err(v):
        return v.std(0, ddof=1) / math.sqrt(m) if m > 1 else np.zeros(v.shape[1])
    # D0: the hydrodynamic (grating) D at the reference cutoff; its error adds the change
    # from 3/4 of that cutoff (what is left of the truncation)
    d0 = ref.mean(1)
    stat = float(d0.std(ddof=1) / math.sqrt(m)) if m > 1 else 0.0
    trunc = abs(float(ref.mean() - ref3.mean()))
    return {"D": full.mean(0), "D_err": err(full), "grating": ref.mean(0),
            "grating_err": np.hypot(err(ref), np.abs(ref.mean(0) - ref3.mean(0))),
            "grating_run": run.mean(0), "grating_run_err": err(run),
            "D0": float(d0.mean()), "D0_err": math.hypot(stat, trunc),
            "D0_moment": float(full.mean()), "kept": kept.mean(0), "bounds": bounds,
            "cutoff_nm": rc, "reference_cutoff_nm": rc_ref, "boxes": m}


def barrier_profile(case: Case, pe: float, gamma_c: float, seeds: int = SEEDS,
                    radius: float | None = None, bins: int = 30) -> dict:
    """Shell-averaged total flip-flop rate around one electron relative to the bulk, and the
    radii where it crosses 0.1, 0.5, 0.9 (see the module docstring)."""
    s = spins_table(case)
    n = next(iter(case.materials.values())).nuclear_density
    a = n ** (-1 / 3)
    R = radius or max(4.0, 10 * a)
    rc = s.cutoff if s.cutoff is not None else tails.DEFAULT_CUTOFF * a
    settings = flipflop_settings(case)
    md = s.min_distance if s.min_distance is not None else 0.5 * a
    edges = np.linspace(0.0, R - rc, bins + 1)
    ratios, crossings = [], []
    import warnings
    for seed in range(seeds):
        region = pos.Region.sphere(R)
        kind = s.lattice if s.lattice in ("sc", "fcc") else "random"
        x = pos.place(kind, n, region, seed=seed + 11, min_distance=md,
                      centres=np.zeros((1, 3)), exclusion=s.exclusion_radius).positions
        e = Electrons(np.zeros((1, 3)), np.array([pe]), np.array([gamma_c]), np.array([0]))
        fld = ElectronField(x, e, region, settings)
        diag_e = laplacian(RowBuilder(x, region, rc, settings, fld)).diagonal()
        diag_0 = laplacian(RowBuilder(x, region, rc, settings, None)).diagonal()
        r = np.linalg.norm(x, axis=1)
        inner = r < R - rc  # nuclei with all their partners inside the sphere
        idx = np.digitize(r[inner], edges) - 1
        num = np.bincount(idx, weights=diag_e[inner], minlength=bins)[:bins]
        den = np.bincount(idx, weights=diag_0[inner], minlength=bins)[:bins]
        ratio = np.where(den > 0, num / np.maximum(den, 1e-300), np.nan)
        ratios.append(ratio)
        mid = 0.5 * (edges[:-1] + edges[1:])
        crossings.append([_crossing(mid, ratio, level) for level in (0.1, 0.5, 0.9)])
    c = np.array(crossings, float)
    m = len(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty outer shells
        mean = np.nanmean(c, 0)
        err = np.nanstd(c, 0, ddof=1) / math.sqrt(m) if m > 1 else np.zeros(3)
        ratio = np.nanmean(ratios, 0)
    return {"P_e": pe, "b_10_nm": mean[0], "b_half_nm": mean[1], "b_90_nm": mean[2],
            "b_10_err": err[0], "b_half_err": err[1], "b_90_err": err[2],
            "r_nm": 0.5 * (edges[:-1] + edges[1:]), "ratio": ratio,
            "spheres": m, "sphere_radius_nm": R}


def _crossing(r: np.ndarray, ratio: np.ndarray, level: float) -> float:
    """Largest r where the shell ratio is still below `level` (outward crossing, linear)."""
    ok = np.isfinite(ratio)
    r, y = r[ok], ratio[ok]
    below = np.flatnonzero(y < level)
    if len(below) == 0:
        return float("nan")
    k = below[-1]
    if k + 1 >= len(r):
        return float("nan")
    return float(r[k] + (level - y[k]) * (r[k + 1] - r[k]) / (y[k + 1] - y[k]))


def equivalent_hole(case: Case, D0: float, seeds: int = SEEDS * CELLS_PER_SEED,
                    stage: int = 0) -> dict:
    """The buildup-equivalent barrier: the radius b_eq of a zero-flux hole with which the 1D
    radial continuum (the case's laws acting for r >= b_eq, D0 given) has the buildup time
    T_B (mono-exponential fit of <P>_sample in `stage`) of the individual-nucleus model of the
    case's Wigner-Seitz cell: T_B = 1 / the mean buildup rate 1/T_B of `seeds` random cells
    (the cells of a sample exchange polarization faster than they build up, so a sample
    builds up at their mean rate), +- its standard error. Needs a source acting in that
    stage."""
    from mpi4py import MPI
    from scipy.optimize import brentq

    from ..simulation import Simulation
    from .simulation import SpinSimulation
    cell = _wigner_seitz(case)
    name = cell.protocol.stages[stage].name
    tbs = []
    for seed in range(1, seeds + 1):
        res = SpinSimulation(cell.with_changes({"mesh.model": "spins", "spins.seed": seed}),
                             comm=MPI.COMM_SELF).run()
        tbs.append(res.summary["fits"][name]["mono"]["T_B_s"])
    rates = 1.0 / np.asarray(tbs)
    target = float(1.0 / rates.mean())
    R = cell.cell_radius

    def tb(b: float) -> float:
        c = cell.with_changes({"mesh.model": "radial", "mesh.error_estimate": "off",
                               "centres.barrier": "hole", "centres.barrier_radius": f"{float(b)!r} nm",
                               "centres.visible_radius": f"{float(b)!r} nm",
                               f"materials.{next(iter(cell.materials))}.D0": f"{float(D0)!r} nm^2/s"})
        return Simulation(c, comm=MPI.COMM_SELF).run().summary["fits"][name]["mono"]["T_B_s"]
    lo, hi = 0.1, 0.6 * R
    f_lo, f_hi = tb(lo) - target, tb(hi) - target
    if f_lo * f_hi > 0:
        return {"b_eq_nm": float("nan"), "T_B_spins_s": target, "note":
                "no hole radius in [0.1 nm, 0.6 R] gives the discrete T_B"}
    b = brentq(lambda x: tb(x) - target, lo, hi, xtol=2e-3)
    # the standard error of the mean rate, as one of T_B = 1 / rate
    err = float(target**2 * rates.std(ddof=1) / np.sqrt(len(tbs))) if len(tbs) > 1 else 0.0
    # the T_B uncertainty moves b_eq by (dT_B / db)^-1 dT_B
    slope = (tb(b * 1.05) - tb(b * 0.95)) / (0.1 * b)
    return {"b_eq_nm": float(b), "b_eq_err": abs(err / slope) if slope else float("nan"),
            "T_B_spins_s": target, "T_B_spins_err": err, "D0_nm2_s": D0, "seeds": seeds}


def _wigner_seitz(case: Case) -> Case:
    """The case's single-centre sphere cell (itself for a sphere_cell; else the cell of its
    centre concentration, one material)."""
    if case.geometry.kind == "sphere_cell":
        return case
    raw = case.raw()
    conc = case.geometry.concentration
    if conc is None:
        conc = len(case.centres.positions or []) / np.prod(case.box_sides)
    raw["geometry"] = {"kind": "sphere_cell", "radius": f"{float(case.cell_radius)!r} nm"
                       if case.geometry.kind == "periodic_cube" else
                       f"{float((3 / (4 * np.pi * conc)) ** (1 / 3))!r} nm"}
    raw["centres"] = {k: v for k, v in raw["centres"].items()
                      if k in ("barrier_radius", "barrier", "visible_radius")}
    if raw["centres"].get("barrier") == "kept":
        raw["centres"]["barrier"] = "hole"
    return Case.from_dict(raw, source_dir=case.source_dir)


def discrete_case(case: Case, D0: float) -> Case:
    """The case the discrete runs of `derive` use when some of its keys are "derived": D0
    (which the individual nuclei do not read) the nuclei's own, a barrier radius the
    exclusion radius (no nucleus is closer, so every nucleus gets the case's laws at its own
    distance; the continuum's hole b_eq is then fitted to these nuclei)."""
    changes = {f"materials.{k.split('.')[1]}.D0": f"{D0!r} nm^2/s"
               for k in case.derived_keys if k.endswith(".D0")}
    if "centres.barrier_radius" in case.derived_keys:
        changes["centres.barrier_radius"] = f"{float(spins_table(case).exclusion_radius)!r} nm"
    return case.with_changes(changes) if changes else case


def derive(case: Case, seeds: int = SEEDS, equivalent: bool = True,
           bulk: dict | None = None) -> Derived:
    """D0 and barrier radii of a case (collective-free; pure numpy/scipy). Keys of the case
    that are themselves "derived" are not read (`discrete_case`). bulk: the
    `bulk_diffusion(case, seeds)` of this case, if already computed."""
    bulk = bulk_diffusion(case, seeds) if bulk is None else bulk
    D0_case = float("nan") if next(iter(case.materials.values())).D0 == "derived" else None
    case = discrete_case(case, bulk["D0"])
    model = spin_model(case)
    barrier = {}
    seen = {}
    for st in model.stages:
        pe, gc = stage_electron(case, st)
        if (pe, gc) not in seen:
            seen[(pe, gc)] = barrier_profile(case, pe, gc, seeds)
        barrier[st.name] = seen[(pe, gc)]
    mat = next(iter(case.materials.values()))
    pairs = case.spins is not None and case.spins.pair_distance is not None
    if equivalent and model.stages[0].source_on and not pairs:
        barrier["equivalent_hole"] = equivalent_hole(
            case, float(np.mean(bulk["grating_run"])), seeds * CELLS_PER_SEED)
    return Derived(bulk["D"], bulk["D_err"], bulk["D0"], bulk["D0_err"], bulk["grating"],
                   bulk["grating_err"], bulk["grating_run"], bulk["kept"],
                   mat.D0 if D0_case is None else D0_case, barrier,
                   bulk["bounds"], validity(case, model),
                   {"cutoff_nm": bulk["cutoff_nm"], "boxes": bulk["boxes"],
                    "reference_cutoff_nm": bulk["reference_cutoff_nm"],
                    "lattice": spins_table(case).lattice, "density_nm3": mat.nuclear_density,
                    "gamma2_rad_s": flipflop_settings(case).gamma2})


def validity(case: Case, model) -> list[dict]:
    """Karabanov's conditions for each stage with microwaves: eta1 = (R2^2 + Delta1^2) /
    omega1^2 >> 1 (incoherent saturation, the Zeeman projection holds), and the cross-effect
    efficiency eta1 << eta = T1e/T2e << eta2 = (R2^2 + Delta2^2) / omega1^2 (Eq. 3), Delta2 =
    Delta1 + omega_n for a matched pair. T1e, T2e from [agent] (its preset) or [electron]."""
    from ..physics.constants import nuclear_larmor
    t1e = t2e = None
    if case.agent is not None:
        from ..rates import agent_of
        ag = agent_of(case)
        t1e, t2e = ag.t1e, ag.t2e
    elif case.electron is not None:
        t1e, t2e = case.electron.T1e, case.electron.T2e
    if t1e is None:
        return []
    wn = nuclear_larmor(case.conditions.nucleus, case.conditions.B0)
    out = []
    for st in case.protocol.stages:
        if not st.microwaves:
            continue
        nu1 = st.microwave_nutation
        if nu1 is None and case.agent is not None and case.agent.microwave_nutation is not None:
            nu1 = case.agent.microwave_nutation
        if nu1 is None and st.microwave_power is not None and case.electron is not None:
            nu1 = case.electron.nutation_per_sqrt_mW * math.sqrt(st.microwave_power / 1e-3)
        if not nu1:
            continue
        w1 = 2 * math.pi * nu1
        r2 = 1.0 / t2e
        d1 = 2 * math.pi * (st.microwave_offset or 0.0)
        eta1 = (r2 ** 2 + d1 ** 2) / w1 ** 2
        eta2 = (r2 ** 2 + (d1 + wn) ** 2) / w1 ** 2
        eta = t1e / t2e
        out.append({"stage": st.name, "eta1": eta1, "eta": eta, "eta2": eta2,
                    "incoherent": eta1 >= 10.0, "eq3": eta1 < eta < eta2})
    return out


def _vals(v, e=None) -> str:
    if e is None:
        return ", ".join(f"{x:.4g}" for x in v)
    return ", ".join(f"{x:.4g} +- {y:.2g}" for x, y in zip(v, e))


def format_derived(case: Case, d: Derived) -> str:
    """The report `spindiff derive` prints."""
    c = case.conditions
    mat_name = next(iter(case.materials))
    lines = [f"{case.case.name}: {c.nucleus} in {mat_name}, n = {d.info['density_nm3']:g} nm^-3 "
             f"({d.info['lattice']}), B0 = {c.B0:.4g} T, Gamma_2 = "
             f"{d.info['gamma2_rad_s']:.4g} rad/s (2 pi x {d.info['gamma2_rad_s'] / 2 / math.pi / 1e3:.3g} kHz)",
             f"  D0 = {d.D0:.4g} +- {d.D0_err:.2g} nm^2/s: the hydrodynamic D (a decaying grating, "
             f"rate equations, cutoff {d.info['reference_cutoff_nm']:.3g} nm), trace / 3; the "
             + (f"case's continuum D0 = {d.D0_case:.4g} nm^2/s" if math.isfinite(d.D0_case)
                else "case's continuum uses it (D0 = \"derived\")"),
             "    D_xx, D_yy, D_zz = " + _vals(d.D_grating, d.D_grating_err)
             + f" nm^2/s (anisotropy D_zz / D_xx = {d.D_grating[2] / d.D_grating[0]:.3f})",
             f"    at the run's cutoff {d.info['cutoff_nm']:.3g} nm: "
             + _vals(d.D_grating_run) + " nm^2/s",
             "  second moment of the rates (1/2) sum W x^2: " + _vals(d.D_tensor, d.D_tensor_err)
             + f" nm^2/s (trace / 3 = {np.mean(d.D_tensor):.4g})",
             f"  cutoff bound at r_c = {d.info['cutoff_nm']:.3g} nm: the dropped pairs carry "
             + ", ".join(f"{100 * f:.1f} %" for f in d.bounds["moment_tail_fraction"])
             + f" of the second moment and {100 * d.bounds['rate_tail_fraction']:.2f} % of the "
             f"total rate; the tail correction restores the moment and raises the total rate "
             f"by {100 * d.bounds['corrected_rate_excess']:.1f} %"]
    for name, b in d.barrier.items():
        if name == "equivalent_hole":
            lines.append(f"  buildup-equivalent hole (radial continuum with D0 = "
                         f"{b.get('D0_nm2_s', float('nan')):.4g} nm^2/s and the case's laws for r >= b, "
                         f"same T_B = {b['T_B_spins_s']:.4g} s as the nuclei of the Wigner-Seitz "
                         f"cell): b_eq = {b['b_eq_nm']:.3g} +- {b.get('b_eq_err', float('nan')):.2g} nm")
            continue
        lines.append(f"  barrier, stage {name} (P_e = {b['P_e']:.5g}): W/W_inf = 1/2 at "
                     f"b = {b['b_half_nm']:.3g} +- {b['b_half_err']:.2g} nm (0.1 at "
                     f"{b['b_10_nm']:.3g}, 0.9 at {b['b_90_nm']:.3g} nm; {b['spheres']} spheres)")
    for v in d.validity:
        lines.append(f"  Zeeman projection, stage {v['stage']}: eta1 = {v['eta1']:.3g} "
                     f"({'>= 10: incoherent' if v['incoherent'] else '< 10: coherent saturation'}"
                     f"), eta = T1e/T2e = {v['eta']:.3g}, eta2 = {v['eta2']:.3g}; Karabanov "
                     f"Eq. 3 eta1 << eta << eta2 {'holds' if v['eq3'] else 'fails'}")
    return "\n".join(lines)
