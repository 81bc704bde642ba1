"""Certified-exact k-NN on the CPU: an int8 candidate pass with a proven error bound,
then an exact float64 re-rank of every candidate the bound cannot exclude.

The answer is the float64 brute-force answer (the ``k`` smallest of
``‖z_i − z_j‖²`` evaluated in float64, ties to the smaller index), computed at
the speed of int8 products: VNNI / AMX int8 matrix products run about 4× the
float32 rate here (``torch._int_mm``: 700 against 180 GOP/s on 2 cores).

**The bound.** The latents are centred (distances do not change) and each row
is rounded to int8 with its own scale, ``x_i = s_i q_i + r_i`` with
``q_i ∈ {−127 … 127}^d`` and the residual ``r_i`` computed exactly. Writing
``x̂_i = s_i q_i``, the triangle inequality gives, for every pair,

    | ‖x_i − x_j‖ − ‖x̂_i − x̂_j‖ |  ≤  ‖r_i‖ + ‖r_j‖  =:  ρ_i + ρ_j          (1)

and ``‖x̂_i − x̂_j‖² = s_i²‖q_i‖² + s_j²‖q_j‖² − 2 s_i s_j (q_i · q_j)``, where the
integer product ``q_i · q_j`` is exact (int32 accumulation, ``|q_i·q_j| ≤
127² d``). The kernel evaluates that expression in float32 from float32 copies
of ``s_i``, ``s_i²‖q_i‖²`` and the exact integer; seven roundings of relative
size ``2⁻²⁴`` on terms whose magnitudes sum to at most ``(‖x̂_i‖ + ‖x̂_j‖)²`` put
the computed value ``D̃_ij`` within

    σ_ij  =  2⁻²⁰ (‖x̂_i‖ + ‖x̂_j‖)²                                          (2)

of the exact one (a 2× margin over ``7 · 2⁻²⁴``). ``ρ_i`` absorbs the float64
rounding of the centring and the residual (a ``2⁻⁴⁰`` relative margin). So
every pair's true distance lies in ``[lb_ij, ub_ij]`` with

    lb_ij = √max(D̃_ij − σ_ij, 0) − ρ_i − ρ_j,   ub_ij = √(D̃_ij + σ_ij) + ρ_i + ρ_j.

**The certificate.** Let ``τ_i`` be the ``k``-th smallest ``ub_ij`` over any
``k`` distinct ``j ≠ i``: it is at least the true ``k``-th neighbour distance
``d_(k)``. A ``j`` with ``lb_ij > τ_i`` has ``d_ij > d_(k)``: it is neither a
neighbour nor tied with one. So the candidates ``{j : lb_ij ≤ τ_i}`` hold
every true neighbour and every tie at the boundary, and their exact float64
re-rank is the brute-force answer. The scan keeps, per row, a buffer of the
entries that pass the row's current ``τ_i`` (which only falls); when the
buffer fills, ``τ_i`` is recomputed from it and the entries it now excludes
are dropped. A row whose buffer is still full after that (more than
``capacity`` entries inside its band: heavy ties, or a scale that one
outlier stretched) is searched by float64 brute force instead, and if more
than :data:`MAX_FALLBACK_FRACTION` of the rows need that the whole search
falls back to the float32 engine (:mod:`lcc.backends.knn.cpu_exact`) and says
so.

``ρ_j`` and ``‖x̂_j‖`` enter a tile's tests through their maxima over the tile's
column block (and row block, for the column direction), which keeps each test
one compare per entry; the bounds only widen by it.

**Block pairs certified apart.** From :data:`REORDER_ROWS` latents the rows are
searched in blocks that are k-Means cells (at most a tile each),
and a tile whose blocks are provably farther apart than the ``τ`` of their rows
is skipped, product and all (:mod:`lcc.backends.knn._blocks`, eq. 3–4): on
clustered latents most block pairs lie in different clusters. The band then runs
nearest block pairs first, so that ``τ`` is tight before the far pairs come.

The scan is a self-join like :func:`lcc.backends.knn.cpu_exact.self_knn`: each
pair's product is computed once, in square int8 tiles on one thread per core,
and each tile updates the candidates of its rows and of its columns (a lock
per block, taken in block order). The per-entry test runs in a numba kernel
that reads the int32 tile once.
"""

from __future__ import annotations

import functools
import threading
from contextlib import nullcontext
from typing import Any, NamedTuple

import numpy as np

from lcc.backends.knn import _blocks as blk

