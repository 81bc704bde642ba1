"""A Dask worker killed (SIGKILL) while the k-NN graph or the LCC step runs on a 2-worker
LocalCluster: the call still returns the single-process result.

Three moments: a random one (wherever it lands: Dask recomputes lost blocks), during the
broadcast of the per-worker search structure (the step is rerun: ``WorkerLost``), and
just before the sharded block searches (the survivor, which holds the whole structure,
takes the dead worker's blocks)."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")

import lcc
import lcc.sharded.correction
import lcc.sharded.neighbors
from lcc.distributed import as_dask, cluster
from lcc.sharded import _plumbing


@pytest.fixture(scope="module")
def latents():
    from sklearn.datasets import make_blobs

    z, y = make_blobs(8_000, n_features=32, centers=8, cluster_std=3.0, random_state=1)
    rng = np.random.default_rng(1)
    noisy = rng.random(len(y)) < 0.08
    y[noisy] = rng.integers(0, 8, noisy.sum())
    return z.astype(np.float32), y.astype(np.int64)


class Killer:
    """SIGKILL one worker process of ``client`` once (its nanny starts a new one)."""

    def __init__(self, client):
        self.victim = sorted(client.run(os.getpid).values())[0]
        self.at: float | None = None

    def kill(self) -> None:
        if self.at is None:
            self.at = time.monotonic()
            os.kill(self.victim, signal.SIGKILL)

    def later(self, delay_s: float) -> threading.Thread:
        thread = threading.Thread(target=lambda: (time.sleep(delay_s), self.kill()), daemon=True)
        thread.start()
        return thread


def _arm(killer: Killer, when: str, monkeypatch, call_s: float) -> threading.Thread | None:
    if when == "random":  # within the call: a fraction of an unharmed call's duration
        return killer.later(random.Random(when).uniform(0.2, 0.8) * call_s)
    if when == "broadcast":
        wait_for = _plumbing.wait_for

        def dying_wait(client, futures, workers):
            killer.kill()
            return wait_for(client, futures, workers)

        monkeypatch.setattr(_plumbing, "wait_for", dying_wait)
    else:
        for module in (lcc.sharded.neighbors, lcc.sharded.correction):
            map_rows = module.map_rows

            def dying_map(*args, _map_rows=map_rows, **kwargs):
                killer.kill()
                time.sleep(0.5)  # the scheduler notices the loss
                return _map_rows(*args, **kwargs)

            monkeypatch.setattr(module, "map_rows", dying_map)
    return None


@pytest.mark.parametrize("when", ["random", "broadcast", "blocks"])
@pytest.mark.parametrize("step", ["knn_graph", "correct"])
def test_a_killed_worker_does_not_change_the_result(latents, step, when, monkeypatch, caplog):
    z, y = latents
    run = {
        "knn_graph": lambda a: lcc.knn_graph(a, 10),
        "correct": lambda a: lcc.correct(a, y, k=10, seed=0),
    }[step]
    expected = run(z)
    with cluster("local", n_workers=2, threads_per_worker=1, memory_limit="2GiB") as client:
        zd = as_dask(z)
        run(zd)  # warm the workers up, then time a call as it will run
        start = time.monotonic()
        run(zd)
        killer = Killer(client)
        thread = _arm(killer, when, monkeypatch, time.monotonic() - start)
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger=_plumbing.__name__):
            got = run(zd)
            got = got.compute() if step == "knn_graph" else got
        end = time.monotonic()
        if thread is not None:
            thread.join()
    assert killer.at is not None and start < killer.at < end, "no worker died during the call"
    if when == "broadcast":
        assert "rerunning it (1/3)" in caplog.text
    if step == "knn_graph":
        # the single process's symmetric self-join rounds differently from the shards'
        assert abs(got - expected).max() < 1e-5 and got.nnz == expected.nnz
    else:
        np.testing.assert_array_equal(np.asarray(got.clusters), expected.clusters)
        np.testing.assert_allclose(np.asarray(got.targets), expected.targets, rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(got.correctible), expected.correctible)
