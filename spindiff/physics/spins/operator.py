"""The rate equations of individual nuclei (pure numpy/scipy).

For nuclear polarizations p_j (j = 1 ... N):

    dp_j/dt = - sum_k W_jk (p_j - p_k) - kappa_j (p_j - tau_j),
    kappa_j = k_j + R1_j,   kappa_j tau_j = k_j P_src,j + R1_j P0

i.e. dp/dt = -A p + s with A = L + diag(kappa), L the graph Laplacian of the flip-flop rates
(L_jj = sum_k W_jk, L_jk = -W_jk) and s_j = kappa_j tau_j. With k = R1 = 0 the column sums of
A vanish, so sum_j p_j is conserved; W symmetric gives a stationary uniform P0 without
sources (detailed balance). These are the exact equations of the mean of the kinetic Monte
Carlo process of the same rates (spindiff.physics.spins.kmc).

`RowBuilder` makes the rows of A in blocks (pairs within the cutoff from scipy's cKDTree,
their rates from spindiff.physics.spins.couplings), for scipy or for a distributed PETSc
matrix alike; columns are sorted and the diagonal is summed in that order, so a row's values do
not depend on how the rows are split between ranks.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .couplings import ElectronField, FlipFlopSettings, pair_rates
from .positions import Region

#: rows per block (bounds the pair temporaries to ~ 50 MB at 40 neighbours)
ROW_BLOCK = 40_000


@dataclass
class Block:
    """Rows [start, stop) of the flip-flop Laplacian: CSR pointer (local), column indices
    (global, sorted per row, diagonal included) and values."""
    start: int
    stop: int
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray


class RowBuilder:
    """Rows of the flip-flop Laplacian L for nuclei at x in a region, cutoff rc (nm)."""

    def __init__(self, x: np.ndarray, region: Region, rc: float, settings: FlipFlopSettings,
                 field: ElectronField | None = None, tail: Callable | None = None,
                 pe_all: float = 1.0, gamma_c_all: float = 2e6, factor: float = 1.0):
        """factor multiplies every flip-flop rate (0: no nuclear flip-flops)."""
        self.x, self.region, self.rc, self.settings = x, region, rc, settings
        self.field, self.tail, self.pe_all, self.gamma_c_all = field, tail, pe_all, gamma_c_all
        self.factor = factor
        self.tree = cKDTree(region.wrap(x) if region.periodic else x, boxsize=region.boxsize)

    def neighbour_counts(self, start: int, stop: int) -> np.ndarray:
        """Off-diagonal entries of each row in [start, stop)."""
        xs = self.region.wrap(self.x[start:stop]) if self.region.periodic else self.x[start:stop]
        return self.tree.query_ball_point(xs, self.rc, return_length=True) - 1

    def blocks(self, start: int, stop: int, block: int = ROW_BLOCK) -> Iterator[Block]:
        for s in range(start, stop, block):
            yield self.block(s, min(s + block, stop))

    def block(self, start: int, stop: int) -> Block:
        xs = self.x[start:stop]
        local = cKDTree(self.region.wrap(xs) if self.region.periodic else xs,
                        boxsize=self.region.boxsize)
        pairs = local.sparse_distance_matrix(self.tree, self.rc, output_type="ndarray")
        i = pairs["i"].astype(np.int64) + start
        j = pairs["j"].astype(np.int64)
        keep = i != j
        i, j = i[keep], j[keep]
        order = np.lexsort((j, i))
        i, j = i[order], j[order]
        w = self.factor * pair_rates(i, j, self.x, self.field, self.settings, self.region,
                                     self.pe_all, self.gamma_c_all, self.tail)
        n = stop - start
        counts = np.bincount(i - start, minlength=n)
        # the diagonal sum_k W_jk, summed in sorted column order (rank-independent)
        diag = np.bincount(i - start, weights=w, minlength=n)
        rows = np.arange(start, stop)
        # insert the diagonal into each row's sorted columns
        all_i = np.concatenate([i, rows])
        all_j = np.concatenate([j, rows])
        all_v = np.concatenate([-w, diag])
        order = np.lexsort((all_j, all_i))
        indptr = np.r_[0, np.cumsum(counts + 1)].astype(np.int64)
        return Block(start, stop, indptr, all_j[order].astype(np.int32), all_v[order])


def laplacian(builder: RowBuilder) -> sp.csr_matrix:
    """The whole flip-flop Laplacian as scipy CSR (small systems, kMC, baselines)."""
    n = len(builder.x)
    parts = list(builder.blocks(0, n))
    indptr = [np.zeros(1, np.int64)]
    off = 0
    for b in parts:
        indptr.append(b.indptr[1:] + off)
        off += b.indptr[-1]
    return sp.csr_matrix((np.concatenate([b.values for b in parts]) if parts else np.empty(0),
                          np.concatenate([b.indices for b in parts]) if parts else np.empty(0, int),
                          np.concatenate(indptr)), shape=(n, n))


def rate_matrix(L: sp.csr_matrix, kappa: np.ndarray) -> sp.csr_matrix:
    """A = L + diag(kappa)."""
    return (L + sp.diags(kappa)).tocsr()


def second_moment(L: sp.csr_matrix, x: np.ndarray, region: Region,
                  rows: np.ndarray | None = None) -> np.ndarray:
    """Per-nucleus diffusion tensor diagonal D_l = (1/2) sum_k W_jk (x_k - x_j)_l^2 (nm^2/s),
    shape (len(rows), 3), from the off-diagonal entries of L."""
    L = L.tocsr()
    rows = np.arange(L.shape[0]) if rows is None else np.asarray(rows)
    sub = L[rows].tocoo()
    j = rows[sub.row]
    keep = sub.col != j
    v = region.minimum_image(x[sub.col[keep]] - x[j[keep]])
    w = -sub.data[keep]
    out = np.zeros((len(rows), 3))
    np.add.at(out, sub.row[keep], 0.5 * w[:, None] * v ** 2)
    return out
