"""Dask backend: the engine on latent sets sharded by samples across a cluster.

Input is a ``dask.array.Array`` chunked along samples only, whose chunks are
numpy (CPU workers) or cupy (GPU workers); results are Dask arrays chunked
like the input, computed (persisted on the workers) before they are returned.
The public functions in :mod:`lcc` route Dask input here; a cluster comes from
:func:`lcc.distributed.cluster` (any default ``distributed.Client`` works).
Without a client the input is computed into this process and the
single-process engine runs on it.

What runs where — said plainly, because it decides what scales:

=====================  ======================================================
step                   CPU workers (numpy chunks)
=====================  ======================================================
``knn`` / exact        every worker gathers the latents once, block by block,
                       into one dense array; the *queries* are sharded: each
                       block's rows are searched on a worker (numpy BLAS +
                       faiss heaps, the single-process code).
``knn`` / approximate  the IVF coarse quantizer is trained on the client from a
                       sample; every worker then fills its own faiss IVF-Flat
                       index block by block (the index *is* its one copy of
                       the latents) and searches its share of the blocks.
``knn_graph``          symmetrised by block pairs on the workers; σ = "median"
                       gathers the ``n`` k-th neighbour distances to the client.
``leiden``             gathers the sparse graph to the client: igraph is
                       single-process.
``kmeans``             gathers the latents to the client (scikit-learn).
``truncated_svd``      ``dask.array.linalg.svd_compressed`` (distributed,
                       randomised, 4 power iterations).
``match_clusters``     gathers the two label vectors (``n`` integers each).
``correction_targets`` matching on the client; exact mode: every worker
                       gathers the correctly clustered samples once (one array
                       per label), the misclustered queries are sharded;
                       approximate mode: the representatives (one per
                       cluster) go to every task; orthogonal mode gathers
                       the latents to the client.
=====================  ======================================================

On GPU workers (cupy chunks) RAPIDS' multi-GPU estimators run instead:
``cuml.dask.neighbors.NearestNeighbors`` (brute force, for ``exact=False``
too), ``cuml.dask.cluster.KMeans`` and ``cugraph.dask.leiden`` on a dask-cuDF
edge list; the other steps are the Dask glue above with cupy chunks.

The per-worker copies live in a module-level store keyed by a random token
and are dropped as soon as the results are persisted.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import numpy as np

from lcc._backend import is_gpu_array, move

_STORE: dict[str, Any] = {}
_STORE_LOCK = threading.Lock()


# ----------------------------------------------------------------------- plumbing
def client_or_none() -> Any:
    from lcc.distributed import current_client

    return current_client()


def on_gpu(z: Any) -> bool:
    """Whether a Dask array's chunks are cupy arrays."""
    return is_gpu_array(z._meta)


def device_meta(x: Any) -> Any:
    """``x`` with a cupy ``_meta``: cuML's Dask outputs are built with ``from_delayed``
    and no meta (cuML ``dask/common/input_utils.py``), so they claim numpy chunks
    while holding cupy ones, and everything downstream would take the CPU path."""
    import cupy as cp

    meta = cp.empty((0,) * x.ndim, dtype=x.dtype)
    return x.map_blocks(cp.asarray, dtype=x.dtype, meta=meta)


def row_starts(chunks: tuple[int, ...]) -> np.ndarray:
    """First row of every chunk, plus the total: ``[0, c0, c0 + c1, …, n]``."""
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


def by_rows(z: Any) -> Any:
    """``z`` with its columns in one chunk (the engine shards samples only)."""
    return z.rechunk({1: -1}) if z.ndim == 2 and len(z.chunks[1]) > 1 else z


def like_rows(values: Any, row_chunks: tuple[int, ...], client: Any) -> Any:
    """A local numpy / cupy array as a Dask array with the given row chunks."""
    import dask.array as da

    chunks = (row_chunks, *tuple((s,) for s in values.shape[1:]))
    meta = values[:0] if is_gpu_array(values) else None
    out = da.from_array(values, chunks=chunks, asarray=False, meta=meta, name=False)  # no hashing
    return client.persist(out) if client is not None else out


def workers_of(client: Any) -> list[str]:
    return list(client.scheduler_info(n_workers=-1)["workers"])


def _block_keys(z: Any) -> list[Any]:
    from dask.core import flatten

    return list(flatten(z.__dask_keys__()))


