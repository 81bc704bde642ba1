"""GPU check: what lcc does on one NVIDIA GPU, timed (run by ``benchmarks/gpu_check.sh``).

Part A, the LCC correction step: ``--n`` × ``--dim`` float32 latents made on the
GPU (100 Gaussian blobs; labels = blob id, 10 % flipped, so some samples are
misclustered), then ``lcc.knn_graph`` (exact) → ``lcc.leiden`` → ``lcc.match_clusters``
→ ``lcc.correction_targets(mode="exact")``: per stage the first run (warm-up), the
median of ``--repeats`` more, between device syncs, and peak GPU memory (cupy pool
high-water, torch ``max_memory_allocated``). Without RAPIDS lcc's GPU stages are
skipped; ``lcc.match_clusters`` (cupy glue) still runs, on the blob ids as clusters,
beside RAPIDS-free stand-ins (exact k-NN and correction targets by cupy matmul +
torch.topk) that exercise the GPU but are not lcc's cuVS path.
Part B, the LCC fine-tuning demo (``pipelines/configs/lcc_demo.yaml``) with the model
on CUDA: wall time and final table; without RAPIDS the engine runs on the CPU
backend (``LCC_BACKEND=cpu``, needs faiss and igraph). No usable CUDA device: both
parts print ``SKIPPED`` and the exit status is 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path("pipelines/configs/lcc_demo.yaml")
RAPIDS = ("cuvs", "cugraph", "cuml")
GiB = 2**30


class Report:
    """Prints each line and appends it to ``--out`` at once (a killed run keeps its lines)."""

    def __init__(self, out: Path | None) -> None:
        self.out, self.failed = out, []
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        if self.out is not None:
            with self.out.open("a") as fh:
                fh.write(line + "\n")


def no_gpu_reason() -> str | None:
    """Why the GPU cannot be used here, or None when cupy and torch both see a device."""
    try:
        import cupy
        import torch
    except Exception as err:  # ImportError, or a broken CUDA install
        return f"no usable CUDA device ({type(err).__name__}: {err})"
    with contextlib.suppress(Exception):
        if not cupy.is_available():
            return "no usable CUDA device (cupy.is_available() is False)"
        ok = torch.cuda.is_available()
        return None if ok else "no usable CUDA device (torch.cuda.is_available() is False)"
    return "no usable CUDA device (cupy.is_available() raised)"


def missing(names: tuple[str, ...] = RAPIDS) -> list[str]:
    """Those of ``names`` that do not import (default: what lcc's GPU backend needs)."""
    absent = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # not installed, or broken
            absent.append(name)
    return absent


class Stages:
    """Times GPU stages: a warm-up run, then ``repeats`` runs, each between device syncs."""

    def __init__(self, report: Report, repeats: int) -> None:
        import cupy
        import torch

        self.cp, self.torch, self.report, self.repeats = cupy, torch, report, repeats
        self.peak_pool = self.peak_torch = 0

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        sync, pool = self.cp.cuda.Device().synchronize, self.cp.get_default_memory_pool()
        pool.free_all_blocks()  # the pool only grows: total_bytes() after = this stage's peak
        self.torch.cuda.reset_peak_memory_stats()
        times, result = [], None
        for _ in range(1 + self.repeats):
            result = None  # free the previous result before the next run
            sync()
            start = time.perf_counter()
            result = fn()
            sync()
            times.append(time.perf_counter() - start)
        peak_pool, peak_torch = pool.total_bytes(), self.torch.cuda.max_memory_allocated()
        self.peak_pool = max(self.peak_pool, peak_pool)
        self.peak_torch = max(self.peak_torch, peak_torch)
        median = statistics.median(times[1:]) if self.repeats else times[0]
        self.report(f"  {name:<56} warm-up {times[0]:8.3f} s  median of {self.repeats} "
                    f"{median:8.3f} s  peak: cupy pool {peak_pool / GiB:6.2f} GiB, "
                    f"torch {peak_torch / GiB:6.2f} GiB")  # fmt: skip
        return result


def make_latents(cp: Any, n: int, dim: int, blobs: int = 100, flip: float = 0.1) -> tuple:
    """Latents of ``blobs`` Gaussian blobs on the GPU, the blob ids and labels (``flip`` wrong)."""
    rs = cp.random.RandomState(0)
    centers = rs.standard_normal((blobs, dim)).astype(cp.float32) * 4
    blob = rs.randint(0, blobs, n).astype(cp.int64)
    z = centers[blob] + rs.standard_normal((n, dim)).astype(cp.float32)
    flipped = rs.random_sample(n) < flip
    y = blob.copy()
    y[flipped] = (blob[flipped] + rs.randint(1, blobs, int(flipped.sum()))) % blobs
    return z, blob, y


def standin_knn(cp: Any, base: Any, queries: Any, k: int) -> Any:
    """Exact k-NN ids by chunked cupy matmul + torch.topk (cupy.argpartition sorts fully).

    One GEMM per chunk: ``[−2q, 1] · [b, ‖b‖²]ᵀ = ‖b‖² − 2 q·b`` ranks like ``‖q − b‖²``.
    """
    import torch

    b = cp.concatenate([base, (base * base).sum(axis=1, keepdims=True)], axis=1)
    q = cp.concatenate([-2 * queries, cp.ones((queries.shape[0], 1), base.dtype)], axis=1)
    budget = min(cp.cuda.Device().mem_info[0] // 8, 8 * GiB)  # for one chunk's distances
    chunk = int(max(64, min(8192, budget // max(1, 8 * base.shape[0]))))
    out = cp.empty((queries.shape[0], k), dtype=cp.int64)
    for start in range(0, q.shape[0], chunk):
        d = torch.from_dlpack(q[start : start + chunk] @ b.T)
        out[start : start + chunk] = cp.from_dlpack(torch.topk(d, k, dim=1, largest=False)[1])
    return out


def standin_targets(cp: Any, z: Any, y: Any, mc: Any, k: int) -> tuple[Any, Any]:
    """Eq. (7) targets as lcc computes them, with the k-NN query by :func:`standin_knn`."""
    targets, ok = z.copy(), cp.zeros(z.shape[0], dtype=bool)
    for label in cp.unique(y[mc]).tolist():
        base = cp.flatnonzero((y == label) & ~mc)
        queries = cp.flatnonzero((y == label) & mc)
        if base.shape[0] >= k:
            targets[queries] = z[base[standin_knn(cp, z[base], z[queries], k)]].mean(axis=1)
            ok[queries] = True
    return targets, ok


def part_a(report: Report, args: argparse.Namespace) -> None:
    report(f"== Part A: correction step on the GPU, {args.n:,} × {args.dim} float32, k={args.k}")
    if reason := no_gpu_reason():
        return report(f"SKIPPED: {reason}")
    import cupy as cp

    import lcc

    stages = Stages(report, args.repeats)
    report(f"  device: {stages.torch.cuda.get_device_name()}")
    z, blob, y = stages.run("make latents (cupy.random: 100 blobs, 10 % flipped)",
                            lambda: make_latents(cp, args.n, args.dim))  # fmt: skip
    if not (absent := missing()):
        graph = stages.run("lcc.knn_graph (exact: cuVS)", lambda: lcc.knn_graph(z, args.k))
        clusters = stages.run("lcc.leiden (cuGraph)", lambda: lcc.leiden(graph))
        matching = stages.run("lcc.match_clusters", lambda: lcc.match_clusters(y, clusters))
        correctible = stages.run(
            "lcc.correction_targets (exact)",
            lambda: lcc.correction_targets(z, y, clusters, k=args.k, mode="exact"),
        ).correctible
    else:
        report(f"SKIPPED: RAPIDS not installed (pip install lcc[gpu]); missing: {absent}")
        report("  skipped: lcc.knn_graph, lcc.leiden, lcc.correction_targets. The stand-ins")
        report("  below are NOT lcc's cuVS / cuGraph path; clusters := the true blob ids")
        clusters = blob
        stages.run("stand-in k-NN, all samples (cupy matmul + torch.topk)",
                   lambda: standin_knn(cp, z, z, args.k + 1)[:, 1:])  # fmt: skip
        matching = stages.run("lcc.match_clusters (cupy glue, real lcc)",
                              lambda: lcc.match_clusters(y, clusters))  # fmt: skip
        mc = matching.misclustered
        _, correctible = stages.run("stand-in exact correction targets (cupy + torch.topk)",
                                    lambda: standin_targets(cp, z, y, mc, args.k))  # fmt: skip
    report(f"  clusters: {int(clusters.max()) + 1}   MC fraction: "
           f"{float(matching.misclustered.mean()):.4f}   correctible fraction: "
           f"{float(correctible.mean()):.4f}")  # fmt: skip
    report(f"  peak GPU memory: cupy pool {stages.peak_pool / GiB:.2f} GiB, "
           f"torch max_memory_allocated {stages.peak_torch / GiB:.2f} GiB")  # fmt: skip


class _Tee(io.StringIO):
    """Keeps what the pipeline prints and passes it on."""

    def write(self, text: str) -> int:
        sys.__stdout__.write(text)
        return super().write(text)


def part_b(report: Report, args: argparse.Namespace) -> None:
    report(f"== Part B: LCC fine-tuning demo on CUDA ({DEMO})")
    if reason := no_gpu_reason():
        return report(f"SKIPPED: {reason}")
    import torch

    from lcc.cli import main

    saved = os.environ.get("LCC_BACKEND")
    if missing():
        if absent := missing(("faiss", "igraph")):
            return report(f"SKIPPED: RAPIDS absent and {', '.join(absent)} not installed "
                          "for the CPU engine (carry wheels: benchmarks/README.md)")  # fmt: skip
        os.environ["LCC_BACKEND"] = "cpu"
        report("  RAPIDS absent: the LCC engine runs on the CPU backend (LCC_BACKEND=cpu), "
               "the model trains on CUDA")  # fmt: skip
    overrides = ["device=cuda", "progress=false"]
    report(f"  lcc run {DEMO} {' '.join(overrides)}")
    tee = _Tee()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(tee):
            main(["run", str(ROOT / DEMO), *overrides, f"output_dir={tmp}"])
    except ImportError as err:
        return report(f"SKIPPED: {err.name or err} not installed ({err})")
    except Exception as err:
        report.failed.append("part B")
        return report(f"FAILED: {type(err).__name__}: {err}")
    finally:
        os.environ.pop("LCC_BACKEND", None)
        os.environ.update({} if saved is None else {"LCC_BACKEND": saved})
    seconds, lines = time.perf_counter() - start, tee.getvalue().splitlines()
    report(f"  wall time {seconds:.1f} s, torch max_memory_allocated "
           f"{torch.cuda.max_memory_allocated() / GiB:.2f} GiB")  # fmt: skip
    first = next((i for i, s in enumerate(lines) if s.startswith("pretrained test acc")), 0)
    for line in lines[first:]:
        if line.strip() and not line.startswith("run_dir="):
            report(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="append the results to this text file")
    parser.add_argument("--n", type=int, default=1_000_000, help="latents in part A")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the warm-up")
    parser.add_argument("--part", choices=("A", "B", "all"), default="all")
    args = parser.parse_args(argv)
    report = Report(args.out)
    for name, part in (("A", part_a), ("B", part_b)):
        if args.part in (name, "all"):
            if name == "B" and args.part == "all":
                report()
            try:
                part(report, args)
            except Exception as err:
                report.failed.append(f"part {name}")
                report(f"FAILED: part {name}: {type(err).__name__}: {err}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
