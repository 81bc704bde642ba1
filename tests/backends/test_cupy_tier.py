"""The GPU backend's cupy tier (no RAPIDS): its xp code against scikit-learn on numpy, and the
GPU backend on the emulation with RAPIDS hidden against the CPU engine.

Every ``backend``-parametrised engine test also runs here as ``emulated_cupy_tier``, and the
callback / deep-estimator tests that use ``emulated_cuda`` run with and without RAPIDS.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

import lcc
from lcc.backends.xp_kmeans import kmeans_xp
from lcc.backends.xp_metrics import ari_xp, nmi_xp, silhouette_xp


def _blobs(n=1500, d=12, centers=8, std=1.5, seed=0):
    z, y = make_blobs(n_samples=n, n_features=d, centers=centers, cluster_std=std,
                      random_state=seed)  # fmt: skip
    return z.astype(np.float32), y.astype(np.int64)


# ------------------------------------------------------------- xp code on numpy
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xp_kmeans_matches_scikit_learn(seed):
    from sklearn.cluster import KMeans

    z, _ = _blobs(std=3.0, seed=seed)  # overlapping blobs: Lloyd has work to do
    labels, centers = kmeans_xp(z, 8, seed=seed, n_init=3, max_iter=300, tol=1e-4, xp=np)
    ref = KMeans(8, n_init=3, random_state=seed).fit(z)
    inertia = ((z - centers[labels]) ** 2).sum()
    assert labels.dtype == np.int64 and centers.dtype == np.float32
    assert inertia <= 1.01 * ref.inertia_, (inertia, ref.inertia_)
    assert adjusted_rand_score(ref.labels_, labels) > 0.9
    # a broken k-Means (one Lloyd step from its seeding) is measurably worse
    _, early = kmeans_xp(z, 8, seed=seed, n_init=1, max_iter=1, tol=0.0, xp=np)
    assert ((z - early[np.argmin(((z[:, None] - early) ** 2).sum(-1), 1)]) ** 2).sum() > inertia


def test_xp_kmeans_refills_an_emptied_cluster():
    z = np.array([[0.0, 0], [0.1, 0], [10, 10], [10.1, 10], [50, 50]], dtype=np.float32)
    labels, centers = kmeans_xp(z, 3, seed=0, n_init=1, max_iter=50, tol=1e-4, xp=np)
    assert len(np.unique(labels)) == 3 and np.isfinite(centers).all()


LABELINGS = {
    "random": (np.random.default_rng(0).integers(0, 7, 500),
               np.random.default_rng(1).integers(0, 5, 500)),
    "equal up to names": (np.arange(300) % 6, (np.arange(300) % 6 + 3) * 11),
    "one cluster each": (np.zeros(50, int), np.zeros(50, int)),
    "one against many": (np.zeros(50, int), np.arange(50)),
    "all singletons": (np.arange(40), np.arange(40)[::-1]),
    "independent": (np.arange(400) % 2, np.arange(400) // 200),
}  # fmt: skip


@pytest.mark.parametrize("case", LABELINGS)
def test_xp_label_metrics_match_scikit_learn(case):
    y_true, y_pred = LABELINGS[case]
    assert nmi_xp(y_true, y_pred) == pytest.approx(
        normalized_mutual_info_score(y_true, y_pred), abs=1e-12
    )
    assert ari_xp(y_true, y_pred) == pytest.approx(adjusted_rand_score(y_true, y_pred), abs=1e-12)


@pytest.mark.parametrize("block_bytes", [256 << 20, 4096])  # one block; many blocks
def test_xp_silhouette_matches_scikit_learn(block_bytes):
    z, y = _blobs(n=400, std=4.0)
    y[0] = 99  # a singleton cluster scores 0
    expected = silhouette_score(z, y)
    assert silhouette_xp(z, y, block_bytes=block_bytes) == pytest.approx(expected, abs=1e-6)


# ------------------------------------------------------ the tier on the emulation
def test_implementations_follow_what_imports(emulated_gpu, monkeypatch):
    from lcc.backends.cupy_tier import implementations

    assert implementations()["knn (exact)"] == "cuVS brute force"
    assert implementations()["leiden, louvain"] == "cuGraph"
    emulated_gpu.install(monkeypatch, rapids=False)
    table = implementations()
    assert table["knn (exact)"] == "cupy GEMM tiles + device top-k"
    assert table["leiden, louvain"] == "igraph on the host, labels back"
    assert table["kmeans"] == "cupy Lloyd + k-means++"
    monkeypatch.setitem(sys.modules, "igraph", None)
    assert implementations()["leiden, louvain"].startswith("unavailable")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("topk", ["torch", "cupy"])
def test_tiled_knn_equals_the_cpu_search(emulated_cupy_tier, monkeypatch, dtype, topk):
    """Ids equal the CPU engine's on tie-free data, whatever the block split or top-k."""
    import cupy as cp

    from lcc.backends.knn import gpu_tiles

    monkeypatch.setattr(gpu_tiles, "MAX_BLOCK_BYTES", 4 * 900 * 77)  # blocks of 77 rows
    if topk == "cupy":  # torch cannot see the device (a CPU build of torch beside cupy)
        monkeypatch.setattr(gpu_tiles, "_torch_view", lambda block: None)
    z = np.random.default_rng(0).normal(size=(900, 10)).astype(dtype)
    cpu = lcc.knn(z, 8)
    gpu = lcc.knn(cp.asarray(z), 8)
    np.testing.assert_array_equal(gpu.indices.get(), cpu.indices)
    np.testing.assert_allclose(gpu.distances.get(), cpu.distances, rtol=1e-5, atol=1e-5)
    base, queries = cp.asarray(z[:500]), cp.asarray(z[500:])
    _, ids = lcc.backends.get("gpu").knn_query(base, queries, 4, chunk_size=64)
    ref = np.argsort(((z[500:, None, :] - z[None, :500, :]) ** 2).sum(-1), axis=1)[:, :4]
    np.testing.assert_array_equal(ids.get(), ref)


