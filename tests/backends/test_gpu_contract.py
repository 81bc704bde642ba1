"""The GPU path, checked without a GPU against the installed RAPIDS API.

RAPIDS wheels import on machines without a device; only allocating device
memory fails. So every call the GPU code makes can be checked statically:
the source is parsed, each call into cupy / cupyx / cuML / cuGraph / cuDF /
cuVS is resolved to the installed object, which must exist and be callable,
and every keyword argument passed must be in its signature. The shared glue
(written against ``xp`` = numpy or cupy, ``sparse`` = scipy.sparse or
cupyx.scipy.sparse) is checked the same way against cupy.

CI installs the ``gpu`` extra, so this runs on every submission.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest
from api_signatures import import_path, parameters

pytest.importorskip("cupy", reason="the gpu extra (RAPIDS) is not installed")
pytest.importorskip("cuml", reason="the gpu extra (RAPIDS) is not installed")
pytest.importorskip("cugraph", reason="the gpu extra (RAPIDS) is not installed")
pytest.importorskip("cuvs", reason="the gpu extra (RAPIDS) is not installed")

LCC = Path(__file__).resolve().parents[2] / "lcc"
GPU_ROOTS = {
    "cupy",
    "cupyx",
    "cuml",
    "cugraph",
    "cudf",
    "cuvs",
    "pylibraft",
    "dask_cuda",
    "dask_cudf",
    "rmm",
}
# The glue's stand-in names and the cupy objects they stand for on the GPU.
GLUE_NAMES = {"xp": "cupy", "sparse": "cupyx.scipy.sparse", "cp": "cupy"}


class _CallCollector(ast.NodeVisitor):
    """Resolve RAPIDS calls in one module: imports, aliases and simple local types."""

    def __init__(self, glue: bool):
        self.glue = glue
        self.calls: list[tuple[str, Any, list[str], int]] = []
        self.scopes: list[dict[str, Any]] = [{}]

    def _bind(self, name: str, value: Any) -> None:
        self.scopes[-1][name] = value

    def _lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if self.glue and name in GLUE_NAMES:
            return import_path(GLUE_NAMES[name])
        return None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.scopes.append({})
        self.generic_visit(node)
        self.scopes.pop()

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in GPU_ROOTS:
                bound = alias.asname or alias.name.split(".")[0]
                target = alias.name if alias.asname else alias.name.split(".")[0]
                self._bind(bound, import_path(target))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.module.split(".")[0] in GPU_ROOTS:
            module = importlib.import_module(node.module)
            for alias in node.names:  # as `from m import n` does: attribute first, then submodule
                if hasattr(module, alias.name):  # its value may be None (rmm_torch_allocator
                    value = getattr(module, alias.name)  # without CUDA): nothing to check
                else:
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                self._bind(alias.asname or alias.name, value)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        value = self.resolve(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name) and value is not None:
                self._bind(target.id, value)

    def resolve(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return self._lookup(node.id)
        if isinstance(node, ast.Attribute):
            if self.glue and node.attr in GLUE_NAMES and ast.unparse(node.value) == "on":
                return import_path(GLUE_NAMES[node.attr])  # a kernel's placement: on.xp
            owner = self.resolve(node.value)
            if owner is None:
                return None
            if not hasattr(owner, node.attr):
                raise AssertionError(
                    f"line {node.lineno}: {getattr(owner, '__name__', owner)!r} has no "
                    f"attribute {node.attr!r} in the installed RAPIDS"
                )
            value = inspect.getattr_static(owner, node.attr, None)
            if isinstance(value, property):
                return None  # an instance attribute: its type is not known statically
            return getattr(owner, node.attr)
        if isinstance(node, ast.Call):  # a constructor call stands for its instances
            func = self.resolve(node.func)
            return func if inspect.isclass(func) else None
        return None

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        func = self.resolve(node.func)
        if func is not None:
            keywords = [k.arg for k in node.keywords if k.arg is not None]
            self.calls.append((ast.unparse(node.func), func, keywords, node.lineno))


def collect(module: str, glue: bool) -> list[tuple[str, Any, list[str], int]]:
    collector = _CallCollector(glue)
    collector.visit(ast.parse((LCC / module).read_text()))
    return collector.calls


GPU_CALLS = [
    call
    for m in (
        "backends/gpu.py",
        "backends/rapids_glue.py",
        "backends/cupy_tier.py",
        "gpu_memory.py",
        *(f"backends/knn/{p.name}" for p in sorted((LCC / "backends" / "knn").glob("gpu_*.py"))),
    )
    for call in collect(m, glue=False)
]
# the Dask backend's RAPIDS calls (multi-GPU estimators) and LocalCUDACluster
DASK_CALLS = [
    (m, *call)
    for m in (
        *(f"sharded/{p.name}" for p in sorted((LCC / "sharded").glob("*.py"))),
        "backends/dask_gpu.py",
        "distributed.py",
    )
    for call in collect(m, glue=False)
]
GLUE_MODULES = [
    "graph.py",
    "neighbors.py",
    "matching.py",
    "metrics.py",
    "kmeans.py",
    "spectral.py",
    "landmarks.py",
    "consensus.py",
    "targets.py",
    *(f"kernels/{p.name}" for p in sorted((LCC / "kernels").glob("*.py"))),
    "backends/xp_kmeans.py",
    "backends/xp_metrics.py",
    "_validation.py",
    "_backend.py",
]
GLUE_CALLS = [(m, *call) for m in GLUE_MODULES for call in collect(m, glue=True)]


def _check_call(where: str, text: str, func: Any, keywords: list[str]) -> None:
    assert callable(func), f"{where}: {text} is not callable"
    params = parameters(func)
    if params is None:
        return  # a C function with no introspectable signature: existence was checked
    names, var_kw = params
    unknown = [k for k in keywords if k not in names]
    assert var_kw or not unknown, f"{where}: {text} takes no keyword(s) {unknown}; has {names}"


def test_the_gpu_backend_makes_the_expected_rapids_calls():
    called = {text for text, *_ in GPU_CALLS}
    for expected in [
        "brute_force.build",
        "brute_force.search",
        "cagra.build",
        "cagra.search",
        "ivf_flat.build",
        "ivf_flat.search",
        "cugraph.Graph",
        "graph.from_cudf_adjlist",
        "cugraph.leiden",
        "cugraph.louvain",
        "KMeans",
        "cp.linalg.eigh",
        "eigsh",
        "v_measure_score",
        "adjusted_rand_score",
        "silhouette_score",
        "rmm.mr.PoolMemoryResource",
        "rmm.mr.CudaMemoryResource",
        "rmm.mr.set_current_device_resource",
        "rmm.mr.CallbackMemoryResource",
        "cp.argpartition",
        "cp.from_dlpack",
    ]:
        assert expected in called, f"{expected} is no longer called: update this test"
    assert len(GPU_CALLS) >= 30


@pytest.mark.parametrize(
    ("text", "func", "keywords", "line"),
    GPU_CALLS,
    ids=[f"gpu.py:{c[3]}:{c[0][:40]}" for c in GPU_CALLS],
)
def test_rapids_call_matches_installed_api(text, func, keywords, line):
    _check_call(f"lcc/backends/gpu.py:{line}", text, func, keywords)


def test_the_dask_backend_makes_the_expected_rapids_calls():
    called = {text for _, text, *_ in DASK_CALLS}
    for expected in [
        "NearestNeighbors",
        "model.kneighbors",
        "KMeans",
        "model.predict",
        "cugraph.Graph",
        "graph.from_dask_cudf_edgelist",
        "dask_leiden",
        "comms.initialize",
        "comms.is_initialized",
        "dask_cudf.from_delayed",
        "LocalCUDACluster",
    ]:
        assert expected in called, f"{expected} is no longer called: update this test"


@pytest.mark.parametrize(
    ("module", "text", "func", "keywords", "line"),
    DASK_CALLS,
    ids=[f"{c[0]}:{c[4]}:{c[1][:40]}" for c in DASK_CALLS],
)
def test_dask_rapids_call_matches_installed_api(module, text, func, keywords, line):
    _check_call(f"lcc/{module}:{line}", text, func, keywords)


@pytest.mark.parametrize(
    ("module", "text", "func", "keywords", "line"),
    GLUE_CALLS,
    ids=[f"{c[0]}:{c[4]}:{c[1]}" for c in GLUE_CALLS],
)
def test_shared_glue_call_exists_in_cupy(module, text, func, keywords, line):
    _check_call(f"lcc/{module}:{line}", text, func, keywords)


def test_glue_uses_only_what_cupy_sparse_matrices_have():
    """Methods the glue calls on sparse matrices, which cupyx's CSR must provide."""
    import cupyx.scipy.sparse as csp

    used = {
        "maximum",
        "tocsr",
        "sort_indices",
        "sum_duplicates",
        "astype",
        "sum",
        "max",
        "min",
        "T",
        "nnz",
        "get",
        "__matmul__",
        "__abs__",
        "__sub__",
        "__add__",
    }
    missing = {m for m in used if not hasattr(csp.csr_matrix, m)}
    assert not missing, missing


def test_glue_random_generator_methods_exist_in_cupy():
    import cupy

    gen = cupy.random.Generator
    for method in ("random", "integers"):
        assert hasattr(gen, method), method
    assert hasattr(cupy.random, "default_rng")
