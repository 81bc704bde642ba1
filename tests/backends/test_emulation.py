"""The emulation cannot drift: every fake against the installed RAPIDS 26.10 / cupy callable.

For each fake: every parameter it accepts exists on the real callable (a fake
that takes an extra keyword would let the package pass it and crash on a GPU),
every required parameter of the real one is accepted, and the type it returns
is the documented one (compared by module and name with the real class). The
last tests show the check failing on deliberately wrong fakes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("cuml", reason="RAPIDS (the gpu extra) is not installed")
pytest.importorskip("cugraph", reason="RAPIDS (the gpu extra) is not installed")
pytest.importorskip("cuvs", reason="RAPIDS (the gpu extra) is not installed")

from api_signatures import import_path, parameters
from emulation import fake_cupy, fake_cuvs, fake_dask_rapids, fake_rapids, fake_rmm, fake_sparse

pytestmark = pytest.mark.emulated_gpu

# (fake, the real callable's dotted path); classes are checked through __init__
FAKES: list[tuple[Any, str]] = [
    (fake_cuvs._bf_build, "cuvs.neighbors.brute_force.build"),
    (fake_cuvs._bf_search, "cuvs.neighbors.brute_force.search"),
    (fake_cuvs._ivf_build, "cuvs.neighbors.ivf_flat.build"),
    (fake_cuvs._ivf_search, "cuvs.neighbors.ivf_flat.search"),
    (fake_cuvs._IvfIndexParams, "cuvs.neighbors.ivf_flat.IndexParams"),
    (fake_cuvs._IvfSearchParams, "cuvs.neighbors.ivf_flat.SearchParams"),
    (fake_cuvs._cagra_build, "cuvs.neighbors.cagra.build"),
    (fake_cuvs._cagra_search, "cuvs.neighbors.cagra.search"),
    (fake_cuvs._CagraIndexParams, "cuvs.neighbors.cagra.IndexParams"),
    (fake_cuvs._CagraSearchParams, "cuvs.neighbors.cagra.SearchParams"),
    (fake_rmm.CudaMemoryResource, "rmm.mr.CudaMemoryResource"),
    (fake_rmm.PoolMemoryResource, "rmm.mr.PoolMemoryResource"),
    (fake_rmm.PoolMemoryResource.pool_size, "rmm.mr.PoolMemoryResource.pool_size"),
    (fake_rmm.StatisticsResourceAdaptor, "rmm.mr.StatisticsResourceAdaptor"),
    (fake_rmm.CallbackMemoryResource, "rmm.mr.CallbackMemoryResource"),
    (fake_rmm.set_current_device_resource, "rmm.mr.set_current_device_resource"),
    (fake_rmm.get_current_device_resource, "rmm.mr.get_current_device_resource"),
    (fake_rmm.set_per_device_resource, "rmm.mr.set_per_device_resource"),
    (fake_rmm.get_per_device_resource, "rmm.mr.get_per_device_resource"),
    (fake_rmm.reinitialize, "rmm.reinitialize"),
    (fake_rmm.register_reinitialize_hook, "rmm.register_reinitialize_hook"),
    (fake_rmm.enable_statistics, "rmm.statistics.enable_statistics"),
    (fake_rmm.get_statistics, "rmm.statistics.get_statistics"),
    (fake_rmm.push_statistics, "rmm.statistics.push_statistics"),
    (fake_rmm.pop_statistics, "rmm.statistics.pop_statistics"),
    (fake_rmm.statistics, "rmm.statistics.statistics"),
    (fake_rmm.rmm_cupy_allocator, "rmm.allocators.cupy.rmm_cupy_allocator"),
    (fake_rapids.KMeans, "cuml.cluster.KMeans"),
    (fake_rapids.KMeans.fit, "cuml.cluster.KMeans.fit"),
    (fake_rapids.KMeans.predict, "cuml.cluster.KMeans.predict"),
    (fake_rapids.NearestNeighbors, "cuml.neighbors.NearestNeighbors"),
    (fake_rapids.NearestNeighbors.fit, "cuml.neighbors.NearestNeighbors.fit"),
    (fake_rapids.NearestNeighbors.kneighbors, "cuml.neighbors.NearestNeighbors.kneighbors"),
    (fake_rapids.TruncatedSVD, "cuml.decomposition.TruncatedSVD"),
    (fake_rapids.v_measure_score, "cuml.metrics.cluster.v_measure_score"),
    (fake_rapids.adjusted_rand_score, "cuml.metrics.cluster.adjusted_rand_score"),
    (fake_rapids.silhouette_score, "cuml.metrics.cluster.silhouette_score"),
    (fake_rapids.Series, "cudf.Series"),
    (fake_rapids.Series.to_cupy, "cudf.Series.to_cupy"),
    (fake_rapids.DataFrame, "cudf.DataFrame"),
    (fake_rapids.Graph, "cugraph.Graph"),
    (fake_rapids.Graph.from_cudf_adjlist, "cugraph.Graph.from_cudf_adjlist"),
    (fake_rapids.Graph.from_cudf_edgelist, "cugraph.Graph.from_cudf_edgelist"),
    (fake_rapids.Graph.from_dask_cudf_edgelist, "cugraph.Graph.from_dask_cudf_edgelist"),
    (fake_rapids.leiden, "cugraph.leiden"),
    (fake_rapids.louvain, "cugraph.louvain"),
    (fake_dask_rapids.dask_leiden, "cugraph.dask.leiden"),
    (fake_dask_rapids.COMMS.initialize, "cugraph.dask.comms.comms.initialize"),
    (fake_dask_rapids.COMMS.destroy, "cugraph.dask.comms.comms.destroy"),
    (fake_dask_rapids.COMMS.is_initialized, "cugraph.dask.comms.comms.is_initialized"),
    (fake_dask_rapids.DaskNearestNeighbors, "cuml.dask.neighbors.NearestNeighbors"),
    (
        fake_dask_rapids.DaskNearestNeighbors.kneighbors,
        "cuml.dask.neighbors.NearestNeighbors.kneighbors",
    ),
    (fake_dask_rapids.DaskKMeans, "cuml.dask.cluster.KMeans"),
    (fake_dask_rapids.DaskKMeans.fit, "cuml.dask.cluster.KMeans.fit"),
    (fake_dask_rapids.DaskKMeans.predict, "cuml.dask.cluster.KMeans.predict"),
    (fake_dask_rapids.from_delayed, "dask_cudf.from_delayed"),
    (fake_cupy.asarray, "cupy.asarray"),
    (fake_cupy.asnumpy, "cupy.asnumpy"),
    (fake_cupy.from_dlpack, "cupy.from_dlpack"),
    (fake_cupy.repeat, "cupy.repeat"),
    (fake_cupy.lexsort, "cupy.lexsort"),
    (fake_cupy.bincount, "cupy.bincount"),
    (fake_cupy.searchsorted, "cupy.searchsorted"),
    (fake_cupy.ndarray.get, "cupy.ndarray.get"),
    (fake_sparse.svds, "cupyx.scipy.sparse.linalg.svds"),
    (fake_sparse.eigsh, "cupyx.scipy.sparse.linalg.eigsh"),
]


def _names(obj: Any) -> tuple[set[str], set[str], bool] | None:
    """(accepted, required, takes **kwargs) of a callable, without ``self``."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = list(inspect.signature(target).parameters.values())
        kinds = {p.kind for p in params if p.name != "self"}
        if kinds == {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}:
            found = _embedded_signature(obj)  # a Cython class: (*args, **kwargs) hides it
            return None if found is None else (found[0] - {"self"}, set(), found[1])
    except (TypeError, ValueError):
        found = parameters(obj)  # Cython: the docstring's first line
        return None if found is None else (found[0] - {"self"}, set(), found[1])
    accepted = {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    required = {
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    return accepted - {"self"}, required - {"self"}, var_kw


def _embedded_signature(obj: Any) -> tuple[set[str], bool] | None:
    """Cython's ``embedsignature`` line, ``Name(a, *, b=1)``, of a class or function."""
    import re

    match = re.match(r"\s*\w+\((.*?)\)\s*$", (obj.__doc__ or "").split("\n")[0])
    if not match:
        return None
    items = [i.split("=")[0].split(":")[0].strip() for i in match.group(1).split(",")]
    names = {i.split()[-1].lstrip("*") for i in items if i and i != "*"}
    return names, any(i.startswith("**") for i in items)


def signature_problems(fake: Callable, real: Any) -> list[str]:
    """What the fake accepts that the real callable does not, and what it lacks."""
    mine, real_names = _names(fake), _names(real)
    if real_names is None:
        return []  # the real signature is unknowable (then the contract test is the check)
    accepted, _, _ = mine
    real_accepted, real_required, real_var_kw = real_names
    problems = []
    if not real_var_kw and accepted - real_accepted:
        problems.append(f"extra parameters {sorted(accepted - real_accepted)}")
    if real_required - accepted and not mine[2]:
        problems.append(f"missing required parameters {sorted(real_required - accepted)}")
    return problems


def same_type(value: Any, real_type: type) -> bool:
    """A fake's result is of the real documented type: same module and class name."""
    kind = type(value)
    return (kind.__module__, kind.__qualname__) == (real_type.__module__, real_type.__qualname__)


@pytest.mark.parametrize(("fake", "real"), FAKES, ids=[path for _, path in FAKES])
def test_fake_matches_the_real_signature(fake, real):
    assert signature_problems(fake, import_path(real)) == []


def _device(x: np.ndarray) -> Any:
    return fake_cupy.ndarray._of(x)


def test_fakes_return_the_documented_types(emulated_gpu):
    import cudf

    rng = np.random.default_rng(0)
    z = _device(rng.normal(size=(50, 4)).astype(np.float32))
    real = {
        "device_ndarray": _import_real("pylibraft.common.device_ndarray", "device_ndarray"),
        "cupy.ndarray": _import_real("cupy", "ndarray"),
        "DataFrame": _import_real("cudf.core.dataframe", "DataFrame"),
    }
    dist, idx = fake_rapids._bf_search(fake_rapids._bf_build(z), z, 3)
    assert same_type(dist, real["device_ndarray"]) and same_type(idx, real["device_ndarray"])
    assert idx.dtype == np.int64 and dist.dtype == np.float32
    params = fake_rapids._CagraSearchParams()
    _, ids = fake_rapids._cagra_search(
        params, fake_rapids._cagra_build(fake_rapids._CagraIndexParams(), z), z, 3
    )
    assert ids.dtype == np.uint32  # CAGRA's neighbours are uint32 only
    model = fake_rapids.KMeans(n_clusters=3, random_state=0).fit(z)
    assert same_type(model.labels_, real["cupy.ndarray"])
    graph = fake_rapids.Graph()
    graph.from_cudf_edgelist(
        cudf.DataFrame({"src": np.array([0, 1]), "dst": np.array([1, 2])}), "src", "dst"
    )
    frame, modularity = fake_rapids.leiden(graph)
    assert same_type(frame, real["DataFrame"]) and isinstance(modularity, float)
    assert same_type(frame["vertex"].to_cupy(), real["cupy.ndarray"])
    nn = fake_rapids.NearestNeighbors(n_neighbors=3).fit(z)
    assert all(same_type(a, real["cupy.ndarray"]) for a in nn.kneighbors(z))
    svd = fake_rapids.TruncatedSVD(n_components=2)
    assert same_type(svd.fit_transform(z), real["cupy.ndarray"])
    assert same_type(svd.singular_values_, real["cupy.ndarray"])


def test_dask_fakes_return_the_documented_types(emulated_gpu):
    """cuML's Dask outputs: numpy ``_meta`` over cupy chunks (kneighbors), unknown chunk
    sizes (predict); cuGraph's Dask Leiden: a dask-cuDF frame."""
    import dask
    import dask.array as da

    z = da.from_array(np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32), 20)
    z = z.map_blocks(fake_cupy.asarray, meta=fake_cupy.empty((0, 0), np.float32))
    with dask.config.set(scheduler="sync"):
        _, idx = fake_dask_rapids.DaskNearestNeighbors(n_neighbors=3).fit(z).kneighbors(z)
        assert isinstance(idx, da.Array) and type(idx._meta) is np.ndarray
        assert type(idx.blocks[0].compute()).__name__ == "ndarray"
        assert type(idx.blocks[0].compute()).__module__ == "cupy"
        model = fake_dask_rapids.DaskKMeans(n_clusters=2, random_state=0).fit(z)
        labels = model.predict(z)
        assert np.isnan(labels.shape[0])  # unknown chunk sizes, as cuML's
    real_frame = _import_real("dask_cudf", "DataFrame")
    assert same_type(fake_dask_rapids.from_delayed([]), real_frame)


def _import_real(module: str, name: str) -> type:
    """The real class, imported around the emulation (which hides RAPIDS in sys.modules)."""
    import importlib
    import sys

    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in _ROOTS}
    for key in saved:
        del sys.modules[key]
    try:
        return getattr(importlib.import_module(module), name)
    finally:
        for key in [k for k in sys.modules if k.split(".")[0] in _ROOTS]:
            del sys.modules[key]
        sys.modules.update(saved)


