"""``metric="cosine"`` and ``"inner_product"`` (issue 31, item 1): k-NN, the k-NN graph,
the targets, spherical k-Means and the LCC step in cosine and inner-product geometry,
against float64 brute force, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import host, on
from sklearn.datasets import make_blobs

import lcc


def _directions(n: int = 1200, d: int = 8, seed: int = 0):
    """Blobs whose rows are rescaled by random lengths: the classes live in the directions,
    and the Euclidean geometry is scrambled by the lengths."""
    z, y = make_blobs(n, n_features=d, centers=4, cluster_std=0.6, random_state=seed)
    z = z + 4.0 * np.sign(z)  # keep the blobs away from the origin
    lengths = np.random.default_rng(seed).uniform(0.2, 20.0, (n, 1))
    return (z * lengths).astype(np.float32), y


def _cosine_all(z: np.ndarray) -> np.ndarray:
    u = z.astype(np.float64) / np.linalg.norm(z.astype(np.float64), axis=1, keepdims=True)
    dist = 1.0 - u @ u.T
    np.fill_diagonal(dist, np.inf)
    return dist


def _brute(dist: np.ndarray, k: int):
    """The ``k`` smallest of each row of ``dist`` (ties to the smaller index) and their ids."""
    idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, idx, axis=1), idx


def _cosine_brute(z: np.ndarray, k: int):
    return _brute(_cosine_all(z), k)


def test_cosine_knn_equals_brute_force(backend):
    z, _ = _directions()
    expected_d, expected_i = _cosine_brute(z, 6)
    got = lcc.knn(on(backend, z), 6, metric="cosine")
    ids = host(got.indices)
    assert np.mean(ids == expected_i) > 0.99  # the rest: float32 near-ties, swapped
    true_d = np.take_along_axis(_cosine_all(z), ids, axis=1)  # of the ids returned
    np.testing.assert_allclose(true_d, expected_d, atol=1e-6)
    np.testing.assert_allclose(host(got.distances), expected_d, atol=2e-6)
    euclidean = host(lcc.knn(on(backend, z), 6).indices)
    assert np.mean(euclidean == expected_i) < 0.5  # the metric changes the answer


def test_cosine_knn_on_the_certified_path_and_approximately():
    z = np.random.default_rng(1).normal(size=(5000, 16)).astype(np.float32)
    z *= np.random.default_rng(2).uniform(0.1, 10.0, (5000, 1)).astype(np.float32)
    _, expected = _cosine_brute(z, 5)
    exact = lcc.knn(z, 5, metric="cosine")
    assert exact.search.startswith("certified")  # int8 candidates on the unit rows
    np.testing.assert_array_equal(exact.indices, expected)
    approx = lcc.knn(z, 5, metric="cosine", exact=False, nprobe=64)
    assert np.mean(approx.indices == expected) > 0.9


def test_cosine_graph_weights_use_the_cosine_distance(backend):
    z, _ = _directions(400)
    dist, idx = _cosine_brute(z, 5)
    sigma = np.median(dist[:, -1])
    graph = host(lcc.knn_graph(on(backend, z), 5, metric="cosine")).tocsr()
    rows = np.repeat(np.arange(400), 5)
    expected = np.exp(-((dist.ravel() / sigma) ** 2))
    weights = np.asarray(graph[rows, idx.ravel()]).ravel()
    np.testing.assert_allclose(weights, expected, rtol=1e-3, atol=5e-4)  # float32 distances


def test_cosine_targets_are_the_mean_direction_at_the_samples_length(backend):
    z, y = _directions(600)
    clusters = lcc.kmeans(z, 4, metric="cosine", n_init=2).labels
    clusters[::7] = (clusters[::7] + 1) % 4  # misclustered samples
    found = lcc.correction_targets(on(backend, z), on(backend, y), on(backend, clusters),
                                   k=5, metric="cosine")  # fmt: skip
    targets, ok = host(found.targets), host(found.correctible)
    assert ok.sum() > 20
    np.testing.assert_array_equal(targets[~ok], z[~ok])
    matching = lcc.match_clusters(y, clusters)
    cc = ~matching.misclustered
    u = z / np.linalg.norm(z, axis=1, keepdims=True)
    for i in np.flatnonzero(ok)[:15]:
        pool = np.flatnonzero(cc & (y == y[i]))
        nearest = pool[np.argsort(1.0 - u[pool] @ u[i], kind="stable")[:5]]
        direction = u[nearest].mean(axis=0)
        expected = direction / np.linalg.norm(direction) * np.linalg.norm(z[i])
        np.testing.assert_allclose(targets[i], expected, rtol=1e-4, atol=1e-4)


def test_spherical_kmeans_finds_the_directions(backend):
    z, y = _directions()
    labels, centres = lcc.kmeans(on(backend, z), 4, metric="cosine", n_init=3)
    assert lcc.metrics.ari(y, host(labels)) > 0.99
    np.testing.assert_allclose(np.linalg.norm(host(centres), axis=1), 1.0, rtol=1e-5)
    euclidean = lcc.kmeans(z, 4, n_init=3).labels  # the lengths scramble Euclidean k-Means
    assert lcc.metrics.ari(y, euclidean) < 0.8


def test_the_lcc_step_in_cosine_geometry(backend):
    z, y = _directions(800)
    noisy = y.copy()
    noisy[::10] = (noisy[::10] + 1) % 4
    step = lcc.correct(on(backend, z), on(backend, noisy), k=10, metric="cosine")
    assert step.stats["n_clusters"] >= 4 and 0.05 < step.stats["mc_fraction"] < 0.2
    euclidean = lcc.correct(z, noisy, k=10)
    assert euclidean.stats["mc_fraction"] > step.stats["mc_fraction"]


def _inner_all(z: np.ndarray) -> np.ndarray:
    z64 = z.astype(np.float64)
    dist = 1.0 - z64 @ z64.T
    np.fill_diagonal(dist, np.inf)
    return dist


def _inner_brute(z: np.ndarray, k: int):
    return _brute(_inner_all(z), k)


def test_inner_product_knn_equals_brute_force(backend):
    z, _ = _directions(d=6)
    z /= 4.0  # lengths 0.2 … 20 → inner products from about −300 to 300
    expected_d, expected_i = _inner_brute(z, 6)
    got = lcc.knn(on(backend, z), 6, metric="inner_product")
    ids = host(got.indices)
    assert got.search == "exact (inner product)"
    assert np.mean(ids == expected_i) > 0.99  # the rest: float32 near-ties, swapped
    true_d = np.take_along_axis(_inner_all(z), ids, axis=1)  # of the ids returned
    scale = np.abs(expected_d).max()
    np.testing.assert_allclose(true_d, expected_d, atol=1e-5 * scale)
    np.testing.assert_allclose(host(got.distances), true_d, rtol=1e-6, atol=1e-6)
    assert np.all(np.diff(host(got.distances), axis=1) >= 0)
    # not the own row, though it is often not among its largest inner products
    assert not np.any(ids == np.arange(len(z))[:, None])
    cosine = host(lcc.knn(on(backend, z), 6, metric="cosine").indices)
    assert np.mean(cosine == expected_i) < 0.5  # the lengths change the answer


def test_inner_product_graph_weights_shift_the_distance_to_zero(backend):
    z, _ = _directions(400, d=6)
    z /= 4.0
    dist, idx = _inner_brute(z, 5)
    shifted = dist - dist.min()  # s_max − ⟨z_i, z_j⟩
    sigma = np.median(shifted[:, -1])
    graph = host(lcc.knn_graph(on(backend, z), 5, metric="inner_product")).tocsr()
    rows = np.repeat(np.arange(400), 5)
    expected = np.exp(-((shifted.ravel() / sigma) ** 2))
    weights = np.asarray(graph[rows, idx.ravel()]).ravel()
    np.testing.assert_allclose(weights, expected, rtol=1e-3, atol=5e-4)
    assert abs(graph - graph.T).max() == 0


@pytest.mark.parametrize("mode", ["exact", "approximate", "orthogonal"])
def test_inner_product_targets_take_the_largest_inner_products(backend, mode):
    z, y = _directions(600, d=6)
    z /= 4.0
    clusters = lcc.kmeans(z, 12, metric="cosine", n_init=2).labels  # eq. 14 has a choice
    clusters[::7] = (clusters[::7] + 1) % 12  # misclustered samples
    found = lcc.correction_targets(on(backend, z), on(backend, y), on(backend, clusters),
                                   k=5, mode=mode, metric="inner_product")  # fmt: skip
    targets, ok = host(found.targets), host(found.correctible)
    assert ok.sum() > 20
    np.testing.assert_array_equal(targets[~ok], z[~ok])
    euclidean = host(lcc.correction_targets(z, y, clusters, k=5, mode=mode).targets)
    assert np.abs(targets[ok] - euclidean[ok]).max() > 1.0  # the metric changes the targets
    if mode != "exact":
        return
    cc = ~lcc.match_clusters(y, clusters).misclustered
    for i in np.flatnonzero(ok)[:15]:
        pool = np.flatnonzero(cc & (y == y[i]))
        nearest = pool[np.argsort(-(z[pool].astype(np.float64) @ z[i]), kind="stable")[:5]]
        np.testing.assert_allclose(targets[i], z[nearest].mean(axis=0), rtol=1e-5, atol=1e-5)


def test_the_lcc_step_in_inner_product_geometry(backend):
    z, y = _directions(800, d=6)
    noisy = y.copy()
    noisy[::10] = (noisy[::10] + 1) % 4
    step = lcc.correct(on(backend, z), on(backend, noisy), k=10, metric="inner_product")
    assert step.stats["n_clusters"] >= 2 and 0 < step.stats["mc_fraction"] < 1
    assert host(step.targets).shape == z.shape


def test_metric_errors_name_the_argument():
    z, _ = _directions(100)
    with pytest.raises(ValueError, match=r"metric='manhattan' is not supported"):
        lcc.knn(z, 5, metric="manhattan")
    with pytest.raises(ValueError, match=r"kmeans has no metric='inner_product'.*'cosine'"):
        lcc.kmeans(z, 3, metric="inner_product")
    with pytest.raises(ValueError, match=r"metric='inner_product' searches exactly"):
        lcc.knn_graph(z, 5, metric="inner_product", exact=False)
    with pytest.raises(ValueError, match=r"metric='inner_product' searches exactly"):
        lcc.correct(z, np.arange(100) % 3, metric="inner_product", exact_knn=False)
    z[3] = 0
    with pytest.raises(ValueError, match=r"z has 1 all-zero row\(s\)"):
        lcc.knn_graph(z, 5, metric="cosine")
