"""Source and relaxation terms of the transport PDE from the small-system quantum model.

PDE (docs/reference/physics.md section 2): n dP/dt = ... + n k(r) (P_src(r) - P) - n R1(r) (P - P0),
R1 = 1/T1n + R1_para(r). For a nucleus at distance r from a centre, every ensemble member i
(orientation, electron offset or pair, with weight w_i) gives, from the master equation,
the nuclear rate and steady state with microwaves on (Gamma_on, P_on) and off
(Gamma_off, P_off ~ thermal). Decomposition (linear in the member terms, so that a shell of
nuclei at uniform P relaxes at the averaged rate toward the averaged target):

    R1_para = <Gamma_off> - 1/T1n
    k       = <Gamma_on - Gamma_off>
    P_src   = <Gamma_on P_on - Gamma_off P_off> / k

<.> = sum_i w_i (.). Single-electron (SE) members give the solid effect and the relaxation
by saturated electrons; pairs (CE) add the increment (e-e-n minus the e-n problem of the same
electron), so that the solid effect of the nucleus' own electron is not counted twice.
R1_para comes from the microwave-off e-n problem (paramagnetic relaxation by the electron's
own T1 fluctuations, (1 - P_e^2) R1e B^2 / (4 omega_n^2) for omega_n >> R1e).
C6 fits: k ~ C6_src / r^6 and R1_para ~ C6_rel / r^6 (nm^6/s), least squares in log space over
the r points with a positive value; the free power-law exponents are reported as a check.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..constants import nuclear_thermal_polarization
from .agents import Conditions, PolarizingAgent, ee_distance, flipflop_scale, resolve_mechanism, spin_params
from .couplings import ee_dipolar_from_angle, ee_prefactor, hyperfine_from_angle
from .effective import ETA1_MIN, GAMMA_R2_MAX, validity_warning
from .ensembles import OffsetSet, pair_offsets, single_offsets
from .model import SpinBatch, SpinParams
from .operators import SpinSystem
from .powder import gauss_legendre_cos
from .solve import OnOff, solve_on_off

TABLE_VERSION = "1"
MAX_FILL = 1e-300


@dataclass
class RateTable:
    """Tabulated PDE terms and fits (all orientation / ensemble averaged).

    Attributes:
        r: distances from the centre (nm).
        k: source rate k(r) (1/s).
        p_src: source target polarization P_src(r) (dimensionless, thermal sign positive).
        r1_para: paramagnetic nuclear relaxation rate R1_para(r) (1/s).
        p0: microwave-off (thermal) target of the small system (dimensionless).
        c6_src, c6_rel: fitted C6 coefficients (nm^6/s) of k and R1_para.
        exponent_src, exponent_rel: free power-law exponents of k and R1_para (-6 expected
            where the perturbative regime holds).
        p_thermal: bulk thermal nuclear polarization tanh(hbar omega_n / 2 k_B T).
        validity: eta1, eta, eta2, Gamma/R2, warnings (see effective.py).
        components: per-mechanism contributions {'SE': {...}, 'CE': {...}} of k and k P_src.
        errors: effective-vs-full relative errors when built with compare=True.
        meta: method, mechanism, parameters, grid sizes, cache key.
    """

    r: np.ndarray
    k: np.ndarray
    p_src: np.ndarray
    r1_para: np.ndarray
    p0: np.ndarray
    c6_src: float
    c6_rel: float
    exponent_src: float
    exponent_rel: float
    p_thermal: float
    validity: dict = field(default_factory=dict)
    components: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def k_of_r(self, r: np.ndarray | float, fitted: bool = False) -> np.ndarray:
        """k at r (nm): log-log interpolation of the table (C6/r^6 outside it), or C6/r^6."""
        return self._eval(r, self.k, self.c6_src, fitted)

    def r1_para_of_r(self, r: np.ndarray | float, fitted: bool = False) -> np.ndarray:
        """R1_para at r (nm), as k_of_r."""
        return self._eval(r, self.r1_para, self.c6_rel, fitted)

    def p_src_of_r(self, r: np.ndarray | float) -> np.ndarray:
        """P_src at r (nm): linear interpolation, constant outside the table."""
        return np.interp(r, self.r, self.p_src)

    def _eval(self, r, y, c6, fitted):
        r = np.asarray(r, dtype=float)
        if fitted or not np.all(y > 0):
            return c6 / r**6
        out = np.exp(np.interp(np.log(r), np.log(self.r), np.log(y)))
        return np.where((r < self.r[0]) | (r > self.r[-1]), c6 / r**6, out)

    def to_dict(self) -> dict:
        """JSON-compatible dict (arrays as lists)."""
        d = asdict(self)
        return json.loads(json.dumps(d, default=_jsonable))

    @classmethod
    def from_dict(cls, d: dict) -> RateTable:
        arr = ("r", "k", "p_src", "r1_para", "p0")
        kw = {k: (np.asarray(v, float) if k in arr else v) for k, v in d.items()}
        return cls(**kw)


def _jsonable(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def fit_c6(r: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(C6, free exponent) of y ~ C6 / r^6 by least squares on log y over positive points."""
    ok = (y > 0) & np.isfinite(y)
    if ok.sum() == 0:
        return 0.0, float("nan")
    lr, ly = np.log(r[ok]), np.log(y[ok])
    c6 = float(np.exp(np.mean(ly + 6.0 * lr)))
    slope = float(np.polyfit(lr, ly, 1)[0]) if ok.sum() >= 2 else float("nan")
    return c6, slope