_ROOTS = ("cupy", "cupyx", "cudf", "dask_cudf", "pylibraft", "rmm", "cuml", "cugraph", "cuvs")


# ------------------------------------------------------- the check catches wrong fakes
def test_a_fake_with_an_extra_keyword_fails_the_check():
    def wrong_search(index, queries, k, neighbors=None, distances=None, resources=None,
                     prefilter=None, n_probes=8):  # fmt: skip
        """brute_force.search takes no n_probes: code passing it would crash on a GPU."""

    problems = signature_problems(wrong_search, import_path("cuvs.neighbors.brute_force.search"))
    assert problems == ["extra parameters ['n_probes']"]


def test_a_fake_missing_a_required_parameter_fails_the_check():
    def wrong_leiden(G, max_iter=100, resolution=1.0):
        """Accepts no random_state; a real, optional one is fine to omit, but not G."""

    assert signature_problems(wrong_leiden, import_path("cugraph.leiden")) == []

    def wrong_build(index_params):  # the real ivf_flat.build requires the dataset too
        pass

    problems = signature_problems(wrong_build, import_path("cuvs.neighbors.ivf_flat.build"))
    assert problems == ["missing required parameters ['dataset']"]


def test_a_fake_returning_the_wrong_type_fails_the_check(emulated_gpu):
    real = _import_real("pylibraft.common.device_ndarray", "device_ndarray")
    z = _device(np.zeros((5, 2), np.float32))
    numpy_result = np.zeros((5, 3), np.float32)  # what a careless fake would return
    assert not same_type(numpy_result, real)
    assert not same_type(z, real)  # a cupy array is not a device_ndarray either
    dist, _ = fake_rapids._bf_search(fake_rapids._bf_build(z), z, 3)
    assert same_type(dist, real)


