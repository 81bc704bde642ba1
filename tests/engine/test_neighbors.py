"""k-NN and the k-NN graph against brute-force numpy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import host, on

import lcc


def brute_force_knn(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: full float64 distance matrix, self excluded, stable order."""
    z = z.astype(np.float64)
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.sqrt(np.take_along_axis(d2, idx, axis=1)), idx


@pytest.mark.parametrize("k", [1, 5, 30])
def test_exact_knn_matches_brute_force(backend, k):
    rng = np.random.default_rng(k)
    z = rng.normal(size=(700, 12)).astype(np.float32)
    dist, idx = lcc.knn(on(backend, z), k, chunk_size=97)  # chunks that do not divide n
    ref_d, ref_i = brute_force_knn(z, k)
    dist, idx = host(dist), host(idx)
    assert dist.shape == idx.shape == (700, k)
    assert idx.dtype == np.int64 and dist.dtype == np.float32
    np.testing.assert_allclose(dist, ref_d, rtol=1e-4, atol=1e-4)
    # ids agree except where two candidates are at (numerically) equal distance
    same = idx == ref_i
    assert same.mean() > 0.999
    np.testing.assert_allclose(dist[~same], ref_d[~same], rtol=1e-4)
    assert not np.any(idx == np.arange(700)[:, None]), "a sample is its own neighbour"