# square tiles of the self-join: 1024 × 1024 int32 products (4 MiB)
TILE = 1024
# below this many latents the float32 engine runs (it takes milliseconds there)
MIN_ROWS = 4096
# above this many neighbours the candidate bands outgrow the scan (50,000 × 64 blobs,
# k = 50: 8.0 s against the float32 engine's 5.8 s; k = 5: 2.7 s against 4.5 s)
MAX_K = 16
# from this many latents the rows are searched in k-Means cells (lcc.backends.knn._blocks)
REORDER_ROWS = 100_000
# the rows whose coordinate-wise median centres the latents (np.median: ~1 ms per 1,000)
CENTRE_SAMPLE = 2048
# the fraction of rows searched by float64 brute force before the float32 engine takes over
MAX_FALLBACK_FRACTION = 0.02

__all__ = ["available", "certified_knn", "search", "worthwhile"]


def search(z: np.ndarray, k: int, *, chunk_size: int, progress: bool, nprobe=None):
    """All-k-NN of ``z`` (self included): float64 squared L2, int64 ids, and how the search
    ran (the algorithm protocol of :mod:`lcc.backends.knn`; ``chunk_size`` unused)."""
    return certified_knn(z, k - 1, progress=progress)


def worthwhile(n: int, d: int, k: int) -> bool:
    """Whether ``exact=True`` runs this search for ``n × d`` latents and ``k`` neighbours
    (self included): int8 products are fast here (:func:`available`), ``n`` is large
    enough for them to pay (below :data:`MIN_ROWS` the float32 engine takes
    milliseconds), ``k`` is small enough (:data:`MAX_K`), and the integer products stay
    exact in float32 (``127² d < 2²⁴``, eq. 2)."""
    return n >= MIN_ROWS and k <= MAX_K and 127**2 * d < 2**24 and available()