# ------------------------------------------- Cython parameter classes: the .pyx keywords
# (class, its .pyx in the cuVS 26.10 wheel, the keywords of its ``def __init__(self, *, ...)``
# there: the list is the fallback where a wheel ships no .pyx)
PARAMETER_CLASSES = [
    (fake_cuvs._IvfIndexParams, "cuvs.neighbors.ivf_flat.IndexParams", "ivf_flat/ivf_flat.pyx",
     "n_lists metric metric_arg kmeans_n_iters kmeans_trainset_fraction adaptive_centers "
     "add_data_on_build conservative_memory_allocation"),
    (fake_cuvs._IvfSearchParams, "cuvs.neighbors.ivf_flat.SearchParams", "ivf_flat/ivf_flat.pyx",
     "n_probes"),
    (fake_cuvs._CagraIndexParams, "cuvs.neighbors.cagra.IndexParams", "cagra/cagra.pyx",
     "metric intermediate_graph_degree graph_degree build_algo nn_descent_niter "
     "ivf_pq_build_params ivf_pq_search_params ace_params refinement_rate"),
    (fake_cuvs._CagraSearchParams, "cuvs.neighbors.cagra.SearchParams", "cagra/cagra.pyx",
     "max_queries itopk_size max_iterations algo team_size search_width min_iterations "
     "thread_block_size hashmap_mode hashmap_min_bitlen hashmap_max_fill_rate "
     "num_random_samplings rand_xor_mask persistent persistent_lifetime "
     "persistent_device_usage"),
]  # fmt: skip


