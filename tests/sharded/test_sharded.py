"""The Dask backend on a LocalCluster of two worker processes, against the single-process engine."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("distributed")

import dask.array as da

import lcc
from lcc.distributed import as_dask, cluster, resolve_scheduler


@pytest.fixture(scope="module")
def client():
    with cluster("local", n_workers=2, threads_per_worker=1, memory_limit="2GiB") as c:
        yield c


@pytest.fixture(scope="module")
def latents():
    """Blobs whose labels are 8 % noise: clusters and labels disagree, so there are MC samples."""
    from sklearn.datasets import make_blobs

    z, y = make_blobs(2400, n_features=16, centers=6, cluster_std=2.5, random_state=0)
    rng = np.random.default_rng(0)
    noisy = rng.random(len(y)) < 0.08
    y[noisy] = rng.integers(0, 6, noisy.sum())
    order = rng.permutation(len(y))  # a shuffled data set: rows are dataset indices
    return z[order].astype(np.float32), y[order].astype(np.int64)


UNEVEN = ((700, 500, 900, 300), (16,))


def test_exact_knn_equals_single_process(client, latents):
    z, _ = latents
    dist, idx = lcc.knn(da.from_array(z, chunks=UNEVEN), 10)
    d1, i1 = lcc.knn(z, 10)
    assert isinstance(idx, da.Array) and idx.chunks[0] == UNEVEN[0]
    np.testing.assert_array_equal(idx.compute(), i1)
    # one process: the symmetric self-join (x's and y's distance is one GEMM entry for
    # both); shards: their queries against the whole base. Equal to float32 rounding.
    np.testing.assert_allclose(dist.compute(), d1, rtol=1e-5, atol=1e-5)


def test_approximate_knn_has_high_recall(client, latents):
    z, _ = latents
    _, idx = lcc.knn(as_dask(z), 10, exact=False)
    _, exact = lcc.knn(z, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx.compute(), exact, strict=True)])
    assert recall > 0.95


def test_knn_graph_equals_single_process(client, latents):
    z, _ = latents
    graph = lcc.knn_graph(da.from_array(z, chunks=UNEVEN), 8)
    assert graph.chunks[0] == UNEVEN[0]
    a, b = graph.compute().tocsr(), lcc.knn_graph(z, 8)
    assert a.shape == b.shape and a.nnz == b.nnz
    assert abs(a - b).max() < 1e-5  # float32 rounding: see test_exact_knn_equals_single_process


def test_leiden_modularity_within_one_percent(client, latents):
    z, _ = latents
    graph = lcc.knn_graph(as_dask(z), 10)
    labels = lcc.leiden(graph, seed=3)
    assert isinstance(labels, da.Array) and labels.chunks[0] == graph.chunks[0]
    single_graph = lcc.knn_graph(z, 10)
    q_dask = lcc.modularity(graph, labels)
    q_single = lcc.modularity(single_graph, lcc.leiden(single_graph, seed=3))
    assert abs(q_dask - q_single) <= 0.01 * abs(q_single)
    assert q_dask > 0.5


@pytest.mark.parametrize("mode", ["exact", "approximate", "orthogonal"])
def test_lcc_targets_equal_single_process(client, latents, mode):
    z, y = latents
    clusters = lcc.leiden(lcc.knn_graph(z, 10))
    expected = lcc.correction_targets(z, y, clusters, k=5, mode=mode)
    got = lcc.correction_targets(da.from_array(z, chunks=UNEVEN), y, clusters, k=5, mode=mode)
    assert expected.correctible.sum() > 50  # the noisy labels make misclustered samples
    np.testing.assert_array_equal(got.correctible.compute(), expected.correctible)
    np.testing.assert_array_equal(got.targets.compute(), expected.targets)


def test_matching_and_labels_as_dask(client, latents):
    z, y = latents
    clusters = lcc.leiden(lcc.knn_graph(z, 10))
    got = lcc.match_clusters(as_dask(y), clusters)
    expected = lcc.match_clusters(y, clusters)
    np.testing.assert_array_equal(got.cluster_to_label, expected.cluster_to_label)
    np.testing.assert_array_equal(got.misclustered.compute(), expected.misclustered)


def test_kmeans_and_svd(client, latents):
    z, _ = latents
    result = lcc.kmeans(as_dask(z), 6, seed=0)
    np.testing.assert_array_equal(result.labels.compute(), lcc.kmeans(z, 6, seed=0).labels)
    svd, single = lcc.truncated_svd(as_dask(z), 4), lcc.truncated_svd(z, 4)
    np.testing.assert_allclose(svd.S, single.S, rtol=1e-4)
    np.testing.assert_allclose(svd.U.compute(), single.U, atol=1e-4)


def test_workers_hold_no_copy_afterwards(client, latents):
    """The per-worker search structures are dropped once the results are persisted."""
    from lcc.sharded import _plumbing

    z = as_dask(latents[0])
    lcc.knn(z, 5)
    lcc.knn(z, 5, exact=False)
    sizes = client.run(lambda: len(_plumbing._STORE))
    assert set(sizes.values()) == {0}


def test_without_a_client_runs_in_process(monkeypatch, latents):
    from lcc.sharded import neighbors

    monkeypatch.setattr(neighbors, "client_or_none", lambda: None)
    z, _ = latents
    _dist, idx = lcc.knn(da.from_array(z, chunks=600), 5)
    np.testing.assert_array_equal(idx.compute(), lcc.knn(z, 5).indices)


def test_bad_dask_input(client, latents):
    z, _ = latents
    with pytest.raises(ValueError, match="2-D"):
        lcc.knn(da.from_array(z[:, 0], chunks=500), 5)
    with pytest.raises(ValueError, match="NaN"):
        bad = z.copy()
        bad[7, 3] = np.nan
        lcc.knn(as_dask(bad), 5)
    with pytest.raises(ValueError, match="method='hnsw'"):
        lcc.knn(as_dask(z), 5, exact=False, method="hnsw")
    with pytest.raises(ValueError, match="smaller than the number of samples"):
        lcc.knn(as_dask(z[:5]), 5)


def test_scheduler_choices(client):
    assert resolve_scheduler("local") == "local"
    assert resolve_scheduler("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert resolve_scheduler("auto") in ("local", "local-cuda")
    with pytest.raises(ValueError, match="neither"):
        resolve_scheduler("bogus")
    with pytest.raises(TypeError):
        resolve_scheduler(3)
    if not lcc.gpu_available():
        with pytest.raises(RuntimeError, match="CUDA"), cluster("local-cuda"):
            pass
    with cluster(client.scheduler.address) as joined:  # join, and leave it running
        assert (
            joined.scheduler_info()["workers"].keys() == client.scheduler_info()["workers"].keys()
        )
    assert client.status == "running"


def test_as_dask_shards_by_samples(client, latents):
    z, _ = latents
    sharded = as_dask(z)
    assert sharded.chunks[1] == (16,) and len(sharded.chunks[0]) == 4  # 2 per worker
    np.testing.assert_array_equal(sharded.compute(), z)
    assert as_dask(z, chunk_rows=1000).chunks[0] == (1000, 1000, 400)


@pytest.mark.parametrize("method", ["leiden", "louvain"])
def test_correct_on_dask_equals_single_process(client, latents, method):
    z, y = latents
    local = lcc.correct(z, y, k=5, method=method)
    sharded = lcc.correct(as_dask(z), y, k=5, method=method)
    np.testing.assert_array_equal(sharded.clusters, local.clusters)
    np.testing.assert_array_equal(sharded.correctible, local.correctible)
    np.testing.assert_allclose(sharded.targets, local.targets, atol=1e-6)
    assert sharded.stats == pytest.approx(local.stats)


def test_leiden_resolution_sweep_on_a_sharded_graph(client, latents):
    z, _ = latents
    graph = lcc.knn_graph(as_dask(z), 10)
    sweep = lcc.leiden(graph, resolution=[0.5, 2.0], seed=3)
    assert len(sweep) == 2 and all(isinstance(labels, da.Array) for labels in sweep)
    for resolution, labels in zip([0.5, 2.0], sweep, strict=True):
        alone = lcc.leiden(graph, resolution=resolution, seed=3)
        np.testing.assert_array_equal(labels.compute(), alone.compute())


def test_cosine_knn_graph_and_targets_equal_single_process(client, latents):
    z, y = latents
    zd = da.from_array(z, chunks=UNEVEN)
    dist, idx = lcc.knn(zd, 8, metric="cosine")
    single = lcc.knn(z, 8, metric="cosine")
    np.testing.assert_array_equal(idx.compute(), single.indices)
    np.testing.assert_allclose(dist.compute(), single.distances, atol=1e-6)
    graph = lcc.knn_graph(zd, 8, metric="cosine").compute().tocsr()
    assert abs(graph - lcc.knn_graph(z, 8, metric="cosine")).max() < 1e-5
    clusters = lcc.leiden(lcc.knn_graph(z, 8, metric="cosine"), seed=0)
    found = lcc.correction_targets(zd, y, clusters, metric="cosine")
    local = lcc.correction_targets(z, y, clusters, metric="cosine")
    np.testing.assert_array_equal(found.correctible.compute(), local.correctible)
    np.testing.assert_allclose(found.targets.compute(), local.targets, rtol=1e-5, atol=1e-5)
    labels, _ = lcc.kmeans(zd, 4, metric="cosine")
    assert labels.chunks[0] == zd.chunks[0]


@pytest.mark.parametrize("mode", ["exact", "approximate", "orthogonal"])
def test_inner_product_knn_graph_and_targets_equal_single_process(client, latents, mode):
    z, y = latents
    z = z * np.linspace(0.5, 3.0, z.shape[0], dtype=np.float32)[:, None]  # lengths differ
    zd = da.from_array(z, chunks=UNEVEN)
    dist, idx = lcc.knn(zd, 8, metric="inner_product")
    single = lcc.knn(z, 8, metric="inner_product")
    np.testing.assert_array_equal(idx.compute(), single.indices)
    np.testing.assert_allclose(dist.compute(), single.distances, rtol=1e-6, atol=1e-5)
    graph = lcc.knn_graph(zd, 8, metric="inner_product").compute().tocsr()
    single_graph = lcc.knn_graph(z, 8, metric="inner_product")
    assert abs(graph - single_graph).max() < 1e-5
    clusters = lcc.leiden(single_graph, seed=0)
    found = lcc.correction_targets(zd, y, clusters, mode=mode, metric="inner_product")
    local = lcc.correction_targets(z, y, clusters, mode=mode, metric="inner_product")
    np.testing.assert_array_equal(found.correctible.compute(), local.correctible)
    np.testing.assert_allclose(found.targets.compute(), local.targets, rtol=1e-5, atol=1e-4)
