"""What the emulation models beyond types: lifetimes, strict keywords, input checks,
approximate CAGRA, cuGraph's Dask modularity, RMM.

Each strictness is shown refusing what a kinder fake let through; the sources
each fake follows are cited in its module (``tests/emulation/fake_cuvs.py``,
``fake_cuda.py``, ``fake_rmm.py``, ``fake_dask_rapids.py``). Needs no RAPIDS.
"""

from __future__ import annotations

import gc
import sys

import numpy as np
import pytest
from helpers import host, on

import lcc


def _cuvs():
    """The emulated cuVS modules (a test's ``import`` after ``emulated_gpu``)."""
    from cuvs.neighbors import brute_force, cagra, ivf_flat

    return brute_force, ivf_flat, cagra


def _exact_ids(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    d2 = ((queries[:, None, :].astype(np.float64) - base[None].astype(np.float64)) ** 2).sum(-1)
    return np.argsort(d2, axis=1, kind="stable")[:, :k]


def _blobs(n=1500, d=16, seed=0):
    from sklearn.datasets import make_blobs

    z, _ = make_blobs(n_samples=n, n_features=d, centers=8, cluster_std=3, random_state=seed)
    return z.astype(np.float32)


# ------------------------------------------------------------ 1: memory lifetimes
def test_gpu_query_on_a_float64_base_matches_the_cpu(emulated_gpu):
    """The float32 copy of a float64 base must outlive the brute-force searches.

    Before a99818e the index was built on a temporary copy that was freed when
    ``build`` returned; the emulated index is a weak view, so that code fails here.
    """
    from lcc.backends.knn.gpu_brute_force import query

    rng = np.random.default_rng(0)
    base, queries = rng.normal(size=(300, 6)), rng.normal(size=(90, 6)).astype(np.float32)
    _, ids = query(on("gpu", base), on("gpu", queries), 7, chunk_size=32)
    np.testing.assert_array_equal(host(ids), _exact_ids(base.astype(np.float32), queries, 7))


def test_brute_force_index_fails_loudly_once_its_dataset_is_freed(emulated_gpu):
    import cupy as cp

    brute_force, _, _ = _cuvs()
    x64 = cp.asarray(np.random.default_rng(0).normal(size=(50, 4)))
    index = brute_force.build(cp.ascontiguousarray(x64, dtype=cp.float32))  # a temporary
    gc.collect()
    with pytest.raises(RuntimeError, match=r"dataset was freed .*non-owning view"):
        brute_force.search(index, cp.ascontiguousarray(x64[:3], dtype=cp.float32), 2)
    kept = cp.ascontiguousarray(x64, dtype=cp.float32)
    rows = kept[10:40]  # a view: its memory lives while `kept` does
    index = brute_force.build(rows)
    del rows
    _, ids = brute_force.search(index, kept[10:13], 1)
    np.testing.assert_array_equal(cp.asarray(ids).get().ravel(), [0, 1, 2])


def test_brute_force_reads_its_dataset_live_with_the_norms_of_the_build(emulated_gpu):
    """Non-owning: a write to the dataset after the build is read by the search, against
    the squared norms computed at build (a copying fake would not see it)."""
    import cupy as cp

    brute_force, _, _ = _cuvs()
    data = cp.asarray(np.eye(4, dtype=np.float32))
    index = brute_force.build(data)
    data[0] = cp.asarray(np.array([0, 5, 0, 0], dtype=np.float32))  # norm now 25, built 1
    dist, _ = brute_force.search(index, cp.asarray(np.zeros((1, 4), np.float32)), 4)
    np.testing.assert_allclose(np.sort(cp.asarray(dist).get().ravel()), [1, 1, 1, 1])  # not 25
    query = cp.asarray(np.array([[0, 5, 0, 0]], np.float32))
    dist, ids = brute_force.search(index, query, 1)
    assert int(cp.asarray(ids).get()[0, 0]) == 0  # the new row 0 is found, by live data
    assert float(cp.asarray(dist).get()[0, 0]) == 0  # 25 - 2·25 + 1 (stale), clamped at 0


def test_ivf_flat_owns_its_data_and_cagra_keeps_its_array(emulated_gpu):
    """IVF-Flat copies the dataset into its lists; 26.10's ``cagra.build`` keeps the array
    (viewed when rows are 16-byte aligned, else a padded copy): both survive a temporary."""
    import cupy as cp

    _, ivf_flat, cagra = _cuvs()
    z = cp.asarray(_blobs(400, 8).astype(np.float64))
    ivf = ivf_flat.build(ivf_flat.IndexParams(n_lists=4), cp.ascontiguousarray(z, cp.float32))
    for d in (8, 5):  # 32-byte rows: a view of the kept array; 20-byte rows: a padded copy
        graph = cagra.build(cagra.IndexParams(), cp.ascontiguousarray(z[:, :d], cp.float32))
        gc.collect()
        q = cp.ascontiguousarray(z[:5, :d], cp.float32)
        _, ids = cagra.search(cagra.SearchParams(), graph, q, 3)
        assert cp.asarray(ids).get().shape == (5, 3)
    gc.collect()
    _, ids = ivf_flat.search(ivf_flat.SearchParams(n_probes=4), ivf, z[:5].astype(cp.float32), 3)
    assert (cp.asarray(ids).get()[:, 0] == np.arange(5)).all()


# ------------------------------------------------------- 2: strict parameter keywords
@pytest.mark.parametrize(
    ("cls", "wrong"),
    [
        ("ivf_flat.IndexParams", {"nlist": 8}),  # faiss's name
        ("ivf_flat.SearchParams", {"nprobe": 8}),  # faiss's name
        ("cagra.IndexParams", {"compression": None}),  # 26.08's, gone in 26.10
        ("cagra.SearchParams", {"ef": 64}),  # HNSW's
    ],
)
def test_parameter_classes_refuse_unknown_keywords_and_positionals(emulated_gpu, cls, wrong):
    module, name = cls.split(".")
    params = getattr(dict(zip(("brute_force", "ivf_flat", "cagra"), _cuvs(), strict=True))[module],
                     name)  # fmt: skip
    with pytest.raises(TypeError, match="unexpected keyword"):
        params(**wrong)
    with pytest.raises(TypeError):
        params(8)  # keyword-only, as the .pyx's ``def __init__(self, *, ...)``


def test_parameter_values_are_checked_as_cuvs_does(emulated_gpu):
    _, ivf_flat, cagra = _cuvs()
    with pytest.raises(ValueError, match="Unknown build_algo 'nndescent'"):
        cagra.IndexParams(build_algo="nndescent")
    with pytest.raises(ValueError, match="`algo` value not supported"):
        cagra.SearchParams(algo="single-cta")
    with pytest.raises(KeyError):
        ivf_flat.IndexParams(metric="squared_l2")  # DISTANCE_TYPES[metric]


# ------------------------------------------------------------ 3: input dtype checks
@pytest.mark.parametrize("algorithm", ["brute_force", "ivf_flat", "cagra"])
def test_a_float64_dataset_is_refused_as_cuvs_refuses_it(emulated_gpu, algorithm):
    """The kind fake accepted float64; cuVS's ``_check_input_array`` raises TypeError."""
    import cupy as cp

    brute_force, ivf_flat, cagra = _cuvs()
    z64 = cp.asarray(_blobs(200, 8).astype(np.float64))
    build = {
        "brute_force": brute_force.build,
        "ivf_flat": lambda x: ivf_flat.build(ivf_flat.IndexParams(n_lists=2), x),
        "cagra": lambda x: cagra.build(cagra.IndexParams(), x),
    }[algorithm]
    with pytest.raises(TypeError, match="dtype float64 not supported"):
        build(z64)
    build(z64.astype(cp.float16))  # float16 is accepted by all three
    int8 = z64.astype(cp.int8)
    if algorithm == "brute_force":
        with pytest.raises(TypeError, match="dtype int8 not supported"):
            build(int8)
    else:
        build(int8)


def test_layouts_and_host_queries_are_refused_as_cuvs_refuses_them(emulated_gpu):
    import cupy as cp
    from cuvs.common.exceptions import CuvsException

    brute_force, _, cagra = _cuvs()
    z = cp.asarray(_blobs(100, 8))
    with pytest.raises(ValueError, match="Row major input is expected"):
        cagra.build(cagra.IndexParams(), cp.asfortranarray(z))
    index = brute_force.build(cp.asfortranarray(z))  # brute force takes column-major data
    with pytest.raises(CuvsException, match="must be contiguous"):
        brute_force.build(z[:, ::2])
    with pytest.raises(CuvsException, match="device compatible memory"):
        brute_force.search(index, host(z[:2]), 1)  # a numpy array passes the wrap, not the C API
    with pytest.raises(CuvsException, match="type mismatch between index and queries"):
        cagra.search(cagra.SearchParams(), cagra.build(cagra.IndexParams(), z), z[:2].astype(
            cp.int8), 1)  # fmt: skip


def test_a_gpu_search_called_without_the_backends_float32_cast_fails(emulated_gpu):
    """``knn_search`` casts to float32 before every algorithm; an algorithm module called on
    float64 latents (a new caller skipping the cast) fails as on a GPU, not silently."""
    import cupy as cp

    from lcc.backends.knn import gpu_cagra

    with pytest.raises(TypeError, match="dtype float64 not supported"):
        gpu_cagra.search(cp.asarray(_blobs(200, 8).astype(np.float64)), 5, chunk_size=64,
                         progress=False)  # fmt: skip


# ------------------------------------------------------------ 4: approximate CAGRA
def test_cagra_is_approximate_deterministic_and_misses_some_queries_own_point(emulated_gpu):
    import cupy as cp

    _, _, cagra = _cuvs()
    z = _blobs()
    index = cagra.build(cagra.IndexParams(), cp.asarray(z))
    runs = [cagra.search(cagra.SearchParams(), index, cp.asarray(z), 11) for _ in range(2)]
    ids = [cp.asarray(i).get() for _, i in runs]
    assert ids[0].dtype == np.uint32
    np.testing.assert_array_equal(ids[0], ids[1])  # seeded: the same result every time
    own = (ids[0] == np.arange(len(z))[:, None]).any(1)
    assert 0.9 < own.mean() < 1.0  # some queries miss their own point
    exact = _exact_ids(z, z, 11)
    recall = np.mean([np.intersect1d(a, b).size for a, b in zip(ids[0], exact, strict=True)])
    assert 0.9 * 11 < recall < 11


def test_cagra_pads_a_small_graph_with_uint32_max(emulated_gpu):
    import cupy as cp
    from cuvs.common.exceptions import CuvsException

    _, _, cagra = _cuvs()
    z = cp.asarray(_blobs(5, 4))
    dist, ids = cagra.search(cagra.SearchParams(), cagra.build(cagra.IndexParams(), z), z, 8)
    ids, dist = cp.asarray(ids).get(), cp.asarray(dist).get()
    assert (ids[:, 5:] == np.iinfo(np.uint32).max).all()
    assert (dist[:, 5:] == np.finfo(np.float32).max).all()
    with pytest.raises(CuvsException, match="must be smaller than itopk_size = 64"):
        cagra.search(cagra.SearchParams(itopk_size=40), cagra.build(cagra.IndexParams(), z), z,
                     65)  # fmt: skip


def test_lcc_knn_on_cagra_drops_the_farthest_where_self_is_missing(emulated_gpu):
    """Where CAGRA misses a query's own point ``_drop_self`` drops the farthest; dropping
    column 0 (right whenever self comes first, as with an exact fake) loses a neighbour."""
    import cupy as cp
    from cuvs.neighbors import cagra

    z = _blobs()
    _, ids = lcc.knn(on("gpu", z), 10, exact=False, method="cagra")
    ids = host(ids)
    assert not (ids == np.arange(len(z))[:, None]).any()
    raw = cp.asarray(cagra.search(cagra.SearchParams(), cagra.build(cagra.IndexParams(),
                     cp.asarray(z)), cp.asarray(z), 11)[1]).get().astype(np.int64)  # fmt: skip
    missed = ~(raw == np.arange(len(z))[:, None]).any(1)
    assert missed.any()
    exact = _exact_ids(z, z, 11)[missed, 1:]

    def recall(found):
        return np.mean([np.intersect1d(a, b).size for a, b in zip(found, exact, strict=True)])

    assert recall(ids[missed]) > recall(raw[missed][:, 1:])  # the naive drop is worse


# -------------------------------------------------- 5: cuGraph's Dask Leiden modularity
def test_dask_leiden_modularity_has_the_type_cugraphs_code_returns(emulated_gpu):
    """cuGraph 26.10 ends ``dask.array.from_delayed(part_mod_score[0][1], shape=(1,),
    dtype=float).compute()`` over pylibcugraph's ``double``: run that, compare types."""
    import dask
    import dask.array as da
    from emulation import fake_dask_rapids

    parts = dask.delayed(lambda x: x, nout=2)(("frame", 0.25))
    real = da.from_delayed(parts[1], shape=(1,), dtype=float).compute()
    graph = sys.modules["cugraph"].Graph()
    graph.from_cudf_edgelist(
        sys.modules["cudf"].DataFrame({"src": np.array([0, 1]), "dst": np.array([1, 2])}),
        "src",
        "dst",
    )
    fake_dask_rapids.COMMS.client_id = None
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, processes=False) as cluster, Client(cluster):
        fake_dask_rapids.COMMS.initialize()
        try:
            _, modularity = fake_dask_rapids.dask_leiden(graph)
        finally:
            fake_dask_rapids.COMMS.destroy()
    assert type(modularity) is type(real) is float


