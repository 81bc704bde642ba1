"""Time and memory of the SSC consensus step (SSC paper, Algorithm 1 steps 2–5), CPU backend.

The step alone, on precomputed embeddings: for each of ``m`` members,
mini-batch k-Means landmarks and the sparse landmark affinity ``Ẑ_i``
(section II.B); the stacked ``Z̄ = (1/√m)[Ẑ_1 | … | Ẑ_m]`` (II.C); its ``k``
leading left singular vectors; k-Means on them — i.e. one call of
:func:`lcc.ssc_consensus`. Default size: the paper's MNIST setting, 70,000
samples × 256-D embeddings × 6 members, p = 350 landmarks, r = 3, k = 10.

The embeddings are random float32: ``--data noise`` (default, standard normal)
or ``--data blobs`` (10 Gaussian blobs seen through a different random linear
map per member, which also reports the ARI of the consensus).

Reported per run: wall time (with a per-stage split obtained by wrapping the
stage functions of :mod:`lcc.landmarks`) and peak resident memory, sampled by
a background thread every 2 ms with psutil:

* "step only": peak RSS during the call minus the RSS just before it (the
  inputs already allocated);
* "including inputs": the same peak minus the RSS before the embeddings were
  created.

``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the kernel's own high-water mark,
which no sampling can miss) after the first run, minus the RSS before it, is
recorded too: an upper bound on that run's increase (the mark is monotone over
the process, so it checks the first run only). Also printed: what a dense
n × n affinity (classical spectral clustering) would need in float32 and float64.

``OMP_WAIT_POLICY`` defaults to ``PASSIVE`` here (unless set): on a shared,
oversubscribed machine OpenMP threads that spin while waiting (the default)
slowed scikit-learn's k-Means 25× in our runs. It is recorded in the output.
For the same reason every measurement runs twice, under the libraries' own
thread counts and under ``threadpoolctl`` limits of one thread (``--threads``):
on a 2-core machine with a load average of 3–4, two OpenBLAS threads made
scikit-learn's mini-batch k-Means on float32 7× slower than one.

    python benchmarks/bench_ssc_consensus.py                  # median of 3 runs, twice
    python benchmarks/bench_ssc_consensus.py --repeats 1 --data blobs --threads default

Writes ``benchmarks/results/ssc_consensus.json`` and ``.txt``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before numpy / sklearn load libgomp

import argparse
import functools
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

import lcc
import lcc.consensus as consensus_module
from lcc.io import write_atomic, write_json
from lcc.profiling import PeakRSS, rss

GIB = 2**30
MIB = 2**20
TIMED_STAGES = {"_landmarks": "landmarks", "_member": "affinity", "_svd": "svd", "kmeans": "kmeans"}


def max_rss() -> int:
    """The kernel's high-water mark of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_embeddings(kind: str, n: int, d: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return [rng.standard_normal((n, d), dtype=np.float32) for _ in range(m)], None
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=n, n_features=32, centers=10, cluster_std=2.0, random_state=seed)
    x = x.astype(np.float32)
    members = []
    for _ in range(m):
        z = x @ rng.standard_normal((32, d), dtype=np.float32)
        z += rng.standard_normal((n, d), dtype=np.float32)
        members.append(z)
    return members, y


