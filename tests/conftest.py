"""Shared fixtures: every conformance test runs once per backend.

``backend`` is ``"cpu"``, ``"gpu"`` on a real CUDA device (marker ``gpu``,
skipped visibly where ``cupy.is_available()`` is false) and ``"gpu"`` on the
strict RAPIDS emulation (marker ``emulated_gpu``, id ``emulated_gpu``; see
``tests/emulation``), which runs the GPU code path everywhere, and on the same
emulation with RAPIDS hidden (id ``emulated_cupy_tier``: a machine with cupy and
no RAPIDS, where the GPU backend runs its cupy tier).
"""

from __future__ import annotations

import numpy as np
import pytest

from lcc._backend import gpu_available

GPU_REASON = "no usable CUDA device (cupy.is_available() is False)"


def real_gpu() -> list:
    """Marks of a test that needs a CUDA device (torch + cupy); RAPIDS where installed, its
    cupy tier where not (both are lcc's GPU backend)."""
    return [pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason=GPU_REASON)]


EMULATED = pytest.mark.emulated_gpu
BACKENDS = [
    "cpu",
    pytest.param("gpu", id="gpu", marks=real_gpu()),
    pytest.param("gpu", id="emulated_gpu", marks=pytest.mark.emulated_gpu),
    pytest.param("gpu", id="emulated_cupy_tier", marks=[EMULATED, pytest.mark.cupy_tier]),
    pytest.param("toy", id="toy_backend", marks=pytest.mark.toy_backend),
]


@pytest.fixture
def emulated_gpu(monkeypatch):
    """The strict RAPIDS emulation in place of cupy / cuVS / cuML / cuGraph for one test."""
    import emulation

    from lcc import _backend

    emulation.install(monkeypatch)
    monkeypatch.delenv("LCC_BACKEND", raising=False)
    yield emulation
    _backend.gpu_available.cache_clear()
    from lcc import gpu_memory

    gpu_memory._reset_for_tests()


@pytest.fixture
def emulated_cupy_tier(emulated_gpu, monkeypatch):
    """The emulation on a machine with cupy but no RAPIDS: the GPU backend's cupy tier."""
    emulated_gpu.install(monkeypatch, rapids=False)
    return emulated_gpu


@pytest.fixture(params=["rapids", "cupy_tier"])
def emulated_cuda(request, emulated_gpu, monkeypatch):
    """A "CUDA model": the engine on the emulated GPU for torch tensors (``.cuda()`` is a no-op),
    with RAPIDS and with its cupy tier alone."""
    import torch

    if request.param == "cupy_tier":
        request.getfixturevalue("emulated_cupy_tier")

    monkeypatch.setenv("LCC_BACKEND", "gpu")
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)
    return emulated_gpu


@pytest.fixture
def matching_calls(monkeypatch):
    """Counts every match_clusters call, wherever it is imported from."""
    import lcc.correction
    import lcc.matching
    import lcc.targets

    calls = []
    original = lcc.matching.match_clusters

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    for module in (lcc.matching, lcc.correction, lcc.targets):
        monkeypatch.setattr(module, "match_clusters", counting)
    return calls


@pytest.fixture
def toy_backend(monkeypatch):
    """tests/toy_backend.py registered (one module), and asked for by ``$LCC_BACKEND``."""
    import importlib

    import toy_backend

    from lcc._backend import BACKENDS
    from lcc.backends.knn import ALGORITHMS

    importlib.reload(toy_backend)  # its last lines register it
    toy_backend.CALLS.clear()
    monkeypatch.setenv("LCC_BACKEND", "toy")
    yield toy_backend
    BACKENDS.pop("toy", None)
    for key in [key for key in ALGORITHMS if key[0] == "toy"]:
        ALGORITHMS.pop(key)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend name; ``helpers.on(backend, x)`` / ``helpers.host(x)`` move test data."""
    if request.param == "toy":
        request.getfixturevalue("toy_backend")
    elif request.node.get_closest_marker("cupy_tier"):
        request.getfixturevalue("emulated_cupy_tier")
    elif request.node.get_closest_marker("emulated_gpu"):
        request.getfixturevalue("emulated_gpu")
    return request.param


def pytest_collection_modifyitems(config, items):
    """Tests that use the ``emulated_gpu`` fixture directly carry its marker too."""
    for item in items:
        if "emulated_gpu" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.emulated_gpu)


@pytest.fixture
def blobs():
    """10 well separated Gaussian blobs in 16-D, float32 (2,000 samples)."""
    from sklearn.datasets import make_blobs

    z, y = make_blobs(n_samples=2000, n_features=16, centers=10, cluster_std=1.0, random_state=3)
    return z.astype(np.float32), y.astype(np.int64)
