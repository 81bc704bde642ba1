"""The k-NN graph of 1,000,000 × 64 latents in a single process (the Dask run:
bench_dask_knn.py), with each approximate CPU search lcc has, and its recall.

Latents: the same 100 Gaussian clusters in 64-d as bench_dask_knn.py (same
seeds, same chunking, so the same matrix). Timed per search: the k-NN search
(squared distances and ids, the row itself included) and the graph step
(Gaussian weights, symmetrisation); recall@k against exact search on a random
sample of queries. Searches:

* ``ivf``: faiss IVF-Flat, ``2√n`` lists, ``--nprobe`` probed per query (the
  Dask run's setting), one query at a time (faiss's OpenMP over queries);
* ``ivf-join``: the inverted-file self-join (``√n`` lists, every list joined
  with one BLAS product against the rows of its ``nprobe`` nearest lists,
  default 1/14 of them), lcc's choice from ``IVF_JOIN_MIN_DIM`` or
  ``IVF_JOIN_MIN_ROWS``;
* ``exact``: lcc's float32 exact engine, the symmetric self-join of
  :func:`lcc.backends.knn.cpu_exact.self_knn` (not run by default: ~8 min);
* ``certified``: the certified-exact search that ``exact=True`` runs where int8
  products are fast (:mod:`lcc.backends.knn.cpu_certified`: int8 candidate pass
  with a proven bound, exact float64 re-rank), with its candidates per row.

Then, for each search, the Leiden communities of its graph (``lcc.leiden``,
igraph, resolution 1) with their time and modularity.

    python benchmarks/bench_scale.py                        # 1,000,000 × 64, k = 10
    python benchmarks/bench_scale.py --n 200000
    python benchmarks/bench_scale.py --searches exact --out benchmarks/results/scale_exact.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_dask_knn import blob_block

from lcc.io import write_json


def latents(n: int, dim: int, chunks: int) -> np.ndarray:
    """bench_dask_knn.py's matrix, built chunk by chunk in this process."""
    centers = np.random.default_rng(1).normal(0, 1.5, (100, dim)).astype(np.float32)
    rows = -(-n // chunks)
    parts = []
    for start in range(0, n, rows):
        info = {None: {"array-location": [(start, min(start + rows, n)), (0, dim)]}}
        parts.append(blob_block(info, dim=dim, centers=centers, std=1.0, seed=0))
    return np.concatenate(parts)


def search(name: str, z: np.ndarray, k: int, nprobe: int) -> tuple[Any, Any, str, str]:
    """One search: squared distances and ids (the row itself included), a label, and how
    it ran (the certified search's candidates per row; empty for the others)."""
    from lcc.backends.knn import cpu_certified, cpu_ivf
    from lcc.backends.knn.cpu_exact import self_knn

    if name == "ivf":
        sq, idx = cpu_ivf.search(z, k + 1, chunk_size=8192, progress=False, nprobe=nprobe)
        return sq, idx, f"ivf (nprobe {nprobe})", ""
    if name == "exact":
        return (*self_knn(z, k + 1, progress=False), "exact (self-join)", "")
    if name == "certified":
        sq, idx, how = cpu_certified.certified_knn(z, k)
        return sq, idx, "certified (int8 + float64)", how
    sq, idx = cpu_ivf._ivf_join(z, k + 1, progress=False)
    nlist = cpu_ivf._n_lists(len(z), 1.0)
    return sq, idx, f"ivf-join (nprobe {cpu_ivf._n_probes(nlist)} of {nlist})", ""


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--nprobe", type=int, default=32, help="IVF lists probed per query")
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--queries", type=int, default=10_000, help="recall sample")
    parser.add_argument(
        "--searches",
        nargs="+",
        default=["ivf", "ivf-join"],
        choices=["ivf", "ivf-join", "exact", "certified"],
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import lcc
    from lcc._dispatch import Placement
    from lcc.backends.knn.cpu_certified import certified_knn
    from lcc.backends.knn.cpu_exact import exact_knn
    from lcc.kernels.neighbors import drop_self, graph_from_neighbors

    args, cpu = parse(argv), Placement("cpu", "cpu")
    n, k = args.n, args.k
    z = latents(n, args.dim, args.chunks)
    queries = np.sort(np.random.default_rng(2).choice(n, args.queries, replace=False))
    sq, exact = exact_knn(z, z[queries], k + 1, chunk_size=2048, progress=False)
    _, exact = drop_self(cpu, sq, exact, k, query_ids=queries, n_base=n)
    if "certified" in args.searches:
        certified_knn(z[:5000], k)  # numba's compilation, or its load from the disk cache
    print(f"latents: {n:,} × {args.dim} float32 ({z.nbytes / 2**20:.0f} MiB), one process")
    print(
        f"{'search':<30}{'k-NN s':>9}{'graph s':>9}{'total s':>9}{'recall@' + str(k):>11}"
        f"{'Leiden s':>10}{'modularity':>12}{'clusters':>10}"
    )
    rows = {}
    for name in args.searches:
        start = time.perf_counter()
        sq, idx, label, how = search(name, z, k, args.nprobe)
        dist, idx = drop_self(cpu, sq, idx, k, n_base=n)
        t_knn = time.perf_counter() - start
        graph = graph_from_neighbors(cpu, dist, idx, "median")
        t_graph = time.perf_counter() - start - t_knn
        hits = [len(set(a) & set(b)) for a, b in zip(idx[queries], exact, strict=True)]
        start = time.perf_counter()
        clusters = lcc.leiden(graph, seed=0)
        row = rows[name] = {
            "label": label,
            "knn_s": t_knn,
            "graph_s": t_graph,
            "total_s": t_knn + t_graph,
            "recall_at_k": float(np.sum(hits)) / (len(queries) * k),
            "edges": int(graph.nnz),
            "leiden_s": time.perf_counter() - start,
            "modularity": lcc.modularity(graph, clusters),
            "n_clusters": int(clusters.max()) + 1,
            "search": how,
        }
        print(
            f"{label:<30}{t_knn:9.1f}{t_graph:9.1f}{row['total_s']:9.1f}{row['recall_at_k']:11.4f}"
            f"{row['leiden_s']:10.1f}{row['modularity']:12.4f}{row['n_clusters']:10d}",
            flush=True,
        )
        if how:
            print(f"    {how}")
    write_json(args.out, {"args": vars(args) | {"out": str(args.out)}, "searches": rows})
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
