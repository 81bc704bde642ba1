"""Every wait on a Dask cluster, bounded: the waiting primitives of the sharded engine.

A sharded step waits on its workers in four ways: for persisted blocks
(:func:`settled`), for tasks pinned to workers (:func:`wait_for`), for a result
brought back to this process (:func:`fetch`, also used by the checks of
:mod:`lcc._validation`), and inside RAPIDS' own Dask estimators (:func:`bounded`). The
first three poll the futures' own statuses, and stop

* with :class:`WorkerLost` when a worker the wait depends on leaves the cluster (a task
  pinned to it would otherwise never run), and
* with :class:`StepTimeout` past :func:`step_timeout` seconds, when a worker stays in the
  cluster but never answers (hung in a native library, stopped, swapping): the error
  names the workers still busy, where a bare ``compute()`` would hang forever.

The timeout belongs to the :func:`lcc.distributed.cluster` block (its ``step_timeout_s``)
through a context variable; outside one it is :data:`DEFAULT_STEP_TIMEOUT_S`. Dask is
imported only when a wait runs.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = [
    "DEFAULT_STEP_TIMEOUT_S",
    "POLL_S",
    "StepTimeout",
    "WorkerLost",
    "bounded",
    "check_step_timeout",
    "current_client",
    "fetch",
    "raise_failed",
    "raise_if_gone",
    "settled",
    "step_timeout",
    "step_timeout_of",
    "wait_for",
    "workers_of",
]

T = TypeVar("T")
POLL_S = 0.25
# the longest one sharded step (a k-NN graph, an LCC step) waits on the cluster before a
# worker that never answers becomes an error: the 1M × 64 graph takes minutes on 2 cores
DEFAULT_STEP_TIMEOUT_S = 3600.0
_step_timeout: contextvars.ContextVar[float] = contextvars.ContextVar(
    "step_timeout", default=DEFAULT_STEP_TIMEOUT_S
)


def step_timeout() -> float:
    """Seconds a sharded step may wait on its Dask workers: the enclosing
    :func:`lcc.distributed.cluster`'s ``step_timeout_s``, else :data:`DEFAULT_STEP_TIMEOUT_S`."""
    return _step_timeout.get()


def check_step_timeout(seconds: Any) -> float:
    """``seconds`` as a float: a positive finite number, else ``ValueError``."""
    ok = isinstance(seconds, int | float) and not isinstance(seconds, bool)
    if not (ok and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"step_timeout_s must be a positive number of seconds, got {seconds!r}")
    return float(seconds)


@contextlib.contextmanager
def step_timeout_of(seconds: float) -> Iterator[None]:
    """Every wait inside the block is bounded by ``seconds`` (:func:`check_step_timeout`)."""
    token = _step_timeout.set(check_step_timeout(seconds))
    try:
        yield
    finally:
        _step_timeout.reset(token)


def current_client() -> Any:
    """The default ``distributed.Client``, or None when there is none (or no Dask)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


class WorkerLost(RuntimeError):
    """A Dask worker holding part of a step's state left the cluster during the step."""


class StepTimeout(TimeoutError):
    """A sharded step waited on its Dask workers longer than the step's timeout."""


def wait_for(client: Any, futures: Any, workers: list[str]) -> None:
    """Wait until ``futures`` are done, stopped by :class:`WorkerLost` when one of ``workers``
    leaves the cluster (a task pinned to it would otherwise never run), and by
    :class:`StepTimeout` past :func:`step_timeout` seconds.

    Polls each future's own status (``Future.done()``, no call to the scheduler) rather
    than ``distributed.wait(futures, timeout=…)``: after a worker was killed that call
    was seen to block in its ``client.sync`` well past its timeout, forever.
    """
    futures = list(futures)
    start = checked = time.monotonic()
    limit = step_timeout()
    while not all(f.done() for f in futures):
        time.sleep(POLL_S / 10)
        if time.monotonic() - checked >= POLL_S:
            checked = time.monotonic()
            raise_if_gone(client, workers)
            if checked - start > limit:
                raise _timed_out(client, futures, limit)