@functools.cache
def available() -> bool:
    """Whether this machine runs int8 matrix products fast (x86 VNNI or AMX; read from
    ``/proc/cpuinfo``, so Linux only) and numba and ``torch._int_mm`` are here."""
    try:
        import numba  # noqa: F401
        import torch
    except ImportError:
        return False
    if not hasattr(torch, "_int_mm"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


class Quantized(NamedTuple):
    """Each centred row as ``s q + r`` (eq. 1) and what the kernel needs of it."""

    q: Any  # (n, d padded to a multiple of 8) int8 torch tensor
    sq: np.ndarray  # s²‖q‖², float32
    scale: np.ndarray  # s, float32
    nrm: np.ndarray  # ‖x̂‖ = s‖q‖, float32, rounded up
    rho: np.ndarray  # ‖r‖ with the float64 rounding absorbed, float64


def certified_knn(z: np.ndarray, k: int, *, capacity: int | None = None, progress: bool = False):
    """Exact all-k-NN of ``z`` (self included, column 0): float64 squared L2, int64 ids, and
    how the search ran (``"certified int8 (candidates per row: …)"``, with the rows
    searched by brute force, or the float32 fallback). ``z`` is float32 or float64 and
    is not modified."""
    from lcc.backends.knn import _certified_kernels as kern

    n = z.shape[0]
    capacity = min(capacity or max(64, 16 * k), n)
    state = kern.new_state(n, k, capacity)
    if n < REORDER_ROWS:
        order, zp, blocks, apart = np.arange(n), z, blk.even_blocks(n, TILE), None
    else:
        order, blocks = blk.cell_blocks(z, TILE)
        zp = np.ascontiguousarray(z[order])
        apart = blk.Separation(zp, blocks)
    quant = _quantize(zp)
    skipped = _scan_tiles(quant, k, state, blocks, progress, apart)
    d2 = np.empty((n, k + 1))
    idx = np.empty((n, k + 1), np.int64)
    _in_threads(n, lambda lo, hi: kern.finish_rows(zp, lo, hi, order, *quant[3:], *state, d2, idx))
    full = np.flatnonzero(state.full)
    if full.size > MAX_FALLBACK_FRACTION * n:
        from lcc.backends.knn.cpu_exact import self_knn

        d2, idx = self_knn(np.ascontiguousarray(z, dtype=np.float32), k + 1, progress=progress)
        gave_up = f"{full.size} of {n} rows had more than {capacity} candidates"
        return d2, idx, f"float32 (the certified pass gave up: {gave_up})"
    if full.size:
        _in_threads(full.size, lambda lo, hi: kern.brute_rows(zp, full[lo:hi], order, d2, idx))
    kept = np.delete(state.count, full)  # the candidates each row's re-rank ran on
    counts = f"mean {kept.mean():.1f}, max {kept.max()}" if kept.size else "none"
    how = f"certified int8 (candidates per row: {counts}"
    if apart is not None:
        how += f"; {skipped:.0%} of block pairs certified apart"
    return d2, idx, how + (f"; {full.size} rows by float64 brute force)" if full.size else ")")


def _quantize(z: np.ndarray) -> Quantized:
    """Centre ``z`` (on a sample's coordinate-wise median: any centre keeps the distances,
    and a median one is not dragged off by outliers) and round each row to int8 with its
    own scale (eq. 1), one thread per core."""
    import torch

    from lcc.backends.knn import _certified_kernels as kern

    n, d = z.shape
    sample = np.sort(np.random.default_rng(0).choice(n, min(n, CENTRE_SAMPLE), replace=False))
    centre = np.median(np.ascontiguousarray(z[sample].T, dtype=np.float64), axis=1)
    q = np.zeros((n, -(-d // 8) * 8), dtype=np.int8)  # padded: int8 products want d % 8 == 0
    sq, scale, nrm = (np.empty(n, np.float32) for _ in range(3))
    rho = np.empty(n)
    _in_threads(n, lambda lo, hi: kern.quantize_rows(z, centre, lo, hi, q, sq, scale, nrm, rho))
    return Quantized(torch.from_numpy(q), sq, scale, nrm, rho)


def _scan_tiles(
    quant: Quantized,
    k: int,
    state: Any,
    blocks: list[slice],
    progress: bool = False,
    apart: blk.Separation | None = None,
) -> float:
    """Every tile ``I <= J`` of the int8 self-product through the numba scan, diagonal
    tiles first (they fill every row's buffer), one thread per core; with ``apart``
    (eq. 3) the band runs nearest block pairs first and skips the pairs certified
    apart. Returns the fraction of off-diagonal tiles skipped."""
    import torch
    from tqdm.auto import tqdm

    from lcc.backends.knn import _certified_kernels as kern
    from lcc.backends.knn.cpu_exact import _drain, _n_cores

    locks = [threading.Lock() for _ in blocks]
    arrays = (quant.sq, quant.scale, quant.nrm, quant.rho, *state)

    buffers = threading.local()  # one product tile per thread, reused (no page faults)

    skipped = []

    def run(pair: tuple[int, int]) -> None:
        i, j = pair
        rows, cols = blocks[i], blocks[j]
        if apart is not None and i != j and apart.apart(i, j, state.tau):
            skipped.append(pair)  # list.append is atomic
            return
        if not hasattr(buffers, "tile"):
            buffers.tile = torch.empty(TILE * TILE, dtype=torch.int32)
        out = buffers.tile[: (rows.stop - rows.start) * (cols.stop - cols.start)]
        out = out.view(rows.stop - rows.start, cols.stop - cols.start)
        g = torch._int_mm(quant.q[rows], quant.q[cols].T, out=out).numpy()
        with locks[i], locks[j] if i != j else nullcontext():
            kern.scan_tile(g, rows.start, cols.start, i == j, *arrays)

    n_blocks = len(blocks)
    diagonal = ((i, i) for i in range(n_blocks))
    if apart is None:
        band = ((i, i + s) for s in range(1, n_blocks) for i in range(n_blocks - s))
    else:
        first, second = np.triu_indices(n_blocks, 1)
        nearest = np.argsort(apart.gap[first, second], kind="stable")
        band = zip(first[nearest].tolist(), second[nearest].tolist(), strict=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tqdm(total=n_blocks * (n_blocks + 1) // 2, desc="k-NN", disable=not progress,
                  unit="tile") as bar:  # fmt: skip
            for tasks in (diagonal, band):
                _drain(tasks, run, min(_n_cores(), n_blocks), bar)
    finally:
        torch.set_num_threads(threads)
    return len(skipped) / max(1, n_blocks * (n_blocks - 1) // 2)


def _in_threads(n: int, fn) -> None:
    """``fn(lo, hi)`` over row ranges, one thread per core (numba releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from lcc.backends.knn.cpu_exact import _n_cores

    step = max(1, -(-n // (4 * _n_cores())))
    with ThreadPoolExecutor(_n_cores()) as pool:
        list(pool.map(lambda lo: fn(lo, min(lo + step, n)), range(0, n, step)))
