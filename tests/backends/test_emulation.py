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
from emulation import fake_cupy, fake_dask_rapids, fake_rapids, fake_sparse

pytestmark = pytest.mark.emulated_gpu

# (fake, the real callable's dotted path); classes are checked through __init__
FAKES: list[tuple[Any, str]] = [
    (fake_rapids._bf_build, "cuvs.neighbors.brute_force.build"),
    (fake_rapids._bf_search, "cuvs.neighbors.brute_force.search"),
    (fake_rapids._ivf_build, "cuvs.neighbors.ivf_flat.build"),
    (fake_rapids._ivf_search, "cuvs.neighbors.ivf_flat.search"),
    (fake_rapids._IvfIndexParams, "cuvs.neighbors.ivf_flat.IndexParams"),
    (fake_rapids._IvfSearchParams, "cuvs.neighbors.ivf_flat.SearchParams"),
    (fake_rapids._cagra_build, "cuvs.neighbors.cagra.build"),
    (fake_rapids._cagra_search, "cuvs.neighbors.cagra.search"),
    (fake_rapids._CagraIndexParams, "cuvs.neighbors.cagra.IndexParams"),
    (fake_rapids._CagraSearchParams, "cuvs.neighbors.cagra.SearchParams"),
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
    _, ids = fake_rapids._cagra_search(params, fake_rapids._cagra_build(None, z), z, 3)
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
