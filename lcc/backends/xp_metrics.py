"""Clustering metrics written once on ``xp`` (numpy or cupy), tested against scikit-learn.

Calinski–Harabasz and Davies–Bouldin are the GPU backend's implementations, since
cuML has neither; NMI, ARI and the silhouette are the cupy tier's, where cuML is
absent (the same definitions as scikit-learn's, its special cases included).
"""

from __future__ import annotations

from typing import Any

from lcc._backend import array_module, backend_of, sparse_module

__all__ = ["ari_xp", "calinski_harabasz_xp", "davies_bouldin_xp", "nmi_xp", "silhouette_xp"]


def _xp(x: Any):
    return array_module(backend_of(x))


def _members(z: Any, labels: Any, xp: Any) -> tuple[Any, Any, Any]:
    """Compact labels, per-cluster counts (float64) and the sparse ``(clusters, n)``
    membership matrix: per-cluster sums as ``members @ values`` in O(n·d) time and O(n)
    extra memory (a dense one-hot would be n × C, 8 GB at 1 M × 1,000)."""
    _, lab = xp.unique(labels, return_inverse=True)
    lab = lab.reshape(-1)
    n, n_clusters = lab.shape[0], int(lab.max()) + 1
    counts = xp.bincount(lab, minlength=n_clusters).astype(xp.float64)
    sparse = sparse_module(backend_of(z))
    members = sparse.csr_matrix(
        (xp.ones(n, dtype=xp.float64), (lab, xp.arange(n))), shape=(n_clusters, n)
    )
    return lab, counts, members


def _centroids(z: Any, labels: Any, xp: Any) -> tuple[Any, Any, Any]:
    """Compact labels, per-cluster counts and centroids (float64)."""
    lab, counts, members = _members(z, labels, xp)
    return lab, counts, (members @ z.astype(xp.float64)) / counts[:, None]


def calinski_harabasz_xp(z: Any, labels: Any) -> float:
    """CH = [tr(B) / (C − 1)] / [tr(W) / (N − C)] on numpy or cupy arrays."""
    xp = _xp(z)
    lab, counts, centroids = _centroids(z, labels, xp)
    n, n_clusters = z.shape[0], counts.shape[0]
    mean = z.astype(xp.float64).mean(axis=0)
    between = float(xp.sum(counts * xp.sum((centroids - mean) ** 2, axis=1)))
    within = float(xp.sum((z.astype(xp.float64) - centroids[lab]) ** 2))
    if within == 0:
        return 1.0
    return between * (n - n_clusters) / (within * (n_clusters - 1))


def davies_bouldin_xp(z: Any, labels: Any) -> float:
    """DB = mean_i max_{j≠i} (s_i + s_j) / ‖c_i − c_j‖ on numpy or cupy arrays."""
    xp = _xp(z)
    lab, counts, centroids = _centroids(z, labels, xp)
    spread = xp.sqrt(xp.sum((z.astype(xp.float64) - centroids[lab]) ** 2, axis=1))
    s = xp.bincount(lab, weights=spread, minlength=counts.shape[0]) / counts
    sq = xp.sum(centroids**2, axis=1)
    gaps = xp.sqrt(xp.maximum(sq[:, None] + sq[None, :] - 2 * centroids @ centroids.T, 0))
    if bool(xp.all(s == 0)) or bool(xp.all(gaps == 0)):
        return 0.0
    ratio = (s[:, None] + s[None, :]) / xp.where(gaps == 0, xp.inf, gaps)
    ratio[xp.arange(ratio.shape[0]), xp.arange(ratio.shape[0])] = 0
    return float(xp.mean(xp.max(ratio, axis=1)))


def _contingency(y_true: Any, y_pred: Any, xp: Any) -> tuple[Any, Any, Any, Any, Any]:
    """The contingency table's non-zero cells as ``(rows_of_cells, cols_of_cells, counts)``,
    its row sums (true classes) and its column sums (predicted clusters), int64."""
    _, t = xp.unique(y_true, return_inverse=True)
    _, p = xp.unique(y_pred, return_inverse=True)
    t, p = t.reshape(-1).astype(xp.int64), p.reshape(-1).astype(xp.int64)
    width = int(p.max()) + 1
    codes, cells = xp.unique(t * width + p, return_counts=True)
    return codes // width, codes % width, cells.astype(xp.int64), xp.bincount(t), xp.bincount(p)


def _entropy(counts: Any, n: int, xp: Any) -> float:
    q = counts[counts > 0].astype(xp.float64) / n
    return float(-xp.sum(q * xp.log(q)))


def nmi_xp(y_true: Any, y_pred: Any) -> float:
    """NMI with the arithmetic mean of the entropies (scikit-learn's default)."""
    xp = _xp(y_true)
    n = int(y_true.shape[0])
    i, j, cells, rows, cols = _contingency(y_true, y_pred, xp)
    if rows.shape[0] == cols.shape[0] == 1:
        return 1.0  # neither labelling splits the data
    nij = cells.astype(xp.float64)
    outer = rows[i].astype(xp.float64) * cols[j].astype(xp.float64)
    mi = float(xp.sum(nij / n * (xp.log(nij) + xp.log(float(n)) - xp.log(outer))))
    if mi <= 0:
        return 0.0
    return mi / ((_entropy(rows, n, xp) + _entropy(cols, n, xp)) / 2)


def ari_xp(y_true: Any, y_pred: Any) -> float:
    """Adjusted Rand index from the pair-confusion counts, as scikit-learn computes it."""
    xp = _xp(y_true)
    _, _, cells, rows, cols = _contingency(y_true, y_pred, xp)
    n = int(y_true.shape[0])
    squares = int(xp.sum(cells * cells))
    tp = squares - n
    fp = int(xp.sum(cols * cols)) - squares
    fn = int(xp.sum(rows * rows)) - squares
    tn = n * n - fp - fn - squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def silhouette_xp(z: Any, labels: Any, *, block_bytes: int = 256 << 20) -> float:
    """Mean silhouette coefficient (Euclidean) by row blocks of the distance matrix.

    Per block, the distances to all samples (float64) summed per cluster through a
    sparse membership matrix; ``s = (b − a) / max(a, b)``, 0 for a singleton cluster.
    """
    xp = _xp(z)
    lab, counts, members = _members(z, labels, xp)
    n = z.shape[0]
    x = z.astype(xp.float64)
    sq = xp.sum(x * x, axis=1)
    rows = max(1, block_bytes // (8 * n))
    scores = xp.empty(n, dtype=xp.float64)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        d2 = sq[start:stop, None] - 2 * (x[start:stop] @ x.T) + sq[None, :]
        block = xp.arange(stop - start)
        d2[block, start + block] = 0  # each sample's own distance, free of rounding
        sums = (members @ xp.sqrt(xp.maximum(d2, 0)).T).T  # (block, clusters)
        own = lab[start:stop]
        a = sums[block, own] / xp.maximum(counts[own] - 1, 1)
        means = sums / counts[None, :]
        means[block, own] = xp.inf
        b = xp.min(means, axis=1)
        s = (b - a) / xp.maximum(a, b)
        scores[start:stop] = xp.where(counts[own] > 1, xp.nan_to_num(s), 0.0)
    return float(xp.mean(scores))