def broadcast(client: Any, z: Any, factory: Any, *args: Any) -> tuple[str, list[str]]:
    """Build ``factory(*args)`` on every worker and feed it ``z``'s blocks, one at a time.

    Per worker a chain of tasks: create the structure, then add block 0, 1, …
    each after the previous. A block owned by another worker travels as a
    throw-away copy made on its owner just in time (after the previous add),
    so Dask releases it once added instead of keeping a replica: a worker
    holds the latents once — in the structure — plus about one block in
    flight. Returns the store token and the workers.
    """
    from distributed import futures_of, wait

    token = uuid.uuid4().hex
    wait(z)
    by_key = {f.key: f for f in futures_of(z)}
    owners = client.who_has(z)
    keys, starts = _block_keys(z), row_starts(z.chunks[0])[:-1].tolist()
    workers = workers_of(client)
    pinned = {"allow_other_workers": False, "pure": False}
    ends = []
    for w in workers:
        step = client.submit(_create, token, factory, args, workers=[w], **pinned)
        for key, start in zip(keys, starts, strict=True):
            block = by_key[key]
            if w not in owners[key]:
                block = client.submit(_copy, block, step, workers=list(owners[key]), **pinned)
            step = client.submit(_add, token, block, start, step, workers=[w], **pinned)
        ends.append(step)
    try:
        client.gather(ends)  # raises what a worker raised
    except BaseException:
        release(client, token)
        raise
    return token, workers


def _create(token: str, factory: Any, args: tuple) -> None:
    with _STORE_LOCK:
        _STORE[token] = factory(*args)


def _copy(block: Any, _after: None) -> Any:
    return block.copy()


def _add(token: str, block: Any, start: int, _after: None) -> None:
    lookup(token).add(np.asarray(block), int(start))


def lookup(token: str) -> Any:
    try:
        return _STORE[token]
    except KeyError:
        raise RuntimeError(
            "this Dask worker holds no copy of the search structure (it joined the "
            "cluster after the broadcast?); rerun the call"
        ) from None


def release(client: Any, token: str) -> None:
    client.run(_drop, token)


def _drop(token: str) -> None:
    with _STORE_LOCK:
        _STORE.pop(token, None)


def map_rows(client: Any, workers: list[str], fn: Any, arrays: list, outputs: list, *args):
    """``fn(*blocks, start, *args)`` on every row block of ``arrays`` (same row chunks),
    one Dask array per ``(trailing_shape, dtype)`` of ``outputs``, persisted on ``workers``."""
    import dask
    import dask.array as da
    from distributed import wait

    rows = arrays[0].chunks[0]
    starts = row_starts(rows)
    blocks = zip(*(a.to_delayed().ravel() for a in arrays), strict=True)
    meta = arrays[0]._meta
    # each block's task runs where its latents already are (a persisted array), so no
    # worker receives, and keeps, a replica of another worker's block
    owners = client.who_has(arrays[0])
    parts = []
    for key, bs, start in zip(_block_keys(arrays[0]), blocks, starts[:-1], strict=True):
        near = [w for w in owners.get(key, ()) if w in workers] or workers
        with dask.annotate(workers=near, allow_other_workers=False):
            parts.append(dask.delayed(fn, nout=len(outputs), pure=False)(*bs, int(start), *args))
    results = []
    for j, (trailing, dtype) in enumerate(outputs):
        pieces = [
            da.from_delayed(part[j], shape=(r, *trailing), dtype=dtype, meta=meta[:0].astype(dtype))
            for part, r in zip(parts, rows, strict=True)
        ]
        results.append(da.concatenate(pieces, axis=0))
    results = client.persist(results)
    wait(results)
    return results


# -------------------------------------------------------------------------- k-NN
class DenseRows:
    """Selected rows of the latents (``rows`` sorted global ids, None = all) in one array."""

    def __init__(self, n: int, d: int, rows: np.ndarray | None = None):
        self.rows = rows
        self.data = np.empty((n if rows is None else len(rows), d), dtype=np.float32)

    def add(self, block: np.ndarray, start: int) -> None:
        stop = start + block.shape[0]
        if self.rows is None:
            self.data[start:stop] = block
            return
        lo, hi = np.searchsorted(self.rows, [start, stop])
        self.data[lo:hi] = block[self.rows[lo:hi] - start]

    def search(self, queries: np.ndarray, k: int, chunk_size: int) -> tuple[Any, Any]:
        from lcc.backends.cpu import knn_query

        return knn_query(self.data, queries, k, chunk_size=chunk_size)


