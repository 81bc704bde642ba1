"""Blocks of rows for the certified-exact k-NN (:mod:`lcc.backends.knn.cpu_certified`):
the order that makes a block one region of the cloud, and the test that certifies two
blocks too far apart to hold each other's neighbours, so that their tile is skipped,
product and all.

**Order.** From :data:`~lcc.backends.knn.cpu_certified.REORDER_ROWS` latents the
blocks are the cells of a k-Means with about one centre per tile
(:func:`cell_blocks`), a cell larger than a tile halved along its top principal
axis. So a block's rows are mostly each other's near neighbours (their ``τ`` is
nearly final after the diagonal tiles), and on clustered latents a block is one
cluster's (k-Means does not put well-separated clusters in one cell; a cut along
one direction would, since in many dimensions the clusters overlap in every
projection), so that eq. 3–4 can hold.

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


def cell_blocks(z: np.ndarray, size: int) -> tuple[np.ndarray, list[slice]]:
    """An order of the rows of ``z`` and its blocks of at most ``size`` rows: the cells of
    a k-Means with ``n / size`` centres (faiss, on a sample; numpy's BLAS for the
    assignment), each cell larger than ``size`` halved at the median of its top
    principal axis until it fits (module docstring)."""
    import faiss

    n, d = z.shape
    x = np.ascontiguousarray(z, dtype=np.float32)
    kmeans = faiss.Kmeans(d, max(2, n // size), niter=10, seed=0, max_points_per_centroid=64)
    kmeans.train(x)
    centres = kmeans.centroids
    half_sq = 0.5 * np.einsum("ij,ij->i", centres, centres)
    labels = np.concatenate(
        [np.argmax(x[s : s + 65536] @ centres.T - half_sq, axis=1) for s in range(0, n, 65536)]
    )
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(np.bincount(labels, minlength=len(centres)))
    cells = [(lo, hi) for lo, hi in itertools.pairwise([0, *ends.tolist()]) if hi > lo]
    blocks = []
    while cells:
        lo, hi = cells.pop()
        if hi - lo <= size:
            blocks.append(slice(lo, hi))
            continue
        rows = order[lo:hi]
        cell = x[rows].astype(np.float64)
        cell -= cell.mean(axis=0)
        along = cell @ np.linalg.eigh(cell.T @ cell)[1][:, -1]
        order[lo:hi] = rows[np.argsort(along, kind="stable")]
        cut = (lo + hi) // 2
        cells += [(lo, cut), (cut, hi)]
    return order, sorted(blocks, key=lambda rows: rows.start)


class Separation:
    """Eq. 3–4 for the blocks of ``z``: :meth:`apart` says whether a tile can be skipped;
    :attr:`gap` (the distances of the block means) orders the band, nearest first.

    Building it takes one float64 product of each block with all block means
    (``d · n · blocks`` multiply-adds: 2 % of the int8 products at ``d = 64``)."""

    def __init__(self, z: np.ndarray, blocks: list[slice]) -> None:
        from scipy.spatial.distance import cdist

        from lcc.backends.knn._certified_kernels import apart

        self._apart = apart  # numba: imported where the certified search runs
        self.z, self.blocks = z, blocks
        self.starts = np.array([rows.start for rows in blocks] + [blocks[-1].stop])
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
        bounds ``tau`` (eq. 3 on the block, then eq. 4 row by row; a numba kernel that
        releases the GIL)."""
        args = self.bound, self.gap, self.centres, self.norms, self.z, tau, MARGIN
        return self._apart(i, j, self.starts, *args)
