"""DNP sweep profile of the broad-line model (nuclear polarization against microwave offset)
and the disk-cached PDE table. Units: offsets in rad/s (eps from g_iso mu_B B0 / hbar)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..constants import nuclear_larmor, nuclear_thermal_polarization
from .agents import Conditions, Lineshape, PolarizingAgent, lineshape
from .broadline import BroadlineSettings, broadline_table, electron_state, nuclear_rates
from .tables import RateTable, cache_key

TWO_PI = 2.0 * np.pi
SWEEP_VERSION = "1"


@dataclass
class BroadlineSweep:
    """Sweep profile: for each microwave offset (rad/s) the stationary nuclear polarization of
    one nucleus (all mechanisms, `p_n`), of the triple spin flips alone (`p_tsf`), of their CE
    and TM branches, of the solid effect, the rate per unit <|B|^2> (`rate`), beta_D / beta_L
    and the mean electron polarization. Extrema: offsets and values of max / min p_n."""

    offsets: np.ndarray
    p_n: np.ndarray
    p_tsf: np.ndarray
    p_ce: np.ndarray
    p_tm: np.ndarray
    p_se: np.ndarray
    rate: np.ndarray
    beta_ratio: np.ndarray
    mean_pe: np.ndarray
    p_thermal: float
    omega_n: float
    meta: dict = field(default_factory=dict)

    @property
    def extrema(self) -> dict:
        """{'max': (offset, P), 'min': (offset, P), 'separation': rad/s}."""
        i, j = int(np.argmax(self.p_n)), int(np.argmin(self.p_n))
        return {"max": (float(self.offsets[i]), float(self.p_n[i])),
                "min": (float(self.offsets[j]), float(self.p_n[j])),
                "separation": float(abs(self.offsets[i] - self.offsets[j]))}


def default_offsets(agent: PolarizingAgent, cond: Conditions, n: int = 121,
                    line: Lineshape | None = None) -> np.ndarray:
    """n offsets from the line's lower edge - omega_n to its upper edge + omega_n (rad/s); the
    agent's line, or `line`."""
    lo, hi = (lineshape(agent, cond) if line is None else line).extent
    wn = nuclear_larmor(cond.nucleus, cond.b0)
    return np.linspace(lo - wn, hi + wn, n)


def broadline_sweep(agent: PolarizingAgent, cond: Conditions,
                    settings: BroadlineSettings | None = None,
                    offsets: np.ndarray | None = None,
                    line: Lineshape | None = None) -> BroadlineSweep:
    """Stationary state of the electron packets and nuclear rates at every offset, for the
    agent's EPR line or any continuous `line` (agents.lineshape, broadline.gaussian_line,
    broadline.user_line; offsets default to that line's extent +- omega_n). The agent then
    gives g (the e-e couplings), T1e and T2e."""
    settings = settings or BroadlineSettings()
    given = line
    line = lineshape(agent, cond) if line is None else line
    offsets = default_offsets(agent, cond, line=line) if offsets is None else \
        np.asarray(offsets, float)
    wn = nuclear_larmor(cond.nucleus, cond.b0)
    pt = nuclear_thermal_polarization(cond.nucleus, cond.b0, cond.temperature)
    cols = {k: [] for k in ("p_n", "p_tsf", "p_ce", "p_tm", "p_se", "rate", "beta_ratio", "mean_pe")}
    for off in offsets:
        st, model = electron_state(agent, cond.with_(mw_offset=float(off)), settings, line)
        nr = nuclear_rates(st, model, wn, pt)
        for k, v in (("p_n", nr.p_stat), ("p_tsf", nr.tsf_target), ("p_ce", nr.ce_target),
                     ("p_tm", nr.tm_target), ("p_se", nr.se_target), ("rate", nr.total),
                     ("beta_ratio", st.beta_d / model.beta_l),
                     ("mean_pe", float(np.sum(st.grid.f * st.p)))):
            cols[k].append(v)
    return BroadlineSweep(offsets, **{k: np.asarray(v) for k, v in cols.items()}, p_thermal=pt,
                          omega_n=wn, meta={"settings": settings.to_dict(),
                                            "agent": agent.name, "conditions": cond.to_dict(),
                                            "line": "agent" if given is None else "given"})


def cached_broadline_table(agent: PolarizingAgent, cond: Conditions,
                           settings: BroadlineSettings | None = None, r: np.ndarray | None = None,
                           cache_dir: str | Path | None = None):
    """`broadline.broadline_table`, loaded from / saved to cache_dir (keyed by every input)."""
    settings = settings or BroadlineSettings()
    key = cache_key({"version": SWEEP_VERSION, "model": "broadline", "agent": agent.to_dict(),
                     "cond": cond.to_dict(), "settings": settings.to_dict(),
                     "r": None if r is None else np.asarray(r, float)})
    path = None if cache_dir is None else Path(cache_dir) / f"broadline_table_{key}.json"
    if path is not None and path.exists():
        return RateTable.from_dict(json.loads(path.read_text()))
    table = broadline_table(agent, cond, r, settings)
    table.meta["key"] = key
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table.to_dict()))
    return table