class IVFIndex:
    """A trained, empty faiss IVF-Flat index, filled with global row ids."""

    def __init__(self, serialized: np.ndarray, nprobe: int):
        import faiss

        self.index = faiss.deserialize_index(serialized)
        self.index.nprobe = nprobe
        self.lock = threading.Lock()

    def add(self, block: np.ndarray, start: int) -> None:
        ids = np.arange(start, start + block.shape[0], dtype=np.int64)
        with self.lock:
            self.index.add_with_ids(np.ascontiguousarray(block, dtype=np.float32), ids)

    def search(self, queries: np.ndarray, k: int, chunk_size: int) -> tuple[Any, Any]:
        from lcc.backends.cpu import _search_in_chunks

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        return _search_in_chunks(self.index, queries, k, chunk_size, False)


def _knn_block(block: np.ndarray, start: int, token: str, k: int, chunk_size: int, n: int):
    from lcc.neighbors import _drop_self

    queries = np.ascontiguousarray(block, dtype=np.float32)
    sq, idx = lookup(token).search(queries, k + 1, chunk_size)
    ids = np.arange(start, start + queries.shape[0], dtype=np.int64)
    return _drop_self(sq, idx, k, "cpu", query_ids=ids, n_base=n)


def _trained_ivf(z: Any, nprobe: int | None, seed: int = 1234) -> tuple[np.ndarray, int]:
    """An empty IVF-Flat index trained on a sample of ``z`` (serialized), and its nprobe.

    The same list and probe counts as the single-process approximate search
    (:mod:`lcc.backends.cpu`): ``2√n`` lists, trained on ≤ 32 points per list.
    """
    import faiss

    from lcc.backends.cpu import IVF_TRAIN_POINTS_PER_LIST, _n_lists, _n_probes

    n, d = z.shape
    nlist = _n_lists(n, 2.0)
    size = min(n, IVF_TRAIN_POINTS_PER_LIST * nlist)
    rows = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    sample = np.ascontiguousarray(z[rows].compute(), dtype=np.float32)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
    index.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
    index.train(sample)
    return faiss.serialize_index(index), _n_probes(nlist, nprobe)


def knn(
    z: Any, k: int, *, exact: bool, method: str | None, nprobe: int | None, chunk_size: int
) -> tuple[Any, Any]:
    """``(distances, indices)`` Dask arrays, chunked like ``z``; see the module docstring."""
    client = client_or_none()
    z = by_rows(z).astype(np.float32)
    if client is None:
        return _local(z, lambda a: _single_knn(a, k, exact, method, nprobe, chunk_size))
    if on_gpu(z):
        return _knn_gpu(client, z, k)
    if not exact and method not in (None, "ivf"):
        raise ValueError(
            f"method={method!r} is not available for Dask input on CPU workers: every "
            "worker would rebuild the whole graph index; use method='ivf' or exact=True"
        )
    z = client.persist(z)
    n, d = z.shape
    if exact:
        token, workers = broadcast(client, z, DenseRows, n, d)
    else:
        token, workers = broadcast(client, z, IVFIndex, *_trained_ivf(z, nprobe))
    try:
        outputs = [((k,), np.float32), ((k,), np.int64)]
        dist, idx = map_rows(client, workers, _knn_block, [z], outputs, token, k, chunk_size, n)
    finally:
        release(client, token)
    return dist, idx


def _single_knn(z, k, exact, method, nprobe, chunk_size):
    from lcc.neighbors import knn as single

    return tuple(single(z, k, exact=exact, method=method, nprobe=nprobe, chunk_size=chunk_size))


def _local(z: Any, fn: Any) -> Any:
    """No cluster: compute ``z`` here, run ``fn`` on it, return Dask arrays chunked alike."""
    out = fn(z.compute())
    if isinstance(out, tuple):
        return tuple(like_rows(o, z.chunks[0], None) for o in out)
    return like_rows(out, z.chunks[0], None)


