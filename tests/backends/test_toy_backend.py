"""A backend added in one module runs the engine (tests/toy_backend.py); the conftest's
``backend`` fixture also runs every backend-parametrised engine test on it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, homogeneity_score

import lcc
from lcc import backends


@pytest.fixture
def toy(toy_backend, monkeypatch):
    monkeypatch.delenv("LCC_BACKEND")  # asked for by backend="toy" below
    return toy_backend


def test_the_toy_backend_fulfils_the_contract(toy):
    assert isinstance(backends.get("toy"), backends.EngineBackend)
    assert isinstance(backends.get("cpu"), backends.EngineBackend)


def test_the_engine_runs_on_the_toy_backend(toy):
    z, y = make_blobs(n_samples=300, n_features=4, centers=3, cluster_std=0.8, random_state=0)
    z = z.astype(np.float32)
    dist, idx = lcc.knn(z, 5, backend="toy")
    ref = lcc.knn(z, 5)
    np.testing.assert_array_equal(idx, ref.indices)
    np.testing.assert_allclose(dist, ref.distances, rtol=1e-4, atol=1e-4)
    graph = lcc.knn_graph(z, 5, backend="toy")
    assert abs(graph - lcc.knn_graph(z, 5)).max() < 1e-4
    labels = lcc.leiden(graph, backend="toy")
    assert homogeneity_score(y, labels) > 0.95  # communities never mix blobs
    result = lcc.kmeans(z, 3, seed=0, backend="toy")
    assert adjusted_rand_score(y, result.labels) > 0.95
    assert {"knn_query", "kmeans"} <= set(toy.CALLS)


def test_the_backend_fixture_runs_the_engine_on_the_toy(toy_backend):
    """What the ``toy_backend`` id of the parametrised tests does: ``$LCC_BACKEND=toy``
    routes the engine's library calls to the toy, and results come back as numpy."""
    z = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    graph = lcc.knn_graph(z, 5)
    labels = lcc.kmeans(z, 3, seed=0).labels
    assert toy_backend.CALLS[0] == "knn_query" and "kmeans" in toy_backend.CALLS
    assert isinstance(labels, np.ndarray) and graph.shape == (200, 200)


def test_a_knn_algorithm_is_one_module_and_one_registry_line(toy):
    from lcc.backends.knn import ALGORITHMS, register_algorithm

    register_algorithm("cpu", "toy-brute", "toy_backend")  # the one line
    try:
        z, _ = make_blobs(n_samples=200, n_features=3, centers=3, random_state=1)
        z = z.astype(np.float32)
        _, idx = lcc.knn(z, 4, exact=False, method="toy-brute")
        np.testing.assert_array_equal(idx, lcc.knn(z, 4).indices)
        assert toy.CALLS == ["knn_query"]
    finally:
        ALGORITHMS.pop(("cpu", "toy-brute"))
    with pytest.raises(ValueError, match="choose one of"):
        lcc.knn(z, 4, exact=False, method="toy-brute")


def test_an_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="not a backend; choose one of"):
        lcc.knn(np.zeros((5, 2), np.float32), 1, backend="tpu")