def default_r_grid(cond: Conditions, n: int = 12) -> np.ndarray:
    """Default distances (nm): 0.3 nm to min(3 nm, half the e-e distance) (or 3 nm)."""
    rmax = 3.0
    ree = ee_distance(cond)
    if ree is not None:
        rmax = max(0.8, min(3.0, 0.5 * ree))
    return np.geomspace(0.3, rmax, n)


def cache_key(payload: dict) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of `payload`."""
    s = json.dumps(payload, sort_keys=True, default=_jsonable)
    return hashlib.sha256(s.encode()).hexdigest()[:16]


def _se_batch(r, cth, offs, nucleus, g) -> SpinBatch:
    nr, nt, no = len(r), len(cth.cos_theta), len(offs.delta)
    R, C, D = np.meshgrid(r, cth.cos_theta, offs.delta, indexing="ij")
    W = np.einsum("t,o->to", cth.weights, offs.weight)[None].repeat(nr, 0)
    a, b = hyperfine_from_angle(R.ravel(), C.ravel(), nucleus, g)
    return SpinBatch(SpinSystem(1, 1), D.reshape(-1, 1), a[:, None, None], b[:, None, None],
                     weights=W.ravel(), meta={"shape": (nr, nt, no)})


def _ce_batches(r, cth, cee, pairs, r_ee, nucleus, agent) -> tuple[SpinBatch, SpinBatch]:
    nr, nt, ne, npair = len(r), len(cth.weights), len(cee.weights), len(pairs.weight)
    R, C, E, P = np.meshgrid(r, cth.cos_theta, cee.cos_theta, np.arange(npair), indexing="ij")
    W = (cth.weights[:, None, None] * cee.weights[None, :, None] * pairs.weight[None, None, :])
    W = np.broadcast_to(W, (nr, nt, ne, npair)).ravel()
    a, b = hyperfine_from_angle(R.ravel(), C.ravel(), nucleus, agent.g)
    d = ee_dipolar_from_angle(r_ee, E.ravel(), agent.g)
    f = flipflop_scale(agent)
    pidx = P.ravel()
    off = np.stack([pairs.delta1[pidx], pairs.delta2[pidx]], 1)
    zero = np.zeros_like(a)
    een = SpinBatch(SpinSystem(2, 1), off, np.stack([a, zero], 1)[:, :, None],
                    np.stack([b, zero], 1)[:, :, None], d_ee=d * (2.0 + f) / 3.0,
                    j_ee=2.0 * d * (1.0 - f) / 3.0, weights=W)
    en = SpinBatch(SpinSystem(1, 1), off[:, :1], a[:, None, None], b[:, None, None], weights=W)
    return een, en


def _accumulate(res: OnOff, w: np.ndarray, nr: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-r sums of w (Gamma_on - Gamma_off) and w (Gamma_on P_on - Gamma_off P_off)."""
    k = (w * (res.gamma_on - res.gamma_off)).reshape(nr, -1).sum(1)
    flux = (w * (res.gamma_on * res.p_on - res.gamma_off * res.p_off)).reshape(nr, -1).sum(1)
    return k, flux