# ------------------------------------------------------------------------- 8: RMM
def test_rmm_records_its_configuration_and_checks_pool_sizes(emulated_gpu):
    import rmm
    from emulation import fake_rmm

    rmm.reinitialize(pool_allocator=True, initial_pool_size="1GiB", maximum_pool_size=2 << 30)
    assert fake_rmm.CALLS[0] == ("reinitialize", {
        "pool_allocator": True, "managed_memory": False, "initial_pool_size": "1GiB",
        "maximum_pool_size": 2 << 30, "devices": 0, "logging": False, "log_file_name": None,
    })  # fmt: skip
    pool = rmm.mr.get_current_device_resource()
    assert isinstance(pool, rmm.mr.PoolMemoryResource) and pool.pool_size() == 1 << 30
    cuda = rmm.mr.CudaMemoryResource()
    with pytest.raises(RuntimeError, match="multiple of 256 bytes"):
        rmm.mr.PoolMemoryResource(cuda, initial_pool_size=int(0.9 * 1_000_003))
    with pytest.raises(TypeError, match="expected string or bytes-like object"):
        rmm.mr.PoolMemoryResource(cuda, initial_pool_size=0.5 * (1 << 30))
    with pytest.raises(RuntimeError, match="exceeds the maximum pool size"):
        rmm.mr.PoolMemoryResource(cuda, initial_pool_size=1 << 20, maximum_pool_size=1 << 10)
    with pytest.raises(TypeError, match="'upstream_mr' has incorrect type"):
        rmm.mr.PoolMemoryResource("cuda")
    with pytest.raises(TypeError, match="unexpected keyword"):
        rmm.mr.PoolMemoryResource(cuda, max_pool_size=1 << 30)


