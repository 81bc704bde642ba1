"""Blocks of rows for the certified-exact k-NN (:mod:`lcc.backends.knn.cpu_certified`):
the order that makes a block one region of the cloud, and the test that certifies two
blocks too far apart to hold each other's neighbours, so that their tile is skipped,
product and all.

**Order.** From :data:`~lcc.backends.knn.cpu_certified.REORDER_ROWS` latents the rows
are the leaves of a principal-direction tree (:func:`tree_blocks`): each node's rows are
sorted along the top principal axis of a sample of them and cut at the widest gap in
the middle half, until a node fits a tile. So a block's rows are mostly each other's
near neighbours (their ``τ`` is nearly final after the diagonal tiles), a cut falls
between clusters where there is one, and sibling blocks sit next to each other.

**Separation.** For blocks ``I`` and ``J`` with means ``c_I``, ``c_J`` and
``u = c_J − c_I``, Cauchy–Schwarz gives for every ``i ∈ I``, ``j ∈ J``

    ‖x_i − x_j‖  ≥  ⟨x_j − x_i, u⟩ / ‖u‖ .                                      (3)

*Block test.* With ``A_IX = max_{i∈I} ⟨x_i, c_X − c_I⟩`` (so ``⟨x_i, u⟩ ≤ A_IJ`` and
``⟨x_j, u⟩ ≥ −A_JI``), every pair is at least ``L_IJ = −(A_IJ + A_JI) / ‖u‖`` apart;
if ``L_IJ`` exceeds the ``τ`` of every row of both blocks, no pair of the tile is a
neighbour of either row, nor tied with one (the inequality is strict).

*Row test* (where the block test fails but ``L_IJ`` exceeds some ``τ``): by (3) the
tile holds no neighbour of any row if

    min_j ⟨x_j, u⟩ − max_i (⟨x_i, u⟩ + τ_i ‖u‖)  >  0   and
    min_j (⟨x_j, u⟩ − τ_j ‖u‖) − max_i ⟨x_i, u⟩  >  0 ,                         (4)

which pairs each row's ``τ`` with its own projection instead of the block's
extremes: a row far out in its cluster has a large ``τ`` but seldom the extreme
projection. ``τ`` only falls during the scan, so a value read while another thread
lowers it is still an upper bound on the row's ``k``-th neighbour distance.

Both tests run in float64 on the float32 latents (exact inputs) with margins of
``2⁻⁴⁰`` times the magnitudes involved, far above the rounding of a 64-term
product (``γ_64 ≈ 2⁻⁴⁷``).
"""

from __future__ import annotations

import itertools

import numpy as np

MARGIN = 2.0**-40  # relative to the magnitudes of eq. 3–4's float64 terms


def even_blocks(n: int, size: int) -> list[slice]:
    """The rows in blocks of ``size`` (the last one shorter)."""
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def tree_blocks(z: np.ndarray, size: int) -> tuple[np.ndarray, list[slice]]:
    """An order of the rows of ``z`` and its blocks of at most ``size`` rows: the leaves
    of the principal-direction tree (module docstring)."""
    n = z.shape[0]
    rng = np.random.default_rng(0)
    order, starts = np.arange(n), [0]
    nodes = [(0, n)]
    while nodes:
        lo, hi = nodes.pop()
        if hi - lo <= size:
            starts.append(hi)
            continue
        rows = order[lo:hi]
        x = np.asarray(z[rows], dtype=np.float32)
        sample = x[rng.choice(len(x), min(len(x), size), replace=False)].astype(np.float64)
        sample -= sample.mean(axis=0)
        axis = np.linalg.eigh(sample.T @ sample)[1][:, -1].astype(np.float32)
        along = x @ axis
        sort = np.argsort(along, kind="stable")
        quarter = (hi - lo) // 4
        cut = quarter + int(np.argmax(np.diff(along[sort[quarter - 1 : hi - lo - quarter]])))
        order[lo:hi] = rows[sort]
        nodes += [(lo + cut, hi), (lo, lo + cut)]  # the left node next: depth first, in order
    starts.sort()
    return order, [slice(a, b) for a, b in itertools.pairwise(starts)]


class Separation:
    """Eq. 3–4 for the blocks of ``z``: :meth:`apart` says whether a tile can be skipped;
    :attr:`gap` (the distances of the block means) orders the band, nearest first.

    Building it takes one float64 product of each block with all block means
    (``d · n · blocks`` multiply-adds: 2 % of the int8 products at ``d = 64``)."""

    def __init__(self, z: np.ndarray, blocks: list[slice]) -> None:
        from scipy.spatial.distance import cdist

        self.z, self.blocks = z, blocks
        self.centres = np.stack([z[rows].mean(axis=0, dtype=np.float64) for rows in blocks])
        c_norm = np.linalg.norm(self.centres, axis=1)
        self.norms = np.empty(len(blocks))  # the largest ‖x_i‖ of each block
        a = np.empty((len(blocks), len(blocks)))
        for b, rows in enumerate(blocks):
            x = z[rows].astype(np.float64)
            p = x @ self.centres.T  # ⟨x_i, c_X⟩
            self.norms[b] = np.sqrt(np.einsum("ij,ij->i", x, x).max())
            a[b] = (p - p[:, b : b + 1]).max(axis=0) + MARGIN * self.norms[b] * (c_norm + c_norm[b])
        self.gap = cdist(self.centres, self.centres)  # ‖u‖: a sum of squares, no cancellation
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = np.where(self.gap > 0, -(a + a.T) / self.gap * (1.0 - MARGIN), 0.0)
        self.bound = np.maximum(bound, 0.0)  # L_IJ

    def apart(self, i: int, j: int, tau: np.ndarray) -> bool:
        """Whether tile ``(i, j)`` holds no neighbour of any of its rows, given the upper
        bounds ``tau`` (eq. 3 on the block, then eq. 4 row by row)."""
        rows, cols = self.blocks[i], self.blocks[j]
        t_rows, t_cols = tau[rows], tau[cols]
        worst = max(t_rows.max(), t_cols.max())
        if self.bound[i, j] > worst * (1.0 + MARGIN):
            return True
        if self.bound[i, j] <= max(t_rows.min(), t_cols.min()) or not np.isfinite(worst):
            return False  # eq. 4 cannot hold either
        u = self.centres[j] - self.centres[i]
        norm = self.gap[i, j]
        p, q = self.z[rows] @ u, self.z[cols] @ u  # ⟨x_i, u⟩, ⟨x_j, u⟩ in float64
        slack = MARGIN * (self.norms[i] + self.norms[j] + worst) * norm * 4.0
        reach = (p + t_rows * norm).max()
        return q.min() - reach > slack and (q - t_cols * norm).min() - p.max() > slack