def timing_wrappers(times: dict[str, float]) -> dict[str, Any]:
    """Replace the stage functions lcc.consensus calls by timed twins; return the originals."""
    originals = {name: getattr(consensus_module, name) for name in TIMED_STAGES}

    def timed(name: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                stage = TIMED_STAGES[name]
                times[stage] = times.get(stage, 0.0) + time.perf_counter() - start

        return wrapper

    for name, fn in originals.items():
        setattr(consensus_module, name, timed(name, fn))
    return originals


def run_once(members: list[np.ndarray], args: argparse.Namespace) -> dict[str, Any]:
    times: dict[str, float] = {}
    originals = timing_wrappers(times)
    before = rss()
    try:
        with PeakRSS() as peak:
            start = time.perf_counter()
            res = lcc.ssc_consensus(
                members,
                args.k,
                args.p,
                args.r,
                metrics=args.metrics,
                seed=0,
                return_details=True,
            )
            wall = time.perf_counter() - start
    finally:
        for name, fn in originals.items():
            setattr(consensus_module, name, fn)
    affinity = res.affinity
    return {
        "wall_s": wall,
        "stages_s": times,
        "rss_before": before,
        "rss_peak": peak.peak,
        "step_peak_increase": peak.peak - before,
        "labels": res.labels,
        "metrics": list(res.metrics),
        "bandwidths": list(res.bandwidths),
        "affinity_bytes": int(
            affinity.data.nbytes + affinity.indices.nbytes + affinity.indptr.nbytes
        ),
        "affinity_nnz": int(affinity.nnz),
        "singular_values": res.svd.S.tolist(),
    }


def summarise(runs: list[dict[str, Any]], baseline: int) -> dict[str, Any]:
    return {
        "repeats": len(runs),
        "wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "wall_s_runs": [r["wall_s"] for r in runs],
        "stages_s_median": {
            s: statistics.median(r["stages_s"].get(s, 0.0) for r in runs)
            for s in TIMED_STAGES.values()
        },
        "step_peak_rss_increase_bytes": max(r["step_peak_increase"] for r in runs),
        "peak_rss_increase_including_inputs_bytes": max(r["rss_peak"] for r in runs) - baseline,
        "ru_maxrss_minus_rss_before_first_run_bytes": runs[0]["ru_maxrss_increase"],
    }


def table(args: argparse.Namespace, configs: dict[str, dict[str, Any]], first: dict) -> str:
    n = args.n
    names = list(configs)
    width = 16

    def row(label: str, values: list[str], target: str = "") -> str:
        return f"{label:34s}" + "".join(f"{v:>{width}s}" for v in values) + f"   {target}"

    def each(fn) -> list[str]:
        return [fn(configs[c]) for c in names]

    mib = "{:,.0f} MiB".format
    lines = [
        f"SSC consensus step, CPU backend — {platform.node()}, {os.cpu_count()} CPU cores "
        f"(shared with other jobs), OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}",
        f"embeddings: {args.members} × {n:,} × {args.d} float32 ({args.data}), "
        f"{first['inputs_bytes'] / MIB:,.0f} MiB; p = {args.p}, r = {args.r}, k = {args.k}, "
        f"metrics = {first['metrics']}",
        "",
        row("BLAS / OpenMP threads", names, "target"),
        row(
            f"wall time (median of {args.repeats})",
            each(lambda c: f"{c['wall_s_median']:.1f} s"),
            "≤ 60 s",
        ),
        *(
            row(f"  {stage}", each(lambda c, s=stage: f"{c['stages_s_median'][s]:.1f} s"))
            for stage in TIMED_STAGES.values()
        ),
        row("  all runs", each(lambda c: " ".join(f"{t:.1f}" for t in c["wall_s_runs"]))),
        row(
            "peak RSS increase, step only",
            each(lambda c: mib(c["step_peak_rss_increase_bytes"] / MIB)),
            "≤ 1,024 MiB",
        ),
        row(
            "peak RSS increase, incl. inputs",
            each(lambda c: mib(c["peak_rss_increase_including_inputs_bytes"] / MIB)),
        ),
        row(
            "ru_maxrss − RSS before, 1st run",
            each(lambda c: mib(c["ru_maxrss_minus_rss_before_first_run_bytes"] / MIB)),
        ),
        "",
        f"sparse Z̄ (CSR, float64): {first['affinity_bytes'] / MIB:,.1f} MiB "
        f"({first['affinity_nnz']:,} non-zeros, {n:,} × {args.p * args.members:,})",
        f"dense {n:,} × {n:,} affinity: {n * n * 4 / GIB:,.1f} GiB float32, "
        f"{n * n * 8 / GIB:,.1f} GiB float64",
    ]
    if first["ari"] is not None:
        lines.append(f"ARI of the consensus against the blobs: {first['ari']:.3f}")
    return "\n".join(lines)


def _payload(args: argparse.Namespace, first: dict[str, Any], configs: dict) -> dict:
    """The JSON record: the command, the machine, the sizes and every configuration."""
    n = args.n
    command = "python benchmarks/bench_ssc_consensus.py " + " ".join(
        f"--{k} {' '.join(v) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
        if k != "out" and v is not None
    )
    payload = {
        "command": command,
        "machine": {
            "node": platform.node(),
            "cpu_count": os.cpu_count(),
            "shared_with_other_jobs": True,
            "load_average_at_end": os.getloadavg(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
        "n": n,
        "d": args.d,
        "members": args.members,
        "p": args.p,
        "r": args.r,
        "k": args.k,
        "data": args.data,
        **first,
        "configs": configs,
        "dense_affinity_float32_bytes": n * n * 4,
        "dense_affinity_float64_bytes": n * n * 8,
        "targets": {"wall_s": 60, "step_peak_rss_increase_bytes": GIB},
    }
    return payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=70_000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--members", type=int, default=6)
    parser.add_argument("--p", type=int, default=350, help="landmarks per member")
    parser.add_argument("--r", type=int, default=3, help="nearest landmarks per sample")
    parser.add_argument("--k", type=int, default=10, help="clusters")
    parser.add_argument("--metrics", default=None, help="None (euclidean), 'random', a name")
    parser.add_argument("--data", choices=("noise", "blobs"), default="noise")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        nargs="+",
        default=["default", "1"],
        help="thread-pool limits to run under ('default': the libraries' own choice)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ssc_consensus.json"))
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    # warm-up on a tiny problem: imports (scikit-learn, faiss) and thread pools
    tiny = np.random.default_rng(1).standard_normal((500, 8), dtype=np.float32)
    lcc.ssc_consensus([tiny, tiny], 2, 20, 2)
    baseline = rss()
    members, y = make_embeddings(args.data, args.n, args.d, args.members)
    inputs_bytes = sum(z.nbytes for z in members)

    configs: dict[str, dict[str, Any]] = {}
    first: dict[str, Any] = {}
    for threads in args.threads:
        limit = None if threads == "default" else int(threads)
        runs = []
        with threadpool_limits(limit):
            for i in range(args.repeats):
                runs.append(run_once(members, args))
                if i == 0:  # an upper bound: the high-water mark may predate the run
                    runs[0]["ru_maxrss_increase"] = max(0, max_rss() - runs[0]["rss_before"])
                print(f"threads={threads} run {i + 1}: {runs[-1]['wall_s']:.1f} s", flush=True)
        configs[threads] = summarise(runs, baseline)
        if not first:
            first = {
                "inputs_bytes": inputs_bytes,
                "metrics": runs[0]["metrics"],
                "bandwidths": runs[0]["bandwidths"],
                "affinity_bytes": runs[0]["affinity_bytes"],
                "affinity_nnz": runs[0]["affinity_nnz"],
                "singular_values": runs[0]["singular_values"],
                "ari": None if y is None else float(lcc.metrics.ari(y, runs[0]["labels"])),
            }

    text = table(args, configs, first)
    print()
    print(text)
    payload = _payload(args, first, configs)
    write_json(args.out, payload)
    write_atomic(args.out.with_suffix(".txt"), lambda p: p.write_text(text + "\n"))
    print(f"\nwritten: {args.out} and {args.out.with_suffix('.txt')}")


if __name__ == "__main__":
    main()