def test_minkowski_query_equals_scikit_learn(emulated_cupy_tier):
    import cupy as cp
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(1)
    base, queries = rng.normal(size=(60, 5)), rng.normal(size=(200, 5))
    for p in (1, 3):
        d, i = lcc.backends.get("gpu").knn_query_minkowski(
            cp.asarray(base), cp.asarray(queries), 6, p=p, chunk_size=64
        )
        ref_d, ref_i = NearestNeighbors(n_neighbors=6, p=p).fit(base).kneighbors(queries)
        np.testing.assert_array_equal(i.get(), ref_i)
        np.testing.assert_allclose(d.get(), ref_d, rtol=1e-5)


def test_approximate_methods_without_cuvs_run_the_exact_search(emulated_cupy_tier):
    import cupy as cp

    z = np.random.default_rng(0).normal(size=(400, 6)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="cuVS is not installed: method='cagra'"):
        approximate = lcc.knn(cp.asarray(z), 5, exact=False)
    np.testing.assert_array_equal(approximate.indices.get(), lcc.knn(z, 5).indices)


def test_only_the_graph_leaves_the_device(emulated_cupy_tier, monkeypatch):
    """The whole correction step stays on the GPU but for graph clustering: one host copy
    (the k-NN graph, to igraph), labels come back as a device array."""
    import cupy as cp
    import cupyx.scipy.sparse as csp
    from emulation import fake_cupy

    copies = []
    original = csp.csr_matrix.get
    monkeypatch.setattr(csp.csr_matrix, "get", lambda self, *a, **k: copies.append(self.shape)
                        or original(self, *a, **k))  # fmt: skip
    z, y = _blobs(n=1200, std=1.0)
    noisy = np.where(np.arange(len(y)) % 10 == 0, (y + 1) % 8, y)
    fake_cupy.HOST_COPIES["count"] = 0
    result = lcc.correct(cp.asarray(z), cp.asarray(noisy), k=5, mode="exact")
    assert copies == [(1200, 1200)] and fake_cupy.HOST_COPIES["count"] == 0
    assert isinstance(result.targets, cp.ndarray) and isinstance(result.clusters, cp.ndarray)
    cpu = lcc.correct(z, noisy, k=5, mode="exact")
    assert adjusted_rand_score(cpu.clusters, result.clusters.get()) == 1.0
    np.testing.assert_array_equal(result.matching.misclustered.get(), cpu.matching.misclustered)
    np.testing.assert_allclose(result.targets.get(), cpu.targets, rtol=1e-4, atol=1e-4)


def test_doctor_prints_the_cupy_tier_per_primitive(emulated_cupy_tier):
    from lcc.doctor import report

    result = report()
    assert result.exit_code == 0, result.problems
    assert "GPU primitives" in result.format()
    assert [s.status for s in result.smoke] == ["PASS", "PASS"]
    rows = dict(result.primitives)
    assert rows["knn (exact)"].startswith("cupy GEMM tiles + device top-k  (pip install")
    assert rows["leiden, louvain"].startswith("igraph on the host")