def test_rmm_statistics_and_pool_limit_see_emulated_cupy_allocations(emulated_gpu):
    import cupy as cp
    import rmm
    from rmm.allocators.cupy import rmm_cupy_allocator

    pool = rmm.mr.PoolMemoryResource(rmm.mr.CudaMemoryResource(), initial_pool_size=1 << 20,
                                     maximum_pool_size=4 << 20)  # fmt: skip
    rmm.mr.set_current_device_resource(pool)
    cp.cuda.set_allocator(rmm_cupy_allocator)
    with rmm.statistics.statistics():
        a = cp.zeros((1 << 18,), dtype=cp.float32)  # 1 MiB
        b = a * 2  # another
        view = b[::2]  # no allocation
        stats = rmm.statistics.get_statistics()
        assert (stats.current_bytes, stats.current_count) == (2 << 20, 2)
        del a, b, view
        stats = rmm.statistics.get_statistics()
        assert (stats.current_bytes, stats.peak_bytes, stats.total_count) == (0, 2 << 20, 2)
        assert pool.pool_size() == 2 << 20  # grew from 1 MiB
        with pytest.raises(MemoryError, match="Maximum pool size exceeded"):
            cp.zeros((5 << 18,), dtype=cp.float32)  # 5 MiB > the 4 MiB maximum
