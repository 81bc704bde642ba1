"""A Dask worker that stays in the cluster but never answers (here: stopped with SIGSTOP)
ends a sharded step with ``StepTimeout`` after ``step_timeout_s``, naming the busy worker,
instead of hanging forever."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

pytest.importorskip("distributed")

from helpers import on

import lcc
from lcc.distributed import StepTimeout, as_dask, cluster, step_timeout

TIMEOUT_S = 4.0


@pytest.fixture(scope="module")
def latents():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4_000, 16)).astype(np.float32)


def test_a_worker_that_never_answers_is_an_error_not_a_hang(latents):
    options = {"n_workers": 2, "threads_per_worker": 1, "memory_limit": "2GiB"}
    with cluster("local", step_timeout_s=TIMEOUT_S, **options) as client:
        assert step_timeout() == TIMEOUT_S
        z = as_dask(latents, n_chunks=4)
        lcc.knn_graph(z, 5)  # warm: the step finishes well inside the timeout
        pids = client.run(os.getpid)
        address, victim = sorted(pids.items())[0]
        os.kill(victim, signal.SIGSTOP)
        try:
            start = time.monotonic()
            with pytest.raises(StepTimeout) as caught:
                lcc.knn_graph(z, 5)
            waited = time.monotonic() - start
        finally:
            os.kill(victim, signal.SIGCONT)
    assert TIMEOUT_S <= waited < TIMEOUT_S + 20
    message = str(caught.value)
    assert f"waited {TIMEOUT_S:g} s" in message and "never finished" in message
    assert address in message, message
    assert "step_timeout_s" in message


def test_the_timeout_belongs_to_the_cluster_block():
    default = step_timeout()
    with cluster("local", n_workers=1, threads_per_worker=1, step_timeout_s=12):
        assert step_timeout() == 12
    assert step_timeout() == default


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "10"])
def test_a_bad_timeout_is_refused_before_a_cluster_starts(bad):
    with pytest.raises(ValueError, match="step_timeout_s must be a positive number of seconds"):
        with cluster("local", step_timeout_s=bad):
            pass


# RAPIDS' Dask estimators wait inside themselves (distributed.wait, no timeout); on the
# emulation, each hangs as it would on a worker that never answers
HANGS = {
    "knn": ("cuML's Dask NearestNeighbors", lambda z: lcc.knn_graph(z, 5)),
    "kmeans": ("cuML's Dask KMeans", lambda z: lcc.kmeans(z, 4, seed=0)),
    "leiden": ("cuGraph's Dask Leiden", lambda graph: lcc.leiden(graph)),
}


@pytest.mark.emulated_gpu
@pytest.mark.parametrize("step", list(HANGS))
def test_a_rapids_estimator_that_never_returns_is_an_error_not_a_hang(
    emulated_gpu, monkeypatch, step
):
    import sys
    import threading

    from emulation import fake_dask_rapids as fake

    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(60)

    what, call = HANGS[step]
    z = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    with cluster("local-cuda", n_workers=2, step_timeout_s=2):
        data = as_dask(on("gpu", z))
        if step == "leiden":
            data = lcc.knn_graph(data, 5)  # built before the hang
            monkeypatch.setattr(sys.modules["cugraph.dask"], "leiden", hang)
        else:
            cls = fake.DaskNearestNeighbors if step == "knn" else fake.DaskKMeans
            monkeypatch.setattr(cls, "fit", hang)
        start = time.monotonic()
        try:
            with pytest.raises(StepTimeout, match=f"{what} waited 2 s on the Dask cluster"):
                call(data)
        finally:
            release.set()
        assert time.monotonic() - start < 12
