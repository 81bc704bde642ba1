"""Certified-exact k-NN against the float32 engine and the bare float32 product, one run.

On ``n × d`` standard-normal float32 latents (default 30,000 × 64, k = 5) this times,
interleaved, median of ``--repeats``:

* the bare float32 matrix product exact k-NN would need, N² · (d + 1) multiply-adds
  (``bench_engine.bare_matmul``: the faster of numpy's threaded BLAS on large
  tiles and one thread per core on cache-sized tiles, no selection);
* lcc's float32 exact engine (:func:`lcc.backends.knn.cpu_exact.self_knn`: a symmetric
  self-join, each pair once, faiss heaps);
* the certified search (:func:`lcc.backends.knn.cpu_certified.certified_knn`: int8
  candidate pass with a proven bound, exact float64 re-rank), which is what
  ``lcc.knn(z, k)`` runs where the CPU has fast int8 products;

and checks the certified answer against float64 brute force on every row (ids equal,
ties to the smaller id), reporting the candidates per row the bound kept.

    python benchmarks/bench_knn_exact.py                 # 30,000 × 64, k = 5
    python benchmarks/bench_knn_exact.py --n 50000 --k 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_engine import bare_matmul

from lcc.backends.knn.cpu_certified import certified_knn
from lcc.backends.knn.cpu_exact import self_knn
from lcc.io import write_json

RESULTS = Path(__file__).parent / "results"


def brute_force(z: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """float64 brute force: the ``k`` nearest ids per row, self excluded, ties to the
    smaller id (a stable sort of scipy's ``cdist`` ``Σ (z_i − z_j)²`` in float64)."""
    from scipy.spatial.distance import cdist

    x = z.astype(np.float64)
    out = np.empty((len(x), k), np.int64)
    for start in range(0, len(x), block):
        rows = x[start : start + block]
        d2 = cdist(rows, x, "sqeuclidean")
        d2[np.arange(len(rows)), start + np.arange(len(rows))] = np.inf
        out[start : start + block] = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return out


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "knn_exact.json"))
    args = parser.parse_args()
    z = np.random.default_rng(0).standard_normal((args.n, args.d), dtype=np.float32)
    certified_knn(z[:2000], args.k)  # numba's compilation (cached on disk after the first run)
    times: dict[str, list[float]] = {"bare product": [], "float32 engine": [], "certified": []}
    for _ in range(args.repeats):
        times["bare product"].append(bare_matmul(z))
        times["float32 engine"].append(timed(self_knn, z, args.k + 1, progress=False)[1])
        (_, idx, how), seconds = timed(certified_knn, z, args.k)
        times["certified"].append(seconds)
    median = {name: statistics.median(t) for name, t in times.items()}
    exact = brute_force(z, args.k)
    rows_equal = float((idx[:, 1:] == exact).all(axis=1).mean())
    print(f"latents: {args.n:,} × {args.d} standard normal float32, k = {args.k}, "
          f"median of {args.repeats} (interleaved)")  # fmt: skip
    for name, seconds in median.items():
        ratio = seconds / median["bare product"]
        print(f"{name:<16} {seconds:7.3f} s   {ratio:5.2f}× the bare product")
    print(f"certified search: {how}; rows equal to float64 brute force: {rows_equal:.4f}")
    write_json(
        args.out,
        {
            "n": args.n,
            "d": args.d,
            "k": args.k,
            "repeats": args.repeats,
            "seconds": times,
            "median": median,
            "certified_over_product": median["certified"] / median["bare product"],
            "float32_over_product": median["float32 engine"] / median["bare product"],
            "search": how,
            "rows_equal_to_float64": rows_equal,
        },
    )


if __name__ == "__main__":
    main()
