"""numba kernels of the certified-exact k-NN (:mod:`lcc.backends.knn.cpu_certified`):
the per-tile candidate scan, the per-row candidate buffers, and the exact re-rank.

Per row the buffer holds candidates ``(D̃, id)``: the computed squared distance
(float32 bits) and the other row; their bounds follow from ``D̃`` (eq. 1–2 of the
module above). ``tau[i]`` is the row's current certificate: the ``k``-th smallest
upper bound offered so far (``best``), first set by the diagonal tile's seed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

SIGMA = 2.0**-20  # eq. 2: |D̃ − D̂| ≤ SIGMA (‖x̂_i‖ + ‖x̂_j‖)²
OUT = 2.0**-50  # outward rounding of the float64 bound arithmetic
MARGIN = 2.0**-40  # of the square-root-free tests
RHO_MARGIN = 2.0**-40  # of ρ over the float64 rounding of the centring and the residual
SEED_FOLD = 128  # _seed: the running minima a row's block-mates are folded into
PENDING = 8  # scan_tile: hits gathered per batch of offers, in tile widths


class State(NamedTuple):
    """The candidate buffers of every row: a candidate's ``D̃`` (float32 bits) and id side
    by side, so that appending one touches one cache line (a million rows' buffers
    live in memory, not in cache)."""

    slots: np.ndarray  # (n, capacity, 2) int32: each candidate's D̃ (float32 bits) and id
    count: np.ndarray  # (n,) int32
    best: np.ndarray  # (n, k) float64: the k smallest upper bounds offered, ascending
    tau: np.ndarray  # (n,) float64: the certificate, ≤ best[:, k − 1]
    full: np.ndarray  # (n,) bool: more candidates than capacity; brute force


def new_state(n: int, k: int, capacity: int) -> State:
    return State(
        np.empty((n, capacity, 2), np.int32),
        np.zeros(n, np.int32),
        np.full((n, k), np.inf),
        np.full(n, np.inf),
        np.zeros(n, np.bool_),
    )


@numba.njit(nogil=True, cache=True)
def quantize_rows(z, centre, lo, hi, q, sq, scale, nrm, rho):
    """Rows ``lo … hi − 1`` as ``x = z − centre = s q + r`` (eq. 1), in float64: ``q`` int8
    with ``s = max|x| / 127``, ``sq = s²‖q‖²`` and ``scale = s`` as float32 for the scan,
    ``nrm ≥ s‖q‖`` (rounded up) and ``rho ≥ ‖r‖``, which absorbs the float64 rounding of
    the centring and the residual with a ``2⁻⁴⁰`` margin."""
    d = z.shape[1]
    x = np.empty(d)
    for i in range(lo, hi):
        amax = 0.0
        for t in range(d):
            x[t] = np.float64(z[i, t]) - centre[t]
            amax = max(amax, abs(x[t]))
        s = amax / 127.0 if amax > 0 else 1.0
        rr = xx = qq = 0.0
        for t in range(d):
            v = min(max(math.floor(x[t] / s + 0.5), -127.0), 127.0)
            q[i, t] = np.int8(v)
            r = x[t] - s * v
            rr += r * r
            xx += x[t] * x[t]
            qq += v * v
        rho[i] = math.sqrt(rr) * (1.0 + RHO_MARGIN) + RHO_MARGIN * math.sqrt(xx) + 1e-300
        nrm[i] = np.float32(s * math.sqrt(qq) * (1.0 + 2.0**-20))
        sq[i] = np.float32(s * s * qq)
        scale[i] = np.float32(s)


@numba.njit(nogil=True, cache=True, inline="always")
def _threshold(tau, rho_i, rho_other, nrm_i, nrm_other):
    """The largest float32 ``D̃`` whose lower bound can still be ≤ ``tau`` (generous):
    ``ρ_j`` and ``‖x̂_j‖`` are replaced by their maxima over the other block."""
    if tau == np.inf:
        return np.float32(np.inf)
    t = tau + rho_i + rho_other
    bound = t * t + SIGMA * (nrm_i + nrm_other) ** 2
    return np.float32(bound * (1.0 + 2.0**-20) + 1e-30)


@numba.njit(nogil=True, cache=True, inline="always")
def _bounds(dt, nrm_sum, rho_sum):
    """``(lb, ub)`` on the true distance of a pair with computed ``D̃ = dt`` (eq. 1–2),
    rounded outwards."""
    sigma = SIGMA * nrm_sum * nrm_sum
    low = math.sqrt(max(dt - sigma, 0.0)) - rho_sum
    high = math.sqrt(dt + sigma) + rho_sum
    return low - OUT * abs(low), high * (1.0 + OUT)


@numba.njit(nogil=True, cache=True, inline="always")
def _excluded(value, tau, nrm_sum, rho_sum):
    """Whether a pair with computed ``D̃ = value`` has ``lb > tau`` (eq. 1–2), tested on
    squares with a ``2⁻⁴⁰`` margin (no square root; generous: it may keep a pair
    whose ``lb`` is just above ``tau``, never drop one at or below it)."""
    t = tau + rho_sum
    return value - SIGMA * nrm_sum * nrm_sum > t * t * (1.0 + MARGIN)


@numba.njit(nogil=True, cache=True)
def _compact(row, nrm, rho, slots, count, tau, full):
    """Drop the entries of ``row``'s buffer whose lower bound is above ``tau``; a buffer
    still full is marked ``full`` (the row goes to brute force)."""
    values = slots.view(np.float32)
    kept = 0
    for e in range(count[row]):
        j = slots[row, e, 1]
        if not _excluded(values[row, e, 0], tau[row], nrm[row] + nrm[j], rho[row] + rho[j]):
            slots[row, kept, 0] = slots[row, e, 0]
            slots[row, kept, 1] = j
            kept += 1
    count[row] = kept
    full[row] = kept == slots.shape[1]


@numba.njit(nogil=True, cache=True)
def _offer_all(pending, others, dt, count_pending, nrm, rho, slots, values, count, best, tau, full):
    """Offer the pairs ``(pending[e], others[e])`` with computed ``D̃ = dt[e]``, in order:
    a pair's upper bound may lower its row's ``tau``; it is kept unless its lower
    bound is above ``tau``. The two tests run on squares first (a ``2⁻⁴⁰`` margin),
    so most offers take no square root. One call per batch: the scan's hits are
    gathered first, since a call per hit passes every array anew."""
    k = best.shape[1]
    for e in range(count_pending):
        row, j, value = pending[e], others[e], dt[e]
        if full[row]:
            continue
        rho_sum, nrm_sum = rho[row] + rho[j], nrm[row] + nrm[j]
        if _excluded(value, tau[row], nrm_sum, rho_sum):  # lb > tau: not a candidate
            continue
        sigma = SIGMA * nrm_sum * nrm_sum
        room = best[row, k - 1] - rho_sum
        if room > 0 and value + sigma < room * room * (1.0 + MARGIN):
            high = (math.sqrt(value + sigma) + rho_sum) * (1.0 + OUT)
            if high < best[row, k - 1]:
                f = k - 1
                while f > 0 and best[row, f - 1] > high:
                    best[row, f] = best[row, f - 1]
                    f -= 1
                best[row, f] = high
                tau[row] = min(tau[row], best[row, k - 1])
        c = count[row]
        values[row, c] = value
        slots[row, c, 1] = j
        count[row] = c + 1
        if c + 1 == slots.shape[1]:
            _compact(row, nrm, rho, slots, count, tau, full)


@numba.njit(nogil=True, cache=True)
def _seed(g, r0, k, sq, scale, nrm, rho, tau):
    """A diagonal tile's rows: ``tau`` from ``k`` of their block-mates in ``D̃``, bounded
    with the block's largest ``ρ`` and ``‖x̂‖``. Per row the ``D̃`` are folded into
    :data:`SEED_FOLD` running minima (entry ``j`` into minimum ``j mod SEED_FOLD``,
    vectorised); those minima are distinct block-mates, so the ``k``-th smallest of
    them bounds the row's ``k``-th neighbour from above (it is the ``k``-th smallest
    ``D̃`` itself unless two of the row's ``k`` nearest block-mates share a fold)."""
    m = g.shape[0]
    if m <= k:
        return
    rho_b, nrm_b = rho[r0 : r0 + m].max(), nrm[r0 : r0 + m].max()
    block_sq, block_scale = sq[r0 : r0 + m], scale[r0 : r0 + m]  # slices: vectorised loops
    best = np.empty(k, dtype=np.float32)
    values = np.full(-(-m // SEED_FOLD) * SEED_FOLD, np.inf, dtype=np.float32)
    minima = np.empty(SEED_FOLD, dtype=np.float32)
    for i in range(m):
        a, c = block_sq[i], np.float32(-2.0) * block_scale[i]
        for j in range(m):  # vectorised
            values[j] = a + block_sq[j] + c * block_scale[j] * np.float32(g[i, j])
        values[i] = np.inf
        for r in range(SEED_FOLD):  # vectorised
            minima[r] = values[r]
        for start in range(SEED_FOLD, values.shape[0], SEED_FOLD):
            for r in range(SEED_FOLD):  # vectorised
                minima[r] = min(minima[r], values[start + r])
        for e in range(k):
            best[e] = np.inf
        for r in range(SEED_FOLD):
            value = minima[r]
            if value < best[k - 1]:  # sorted insertion, in place (a call would pass views)
                e = k - 1
                while e > 0 and best[e - 1] > value:
                    best[e] = best[e - 1]
                    e -= 1
                best[e] = value
        high = _bounds(best[k - 1], nrm[r0 + i] + nrm_b, rho[r0 + i] + rho_b)[1]
        tau[r0 + i] = min(tau[r0 + i], high)


@numba.njit(nogil=True, cache=True)
def scan_tile(g, r0, c0, diag, sq, scale, nrm, rho, slots, count, best, tau, full):
    """Test every entry of the int32 product tile ``g`` (rows ``r0 …``, columns ``c0 …``)
    against its row's and its column's threshold and offer the pairs that pass.

    ``sq = s²‖q‖²``, ``scale = s`` (float32), ``nrm = ‖x̂‖`` and ``rho = ρ`` per row.
    A diagonal tile (``diag``) seeds its rows' ``tau`` and feeds only its rows, the
    self pair excluded. Each row is one vectorised pass that marks its hits; the
    marks are read a 64-bit word at a time, lowest set byte first (``_next_mark``),
    and the hits gathered until :data:`PENDING` tile widths of them go to
    :func:`_offer_all` together (then the column thresholds are renewed). A
    threshold read before a batch is still generous: ``tau`` only falls.
    """
    m, w = g.shape
    if diag:
        _seed(g, r0, best.shape[1], sq, scale, nrm, rho, tau)
    rho_r, rho_c = rho[r0 : r0 + m].max(), rho[c0 : c0 + w].max()
    nrm_r, nrm_c = nrm[r0 : r0 + m].max(), nrm[c0 : c0 + w].max()
    col_sq, col_scale = sq[c0 : c0 + w], scale[c0 : c0 + w]
    col_thr = np.full(w, -np.inf, dtype=np.float32)
    if not diag:
        _column_thresholds(col_thr, c0, rho_r, nrm_r, nrm, rho, tau, full)
    marked = np.zeros(-(-w // 64) * 64, dtype=np.uint8)
    words = marked.view(np.uint64)
    values = slots.view(np.float32)[:, :, 0]
    vals = np.empty(w, dtype=np.float32)
    pending = np.empty(PENDING * w, dtype=np.int64)  # the hits of the rows since the last batch
    others = np.empty(PENDING * w, dtype=np.int64)
    dt = np.empty(PENDING * w, dtype=np.float32)
    n_pending = 0
    state = (nrm, rho, slots, values, count, best, tau, full)
    for i in range(m):
        gi = r0 + i
        a, c = sq[gi], np.float32(-2.0) * scale[gi]
        row_thr = _threshold(tau[gi], rho[gi], rho_c, nrm[gi], nrm_c)
        if full[gi]:
            row_thr = np.float32(-np.inf)
        for j in range(w):  # vectorised: no branch
            value = a + col_sq[j] + c * col_scale[j] * np.float32(g[i, j])
            vals[j] = value
            marked[j] = (value <= row_thr) | (value <= col_thr[j])
        hits = np.uint64(0)
        for word in range(words.shape[0]):  # vectorised: is any entry of the row marked?
            hits |= words[word]
        if hits == 0:
            continue
        for word in range(words.shape[0]):
            bits = words[word]
            while bits:
                j = _next_mark(word, bits)
                bits &= bits - np.uint64(1)
                gj = c0 + j
                if vals[j] <= row_thr and gj != gi:
                    pending[n_pending], others[n_pending], dt[n_pending] = gi, gj, vals[j]
                    n_pending += 1
                if vals[j] <= col_thr[j]:
                    pending[n_pending], others[n_pending], dt[n_pending] = gj, gi, vals[j]
                    n_pending += 1
        if n_pending > pending.shape[0] - 2 * w:  # the next row might not fit
            _offer_all(pending, others, dt, n_pending, *state)
            n_pending = 0
            if not diag:
                _column_thresholds(col_thr, c0, rho_r, nrm_r, nrm, rho, tau, full)
    _offer_all(pending, others, dt, n_pending, *state)


@numba.njit(nogil=True, cache=True)
def _column_thresholds(col_thr, c0, rho_r, nrm_r, nrm, rho, tau, full):
    """Each column's :func:`_threshold` against the row block (``rho_r``, ``nrm_r``: its
    largest ``ρ`` and ``‖x̂‖``), ``−inf`` for a full row (it goes to brute force)."""
    for j in range(col_thr.shape[0]):
        gj = c0 + j
        col_thr[j] = _threshold(tau[gj], rho[gj], rho_r, nrm[gj], nrm_r)
        if full[gj]:
            col_thr[j] = np.float32(-np.inf)


@numba.njit(nogil=True, cache=True, inline="always")
def _next_mark(word, bits):
    """The entry of the lowest marked byte of the nonzero 64-bit word ``word`` of the
    0 / 1 marks."""
    return word * 8 + (trailing_zeros(bits) >> 3)


@numba.njit(nogil=True, cache=True)
def finish_rows(z, lo, hi, order, nrm, rho, slots, count, best, tau, full, out_d, out_i):
    """Rows ``lo … hi − 1`` of the searched order (row ``r`` is sample ``order[r]``): the
    candidates the final ``tau`` keeps, their exact float64 squared distances to the row,
    and the ``k`` smallest (ties to the smaller sample id) into row ``order[r]`` of
    ``out_d`` / ``out_i``, columns ``1 … k`` (column 0 is the sample itself)."""
    for row in range(lo, hi):
        if full[row]:
            continue
        _compact(row, nrm, rho, slots, count, tau, full)
        out = order[row]
        _start(out, out_d, out_i)
        for e in range(count[row]):
            j = slots[row, e, 1]
            _keep(_distance(z, row, j), order[j], out_d, out_i, out)


@numba.njit(nogil=True, cache=True)
def brute_rows(z, rows, order, out_d, out_i):
    """Float64 brute force for the given rows of the searched order (their buffers
    overflowed), into the rows of their samples."""
    for row in rows:
        out = order[row]
        _start(out, out_d, out_i)
        for j in range(z.shape[0]):
            if j != row:
                _keep(_distance(z, row, j), order[j], out_d, out_i, out)


@numba.njit(nogil=True, cache=True, inline="always")
def _start(row, out_d, out_i):
    """Column 0 is the row itself; columns 1 … k start empty (``inf``)."""
    out_d[row, 0], out_i[row, 0] = 0.0, row
    out_d[row, 1:], out_i[row, 1:] = np.inf, -1


@numba.njit(nogil=True, cache=True, inline="always")
def _distance(z, row, j):
    """``‖z_row − z_j‖²`` in float64, summed in feature order."""
    total = 0.0
    for t in range(z.shape[1]):
        diff = np.float64(z[row, t]) - np.float64(z[j, t])
        total += diff * diff
    return total


@numba.njit(nogil=True, cache=True, inline="always")
def _keep(dist, j, out_d, out_i, r):
    """Insert ``(dist, j)`` into the ascending ``out_*[r, 1:]`` in ``(distance, id)``
    order (indexed in place: a row view per candidate would cost two reference counts)."""
    e = out_d.shape[1] - 1
    if dist > out_d[r, e] or (dist == out_d[r, e] and j > out_i[r, e]):
        return
    while e > 1 and (out_d[r, e - 1] > dist or (out_d[r, e - 1] == dist and out_i[r, e - 1] > j)):
        out_d[r, e], out_i[r, e] = out_d[r, e - 1], out_i[r, e - 1]
        e -= 1
    out_d[r, e], out_i[r, e] = dist, j


@numba.njit(nogil=True, cache=True)
def apart(i, j, starts, bound, gap, centres, norms, z, tau, margin):
    """Eq. 3–4 of :mod:`lcc.backends.knn._blocks` for blocks ``i`` and ``j`` (rows
    ``starts[b] … starts[b + 1] − 1``): whether their tile holds no neighbour of any
    of its rows. The block test first (each block's largest and smallest ``tau``);
    the row test only where it can still hold, with ``⟨x, u⟩`` summed in float64."""
    lo_i, hi_i, lo_j, hi_j = starts[i], starts[i + 1], starts[j], starts[j + 1]
    worst, least_i, least_j = -np.inf, np.inf, np.inf
    for r in range(lo_i, hi_i):
        worst, least_i = max(worst, tau[r]), min(least_i, tau[r])
    for r in range(lo_j, hi_j):
        worst, least_j = max(worst, tau[r]), min(least_j, tau[r])
    if bound[i, j] > worst * (1.0 + margin):
        return True
    if bound[i, j] <= max(least_i, least_j) or worst == np.inf:
        return False
    u = centres[j] - centres[i]
    norm = gap[i, j]
    reach = top = -np.inf
    for r in range(lo_i, hi_i):
        p = _dot(z, r, u)
        reach, top = max(reach, p + tau[r] * norm), max(top, p)
    low = low_reach = np.inf
    for r in range(lo_j, hi_j):
        q = _dot(z, r, u)
        low, low_reach = min(low, q), min(low_reach, q - tau[r] * norm)
    slack = 4.0 * margin * (norms[i] + norms[j] + worst) * norm
    return low - reach > slack and low_reach - top > slack


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _dot(z, r, u):
    """``⟨z_r, u⟩`` in float64, summed in any order (vectorised): every order keeps the
    error within ``γ_d Σ |z_rt u_t|``, which the margins of eq. 3–4 cover."""
    total = 0.0
    for t in range(u.shape[0]):
        total += np.float64(z[r, t]) * u[t]
    return total
