"""Whole GPU paths on the strict RAPIDS emulation: the LCC callback, the deep estimators, the
Dask backend on GPU workers — each checked against the CPU engine on the same data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import host, on
from sklearn.datasets import load_digits, make_blobs
from sklearn.metrics import adjusted_rand_score

import lcc
from lcc.metrics import clustering_accuracy

pytestmark = pytest.mark.emulated_gpu


def _digits(n=500):
    x, y = load_digits(return_X_y=True)
    return (x[:n] / 16.0).astype(np.float32), y[:n]


# ------------------------------------------------------------------ the LCC callback
@pytest.mark.parametrize("method", ["leiden", "louvain", "peer_pressure"])
@pytest.mark.parametrize("mode", ["exact", "approximate", "orthogonal"])
def test_callback_in_memory_on_a_cuda_model(emulated_cuda, method, mode):
    from helpers import digits_subset

    from lcc.models import SmallCNN
    from lcc.training import LCCCallback, train

    data = digits_subset(300)
    torch.manual_seed(0)
    model = SmallCNN()
    callback = LCCCallback(
        model, ["fc1"], data, weight=0.1, warmup=0, k=5, method=method, mode=mode
    )
    history = train(model, data, epochs=1, seed=0, progress=False, callback=callback)
    callback.close()
    targets, correctible = callback.targets["fc1"]
    assert targets.shape == (300, 64) and correctible.dtype == torch.bool
    record = history[0]
    assert record["fc1/n_clusters"] >= 2 and 0 < record["fc1/mc_fraction"] < 1
    assert np.isfinite(record["lcc_loss"]) and record["lcc_loss"] >= 0
    f, cc, mc = (record[f"fc1/{key}"] for key in ("mc_fraction", "acc_cc", "acc_mc"))
    assert record["fc1/acc_all"] == pytest.approx((1 - f) * cc + f * mc)


# --------------------------------------------------------------- the deep estimators
def _centroid_model(name):
    from lcc.deep import DCN, DEC, IDEC, BRBCallback

    cls = {"DEC": DEC, "IDEC": IDEC, "DCN": DCN}[name]
    return cls(10, pretrain_epochs=10, clustering_epochs=2, hidden=(64,), random_state=0,
               callbacks=[BRBCallback(interval=1, subsample=200)])  # fmt: skip


def _on_both_engines(monkeypatch, fit):
    """``fit()`` with the engine on the CPU, then on the emulated GPU (same torch seed)."""
    monkeypatch.setenv("LCC_BACKEND", "cpu")
    cpu = fit()
    monkeypatch.setenv("LCC_BACKEND", "gpu")
    return cpu, fit()


@pytest.mark.parametrize("name", ["DEC", "IDEC", "DCN"])
def test_centroid_estimators_with_brb_on_a_cuda_model(emulated_cuda, monkeypatch, name):
    x, y = _digits()
    cpu, gpu = _on_both_engines(monkeypatch, lambda: _centroid_model(name).fit_predict(x, y))
    assert isinstance(gpu, np.ndarray) and gpu.shape == (500,)
    # the GPU engine's k-Means (initialisation, BRB reclustering) is as good as the CPU's
    assert clustering_accuracy(y, gpu) > clustering_accuracy(y, cpu) - 0.1


def test_cdc_on_a_cuda_model(emulated_cuda, monkeypatch):
    from lcc.deep import CDC

    x, y = _digits()

    def fit():
        return CDC(
            10, hidden=(64,), pretrain_epochs=5, clustering_iterations=30, random_state=0
        ).fit(x, y)

    cpu, gpu = _on_both_engines(monkeypatch, fit)
    assert isinstance(gpu.init_labels_, np.ndarray) and isinstance(gpu.labels_, np.ndarray)
    assert clustering_accuracy(y, gpu.labels_) > clustering_accuracy(y, cpu.labels_) - 0.1


def test_snnl_autoencoder_on_a_cuda_model(emulated_cuda):
    from lcc.deep import SNNLAutoencoder

    x, y = _digits()
    model = SNNLAutoencoder(10, "SNNL-5", epochs=3, hidden=(64,), latent_dim=16, random_state=0)
    model.fit(x, y, eval_set=(x, y))
    assert isinstance(model.labels_, np.ndarray)
    assert {"acc", "silhouette", "calinski_harabasz", "davies_bouldin"} <= set(model.history_[-1])


def test_snapshot_spectral_clustering_on_a_cuda_model(emulated_cuda):
    from lcc.deep import SnapshotSpectralClustering

    x, y = _digits()
    model = SnapshotSpectralClustering(
        10, n_snapshots=2, cycle_epochs=1, lr=0.05, latent_dim=16, image_shape=(1, 8, 8),
        channels=(8,), strides=(2,), n_landmarks=40, r=3, random_state=0,
    ).fit(x, y)  # fmt: skip
    assert isinstance(model.labels_, np.ndarray) and model.labels_.shape == (500,)
    assert type(model.embeddings_[0]).__module__ == "cupy"  # the consensus ran on the GPU
    assert clustering_accuracy(y, model.labels_) > 0.3


# ----------------------------------------------------------- Dask on GPU workers
@pytest.fixture
def gpu_workers(emulated_gpu):
    with lcc.distributed.cluster("local-cuda", n_workers=2) as client:
        yield client


@pytest.fixture
def sharded():
    z, y = make_blobs(1200, n_features=8, centers=5, cluster_std=1.5, random_state=1)
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(len(y)) < 0.08, rng.integers(0, 5, len(y)), y)
    return z.astype(np.float32), y, noisy


def test_dask_gpu_exact_knn_equals_single_process(gpu_workers, sharded):
    z, _, _ = sharded
    dist, idx = lcc.knn(lcc.distributed.as_dask(on("gpu", z)), 7)
    ref_dist, ref_idx = lcc.knn(z, 7)
    assert type(idx._meta).__module__ == "cupy"
    np.testing.assert_allclose(host(dist.compute()), ref_dist, rtol=1e-4, atol=1e-4)
    assert (host(idx.compute()) == ref_idx).mean() > 0.999


def test_dask_gpu_graph_leiden_and_modularity(gpu_workers, sharded):
    z, y, _ = sharded
    graph = lcc.knn_graph(lcc.distributed.as_dask(on("gpu", z)), 10)
    labels = lcc.leiden(graph)
    single = lcc.knn_graph(z, 10)
    q = lcc.modularity(graph, labels)
    assert q == pytest.approx(lcc.modularity(single, lcc.leiden(single)), rel=0.02)
    assert adjusted_rand_score(y, host(labels.compute())) > 0.9


@pytest.mark.parametrize("mode", ["exact", "approximate", "orthogonal"])
def test_dask_gpu_correction_targets_equal_single_process(gpu_workers, sharded, mode):
    z, y, noisy = sharded
    zd = lcc.distributed.as_dask(on("gpu", z))
    targets, ok = lcc.correction_targets(zd, on("gpu", noisy), on("gpu", y), mode=mode, seed=2)
    ref_targets, ref_ok = lcc.correction_targets(z, noisy, y, mode=mode, seed=2)
    assert int(ref_ok.sum()) > 20
    np.testing.assert_array_equal(host(ok.compute()), ref_ok)
    np.testing.assert_allclose(host(targets.compute()), ref_targets, atol=1e-4)


def test_dask_gpu_matching_and_kmeans(gpu_workers, sharded):
    z, y, noisy = sharded
    labels = lcc.distributed.as_dask(on("gpu", y))
    matching = lcc.match_clusters(on("gpu", noisy), labels)
    assert host(matching.misclustered.compute()).sum() == lcc.match_clusters(noisy, y)[1].sum()
    result = lcc.kmeans(lcc.distributed.as_dask(on("gpu", z)), 5, seed=0)
    assert adjusted_rand_score(y, host(result.labels.compute())) > 0.9