def pyx_init_keywords(pyx: str, cls: str) -> dict[str, Any] | None:
    """``{keyword: default}`` of ``cdef class cls``'s keyword-only ``__init__`` in ``pyx``."""
    import ast
    import re

    body = re.split(rf"^cdef class {cls}\b", pyx, flags=re.M)
    if len(body) < 2:
        return None
    match = re.search(r"def __init__\((self, \*,.*?)\):", body[1], flags=re.S)
    if match is None:
        return None
    tree = ast.parse(f"def __init__({match.group(1)}): pass").body[0].args
    assert not tree.args[1:] and tree.vararg is None and tree.kwarg is None  # keyword-only
    pairs = zip(tree.kwonlyargs, tree.kw_defaults, strict=True)
    return {a.arg: ast.literal_eval(d) for a, d in pairs}


def _installed_pyx(relative: str) -> str | None:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("cuvs")
    path = Path(spec.submodule_search_locations[0]) / "neighbors" / relative
    return path.read_text() if path.exists() else None


def _fake_keywords(fake: type) -> dict[str, Any]:
    params = list(inspect.signature(fake.__init__).parameters.values())[1:]
    assert all(p.kind is p.KEYWORD_ONLY for p in params), "keyword-only, as the .pyx"
    return {p.name: p.default for p in params}


