"""Certified-exact k-NN in torch, shaped for a GPU (whole rows of products, ``topk``):
the same certificate as the CPU's numba search, with int8 tensor-core products.

Not yet what the cupy tier's ``exact=True`` runs: its speed against the float32
tiles (:mod:`lcc.backends.knn.gpu_tiles`) has not been measured on a GPU;
``benchmarks/gpu_check.py`` (part A) times both and compares their answers. Its
exactness is tested on the CPU, where torch runs the same code.

The bound is :mod:`lcc.backends.knn.cpu_certified`'s (eq. 1–2): each centred row is
``s q + r`` with ``q`` int8 and the residual ``r`` exact, ``D̃_ij`` is evaluated in
float32 from the exact integer product ``q_i · q_j`` (``torch._int_mm``: int8 tensor
cores on a GPU), and every pair's true distance lies in ``[lb_ij, ub_ij]``.

What differs is the selection, shaped for a device that selects fast and branches
slowly: per block of rows, ``torch.topk`` keeps the ``m`` smallest ``D̃`` of every
row (``m = 4k + 32``); ``τ_i`` is the ``k``-th smallest upper bound among them. Every
column outside the top ``m`` has ``D̃ ≥ D̃_(m)``, so its lower bound is at least

    λ_i = √max(D̃_(m) − σ_i⁺, 0) − ρ_i − ρ_max,    σ_i⁺ = 2⁻²⁰ (‖x̂_i‖ + max_j ‖x̂_j‖)²,

and where ``λ_i > τ_i`` the top ``m`` holds every candidate: the row is certified, and
its candidates (``lb ≤ τ_i``) are re-ranked exactly in float64. The other rows are
searched by float64 brute force (``torch.cdist`` without the matrix-product shortcut);
beyond :data:`MAX_FALLBACK_FRACTION` of them the caller's float32 search runs instead.
"""

from __future__ import annotations

import math

import torch

from lcc.backends.knn._certified_kernels import RHO_MARGIN as MARGIN
from lcc.backends.knn._certified_kernels import SIGMA  # eq. 2, one constant for both

MAX_FALLBACK_FRACTION = 0.02
MAX_BLOCK_BYTES = 1 << 30  # the D̃ of one block of rows, float32

__all__ = ["certified_knn"]


