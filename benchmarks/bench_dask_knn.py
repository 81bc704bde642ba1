"""k-NN graph of 1,000,000 × 64 latents through the Dask backend on a 2-worker CPU LocalCluster.

The latents are generated on the workers (100 Gaussian clusters in 64-d, the
shape of a classifier's penultimate layer), sharded by samples. Timed:
``lcc.knn`` (approximate: every worker fills its own faiss IVF-Flat index
block by block, then searches its share of the query blocks) and the graph
step (Gaussian weights, symmetrisation by block pairs) — together what
``lcc.knn_graph(z, k, exact=False)`` does. Reported: wall time of each step,
recall@k of the approximate neighbours (IVF, ``--nprobe`` lists of ``2√n``
searched per query) against exact search on a random
sample of queries, and each worker's peak RSS (sampled every 10 ms by a thread
in the worker) next to the size of the dense latent matrix, to show that no
worker holds it more than once: above its own shard, a worker holds its IVF
index (the one full copy: vectors + ids), its half of the neighbours and of
the graph, and about one block in flight.

    python benchmarks/bench_dask_knn.py                      # 1,000,000 × 64, k = 10
    python benchmarks/bench_dask_knn.py --n 100000           # a quick run
    python benchmarks/bench_dask_knn.py --report benchmarks/results/dask_knn.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import lcc
from lcc.io import write_json


def blob_block(block_info=None, *, dim: int, centers: np.ndarray, std: float, seed: int):
    """Rows of one chunk: a random center each plus Gaussian noise (seeded per chunk)."""
    (start, stop), _ = block_info[None]["array-location"]
    rng = np.random.default_rng([seed, start])
    labels = rng.integers(0, len(centers), stop - start)
    noise = rng.standard_normal((stop - start, dim), dtype=np.float32)
    return centers[labels] + std * noise


def start_sampler(dask_worker) -> int:
    """Start a peak-RSS sampling thread in a worker process (kept on the worker object)."""
    from lcc.profiling import PeakRSS

    dask_worker.lcc_peak_rss = PeakRSS(interval=0.01).__enter__()
    return dask_worker.lcc_peak_rss.peak


def stop_sampler(dask_worker) -> int:
    sampler = dask_worker.lcc_peak_rss
    sampler.__exit__(None, None, None)
    return sampler.peak


def report(r: dict) -> None:
    """The result table (also printed by ``--report`` from a saved JSON)."""
    a, matrix = r["args"], r["matrix_mib"]
    print(f"latents: {a['n']:,} × {a['dim']} float32 ({matrix:.0f} MiB), {a['chunks']} chunks")
    print(f"cluster: {a['workers']} worker processes × 1 thread")
    print(f"\nk-NN graph, k = {a['k']}: {r['edges']:,} stored edges (symmetric)")
    print(f"  k-NN search (IVF, nprobe {a['nprobe']:>3})     {r['knn_s']:8.1f} s")
    print(f"  graph (weights + symmetrisation)   {r['graph_s']:8.1f} s")
    print(f"  total                              {r['total_s']:8.1f} s")
    print(f"  recall@{a['k']} on {a['queries']:,} queries: {r['recall_at_k']:.4f}")
    print("\npeak RSS per worker; 'before' already holds the worker's own shard of the latents")
    print(
        f"{'worker':<24}{'before MiB':>11}{'peak MiB':>10}{'increase':>10}{'increase / matrix':>19}"
    )
    for w, m in r["workers"].items():
        print(
            f"{w:<24}{m['baseline_mib']:11.0f}{m['peak_mib']:10.0f}"
            f"{m['increase_mib']:10.0f}{m['increase_mib'] / matrix:19.2f}"
        )


def _measure(args: argparse.Namespace) -> dict:
    """Generate the latents on a LocalCluster, time the k-NN graph, sample its recall."""
    import dask
    import dask.array as da
    from distributed import wait

    from lcc._dispatch import Placement
    from lcc.backends.cpu import knn_query
    from lcc.distributed import cluster
    from lcc.kernels.neighbors import drop_self
    from lcc.sharded.neighbors import graph_from_neighbors

    n, dim, k = args.n, args.dim, args.k
    matrix_mib = n * dim * 4 / 2**20
    centers = np.random.default_rng(1).normal(0, 1.5, (100, dim)).astype(np.float32)
    rows = -(-n // args.chunks)
    with cluster("local", n_workers=args.workers, threads_per_worker=1, memory_limit="10GiB") as c:
        z = da.map_blocks(
            blob_block,
            dim=dim,
            centers=centers,
            std=1.0,
            seed=0,
            chunks=((rows,) * (n // rows) + ((n % rows,) if n % rows else ()), (dim,)),
            dtype=np.float32,
        )
        z = c.persist(z)
        wait(z)
        before = c.run(start_sampler)
        start = time.perf_counter()
        dist, idx = lcc.knn(z, k, exact=False, nprobe=args.nprobe)
        t_knn = time.perf_counter() - start
        graph = graph_from_neighbors(dist, idx, "median")
        wait(graph)
        t_total = time.perf_counter() - start
        peaks = c.run(stop_sampler)
        blocks = graph.to_delayed().ravel()
        nnz = int(sum(dask.compute(*[dask.delayed(lambda b: b.nnz)(b) for b in blocks])))
        # recall@k on a random sample of queries, against exact search (on this process)
        queries = np.sort(np.random.default_rng(2).choice(n, args.queries, replace=False))
        found = idx[queries].compute()
        full = z.compute()
        sq, exact = knn_query(full, full[queries], k + 1, chunk_size=2048)
        _, exact = drop_self(Placement("cpu", "cpu"), sq, exact, k, query_ids=queries, n_base=n)
        recall = float(
            np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact, strict=True)])
        )

    return {
        "matrix_mib": matrix_mib,
        "knn_s": t_knn,
        "graph_s": t_total - t_knn,
        "total_s": t_total,
        "recall_at_k": recall,
        "edges": nnz,
        "before": before,
        "peaks": peaks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--nprobe", type=int, default=32, help="IVF lists probed per query")
    parser.add_argument("--chunks", type=int, default=16, help="row chunks of the latents")
    parser.add_argument("--queries", type=int, default=10_000, help="recall sample")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dask_knn.json"))
    parser.add_argument("--report", type=Path, help="print the table of a saved JSON and exit")
    args = parser.parse_args(argv)
    if args.report is not None:
        report(json.loads(args.report.read_text()))
        return 0

    measured = _measure(args)
    before, peaks = measured.pop("before"), measured.pop("peaks")
    workers = {
        w: {
            "baseline_mib": before[w] / 2**20,
            "peak_mib": peaks[w] / 2**20,
            "increase_mib": (peaks[w] - before[w]) / 2**20,
        }
        for w in peaks
    }
    results = {"args": vars(args) | {"out": str(args.out)}, **measured, "workers": workers}
    write_json(args.out, results)
    report(results)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