def _knn_gpu(client: Any, z: Any, k: int) -> tuple[Any, Any]:
    """cuML's multi-GPU brute-force NearestNeighbors, then self removal per block."""
    import cupy as cp
    from cuml.dask.neighbors import NearestNeighbors

    z = client.persist(z)
    model = NearestNeighbors(client=client, n_neighbors=k + 1)
    model.fit(z)
    dist, idx = model.kneighbors(z, n_neighbors=k + 1)
    sq = device_meta(dist.astype(cp.float32) ** 2).rechunk({0: z.chunks[0]})
    idx = device_meta(idx.astype(cp.int64)).rechunk({0: z.chunks[0]})
    outputs = [((k,), cp.float32), ((k,), cp.int64)]
    n = z.shape[0]
    return tuple(map_rows(client, workers_of(client), _drop_self_block, [sq, idx], outputs, k, n))


def _drop_self_block(sq: Any, idx: Any, start: int, k: int, n: int):
    import cupy as cp

    from lcc.neighbors import _drop_self

    ids = cp.arange(start, start + sq.shape[0], dtype=cp.int64)
    return _drop_self(sq, idx, k, "gpu", query_ids=ids, n_base=n)


# --------------------------------------------------------------------- k-NN graph
def _transpose_block(w: Any) -> Any:
    return w.T.tocsr()


def _rows_of(m: Any, lo: int, hi: int) -> Any:
    return m[lo:hi]


def _symmetric_block(w: Any, *transposed_pieces: Any) -> Any:
    from lcc._backend import backend_of, sparse_module

    sparse = sparse_module(backend_of(w))
    out = w.maximum(sparse.hstack(transposed_pieces, format="csr")).tocsr()
    out.sort_indices()
    return out


def graph_from_neighbors(dist: Any, idx: Any, bandwidth: Any) -> Any:
    """The symmetric k-NN graph, as a Dask array of CSR row blocks (``n × n``), from the
    Dask ``(distances, indices)`` of :func:`knn`: :func:`lcc.knn_graph`'s second half."""
    import dask
    import dask.array as da

    from lcc._backend import backend_of, sparse_module
    from lcc.neighbors import _bandwidth, _directed_rows, _edge_weights, _warn_underflow

    client = client_or_none()
    n = dist.shape[0]
    kth = dist[:, -1].compute()  # n floats to the client, for σ
    sigma = _bandwidth(kth, dist, bandwidth)
    zero = dist.map_blocks(lambda d: _edge_weights(d, sigma) == 0, dtype=bool)
    _warn_underflow(float(zero.mean().compute()))
    starts = row_starts(dist.chunks[0])
    directed = [
        dask.delayed(_directed_rows, pure=True)(d, i, sigma, n)
        for d, i in zip(dist.to_delayed().ravel(), idx.to_delayed().ravel(), strict=True)
    ]
    transposed = [dask.delayed(_transpose_block, pure=True)(w) for w in directed]
    blocks = []
    for i, w in enumerate(directed):
        lo, hi = int(starts[i]), int(starts[i + 1])
        pieces = [dask.delayed(_rows_of, pure=True)(t, lo, hi) for t in transposed]
        blocks.append(dask.delayed(_symmetric_block, pure=True)(w, *pieces))
    meta = sparse_module(backend_of(dist._meta)).csr_matrix((0, 0), dtype=np.float32)
    graph = da.concatenate(
        [
            da.from_delayed(b, shape=(rows, n), dtype=np.float32, meta=meta)
            for b, rows in zip(blocks, dist.chunks[0], strict=True)
        ],
        axis=0,
    )
    if client is not None:
        graph = client.persist(graph)
    return graph


# ------------------------------------------------------------------- communities
def gather_graph(adjacency: Any) -> Any:
    """The Dask graph as one scipy / cupyx CSR matrix in this process."""
    from lcc._backend import backend_of, sparse_module

    a = adjacency.compute()
    return sparse_module(backend_of(a)).csr_matrix(a)


def leiden(adjacency: Any, *, resolution: float, seed: int, n_runs: int) -> Any:
    """Leiden labels as a Dask array chunked like the graph's rows."""
    from lcc.graph import leiden as single

    client = client_or_none()
    if client is not None and on_gpu(adjacency):
        labels = _leiden_gpu(client, adjacency, resolution, seed)
    else:  # igraph is single-process: the graph is gathered here
        labels = single(gather_graph(adjacency), resolution=resolution, seed=seed, n_runs=n_runs)
    return like_rows(labels, adjacency.chunks[0], client)