def _validity(params: SpinParams, res_list: list[OnOff], mechanism: str) -> dict:
    r2 = 1.0 / params.t2e
    w1 = max(params.omega1, 1e-300)
    v = {"eta1_resonant": (r2**2) / w1**2, "eta": params.t1e / params.t2e,
         "eta2_matched": (r2**2 + params.omega_n**2) / w1**2,
         "eta1_min_required": ETA1_MIN, "gamma_over_r2_max_allowed": GAMMA_R2_MAX}
    if mechanism == "CE":
        v["karabanov_eq3_satisfied"] = bool(v["eta1_resonant"] < v["eta"] < v["eta2_matched"])
    e1 = [np.min(r.eta1) for r in res_list if r.eta1 is not None and r.eta1.size]
    g2 = [np.max(r.gamma_over_r2) for r in res_list if r.gamma_over_r2 is not None
          and r.gamma_over_r2.size]
    if e1:
        v["eta1_min"] = float(min(e1))
        v["gamma_over_r2_max"] = float(max(g2))
    return v


def rate_table(agent: PolarizingAgent, cond: Conditions, r: np.ndarray | None = None, *,
               method: str = "full", mechanism: str | None = None, ensemble: str = "line",
               n_theta: int = 6, n_theta_ce: int = 4, n_theta_ee: int = 3, n_window: int = 12,
               n_pair_window: int = 5, n_delta: int = 6, compare: bool = False, cache_dir: str | Path | None = None,
               warn: bool = True) -> RateTable:
    """Tabulate k(r), P_src(r), R1_para(r) and fit C6 for an agent under given conditions.

    Args:
        agent, cond: physical description (see `agents`); presets via `agents.preset`.
        r: distances (nm); default `default_r_grid(cond)`.
        method: "full" (Lindblad master equation) or "effective" (Zeeman-projected rates, fast;
            warns when eta1 < 10 or Gamma/R2 > 0.1).
        mechanism: "SE" or "CE"; default from the agent (`agents.resolve_mechanism`).
        ensemble: "line" (sample the EPR line, see `ensembles`) or "matched" (one ideal CE pair).
        n_theta: Gauss-Legendre nodes in cos(theta) of the e-n vector (axial average; exact
            for the perturbative B^2 ~ sin^2 cos^2 dependence from 3 nodes on).
        n_theta_ce: the same for the e-e-n (cross-effect) members.
        n_theta_ee: nodes in cos(theta_ee) of the e-e vector (its direction is independent of
            the e-n vector: random partner; the nucleus is coupled to its own electron only,
            the partner's coupling is counted in the partner's own table).
        n_window, n_pair_window, n_delta: nodes per resonance window (see `ensembles`).
        compare: also run the other method and store relative errors in `errors`.
        cache_dir: if given, load/save the table as JSON there, keyed by all inputs.
        warn: emit warnings.warn for the validity conditions (effective method).
    """
    r = default_r_grid(cond) if r is None else np.asarray(r, dtype=float)
    mech = mechanism or resolve_mechanism(agent, cond)
    params = spin_params(agent, cond)
    r_ee = ee_distance(cond)
    if mech == "CE" and r_ee is None:
        raise ValueError("cross effect needs cond.r_ee or cond.concentration_mM")
    payload = {"version": TABLE_VERSION, "agent": agent.to_dict(), "cond": cond.to_dict(),
               "r": r, "method": method, "mechanism": mech, "ensemble": ensemble,
               "n": [n_theta, n_theta_ce, n_theta_ee, n_window, n_pair_window, n_delta], "compare": compare}
    key = cache_key(payload)
    if cache_dir is not None:
        path = Path(cache_dir) / f"rate_table_{key}.json"
        if path.exists():
            return RateTable.from_dict(json.loads(path.read_text()))

    nodes = (n_theta, n_theta_ce, n_theta_ee, n_window, n_pair_window, n_delta)
    table = _build(agent, cond, r, params, method, mech, ensemble, r_ee, *nodes)
    if compare:
        other = "effective" if method == "full" else "full"
        t2 = _build(agent, cond, r, params, other, mech, ensemble, r_ee, *nodes)
        full, eff = (table, t2) if method == "full" else (t2, table)
        table.errors = table_errors(full, eff)
        table.validity.update({k: v for k, v in eff.validity.items() if k not in table.validity})
    msgs = []
    if method == "effective" or compare:
        msgs = validity_warning(np.array([table.validity.get("eta1_min", np.inf)]),
                                np.array([table.validity.get("gamma_over_r2_max", 0.0)]),
                                None) if warn else []
    table.validity["warnings"] = msgs
    table.meta.update({"key": key, "method": method, "mechanism": mech, "ensemble": ensemble,
                       "agent": agent.to_dict(), "conditions": cond.to_dict(), "r_ee": r_ee,
                       "grid": {"theta": f"gauss-legendre cos(theta) n={n_theta}",
                                "theta_ce": f"gauss-legendre n={n_theta_ce}",
                                "theta_ee": f"gauss-legendre n={n_theta_ee}",
                                "n_window": n_window, "n_pair_window": n_pair_window,
                                "n_delta": n_delta}})
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table.to_dict()))
    return table