def certified_knn(z: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, str] | None:
    """Exact all-k-NN of ``z`` (float32 / float64, any device): float64 squared distances
    and int64 ids with the row itself in column 0, and how the search ran; ``None`` when
    more than :data:`MAX_FALLBACK_FRACTION` of the rows could not be certified."""
    n = z.shape[0]
    m = min(n - 1, 4 * k + 32)
    quant = _quantize(z)
    d2 = torch.empty((n, k + 1), dtype=torch.float64, device=z.device)
    ids = torch.empty((n, k + 1), dtype=torch.int64, device=z.device)
    failed = []
    rows = max(17, min(n, MAX_BLOCK_BYTES // (4 * quant["q"].shape[0])))
    for start in range(0, n, rows):
        block = torch.arange(start, min(start + rows, n), device=z.device)
        failed.append(_block(z, quant, block, k, m, d2, ids))
    failed = torch.cat(failed)
    if failed.numel() > MAX_FALLBACK_FRACTION * n:
        return None
    for rows_chunk in failed.split(256):
        _brute_force(z, rows_chunk, k, d2, ids)
    brute = f" ({failed.numel()} rows by float64 brute force)" if failed.numel() else ""
    return d2, ids, "certified int8" + brute


def _quantize(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """eq. 1: centre on a sample's median, int8 rows with their own scale, exact residual."""
    n, d = z.shape
    generator = torch.Generator().manual_seed(0)
    sample = torch.randperm(n, generator=generator)[: min(n, 8192)].to(z.device)
    x = z.double()
    x = x - x[sample].median(dim=0).values
    amax = x.abs().amax(dim=1)
    s = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    q = torch.round(x / s[:, None]).clamp_(-127, 127)
    r = x - s[:, None] * q
    padded = torch.zeros((-(-n // 8) * 8, -(-d // 8) * 8), dtype=torch.int8, device=z.device)
    padded[:n, :d] = q.to(torch.int8)  # int8 products want both sizes multiples of 8
    q_sq = (q * q).sum(dim=1)
    nrm = (s * q_sq.sqrt()) * (1 + 2.0**-20)
    rho = r.norm(dim=1) * (1 + MARGIN) + MARGIN * x.norm(dim=1) + 1e-300
    heavy = _heavy(nrm, rho)
    light = torch.ones(n, dtype=torch.bool, device=z.device)
    light[heavy] = False
    return {
        "q": padded,
        "sq": (s * s * q_sq).float(),
        "scale": s.float(),
        "nrm": nrm,
        "rho": rho,
        "heavy": heavy,
        "nrm_light": nrm[light].max(),
        "rho_light": rho[light].max(),
    }


def _heavy(nrm: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """The few rows (at most 32) whose ``‖x̂‖`` or ``ρ`` is far above the rest (over 4× the
    99th percentile): outliers that would loosen every row's floor."""
    limit = 4 * torch.stack([nrm.quantile(0.99), rho.quantile(0.99)])
    score = torch.maximum(nrm / limit[0], rho / limit[1])
    heavy = torch.nonzero(score > 1).flatten()
    return heavy[torch.argsort(score[heavy], descending=True)[:32]]


def _block(z, quant, block, k, m, d2, ids) -> torch.Tensor:
    """Rows ``block``: their certified answers into ``d2`` / ``ids``; returns the rows whose
    top ``m`` could not be certified. The heavy columns (:func:`_heavy`) are always
    candidates, with their own bounds, so the floor's maxima skip them."""
    n, heavy = z.shape[0], quant["heavy"]
    rows = torch.zeros((len(block) + _pad(len(block)), quant["q"].shape[1]), dtype=torch.int8,
                       device=z.device)  # fmt: skip
    rows[: len(block)] = quant["q"][block]
    g = torch._int_mm(rows, quant["q"].T)[: len(block), :n].float()
    values = quant["sq"][None, :] - 2 * quant["scale"][block, None] * quant["scale"][None, :] * g
    values += quant["sq"][block, None]
    values[torch.arange(len(block)), block] = math.inf  # the row itself
    extra = values[:, heavy]
    values[:, heavy] = math.inf
    top, cols = torch.topk(values, m, dim=1, largest=False, sorted=True)
    floor = _floor(quant, block, top[:, -1].double())
    top = torch.cat([top, extra], dim=1).double()
    cols = torch.cat([cols, heavy.expand(len(block), -1)], dim=1)
    low, high = _bounds(quant, block, cols, top)
    tau = high.kthvalue(k, dim=1).values
    certified = (floor > tau) | (m >= n - 1 - heavy.numel())
    exact = _exact(z, block, cols)
    exact[low > tau[:, None]] = math.inf
    order = _lexsort(exact, cols)
    d2[block, 0], ids[block, 0] = 0.0, block
    d2[block, 1:] = torch.gather(exact, 1, order[:, :k])
    ids[block, 1:] = torch.gather(cols, 1, order[:, :k])
    return block[~certified]


def _bounds(quant, block, cols, values) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lb, ub)`` of every pair ``(block[i], cols[i, e])`` with computed ``D̃ = values``."""
    nrm_sum = quant["nrm"][block, None] + quant["nrm"][cols]
    rho_sum = quant["rho"][block, None] + quant["rho"][cols]
    sigma = SIGMA * nrm_sum**2
    low = (values - sigma).clamp(min=0).sqrt() - rho_sum
    high = (values + sigma).sqrt() + rho_sum
    return low - MARGIN * low.abs(), high * (1 + MARGIN)


def _floor(quant, block, mth) -> torch.Tensor:
    """λ_i: a lower bound on every light column outside the top ``m`` (``D̃ ≥ mth``)."""
    sigma = SIGMA * (quant["nrm"][block] + quant["nrm_light"]) ** 2
    return (mth - sigma).clamp(min=0).sqrt() - quant["rho"][block] - quant["rho_light"]


def _pad(rows: int) -> int:
    """Rows of zeros a block needs for the int8 product (a multiple of 8, at least 17)."""
    return max(17, -(-rows // 8) * 8) - rows


def _exact(z: torch.Tensor, block: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``Σ_t (z_it − z_jt)²`` in float64 for the columns ``cols`` of each row of ``block``."""
    x = z[block].double()
    out = torch.zeros(cols.shape, dtype=torch.float64, device=z.device)
    for t in range(z.shape[1]):  # feature order, as the CPU re-rank sums
        out += (x[:, t, None] - z[cols, t].double()) ** 2
    return out


def _lexsort(dist: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """The order of each row by ``(dist, col)``: a stable sort by column, then by distance."""
    by_col = torch.argsort(cols, dim=1, stable=True)
    by_dist = torch.argsort(torch.gather(dist, 1, by_col), dim=1, stable=True)
    return torch.gather(by_col, 1, by_dist)


def _brute_force(z: torch.Tensor, rows: torch.Tensor, k: int, d2, ids) -> None:
    """float64 brute force for ``rows``: all columns, exact distances, ``(dist, id)`` order."""
    n = z.shape[0]
    cols = torch.arange(n, device=z.device).expand(len(rows), n)
    exact = _exact(z, rows, cols)
    exact[torch.arange(len(rows)), rows] = math.inf
    order = torch.argsort(exact, dim=1, stable=True)[:, :k]  # columns are in id order
    d2[rows, 0], ids[rows, 0] = 0.0, rows
    d2[rows, 1:] = torch.gather(exact, 1, order)
    ids[rows, 1:] = order