def _edges_block(block: Any, start: int) -> Any:
    """One CSR row block as a cuDF edge list (src < dst; cuGraph symmetrises)."""
    import cudf

    coo = block.tocoo()
    src = coo.row.astype("int64") + start
    dst = coo.col.astype("int64")
    keep = src < dst
    return cudf.DataFrame({"src": src[keep], "dst": dst[keep], "wgt": coo.data[keep]})


def _leiden_gpu(client: Any, adjacency: Any, resolution: float, seed: int) -> Any:
    """``cugraph.dask.leiden`` on a dask-cuDF edge list built from the row blocks."""
    import cudf
    import cugraph
    import dask
    import dask_cudf
    from cugraph.dask import leiden as dask_leiden
    from cugraph.dask.comms import comms

    from lcc.backends.gpu import labels_from_frame

    n = adjacency.shape[0]
    starts = row_starts(adjacency.chunks[0])
    parts = [
        dask.delayed(_edges_block)(block, int(start))
        for block, start in zip(adjacency.to_delayed().ravel(), starts[:-1], strict=True)
    ]
    meta = cudf.DataFrame(
        {
            "src": cudf.Series([], dtype="int64"),
            "dst": cudf.Series([], dtype="int64"),
            "wgt": cudf.Series([], dtype="float32"),
        }
    )
    edges = dask_cudf.from_delayed(parts, meta=meta)
    if not comms.is_initialized():  # destroyed when lcc.distributed.cluster() closes
        comms.initialize(p2p=True)
    graph = cugraph.Graph(directed=False)
    graph.from_dask_cudf_edgelist(edges, source="src", destination="dst", edge_attr="wgt")
    result, _ = dask_leiden(graph, max_iter=100, resolution=resolution, random_state=seed)
    result = result.compute()
    return labels_from_frame(result["vertex"].to_cupy(), result["partition"].to_cupy(), n)


# ------------------------------------------------------------------------ k-Means
def kmeans(z: Any, n_clusters: int, *, seed: int, n_init: int, max_iter: int, tol: float):
    """``(labels, centers)``: labels a Dask array chunked like ``z``, centers local."""
    from lcc.kmeans import kmeans as single

    client = client_or_none()
    z = by_rows(z)
    if client is not None and on_gpu(z):
        from cuml.dask.cluster import KMeans

        from lcc.backends.gpu import kmeans_scale

        scale = kmeans_scale(z)  # cuVS's tol is absolute: fit z / scale (same partition)
        z_scaled = client.persist(z / scale)
        model = KMeans(
            client=client,
            n_clusters=n_clusters,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            random_state=seed,
            init="scalable-k-means++",
        )
        model.fit(z_scaled)
        # cuML's predict has unknown chunk sizes and a float meta
        labels = device_meta(model.predict(z_scaled).astype("int64"))
        labels = labels.compute_chunk_sizes().rechunk({0: z.chunks[0]})
        return client.persist(labels), model.cluster_centers_ * scale
    result = single(z.compute(), n_clusters, seed=seed, n_init=n_init, max_iter=max_iter, tol=tol)
    return like_rows(result.labels, z.chunks[0], client), result.centers


# ---------------------------------------------------------------------------- SVD
def truncated_svd(matrix: Any, k: int, *, seed: int) -> tuple[Any, Any, Any]:
    """Randomised SVD of a dense Dask array (``svd_compressed``, 4 power iterations)."""
    import dask.array as da

    client = client_or_none()
    state: Any = seed
    if on_gpu(matrix):  # an int seed draws numpy test-matrix chunks: cupy @ numpy fails
        import cupy as cp

        state = da.random.RandomState(seed, RandomState=cp.random.RandomState)
    u, s, vt = da.linalg.svd_compressed(
        by_rows(matrix), k, n_power_iter=4, seed=state, compute=False
    )
    if client is not None:
        u, s, vt = client.persist([u, s, vt])
    s, vt = s.compute(), vt.compute()
    # the sign convention of lcc.spectral._flip_signs: largest-|·| entry of each U column > 0
    column = move(abs(u).argmax(axis=0).compute(), "cpu")  # k ints: vindex wants numpy
    largest = move(u.vindex[column, np.arange(k)].compute(), "cpu")
    signs = np.where(largest < 0, -1, 1).astype(largest.dtype)
    if on_gpu(matrix):  # the chunks' kind, whatever kind dask's vindex gathered into
        signs = move(signs, "gpu")
    return u * signs[None, :], s, vt * signs[:, None]