def table_errors(full: RateTable, eff: RateTable) -> dict:
    """Relative errors of the effective table against the full one (max over r and per r)."""
    def rel(a, b):
        # relative to |b|, floored at 1e-3 of the largest |b| (values that are ~0 do not count)
        b = np.asarray(b, float)
        floor = max(1e-3 * float(np.max(np.abs(b))), 1e-300)
        return np.abs(np.asarray(a) - b) / np.maximum(np.abs(b), floor)
    e = {"k": rel(eff.k, full.k), "r1_para": rel(eff.r1_para, full.r1_para),
         "p_src_abs": np.abs(eff.p_src - full.p_src),
         "c6_src": float(rel(np.array(eff.c6_src), np.array(full.c6_src))),
         "c6_rel": float(rel(np.array(eff.c6_rel), np.array(full.c6_rel)))}
    e["max_k"] = float(np.max(e["k"]))
    e["max_r1_para"] = float(np.max(e["r1_para"]))
    e["max_p_src_abs"] = float(np.max(e["p_src_abs"]))
    return e


def _build(agent, cond, r, params, method, mech, ensemble, r_ee, n_theta, n_theta_ce,
           n_theta_ee, n_window, n_pair_window, n_delta) -> RateTable:
    nr = len(r)
    cth = gauss_legendre_cos(n_theta)
    # paramagnetic relaxation: microwave-off e-n, electron at the microwave (offset-independent)
    rel = _se_batch(r, cth, _single(0.0), cond.nucleus, agent.g)
    off = solve_on_off(rel, params.with_(omega1=0.0), method)
    gamma_off = (rel.weights * off.gamma_off).reshape(nr, -1).sum(1)
    p0 = (rel.weights * off.p_off).reshape(nr, -1).sum(1)
    # negative values ~ -r1n (B/omega_n)^2 (bulk T1 acting along the lab axis of a tilted
    # nucleus) are numerically real but physically meaningless: clipped at 0
    r1_para_raw = gamma_off - params.r1n
    r1_para = np.maximum(r1_para_raw, 0.0)

    offs = single_offsets(agent, cond, params, n_window)
    se = _se_batch(r, cth, offs, cond.nucleus, agent.g)
    res_se = solve_on_off(se, params, method)
    k_se, f_se = _accumulate(res_se, se.weights, nr)
    comps = {"SE": {"k": k_se, "flux": f_se}}
    k, flux = k_se.copy(), f_se.copy()
    results = [res_se]
    if mech == "CE":
        cee = gauss_legendre_cos(n_theta_ee)
        dmax = ee_prefactor(agent.g) / r_ee**3 * flipflop_scale(agent)
        pairs = pair_offsets(agent, cond, params, dmax, n_pair_window, n_delta, ensemble)
        een, en = _ce_batches(r, gauss_legendre_cos(n_theta_ce), cee, pairs, r_ee,
                              cond.nucleus, agent)
        res_een = solve_on_off(een, params, method)
        res_en = solve_on_off(en, params, method)
        k1, f1 = _accumulate(res_een, een.weights, nr)
        k0, f0 = _accumulate(res_en, en.weights, nr)
        comps["CE"] = {"k": k1 - k0, "flux": f1 - f0, "pair_weight": float(pairs.weight.sum())}
        k += k1 - k0
        flux += f1 - f0
        results.append(res_een)
    kpos = np.maximum(k, 0.0)
    p_src = np.where(kpos > MAX_FILL, flux / np.where(kpos > MAX_FILL, kpos, 1.0), p0)
    c6s, exs = fit_c6(r, kpos)
    c6r, exr = fit_c6(r, r1_para)
    resid = [np.max(x.residual) for x in results if x.residual is not None]
    table = RateTable(r=r, k=kpos, p_src=p_src, r1_para=r1_para, p0=p0, c6_src=c6s, c6_rel=c6r,
                      exponent_src=exs, exponent_rel=exr,
                      p_thermal=nuclear_thermal_polarization(cond.nucleus, cond.b0,
                                                             cond.temperature),
                      validity=_validity(params, results, mech),
                      components={m: {kk: (vv.tolist() if isinstance(vv, np.ndarray) else vv)
                                      for kk, vv in c.items()} for m, c in comps.items()})
    table.meta["max_residual"] = float(max(resid)) if resid else None
    table.meta["r1_para_raw"] = r1_para_raw.tolist()
    table.meta["n_members"] = int(sum(len(x.gamma_on) for x in results))
    return table


def _single(delta: float) -> OffsetSet:
    return OffsetSet(np.array([delta]), np.array([1.0]))


def save_table(table: RateTable, path: str | Path) -> Path:
    """Write a table as JSON (``.json``) or NumPy archive (``.npz``, arrays + JSON metadata)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    d = table.to_dict()
    if path.suffix == ".npz":
        arrays = {k: np.asarray(d[k]) for k in ("r", "k", "p_src", "r1_para", "p0")}
        rest = {k: v for k, v in d.items() if k not in arrays}
        np.savez(path, **arrays, meta=np.array(json.dumps(rest)))
    else:
        path.write_text(json.dumps(d, indent=1))
    return path


def load_table(path: str | Path) -> RateTable:
    """Read a table written by `save_table`."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as z:
            d = json.loads(str(z["meta"]))
            d.update({k: z[k] for k in ("r", "k", "p_src", "r1_para", "p0")})
        return RateTable.from_dict(d)
    return RateTable.from_dict(json.loads(path.read_text()))