# ------------------------------------------- issue 25, defect 2: no cupy for the CPU engine
@pytest.mark.parametrize("backend", ["cpu", None])
def test_a_cuda_model_with_the_cpu_engine_needs_no_cupy(monkeypatch, backend):
    """The engine's device context for a CUDA model: nothing with ``backend="cpu"`` (or
    ``$LCC_BACKEND=cpu``), so cupy need not be installed (the first correction epoch raised
    ModuleNotFoundError: cupy before the fix); cupy's device otherwise."""
    from lcc.training import callback

    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(callback, "_device_of", lambda model: torch.device("cuda", 1))
    if backend is None:
        monkeypatch.setenv("LCC_BACKEND", "cpu")
    with callback._engine_device(torch.nn.Linear(2, 2), backend):
        pass


def test_a_cuda_model_with_the_gpu_engine_enters_its_device(emulated_gpu, monkeypatch):
    from lcc.training import callback

    monkeypatch.setattr(callback, "_device_of", lambda model: torch.device("cuda", 1))
    context = callback._engine_device(torch.nn.Linear(2, 2), None)
    assert type(context).__name__ == "Device" and context.id == 1


# ------------------------------------------- issue 25, defect 3: one pooled allocator
@pytest.fixture
def gpu_memory(emulated_gpu):
    from emulation import fake_rmm

    from lcc import gpu_memory

    fake_rmm.CALLS.clear()
    return gpu_memory  # the emulation resets its choice before and after each test


def test_rmm_mode_pools_every_allocation(gpu_memory, monkeypatch):
    """RMM's allocators over a pool resource (before the fix: the default, unpooled
    ``CudaMemoryResource``, a cudaMalloc / cudaFree per torch tensor)."""
    import cupy
    import rmm

    monkeypatch.setattr(gpu_memory, "_rmm_installed", lambda: True)
    assert gpu_memory.use_one_allocator() == "rmm"
    pool = rmm.mr.get_current_device_resource()
    assert type(pool).__name__ == "PoolMemoryResource"
    assert type(pool.get_upstream()).__name__ == "CudaMemoryResource"
    used = pool.used
    block = cupy.empty(1 << 20, dtype=cupy.uint8)  # cupy allocates from the pool
    assert pool.used - used >= 1 << 20
    del block


def test_torch_mode_routes_rapids_allocations_to_torchs_cache(gpu_memory, monkeypatch):
    """With RMM installed but torch already on CUDA, RMM's current resource allocates from
    torch's caching allocator (before the fix: RMM's default resource, outside the cache)."""
    import rmm

    calls = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: "stream")
    monkeypatch.setattr(
        torch.cuda,
        "caching_allocator_alloc",
        lambda size, device, stream: calls.append(("alloc", size)) or 4096,
    )
    monkeypatch.setattr(torch.cuda, "caching_allocator_delete",
                        lambda pointer: calls.append(("free", pointer)))  # fmt: skip
    assert gpu_memory.use_one_allocator() == "torch"
    resource = rmm.mr.get_current_device_resource()
    assert type(resource).__name__ == "CallbackMemoryResource"
    pointer = resource.allocate(1000)
    resource.deallocate(pointer, 1000)
    assert calls == [("alloc", 1000), ("free", 4096)]


def test_pipelines_choose_the_allocator_before_the_model_moves(gpu_memory, monkeypatch):
    """``"auto"`` picks RMM only before torch's first CUDA allocation: the pipelines ask
    before they build the model (from ``to_backend`` it could never be RMM)."""
    monkeypatch.setattr(gpu_memory, "_rmm_installed", lambda: True)
    gpu_memory.before_cuda_model("cpu")
    assert gpu_memory.chosen_allocator() is None
    gpu_memory.before_cuda_model("cuda", backend="cpu")
    assert gpu_memory.chosen_allocator() is None
    gpu_memory.before_cuda_model("cuda")
    assert gpu_memory.chosen_allocator() == "rmm"


def test_dask_cuda_workers_get_an_rmm_pool(emulated_gpu, monkeypatch):
    import dask_cuda

    seen = {}

    class Spy(dask_cuda.LocalCUDACluster):
        def __init__(self, **kwargs):
            seen.update(kwargs)
            super().__init__(**kwargs)

    monkeypatch.setattr(dask_cuda, "LocalCUDACluster", Spy)
    with lcc.distributed.cluster("local-cuda", n_workers=1):
        pass
    assert seen["rmm_pool_size"] == lcc.distributed.CUDA_WORKER_POOL == 0.5


def test_a_broken_rapids_library_counts_as_absent_with_a_warning(monkeypatch):
    from lcc.backends.cupy_tier import has

    class Broken:  # a cuVS whose shared library does not load
        def find_spec(self, name, path=None, target=None):
            if name == "cuvs":
                raise OSError("libcuvs.so: cannot open shared object file")

    monkeypatch.delitem(sys.modules, "cuvs", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    with pytest.warns(RuntimeWarning, match="cuvs is installed but fails to import"):
        assert not has("cuvs")
