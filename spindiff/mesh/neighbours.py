"""Neighbour queries between points and paramagnetic centres, at a cost linear in the sample.

Two questions are asked of the centres at every quadrature point: the distance to the nearest
centre (barriers, visibility, suppression of D) and the sum over centres of a law f(r) that
falls off fast (k ~ C6 / r^6, R1_para ~ r^-6). A k-d tree (scipy.spatial.cKDTree) answers both
with a cost per point that does not grow with the number of centres.

The sum is split at a cut-off radius r_c:

    S(x) = sum_{|x - c_j| < r_c} f(|x - c_j|)  +  rho * int_{r_c}^inf f(r) 4 pi r^2 dr,

exact inside r_c (every centre and, in a periodic box, every periodic image within r_c) and the
continuum (mean-field) tail outside, rho = N / V the centre density. The tail applies only to
periodic boxes, which stand for an infinite sample; a closed box or a single cell has no
centres beyond its own. For f = C6 / r^6 the tail is 4 pi rho C6 / (3 r_c^3); the error of
replacing the discrete shells beyond r_c by the continuum is a fraction of that tail (it is the
fluctuation of the number of centres in those shells), i.e. at most of order
tail / S <= (4 pi / 3) rho r_near^6 / r_c^3 relative, with r_near the nearest-centre distance:
below 1e-3 at the default r_c = min(L_min, 3 s), s = rho^(-1/3) the mean spacing, for points
within s / 2 of a centre, where the rates matter (tests/test_neighbours.py measures it against
the sum over 125 periodic boxes).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

#: default cut-off in mean centre spacings s = rho^(-1/3) (bounded by the smallest box side)
CUTOFF_SPACINGS = 3.0
#: centres farther than this (in spacings) from a cell's midpoint are summed at the midpoint
#: only (`cell_sums`), nearer ones at every point of the cell
SPLIT_SPACINGS = 1.5
#: Gauss-Legendre points for the tail integral in u = 1 / r
_TAIL_POINTS = 48
#: entries (points x neighbours) evaluated at once; bounds the temporary memory (8 B each)
_CHUNK_ENTRIES = 1_000_000


class CentreNeighbours:
    """The centres (N, 3) in nm of a domain, periodic with box lengths `period` and lower corner
    `lower` (or not periodic: period None), in k-d trees."""

    def __init__(self, centres: np.ndarray, period: np.ndarray | None = None,
                 lower: np.ndarray | None = None, cutoff: float | None = None):
        self.centres = np.asarray(centres, dtype=float).reshape(-1, 3)
        self.period = None if period is None else np.asarray(period, dtype=float)
        self.lower = np.zeros(3) if lower is None else np.asarray(lower, dtype=float)
        n = len(self.centres)
        if self.period is not None and n:
            volume = float(np.prod(self.period))
            self.density = n / volume
            spacing = self.density ** (-1.0 / 3.0)
            default = min(float(self.period.min()), CUTOFF_SPACINGS * spacing)
            self.cutoff = min(float(cutoff), float(self.period.min())) if cutoff else default
            self.split = min(self.cutoff, SPLIT_SPACINGS * spacing)
            # images in the 26 neighbouring boxes hold every image within r_c <= L_min of a
            # point in the box
            shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1)
                               for k in (-1, 0, 1)], dtype=float) * self.period
            wrapped = self._wrap(self.centres)
            images = (wrapped[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
            self._nearest_tree = cKDTree(wrapped, boxsize=self.period)
        else:
            self.density = 0.0
            self.cutoff = float(cutoff) if cutoff else np.inf
            self.split = np.inf
            images = self.centres
            self._nearest_tree = cKDTree(self.centres) if n else None
        self._sum_tree = cKDTree(images) if n else None

    def _wrap(self, x: np.ndarray) -> np.ndarray:
        """Points mapped into [0, L) per axis (relative to the lower corner)."""
        w = np.mod(x[:, :3] - self.lower, self.period)
        return np.where(w >= self.period, w - self.period, w)

    def nearest(self, x: np.ndarray) -> np.ndarray:
        """Distance (nm) from each point x (m, 3) to its nearest centre (minimum image in a
        periodic box); inf without centres."""
        x = np.asarray(x, dtype=float).reshape(-1, 3)
        if self._nearest_tree is None:
            return np.full(x.shape[0], np.inf)
        q = self._wrap(x) if self.period is not None else x
        return self._nearest_tree.query(q)[0]

    def tail(self, law: Callable[[np.ndarray], np.ndarray]) -> float:
        """rho * int_{r_c}^inf law(r) 4 pi r^2 dr: the continuum of centres beyond the cut-off
        (periodic boxes only; 0 otherwise). Gauss-Legendre in u = 1/r on (0, 1/r_c], exact for
        laws that fall off as r^-6 (the integrand is 4 pi C6 u^2)."""
        if self.density == 0.0 or not np.isfinite(self.cutoff):
            return 0.0
        s, w = np.polynomial.legendre.leggauss(_TAIL_POINTS)
        umax = 1.0 / self.cutoff
        u = 0.5 * umax * (s + 1.0)
        f = np.asarray(law(1.0 / u), dtype=float)
        return float(self.density * 0.5 * umax * np.sum(w * f * 4.0 * np.pi / u**4))

    def sum(self, law: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
        """sum_j law(|x - c_j|) over the centres within the cut-off (with periodic images) plus
        the continuum tail beyond it, at points x (m, 3) in nm; law maps distances (nm, any
        shape) to values and must be finite at every distance."""
        x = np.asarray(x, dtype=float).reshape(-1, 3)
        out = np.zeros(x.shape[0])
        if self._sum_tree is None or x.shape[0] == 0:
            return out
        # the image tree lives in the wrapped frame [0, L) of a periodic box
        q = self._wrap(x) if self.period is not None else x
        tree, rc = self._sum_tree, self.cutoff
        counts = tree.query_ball_point(q, rc, return_length=True) if np.isfinite(rc) else None
        kmax = int(counts.max()) if counts is not None else tree.n
        if kmax == 0:
            return out + self.tail(law)
        step = max(1, _CHUNK_ENTRIES // kmax)
        for i in range(0, x.shape[0], step):
            d, _ = tree.query(q[i:i + step], k=kmax,
                              distance_upper_bound=rc if np.isfinite(rc) else np.inf)
            d = d.reshape(d.shape[0], -1)
            found = np.isfinite(d)
            vals = np.zeros(d.shape)
            vals[found] = law(d[found])
            out[i:i + step] = vals.sum(axis=1)
        return out + self.tail(law)

    def cell_sums(self, laws, points: np.ndarray, midpoints: np.ndarray) -> list[np.ndarray]:
        """The cut-off sums of several laws at the points of cells, computed from one list of
        (cell, centre) pairs: points (nc, q, 3) and midpoints (nc, 3) in nm; returns one array
        (nc, q) per law.

        Centres within `split` (1.5 spacings) of a cell's midpoint are summed at each of its
        points; centres between `split` and the cut-off, where the law varies little across a
        cell, at its midpoint only (relative error of those terms about (h / r)^2 for cells
        of size h at distance r); the continuum tail beyond the cut-off is added to all. The
        partition is by midpoint distance, so every centre is counted once per cell. A
        non-periodic domain sums every centre at every point (split = cut-off = inf)."""
        laws = list(laws)
        nc, q = points.shape[:2]
        if self._sum_tree is None or nc == 0:
            return [np.zeros((nc, q)) for _ in laws]
        per_cell = (self.density * 4.0 / 3.0 * np.pi * self.cutoff ** 3
                    if np.isfinite(self.cutoff) else self._sum_tree.n)
        block = max(1, int(_CHUNK_ENTRIES // max(per_cell, 1.0)))
        if nc > block:
            parts = [self.cell_sums(laws, points[i:i + block], midpoints[i:i + block])
                     for i in range(0, nc, block)]
            return [np.concatenate([p[k] for p in parts]) for k in range(len(laws))]
        out = [np.zeros((nc, q)) for _ in laws]
        if self.period is not None:
            wrapped = self._wrap(midpoints)
            points = points + (wrapped - midpoints[:, :3])[:, None, :]
            midpoints = wrapped
        tree = self._sum_tree
        if np.isfinite(self.cutoff):
            pairs = cKDTree(midpoints).sparse_distance_matrix(tree, self.cutoff,
                                                              output_type="ndarray")
            cell, centre, dist = pairs["i"], pairs["j"], pairs["v"]
        else:
            cell = np.repeat(np.arange(nc), tree.n)
            centre = np.tile(np.arange(tree.n), nc)
            dist = np.full(cell.size, 0.0)
        far = dist >= self.split
        for o, law in zip(out, laws):
            if far.any():
                o += np.bincount(cell[far], weights=law(dist[far]), minlength=nc)[:, None]
        near = np.nonzero(~far)[0]
        step = max(1, _CHUNK_ENTRIES // q)
        for i in range(0, near.size, step):
            sel = near[i:i + step]
            d = points[cell[sel]] - tree.data[centre[sel]][:, None, :]
            r = np.sqrt(np.einsum("pqk,pqk->pq", d, d))
            idx = (cell[sel][:, None] * q + np.arange(q)).ravel()
            for o, law in zip(out, laws):
                o.reshape(-1)[:] += np.bincount(idx, weights=law(r).ravel(), minlength=nc * q)
        tails = [self.tail(law) for law in laws]
        return [o + t for o, t in zip(out, tails)]
