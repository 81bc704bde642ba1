"""The GPU code path on the strict RAPIDS emulation: one regression test per reviewed defect.

Every test here runs the GPU backend (cupy / cuVS / cuML / cuGraph calls) on
``tests/emulation`` and failed before its fix; the defect numbers are those of
the review (issue 12). Defect 1 (cupy 14.0's ``repeat``) is covered by the
``emulated_gpu`` cases of ``tests/engine/test_graph.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from helpers import host, on
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

import lcc

pytestmark = pytest.mark.emulated_gpu


@pytest.fixture
def gpu_workers(emulated_gpu):
    """A ``local-cuda`` Dask cluster: two emulated GPU workers (threads)."""
    with lcc.distributed.cluster("local-cuda", n_workers=2) as client:
        yield client


def _latents(n=600, d=8, centers=6, std=1.0, seed=0):
    z, y = make_blobs(
        n_samples=n, n_features=d, centers=centers, cluster_std=std, random_state=seed
    )
    return z.astype(np.float32), y.astype(np.int64)


def _noisy(y, fraction=0.1, seed=0):
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < fraction
    return np.where(flip, (y + 1) % (y.max() + 1), y)


# ------------------------------------------------------------- 2: CDC's k-Means labels
def test_cdc_on_a_cuda_model_gives_host_labels(emulated_cuda):
    from sklearn.datasets import load_digits

    from lcc.deep import CDC

    x, _y = load_digits(return_X_y=True)
    x = (x[:400] / 16.0).astype(np.float32)
    model = CDC(10, hidden=(64,), pretrain_epochs=2, clustering_iterations=5, random_state=0)
    model.fit(x)
    assert isinstance(model.init_labels_, np.ndarray) and model.init_labels_.shape == (400,)
    assert isinstance(model.labels_, np.ndarray)


# --------------------------------------------------- 3: the callback from the disk store
def _callback_targets(**options):
    from helpers import digits_subset

    from lcc.models import SmallCNN
    from lcc.training import LCCCallback

    torch.manual_seed(0)
    callback = LCCCallback(SmallCNN(), ["fc1"], digits_subset(300), warmup=0, k=5, **options)
    stats = callback.on_epoch_start(0)
    callback.close()
    return callback.targets["fc1"], stats["fc1"]


def test_out_of_core_callback_on_a_cuda_model_runs_the_gpu_engine(emulated_cuda, tmp_path):
    (targets, mask), stats = _callback_targets()
    (disk_targets, disk_mask), disk_stats = _callback_targets(
        max_in_memory_bytes=1, store_dir=tmp_path
    )
    assert (tmp_path / "fc1.zarr").exists() and int(mask.sum()) > 0
    torch.testing.assert_close(disk_mask, mask, rtol=0, atol=0)
    torch.testing.assert_close(disk_targets, targets, rtol=0, atol=0)
    assert disk_stats["n_clusters"] == stats["n_clusters"]


def test_to_gpu_chunks_gives_cupy_meta(emulated_gpu):
    import dask.array as da

    z = da.from_array(np.ones((10, 3), np.float32), chunks=4)
    moved = lcc.distributed.to_gpu_chunks(z)
    assert type(moved._meta).__module__ == "cupy"
    assert type(moved.blocks[0].compute()).__module__ == "cupy"


# --------------------------------------------------------------- 4-7: Dask GPU workers
def test_dask_svd_on_gpu_workers(gpu_workers):
    rng = np.random.default_rng(0)
    q1, _ = np.linalg.qr(rng.normal(size=(400, 12)))
    m = ((q1 * np.logspace(1, -1, 12)) @ np.linalg.qr(rng.normal(size=(12, 12)))[0]).astype(
        np.float32
    )  # a spectrum that decays: the randomised SVD's top three are then accurate
    z = lcc.distributed.as_dask(on("gpu", m))
    u, s, _vt = lcc.truncated_svd(z, 3, seed=0)
    np.testing.assert_allclose(host(s), np.linalg.svd(m, compute_uv=False)[:3], rtol=1e-3)
    assert type(u.blocks[0].compute()).__module__ == "cupy"


def test_dask_knn_graph_on_gpu_workers_reaches_multi_gpu_leiden(gpu_workers):
    from emulation import fake_rapids

    z, y = _latents()
    graph = lcc.knn_graph(lcc.distributed.as_dask(on("gpu", z)), 10)
    assert type(graph._meta).__module__.startswith("cupyx")  # not a numpy meta over cupy
    before = fake_rapids.CALLS["leiden"]
    labels = host(lcc.leiden(graph).compute())
    assert fake_rapids.CALLS["leiden"] == before + 1  # cugraph.dask.leiden, not a gather
    assert adjusted_rand_score(y, labels) > 0.95


def test_multi_gpu_leiden_labels_vertices_without_edges(gpu_workers):
    z, _ = _latents(n=300)
    z[0] = 1e4  # its edge weights underflow to 0 and leave cuGraph's edge list
    graph = lcc.knn_graph(lcc.distributed.as_dask(on("gpu", z)), 5)
    labels = host(lcc.leiden(graph).compute())
    assert labels.min() == 0 and np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
    assert np.sum(labels == labels[0]) == 1  # the outlier is a community of its own


def test_a_second_gpu_cluster_gets_fresh_cugraph_comms(emulated_gpu):
    z, y = _latents(n=300)
    for _ in range(2):
        with lcc.distributed.cluster("local-cuda", n_workers=2):
            graph = lcc.knn_graph(lcc.distributed.as_dask(on("gpu", z)), 10)
            labels = host(lcc.leiden(graph).compute())
        assert adjusted_rand_score(y, labels) > 0.95


def test_dask_kmeans_on_gpu_workers_is_scale_free(gpu_workers):
    z, _ = _latents(n=1500, d=5, centers=8, std=2.5)
    result = lcc.kmeans(lcc.distributed.as_dask(on("gpu", z * 1e-3)), 8, seed=0)
    reference = lcc.kmeans(z * 1e-3, 8, seed=0)
    assert adjusted_rand_score(host(reference.labels), host(result.labels.compute())) > 0.9


# ------------------------------------------------------------------ 8: index sentinels
def test_ivf_with_too_few_probes_is_a_clear_error(emulated_gpu):
    z, _ = _latents(n=600, d=4)
    with pytest.raises(RuntimeError, match="fewer than k neighbours"):
        lcc.knn(on("gpu", z), 50, exact=False, method="ivf", nprobe=1)
    with pytest.raises(RuntimeError, match="fewer than k neighbours"):
        lcc.knn_graph(on("gpu", z), 50, exact=False, method="ivf", nprobe=1)


@pytest.mark.parametrize("sentinel", [-1, np.iinfo(np.uint32).max, np.iinfo(np.int64).max])
def test_drop_self_refuses_every_not_found_sentinel(emulated_gpu, sentinel):
    from lcc._dispatch import Placement
    from lcc.kernels.neighbors import drop_self

    idx = np.array([[0, 1, 2], [1, 0, sentinel]], dtype=np.int64)
    sq = np.zeros((2, 3), np.float32)
    with pytest.raises(RuntimeError, match="fewer than k neighbours"):
        drop_self(Placement("gpu", "gpu"), on("gpu", sq), on("gpu", idx), 2, n_base=3)


# --------------------------------------------------------------------- 9: k-Means tol
@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_gpu_kmeans_tolerance_is_relative_like_scikit_learn(emulated_gpu, scale):
    z, _ = _latents(n=2000, d=5, centers=8, std=2.5)
    z = z * np.float32(scale)  # spectral rows have entries ~ 1/√n
    gpu = lcc.kmeans(on("gpu", z), 8, seed=0)
    cpu = lcc.kmeans(z, 8, seed=0)
    inertia = [float(((z - host(c)[host(lab)]) ** 2).sum()) for lab, c in (gpu, cpu)]
    assert inertia[0] <= 1.01 * inertia[1]
    assert adjusted_rand_score(host(cpu.labels), host(gpu.labels)) > 0.9


# ------------------------------------------------------------------------- 10: SVD
@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_gpu_svd_is_accurate_and_reproducible_in_float32(emulated_gpu, kind):
    rng = np.random.default_rng(0)
    q1, _ = np.linalg.qr(rng.normal(size=(500, 8)))
    q2, _ = np.linalg.qr(rng.normal(size=(60, 8)))
    sigma = np.logspace(0, -4, 8)  # σ₇ = 3.7e-4 σ₁: σ₇² is below float32's resolution
    dense = ((q1 * sigma) @ q2.T).astype(np.float32)
    m = sp.csr_matrix(dense) if kind == "sparse" else dense
    u, s, _vt = lcc.truncated_svd(on("gpu", m), 7, seed=3)
    again = lcc.truncated_svd(on("gpu", m), 7, seed=3)
    exact_u, exact_s, _ = np.linalg.svd(dense.astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(host(s), exact_s[:7], rtol=1e-5)
    np.testing.assert_allclose(np.abs(host(u)), np.abs(exact_u[:, :7]), atol=1e-3)
    np.testing.assert_array_equal(host(again.S), host(s))
    np.testing.assert_array_equal(host(again.U), host(u))


# ----------------------------------------------------------- 11: orthogonal targets
def test_orthogonal_targets_batch_their_local_pca(emulated_gpu):
    from emulation import fake_cupy

    z, y = _latents(n=500, d=48, centers=5, std=3.0)
    y_noisy = _noisy(y)
    before = fake_cupy.PER_MATRIX_SOLVER_CALLS["count"]
    gpu = lcc.correction_targets(on("gpu", z), on("gpu", y_noisy), on("gpu", y), mode="orthogonal")
    assert fake_cupy.PER_MATRIX_SOLVER_CALLS["count"] == before  # no per-matrix fallback
    cpu = lcc.correction_targets(z, y_noisy, y, mode="orthogonal")
    assert int(cpu.correctible.sum()) > 20
    np.testing.assert_array_equal(host(gpu.correctible), cpu.correctible)
    np.testing.assert_allclose(host(gpu.targets), cpu.targets, atol=1e-3)


# --------------------------------------------------------------- 12: one allocator
@pytest.fixture
def fresh_allocator(emulated_gpu):
    from lcc import gpu_memory

    return gpu_memory  # the emulation resets its choice before and after each test


def test_cupy_allocates_through_torch_without_rmm(fresh_allocator, emulated_cuda, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rmm", None)  # not installed
    monkeypatch.setattr(fresh_allocator, "_rmm_installed", lambda: False)
    z = lcc.to_backend(torch.ones(4, 3), backend="gpu")
    assert type(z).__module__ == "cupy"
    assert fresh_allocator.chosen_allocator() == "torch"
    cupy = sys.modules["cupy"]
    assert cupy.cuda.get_allocator() == fresh_allocator._state["allocator"].malloc
    assert lcc.to_backend(torch.ones(2), backend="gpu") is not None  # chosen once
    with pytest.raises(RuntimeError, match="already 'torch'"):
        fresh_allocator.use_one_allocator("cupy")


def test_rmm_serves_torch_and_cupy_when_installed(fresh_allocator, monkeypatch):
    import sys

    from emulation import TORCH_ALLOCATORS

    monkeypatch.setattr(fresh_allocator, "_rmm_installed", lambda: True)
    assert fresh_allocator.use_one_allocator() == "rmm"
    rmm = sys.modules["rmm.allocators.cupy"]
    assert sys.modules["cupy"].cuda.get_allocator() is rmm.rmm_cupy_allocator
    assert TORCH_ALLOCATORS == [sys.modules["rmm.allocators.torch"].rmm_torch_allocator]


def test_the_correction_step_releases_cupys_pool(fresh_allocator, emulated_cuda, monkeypatch):
    import sys

    monkeypatch.setenv("LCC_GPU_ALLOCATOR", "cupy")
    pool = sys.modules["cupy"].get_default_memory_pool()
    _callback_targets()
    assert fresh_allocator.chosen_allocator() == "cupy"
    pool.malloc(1 << 20)
    assert pool.total_bytes() > 0
    _callback_targets()
    assert pool.total_bytes() == 0


# --------------------------------------------------------------- 13: centroid memory
def test_internal_metrics_need_no_n_by_c_one_hot(emulated_gpu):
    import tracemalloc

    rng = np.random.default_rng(0)
    n, c = 50_000, 1_000  # a one-hot would be n·c·8 = 400 MB
    z = on("gpu", rng.normal(size=(n, 8)).astype(np.float32))
    labels = on("gpu", rng.integers(0, c, n))
    tracemalloc.start()
    ch = lcc.metrics.calinski_harabasz(z, labels)
    db = lcc.metrics.davies_bouldin(z, labels)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    assert ch == pytest.approx(calinski_harabasz_score(host(z), host(labels)), rel=1e-6)
    assert db == pytest.approx(davies_bouldin_score(host(z), host(labels)), rel=1e-6)


# --------------------------------------------------------------------- 14: smaller
def test_seedless_gpu_louvain_runs_once(emulated_gpu):
    from emulation import fake_rapids

    z, _ = _latents(n=300)
    graph = lcc.knn_graph(on("gpu", z), 10)
    before = fake_rapids.CALLS["louvain"]
    lcc.louvain(graph)  # n_runs=5 by default
    assert fake_rapids.CALLS["louvain"] == before + 1


def test_sharding_a_cupy_array_copies_nothing_to_the_host(emulated_gpu):
    from emulation import fake_cupy

    z = on("gpu", np.ones((100, 4), np.float32))
    before = fake_cupy.HOST_COPIES["count"]
    sharded = lcc.distributed.as_dask(z, n_chunks=4)
    assert fake_cupy.HOST_COPIES["count"] == before  # no hashing through pickle / .get()
    assert type(sharded._meta).__module__ == "cupy"


def test_hnsw_is_refused_on_the_gpu_with_the_choices(emulated_gpu):
    with pytest.raises(ValueError, match="ivf"):
        lcc.knn(on("gpu", np.ones((50, 2), np.float32)), 3, exact=False, method="hnsw")


def test_multi_gpu_leiden_sweep_builds_one_graph(gpu_workers, monkeypatch):
    from emulation import fake_rapids

    z, _ = _latents(n=300)
    graph = lcc.knn_graph(lcc.distributed.as_dask(on("gpu", z)), 10)
    built, before = [], fake_rapids.CALLS["leiden"]
    from_edges = fake_rapids.Graph.from_dask_cudf_edgelist
    monkeypatch.setattr(
        fake_rapids.Graph,
        "from_dask_cudf_edgelist",
        lambda self, *a, **k: built.append(1) or from_edges(self, *a, **k),
    )
    sweep = lcc.leiden(graph, resolution=[0.5, 1.0, 4.0])
    assert fake_rapids.CALLS["leiden"] == before + 3 and built == [1]  # one graph, 3 runs
    counts = [int(host(labels.compute()).max()) + 1 for labels in sweep]
    assert counts[0] <= counts[1] <= counts[2] and counts[0] < counts[2], counts