# ---------------------------------------------------------------- matching, targets
def gather_labels(labels: Any) -> Any:
    """A label vector (Dask, numpy or cupy) as a local array."""
    from lcc.distributed import is_dask_array

    return labels.compute() if is_dask_array(labels) else labels


def match_clusters(y_true: Any, y_clst: Any) -> Any:
    """Matching on the gathered labels; ``misclustered`` a Dask array chunked like ``y_true``."""
    from lcc.distributed import is_dask_array
    from lcc.matching import Matching
    from lcc.matching import match_clusters as single

    rows = next(a.chunks[0] for a in (y_true, y_clst) if is_dask_array(a))
    matching = single(gather_labels(y_true), gather_labels(y_clst))
    return Matching(
        matching.cluster_to_label, like_rows(matching.misclustered, rows, client_or_none())
    )


class LabelRows:
    """For each label of ``groups``, its correctly clustered rows in one array."""

    def __init__(self, groups: dict[int, np.ndarray], d: int):
        self.groups = {label: DenseRows(0, d, rows) for label, rows in groups.items()}

    def add(self, block: np.ndarray, start: int) -> None:
        for rows in self.groups.values():
            rows.add(block, start)


def _exact_block(zb, yb, mb, start: int, token: str, k: int, chunk_size: int):
    """Eq. (7) for the MC rows of one block: centroid of the k nearest CC rows of the label."""
    groups = lookup(token).groups
    targets = np.array(zb, dtype=np.float32, copy=True)
    correctible = np.zeros(zb.shape[0], dtype=bool)
    for label in np.unique(yb[mb]).tolist():
        if label not in groups:
            continue
        queries = np.flatnonzero((yb == label) & mb)
        base = groups[label]
        _, nearest = base.search(zb[queries], k, chunk_size)
        targets[queries] = base.data[nearest].mean(axis=1)
        correctible[queries] = True
    return targets, correctible


def _approximate_block(zb, yb, mb, start: int, zr, rep_labels):
    """Eq. (14) for the MC rows of one block."""
    from lcc._backend import array_module, backend_of
    from lcc.correction import _targets_from_representatives

    return _targets_from_representatives(zb, yb, mb, zr, rep_labels, array_module(backend_of(zb)))


def correction_targets(z: Any, y_true: Any, y_clst: Any, *, mode: str, **options: Any):
    """``(targets, correctible)`` Dask arrays chunked like ``z``; see the module docstring."""
    from lcc._backend import array_module, backend_of
    from lcc.correction import _label_bases, _representatives
    from lcc.correction import correction_targets as single
    from lcc.matching import match_clusters as match

    client = client_or_none()
    z = by_rows(z).astype(np.float32)
    y_true, y_clst = gather_labels(y_true), gather_labels(y_clst)
    k, seed, chunk_size = options["k"], options["seed"], options["chunk_size"]
    if client is None or mode == "orthogonal" or (mode == "exact" and on_gpu(z)):
        return _local(z, lambda a: tuple(single(a, y_true, y_clst, mode=mode, **options)))
    xp = array_module(backend_of(y_true))
    matching = options.get("matching")
    cluster_to_label, misclustered = matching if matching is not None else match(y_true, y_clst)
    z = client.persist(z)
    labels_d = like_rows(y_true, z.chunks[0], client)
    mis_d = like_rows(misclustered, z.chunks[0], client)
    d = z.shape[1]
    outputs = [((d,), np.float32), ((), bool)]
    if mode == "approximate":
        backend = backend_of(y_true)
        reps = _representatives(y_true, y_clst, cluster_to_label, misclustered, seed, backend)
        ids = reps.get() if is_gpu_array(reps) else reps
        zr = z[ids].compute() if ids.shape[0] else xp.empty((0, d), dtype=np.float32)
        args = (zr, y_true[reps])
        fn, workers = _approximate_block, workers_of(client)
        return tuple(map_rows(client, workers, fn, [z, labels_d, mis_d], outputs, *args))
    groups = _label_bases(y_true, misclustered, k, np)
    token, workers = broadcast(client, z, LabelRows, groups, d)
    try:
        arrays = [z, labels_d, mis_d]
        args = (token, k, chunk_size)
        return tuple(map_rows(client, workers, _exact_block, arrays, outputs, *args))
    finally:
        release(client, token)
