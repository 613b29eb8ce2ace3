"""Kinetic Monte Carlo of individual nuclear spins (numpy, seeded), many trajectories at once.

Every nucleus is up (+1) or down (-1). The processes of the rate equations
(spindiff.physics.spins.operator) as jumps:

    flip-flop (j, k)   at rate W_jk the two spins are exchanged (a flip-flop when they are
                       antiparallel, nothing when parallel: the same process)
    single spin j      at rate kappa_j = k_j + R1_j the spin is drawn anew, up with
                       probability (1 + tau_j) / 2 (it flips up at kappa (1 + tau) / 2 when
                       down and down at kappa (1 - tau) / 2 when up)

Since no rate depends on the state, the process is simulated by uniformization: events come
at the constant total rate Lambda = sum W + sum kappa, each one picked with probability
rate / Lambda, independently of the state (Gillespie's direct method with state-independent
propensities, exact). The mean over trajectories obeys the rate equations exactly,
d<s_j>/dt = -sum_k W_jk (<s_j> - <s_k>) - kappa_j (<s_j> - tau_j): the kMC mean agrees with
them within its statistical error, which this module reports. (With electrons as dynamic
spins, as in Karabanov's simulations, rates depend on the electrons' states and the rate
equations of the means are a mean-field approximation; here the electrons are a bath.)

Pulses and saturations act between events on every trajectory: a fraction x of a spin's
polarization is replaced by a target (each spin is redrawn with probability x from the
target's distribution), which acts on the mean exactly as on p.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class KMCResult:
    """Means over the trajectories at the output times.

    times (m,); mean, stderr (m, N): per nucleus; avg_mean, avg_std: {mask name: (m,)} the
    mean and standard error of the average over the nuclei of each mask (from the
    trajectories' own averages, so correlations between nuclei are accounted for);
    trajectories; events (total, over all trajectories)."""
    times: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    trajectories: int
    events: int
    avg_mean: dict = field(default_factory=dict)
    avg_std: dict = field(default_factory=dict)


def pair_list(L: sp.spmatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, W) of the flip-flop Laplacian's off-diagonal entries with i < j."""
    c = sp.triu(L, k=1).tocoo()
    return c.row.astype(np.int64), c.col.astype(np.int64), -c.data


def run(W_pairs: tuple[np.ndarray, np.ndarray, np.ndarray], kappa: np.ndarray,
        tau: np.ndarray, p_initial: np.ndarray, times: np.ndarray, trajectories: int = 400,
        seed: int = 0, masks: dict[str, np.ndarray] | None = None) -> KMCResult:
    """Simulate `trajectories` independent trajectories from spins drawn with mean p_initial
    to the output times; returns per-nucleus means and standard errors (and, for every mask
    in `masks`, the standard error of the average over it, from the trajectories' own
    averages: KMCResult.avg_std[name])."""
    i, j, w = W_pairs
    n = len(kappa)
    rng = np.random.default_rng(seed)
    rates = np.concatenate([w, kappa])
    total = float(rates.sum())
    cum = np.cumsum(rates) / total
    npair = len(w)
    up_prob = 0.5 * (1.0 + np.asarray(tau, float))
    M = trajectories
    s = np.where(rng.random((M, n)) < 0.5 * (1 + np.asarray(p_initial)), 1, -1).astype(np.int8)
    times = np.asarray(times, float)
    clock = np.zeros(M)
    nxt = np.zeros(M, dtype=np.int64)      # next output index per trajectory
    sums = np.zeros((len(times), n))
    sq = np.zeros((len(times), n))
    masks = masks or {}
    avg = {k: np.zeros((len(times), M)) for k in masks}
    rows = np.arange(M)
    events = 0
    while True:
        clock_new = clock + rng.exponential(1.0 / total, M) if total > 0 else np.full(M, np.inf)
        # record the trajectories whose next output falls before their next event
        while True:
            due = (nxt < len(times)) & (times[np.minimum(nxt, len(times) - 1)] < clock_new)
            if not due.any():
                break
            for k in np.unique(nxt[due]):
                sel = due & (nxt == k)
                block = s[sel].astype(float)
                sums[k] += block.sum(0)
                sq[k] += (block * block).sum(0)
                for name, m in masks.items():
                    avg[name][k, rows[sel]] = block[:, m].mean(1)
            nxt[due] += 1
        active = nxt < len(times)
        if not active.any():
            break
        act = rows[active]
        u = rng.random(len(act))
        proc = np.searchsorted(cum, u, side="right")
        proc = np.minimum(proc, len(rates) - 1)
        ff = proc < npair
        if ff.any():
            m, a, b = act[ff], i[proc[ff]], j[proc[ff]]
            sa = s[m, a].copy()
            s[m, a] = s[m, b]
            s[m, b] = sa
        single = ~ff
        if single.any():
            m, q = act[single], proc[single] - npair
            s[m, q] = np.where(rng.random(len(q)) < up_prob[q], 1, -1)
        events += len(act)
        clock[active] = clock_new[active]
    mean = sums / M
    var = np.maximum(sq / M - mean * mean, 0.0)
    stderr = np.sqrt(var / max(M - 1, 1))
    return KMCResult(times, mean, stderr, M, events,
                     {name: avg[name].mean(1) for name in masks},
                     {name: avg[name].std(1, ddof=1) / np.sqrt(M) for name in masks})
