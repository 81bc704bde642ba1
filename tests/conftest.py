"""Shared fixtures: every conformance test runs once per available backend.

The ``gpu`` parameter carries the ``gpu`` marker and is skipped, visibly, where
``cupy.is_available()`` is false; there the CPU run exercises the shared glue.
"""

from __future__ import annotations

import numpy as np
import pytest

from lcc._backend import gpu_available

GPU_REASON = "no usable CUDA device (cupy.is_available() is False)"

BACKENDS = [
    "cpu",
    pytest.param(
        "gpu", marks=[pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason=GPU_REASON)]
    ),
]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend name; ``helpers.on(backend, x)`` / ``helpers.host(x)`` move test data."""
    return request.param


@pytest.fixture
def blobs():
    """10 well separated Gaussian blobs in 16-D, float32 (2,000 samples)."""
    from sklearn.datasets import make_blobs

    z, y = make_blobs(n_samples=2000, n_features=16, centers=10, cluster_std=1.0, random_state=3)
    return z.astype(np.float32), y.astype(np.int64)
