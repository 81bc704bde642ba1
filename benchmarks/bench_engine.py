"""Speed of the LCC correction step: lcc's CPU engine vs the reference-style pipeline.

Times, on one machine in one run, the full correction pipeline (k-NN graph →
community detection → cluster/label matching → MC mask) on ``make_blobs``
latents (50,000 × 64 float32, 10 centres, cluster_std 4, 5% label noise):

* ``lcc`` exact: ``knn_graph`` (exact k-NN) → ``leiden`` → ``match_clusters``;
* ``lcc`` approximate: the same with ``exact=False`` (faiss IVF), and its
  recall@k against exact k-NN on a 10,000-query sample;
* the baseline, built the way the LCC reference implementation does it:
  faiss exact k-NN (``IndexFlatL2``) → a networkx ``DiGraph`` filled row by
  row (unit weights, as the reference has them) → ``to_undirected`` →
  ``networkx.community.louvain_communities`` → networkx max-flow/min-cost
  matching (paper section III.C);
* the bare matrix product exact k-NN needs: N² · (d + 1) multiply-adds, tiled
  (the full N × N product does not fit in memory), the faster of numpy's
  threaded BLAS on large tiles and lcc's own layout (one thread per core on
  cache-sized tiles) without the selection. lcc's exact search of ``z``
  against itself is a symmetric self-join that computes each pair's distance
  once, about half this product (N²/2 · (d + 2)), so it can run below 1×.

Medians over ``--repeats`` runs for lcc and the matrix product; the baseline
runs once per k (minutes). Writes ``benchmarks/results/engine.json``.

    python benchmarks/bench_engine.py                     # k = 5 and 50, baseline at k = 5
    python benchmarks/bench_engine.py --baseline-ks 5 50  # also the (slow) k = 50 baseline
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import lcc
from lcc._dispatch import here
from lcc.kernels.neighbors import graph_from_neighbors


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def make_latents(n: int, d: int, noise: float, seed: int = 0):
    from sklearn.datasets import make_blobs

    z, y = make_blobs(n_samples=n, n_features=d, centers=10, cluster_std=4.0, random_state=seed)
    rng = np.random.default_rng(seed)
    flip = rng.choice(n, size=round(noise * n), replace=False)
    y = y.copy()
    y[flip] = (y[flip] + rng.integers(1, 10, size=flip.size)) % 10
    return z.astype(np.float32), y


def bare_matmul(z: np.ndarray) -> float:
    """The bound: N² · (d + 1) multiply-adds (the augmented GEMM exact k-NN runs), every
    row against every row, timed two ways and the faster kept: numpy's threaded BLAS
    on 2048 × 8192 tiles, and one thread per core on cache-sized tiles (the layout of
    lcc's exact search, without the top-k selection)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from lcc.backends.knn.cpu_exact import BASE_TILE, QUERY_TILE, _augmented, _n_cores

    queries, base, _ = _augmented(z, z)
    n = z.shape[0]

    def tiled(q_tile: int, b_tile: int, starts) -> None:
        out = np.empty((q_tile, b_tile), dtype=np.float32)
        for q0 in starts:
            q = queries[q0 : q0 + q_tile]
            for b0 in range(0, n, b_tile):
                b = base[b0 : b0 + b_tile]
                target = out[: len(q), : len(b)] if len(b) == b_tile else None
                np.matmul(q, b.T, out=target)

    start = time.perf_counter()
    tiled(2048, 8192, range(0, n, 2048))
    numpy_tiles = time.perf_counter() - start
    start = time.perf_counter()
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(_n_cores()) as pool:
        list(pool.map(lambda q0: tiled(QUERY_TILE, BASE_TILE, [q0]), range(0, n, QUERY_TILE)))
    cache_tiles = time.perf_counter() - start
    return min(numpy_tiles, cache_tiles)


def lcc_pipeline(z, y, k, exact):
    """k-NN graph → Leiden → matching → MC mask, with per-stage times."""
    t = {}
    (dist, idx), t["knn"] = timed(lcc.knn, z, k, exact=exact)
    start = time.perf_counter()
    adjacency = graph_from_neighbors(here(dist), dist, idx, "median")
    t["graph"] = time.perf_counter() - start
    labels, t["communities"] = timed(lcc.leiden, adjacency, seed=0)
    (_, mc), t["matching"] = timed(lcc.match_clusters, y, labels)
    t["total"] = sum(t.values())
    return t, idx, int(labels.max()) + 1, float(mc.mean())


def baseline_pipeline(z, y, k):
    """The reference implementation's way: faiss → networkx graph → networkx Louvain/max-flow."""
    import faiss
    import networkx as nx

    t = {}
    start = time.perf_counter()
    index = faiss.IndexFlatL2(z.shape[1])
    index.add(z)
    _, idx = index.search(z, k + 1)
    t["knn"] = time.perf_counter() - start

    start = time.perf_counter()
    graph = nx.DiGraph()
    for i, row in enumerate(idx):
        # unit weights, as the reference does: exp(-d²) underflows to 0 on these latents
        graph.add_weighted_edges_from((i, int(j), 1) for j in row if j != i)
    graph.remove_edges_from(nx.selfloop_edges(graph))
    graph = nx.to_undirected(graph)
    t["graph"] = time.perf_counter() - start

    start = time.perf_counter()
    communities = nx.community.louvain_communities(graph, seed=0)
    labels = np.empty(len(y), dtype=np.int64)
    for c, members in enumerate(communities):
        labels[list(members)] = c
    t["communities"] = time.perf_counter() - start

    start = time.perf_counter()
    flow_graph = nx.DiGraph()
    true_labels, clusters = np.unique(y), np.unique(labels)
    for a in true_labels:
        flow_graph.add_edge("source", ("y", a), weight=0)
        for c in clusters:
            overlap = int(np.sum((y == a) & (labels == c)))
            if overlap:
                flow_graph.add_edge(("y", a), ("c", c), capacity=1, weight=-overlap)
    for c in clusters:
        flow_graph.add_edge(("c", c), "sink", capacity=1, weight=0)
    flow = nx.max_flow_min_cost(flow_graph, "source", "sink")
    matched = {c: a for a in true_labels for c, f in flow[("y", a)].items() if f > 0}
    mc = np.array([matched[("c", c)] != t_ for c, t_ in zip(labels, y, strict=True)])
    t["matching"] = time.perf_counter() - start
    t["total"] = sum(t.values())
    return t, len(communities), float(mc.mean())


def recall_at_k(exact_idx: np.ndarray, approx_idx: np.ndarray, sample: np.ndarray) -> float:
    hits = [np.intersect1d(exact_idx[i], approx_idx[i]).size for i in sample]
    return float(np.sum(hits)) / (len(sample) * exact_idx.shape[1])


def median_runs(fn, repeats):
    runs = [fn() for _ in range(repeats)]
    times = {key: statistics.median(r[0][key] for r in runs) for key in runs[0][0]}
    return times, runs[-1]


def write_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
        json.dump(payload, fh, indent=2)
    os.replace(fh.name, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--ks", type=int, nargs="+", default=[5, 50])
    parser.add_argument("--baseline-ks", type=int, nargs="*", default=[5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--recall-queries", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/engine.json"))
    args = parser.parse_args(argv)

    z, y = make_latents(args.n, args.d, noise=0.05)
    print(f"latents: {args.n} × {args.d} float32, 10 blobs (std 4), 5% label noise")
    matmul = statistics.median(bare_matmul(z) for _ in range(args.repeats))
    print(f"bare matrix product (N²·(d+1), tiled, best layout): {matmul:.2f} s")
    sample = np.random.default_rng(0).choice(args.n, min(args.recall_queries, args.n), False)
    results = {"n": args.n, "d": args.d, "matmul_s": matmul, "k": {}}

    for k in args.ks:
        exact, (_, exact_idx, n_exact, mc_exact) = median_runs(
            lambda k=k: lcc_pipeline(z, y, k, exact=True), args.repeats
        )
        approx, (_, approx_idx, n_approx, mc_approx) = median_runs(
            lambda k=k: lcc_pipeline(z, y, k, exact=False), args.repeats
        )
        row = {
            "lcc_exact": exact,
            "lcc_exact_clusters": n_exact,
            "lcc_exact_mc_fraction": mc_exact,
            "lcc_approx": approx,
            "lcc_approx_clusters": n_approx,
            "lcc_approx_mc_fraction": mc_approx,
            "approx_recall_at_k": recall_at_k(exact_idx, approx_idx, sample),
            "knn_over_matmul": exact["knn"] / matmul,
        }
        if k in args.baseline_ks:
            print(f"k={k}: running the networkx baseline (minutes)...", flush=True)
            base, n_base, mc_base = baseline_pipeline(z, y, k)
            row |= {
                "baseline": base,
                "baseline_clusters": n_base,
                "baseline_mc_fraction": mc_base,
                "speedup_exact": base["total"] / exact["total"],
                "speedup_approx": base["total"] / approx["total"],
            }
        results["k"][str(k)] = row
        print_row(k, row)

    write_atomic(args.out, results)
    print(f"\nwritten: {args.out}")
    return 0


def print_row(k: int, row: dict) -> None:
    stages = ("knn", "graph", "communities", "matching", "total")
    print(f"\nk = {k}          " + "".join(f"{s:>13}" for s in stages) + "   clusters   MC")
    names = [("lcc exact", "lcc_exact"), ("lcc approx", "lcc_approx"), ("baseline", "baseline")]
    for label, key in names:
        if key in row:
            cells = "".join(f"{row[key][s]:12.2f}s" for s in stages)
            print(
                f"{label:<16}{cells}   {row[key + '_clusters']:>8}   "
                f"{row[key + '_mc_fraction']:.3f}"
            )
    print(
        f"exact k-NN / bare matrix product: {row['knn_over_matmul']:.2f}×   "
        f"approximate recall@{k}: {row['approx_recall_at_k']:.4f}"
    )
    if "speedup_exact" in row:
        print(
            f"speed-up over the baseline: exact {row['speedup_exact']:.1f}×, "
            f"approximate {row['speedup_approx']:.1f}×"
        )


if __name__ == "__main__":
    sys.exit(main())