def _timed_out(client: Any, futures: list, limit: float) -> StepTimeout:
    pending = [f for f in futures if not f.done()]
    try:  # the workers still running tasks (the step's, or those its results depend on)
        busy = client.sync(client.scheduler.processing, callback_timeout=POLL_S * 8)
        workers = sorted(w for w, keys in busy.items() if keys)
    except Exception:  # one bounded scheduler call: the message only loses the names
        workers = []
    where = f" on worker(s) {workers}" if workers else ""
    return StepTimeout(
        f"a sharded step waited {limit:g} s for {len(pending)} of its {len(futures)} Dask "
        f"task(s){where}, which never finished: a worker may be hung (stuck in a native "
        "library, stopped, out of memory and swapping); look at the Dask dashboard, or pass "
        "a larger step_timeout_s to lcc.distributed.cluster() for larger data"
    )


def raise_if_gone(client: Any, workers: list[str]) -> None:
    """:class:`WorkerLost` when one of ``workers`` is no longer in the cluster."""
    gone = set(workers) - set(workers_of(client))
    if gone:
        raise WorkerLost(f"Dask worker(s) {sorted(gone)} left the cluster")


def workers_of(client: Any) -> list[str]:
    return list(client.scheduler_info(n_workers=-1)["workers"])


def settled(client: Any, results: Any) -> Any:
    """``results`` (persisted Dask collections) once computed; the first failed block's
    error is raised here, inside the step that :func:`survive_worker_loss` can rerun."""
    from distributed import futures_of

    wait_for(client, futures_of(results), [])
    raise_failed(futures_of(results))
    return results


def raise_failed(futures: Any) -> None:
    """Raise what the first failed future raised, from the statuses alone: never
    ``client.gather``, which waits forever for a result whose worker died after the task ran
    when the task was pinned to it (it can run nowhere else)."""
    for future in futures:
        if future.status in ("error", "cancelled"):
            # a block whose worker died can be left errored without an exception (or
            # cancelled); client.gather then fails inside distributed itself
            error = future.exception() if future.status == "error" else None
            raise error or WorkerLost(f"a block of the step was lost ({future.status})")


def bounded(what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, a library call that waits on the cluster inside itself,
    bounded by the step's timeout: past it, :class:`StepTimeout` naming ``what``.

    cuML's and cuGraph's Dask estimators wait with ``distributed.wait`` and no timeout
    (cuML 26.10 ``dask/common/utils.py`` ``wait_and_raise_from_futures``, called by
    ``KMeans.fit`` and ``NearestNeighbors.fit``; cuGraph 26.10
    ``dask/community/leiden.py``), so a hung worker would hang the step there. The call
    runs in a daemon thread, in this context (the default client, the step's timeout),
    and this one waits on it; after a timeout the thread is left to end with the cluster
    (a thread cannot be stopped), the error reaches the user."""
    limit = step_timeout()
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome.set_result(context.run(call, *args, **kwargs))
        except BaseException as err:  # handed to the waiting thread, raised there
            outcome.set_exception(err)

    threading.Thread(target=target, name=f"lcc: {what}", daemon=True).start()
    try:
        return outcome.result(timeout=limit)
    except concurrent.futures.TimeoutError:
        raise StepTimeout(
            f"{what} waited {limit:g} s on the Dask cluster and never returned: a worker may "
            "be hung (stuck in a native library, stopped, out of memory and swapping); look "
            "at the Dask dashboard, or pass a larger step_timeout_s to "
            "lcc.distributed.cluster() for larger data"
        ) from None


def fetch(x: Any) -> Any:
    """``x.compute()`` for a Dask collection, having waited for it like every other wait of
    a step (bounded by the step's timeout, failures raised from the futures' statuses)."""
    client = current_client()
    if client is not None:
        x = settled(client, client.persist(x))
    return x.compute()