@pytest.mark.parametrize(("n", "k", "tile"), [(700, 5, 64), (1000, 30, 96), (300, 40, 17)])
def test_the_self_join_is_exact_across_blocks(monkeypatch, n, k, tile):
    """Many blocks, a short last block, k above the block size: each pair's distance is
    computed once and must reach both rows' heaps (row side and column side)."""
    from lcc.backends.knn import cpu_exact

    monkeypatch.setattr(cpu_exact, "SELF_TILE", tile)
    z = np.random.default_rng(n).normal(size=(n, 6)).astype(np.float32)
    sq, idx = cpu_exact.self_knn(z, k, progress=False)
    d2 = ((z[:, None, :].astype(np.float64) - z[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(sq, np.sort(d2, axis=1)[:, :k], atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(d2, idx, axis=1), sq, atol=1e-4)
    assert np.all(idx[:, 0] == np.arange(n))  # self first, at distance ~0
    assert all(len(set(row)) == k for row in idx.tolist())  # no pair offered twice


def test_knn_returns_input_kind_and_exclude_self_with_duplicates(backend):
    z = np.repeat(np.arange(20, dtype=np.float32)[:, None], 3, axis=0)  # every point x3
    z = np.hstack([z, np.zeros_like(z)])
    dist, idx = lcc.knn(on(backend, z), 2)
    assert type(dist) is type(on(backend, z))
    dist, idx = host(dist), host(idx)
    assert not np.any(idx == np.arange(60)[:, None])
    np.testing.assert_array_equal(dist, 0.0)  # the two duplicates
    np.testing.assert_array_equal(z[idx[:, 0], 0], z[:, 0])


@pytest.mark.parametrize(
    ("method", "dim"), [("ivf", 32), ("ivf", 160), ("hnsw", 32)]
)  # ivf at dim ≥ 128 is the BLAS self-join
def test_approximate_knn_recall(method, dim):
    from sklearn.datasets import make_blobs

    z, _ = make_blobs(n_samples=6000, n_features=dim, centers=8, cluster_std=3, random_state=0)
    z = z.astype(np.float32)
    _, exact = lcc.knn(z, 10)
    _, approx = lcc.knn(z, 10, exact=False, method=method)
    recall = np.mean([np.intersect1d(a, b).size for a, b in zip(exact, approx, strict=True)]) / 10
    assert recall >= 0.95, recall
    assert not np.any(approx == np.arange(6000)[:, None])


@pytest.mark.parametrize("dim", [32, 160])  # the IVF index and the IVF self-join
def test_nprobe_trades_recall_for_work(dim):
    from sklearn.datasets import make_blobs

    z, _ = make_blobs(n_samples=6000, n_features=dim, centers=8, cluster_std=3, random_state=0)
    z = z.astype(np.float32)
    _, exact = lcc.knn(z, 10)

    def recall(nprobe):
        _, approx = lcc.knn(z, 10, exact=False, nprobe=nprobe)
        return np.mean([np.intersect1d(a, b).size for a, b in zip(exact, approx, strict=True)])

    assert recall(3) < recall(12) < recall(10_000)
    assert recall(10_000) > 9.99  # every list probed: exact up to float ties
    with pytest.raises(ValueError, match="nprobe= applies"):
        lcc.knn(z, 10, nprobe=4)
    with pytest.raises(ValueError, match="nprobe= applies"):
        lcc.knn(z, 10, exact=False, method="hnsw", nprobe=4)
    with pytest.raises(ValueError, match="nprobe must be at least 1"):
        lcc.knn(z, 10, exact=False, nprobe=0)


@pytest.mark.parametrize("method", ["ivf", "cagra"])
def test_gpu_approximate_knn_recall(emulated_gpu, method):
    """cuVS IVF-Flat with the default probes, and CAGRA (uint32 ids), against exact search."""
    from sklearn.datasets import make_blobs

    z, _ = make_blobs(n_samples=3000, n_features=16, centers=8, cluster_std=3, random_state=0)
    z = z.astype(np.float32)
    _, exact = lcc.knn(z, 10)
    _, approx = lcc.knn(on("gpu", z), 10, exact=False, method=method)
    approx = host(approx)
    assert approx.dtype == np.int64 and np.all((approx >= 0) & (approx < 3000))
    recall = np.mean([np.intersect1d(a, b).size for a, b in zip(exact, approx, strict=True)]) / 10
    assert recall > 0.95


def test_knn_graph_is_symmetric_union_with_gaussian_weights(backend):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 5)).astype(np.float32)
    k = 4
    adj = host(lcc.knn_graph(on(backend, z), k, bandwidth=2.0))
    assert sp.issparse(adj) and adj.format == "csr" and adj.shape == (300, 300)
    assert abs(adj - adj.T).max() == 0
    assert adj.diagonal().sum() == 0
    _, ref_i = brute_force_knn(z, k)
    expected = np.zeros((300, 300), dtype=bool)
    expected[np.repeat(np.arange(300), k), ref_i.ravel()] = True
    expected |= expected.T  # i ~ j if either is among the other's k nearest
    np.testing.assert_array_equal(adj.toarray() > 0, expected)
    rows, cols = adj.nonzero()
    d2 = ((z[rows] - z[cols]) ** 2).sum(1)
    np.testing.assert_allclose(adj[rows, cols].A1, np.exp(-d2 / 4.0), rtol=1e-4)


def test_knn_graph_median_bandwidth_keeps_far_latents_connected(backend):
    rng = np.random.default_rng(0)
    z = (100 * rng.normal(size=(400, 8))).astype(np.float32)  # distances ~ 400
    with pytest.warns(UserWarning, match="underflowed"):
        raw = lcc.knn_graph(on(backend, z), 5, bandwidth=None)  # the paper's exp(-d²)
    assert raw.nnz == 0
    adj = host(lcc.knn_graph(on(backend, z), 5))
    assert adj.nnz >= 400 * 5 and adj.data.min() > 0
    _check_median_bandwidth_weights(z, 5, adj)


def _check_median_bandwidth_weights(z: np.ndarray, k: int, adj) -> None:
    """Every edge weighs exp(−d²/σ²), σ the median k-th neighbour distance, all computed
    here from scratch (scipy's pairwise distances in float64)."""
    from scipy.spatial.distance import cdist

    d = cdist(z.astype(np.float64), z.astype(np.float64))
    np.fill_diagonal(d, np.inf)
    sigma = np.median(np.sort(d, axis=1)[:, k - 1])
    rows, cols = adj.nonzero()
    expected = np.exp(-((d[rows, cols] / sigma) ** 2))
    np.testing.assert_allclose(np.asarray(adj[rows, cols]).ravel(), expected, rtol=1e-4)


def test_the_bandwidth_check_fails_on_a_wrong_bandwidth(monkeypatch):
    """The check above is not a tautology: a graph built with σ twice too large fails it."""
    from lcc.kernels import neighbors as kernels

    z = (100 * np.random.default_rng(0).normal(size=(400, 8))).astype(np.float32)
    right = kernels.bandwidth
    monkeypatch.setattr(kernels, "bandwidth", lambda *a: 2 * right(*a))
    with pytest.raises(AssertionError):
        _check_median_bandwidth_weights(z, 5, lcc.knn_graph(z, 5))


@pytest.mark.parametrize(
    ("z", "k", "error", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), 1, ValueError, "NaN or infinite"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), 1, ValueError, "NaN or infinite"),
        (np.zeros((5, 2)), 5, ValueError, "smaller than the number of samples"),
        (np.zeros((0, 2)), 1, ValueError, "0 sample"),
        (np.zeros((1, 2)), 1, ValueError, "1 sample"),
        (np.zeros(10), 1, ValueError, "2-D"),
        (np.zeros((5, 2)), 0, ValueError, "at least 1"),
        (np.zeros((5, 2)), 2.5, TypeError, "integer"),
        ([[0.0, 1.0], [1.0, 0.0]], 1, TypeError, "numpy or cupy"),
        (np.array([["a", "b"], ["c", "d"]]), 1, ValueError, "real numbers"),
    ],
)
def test_knn_bad_input(z, k, error, match):
    with pytest.raises(error, match=match):
        lcc.knn(z, k)
    with pytest.raises(error, match=match):
        lcc.knn_graph(z, k)


def test_knn_rejects_torch_tensor_with_a_hint():
    import torch

    with pytest.raises(TypeError, match="to_backend"):
        lcc.knn(torch.zeros(5, 2), 1)


def test_knn_bad_options(backend):
    z = on(backend, np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="method"):
        lcc.knn(z, 2, exact=False, method="annoy")
    with pytest.raises(ValueError, match="exact=False"):
        lcc.knn(z, 2, method="hnsw")
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        lcc.knn_graph(z, 2, bandwidth=-1.0)
    with pytest.raises(TypeError, match="bandwidth"):
        lcc.knn_graph(z, 2, bandwidth="mean")