@pytest.mark.parametrize(("fake", "real", "pyx", "cited"), PARAMETER_CLASSES,
                         ids=[c[1] for c in PARAMETER_CLASSES])  # fmt: skip
def test_parameter_classes_take_exactly_the_pyx_keywords(fake, real, pyx, cited):
    source = _installed_pyx(pyx)
    keywords = pyx_init_keywords(source, real.rsplit(".", 1)[1]) if source else None
    if keywords is not None:
        assert list(keywords) == cited.split()  # the cited list is the installed one
        assert _fake_keywords(fake) == keywords  # names, order and defaults
    else:
        assert list(_fake_keywords(fake)) == cited.split()
    real_cls = import_path(real)  # constructs without a GPU: a C struct of parameters
    for cls in (real_cls, fake):
        cls(**_fake_keywords(fake))
        with pytest.raises(TypeError):
            cls(not_a_parameter=1)
        with pytest.raises(TypeError):
            cls(1)


def test_the_signature_check_sees_through_cythons_star_args():
    """``inspect`` gives Cython classes ``(*args, **kwargs)``; the check then reads the
    embedded signature, so 26.08's ``compression`` keyword, gone in 26.10, is caught."""

    class Cagra2608IndexParams:
        def __init__(self, *, metric="sqeuclidean", graph_degree=64, compression=None):
            pass

    problems = signature_problems(
        Cagra2608IndexParams, import_path("cuvs.neighbors.cagra.IndexParams")
    )
    assert problems == ["extra parameters ['compression']"]


# ------------------------------------------------------------- cuVS input checks
class _Cai:
    """A bare ``__cuda_array_interface__`` (no memory behind it): what pylibraft wraps."""

    def __init__(self, a: np.ndarray):
        strides = None if a.flags.c_contiguous else a.strides
        self.__cuda_array_interface__ = {
            "shape": a.shape,
            "typestr": a.dtype.str,
            "strides": strides,
            "data": (0, False),
            "version": 3,
        }


def _outcome(check: Callable, *args: Any, **kwargs: Any) -> tuple[str, str]:
    try:
        check(*args, **kwargs)
    except Exception as e:  # the kind and message are compared
        return type(e).__name__, str(e)
    return "ok", ""


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int8", "uint8", "int64"])
@pytest.mark.parametrize("layout", ["C", "F", "rows", "columns"])
def test_input_checks_match_cuvs_check_input_array(dtype, layout):
    from cuvs.neighbors.common import _check_input_array
    from pylibraft.common.cai_wrapper import cai_wrapper

    a = np.zeros((6, 4), dtype=dtype)
    a = {"C": a, "F": np.asfortranarray(a), "rows": a[::2], "columns": a[:, ::2]}[layout]
    for allowed, row_major in ((fake_cuvs._FLOATS, False), (fake_cuvs._ANY, True)):
        real = _outcome(_check_input_array, cai_wrapper(_Cai(a)), list(allowed),
                        exp_row_major=row_major)  # fmt: skip
        assert _outcome(fake_cuvs._check_input_array, a, allowed, row_major=row_major) == real


# ------------------------------------------------------------------------ RMM
@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_pool_size": 1000},
        {"initial_pool_size": 1.5},
        {"initial_pool_size": 256, "maximum_pool_size": 1000},
        {"initial_pool_size": 1 << 20, "maximum_pool_size": 1 << 10},
        {"initial_pool_size": "1 GiB", "maximum_pool_size": "1kb"},
        {"initial_pool_size": "lots"},
        {"max_pool_size": 1 << 20},
    ],
)
def test_rmm_pool_refuses_what_rmm_refuses(kwargs):
    """Each case fails in the real ``PoolMemoryResource`` before any device allocation."""
    import rmm.mr

    def last_words(outcome: tuple[str, str]) -> tuple[str, str]:
        message = outcome[1].rsplit(": ", 1)[-1]  # RMM's message after its file:line
        return outcome[0], message.split("() ", 1)[-1]  # not Cython's __cinit__ / __init__

    real = _outcome(rmm.mr.PoolMemoryResource, rmm.mr.CudaMemoryResource(), **kwargs)
    fake = _outcome(fake_rmm.PoolMemoryResource, fake_rmm.CudaMemoryResource(), **kwargs)
    assert real[0] != "ok" and last_words(fake) == last_words(real)
    for resource in (rmm.mr.PoolMemoryResource, fake_rmm.PoolMemoryResource):
        assert "'upstream_mr' has incorrect type" in _outcome(resource, object())[1]
    real_stats = rmm.mr.StatisticsResourceAdaptor(rmm.mr.CudaMemoryResource())
    fake_stats = fake_rmm.StatisticsResourceAdaptor(fake_rmm.CudaMemoryResource())
    assert vars(real_stats.allocation_counts) == vars(fake_stats.allocation_counts)  # zeros
    assert same_type(fake_stats.allocation_counts, type(real_stats.allocation_counts))
    assert _outcome(fake_stats.pop_counters) == _outcome(real_stats.pop_counters)


def test_cuvs_fakes_return_the_real_index_and_raise_the_real_exception(emulated_gpu):
    z = _device(np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32))
    indexes = {
        "brute_force": fake_cuvs._bf_build(z),
        "ivf_flat": fake_cuvs._ivf_build(fake_cuvs._IvfIndexParams(n_lists=2), z),
        "cagra": fake_cuvs._cagra_build(fake_cuvs._CagraIndexParams(), z),
    }
    for name, index in indexes.items():
        assert same_type(index, _import_real(f"cuvs.neighbors.{name}", "Index"))
    real = _import_real("cuvs.common.exceptions", "CuvsException")
    assert same_type(fake_cuvs.CuvsException(), real) and issubclass(real, Exception)
