"""GPU check: what lcc does on one NVIDIA GPU, timed (run by ``benchmarks/gpu_check.sh``).

Part A, the LCC correction step on whatever GPU tier runs here (RAPIDS, or lcc's cupy
tier where RAPIDS is absent): ``--n`` × ``--dim`` float32 latents made on the GPU (100
Gaussian blobs; labels = blob id, 10 % flipped, so some samples are misclustered), then
``lcc.knn_graph`` (exact) → ``lcc.leiden`` → ``lcc.match_clusters`` →
``lcc.correction_targets(mode="exact")`` and ``lcc.metrics.ari`` of the clusters against
the blobs (a wrong partition, ARI < 0.9, is a failure). Per stage: the first run (warm-up),
the median of up to ``--repeats`` more within ``--stage-budget`` seconds, between device
syncs, and the peak device memory of torch (``max_memory_allocated``), cupy's pool and RMM
(its statistics, where RMM is installed). The implementation of each primitive is printed
(``implementations()`` of the GPU backend). Without igraph (and cuGraph) ``lcc.leiden`` is
``SKIPPED`` and the blob ids stand in for its clusters, labelled so.

Part B, the LCC fine-tuning demo (``pipelines/configs/lcc_demo.yaml``) with the model on
CUDA and the engine on the GPU (``LCC_BACKEND=gpu``): wall time, the engine's time per
correction and the final table.

Part C, DEC / IDEC / DCN (:mod:`lcc.deep`) with ``precision="bf16-mixed"`` on CUDA on
scikit-learn's digits: fit time and ACC; a failure when a RuntimeWarning is raised (bfloat16
not native, numerics; other warnings are listed), the weights or
the optimizer state leave float32 or CUDA, no forward ran in bfloat16, or a loss is not
finite.

Part A needs cupy with a usable device; parts B and C also torch with CUDA. Where that is
missing a part prints ``SKIPPED: <reason>``; a package that is not installed is a
``SKIPPED`` naming it. The exit status is 1 when something that ran failed.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gpu_check_common import (
    GiB,
    Report,
    absent_package,
    implementation_of,
    implementations,
    installed,
    no_gpu_reason,
    report_implementations,
)
from gpu_check_training import part_b, part_c

MIN_ARI = 0.9  # well separated blobs: Leiden on an exact k-NN graph finds them


class Memory:
    """Peak device memory of a stage: torch, cupy's default pool, RMM (where installed)."""

    def __init__(self) -> None:
        import cupy

        self.pool = cupy.get_default_memory_pool()
        self.torch = None
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_available():
                self.torch = torch
        self.rmm, self.rmm_note = None, "RMM: not installed"
        if installed("rmm"):
            try:
                import rmm
                import rmm.statistics

                current = rmm.mr.get_current_device_resource()
                if isinstance(current, rmm.mr.StatisticsResourceAdaptor):
                    self.rmm_note = "RMM: statistics of the current StatisticsResourceAdaptor"
                else:
                    rmm.statistics.enable_statistics()
                    self.rmm_note = "RMM: statistics enabled (StatisticsResourceAdaptor pushed)"
                self.rmm = rmm.statistics
            except Exception as err:
                self.rmm_note = f"RMM: no statistics ({type(err).__name__}: {err})"
        self.peaks = {"torch": 0, "cupy pool": 0, "RMM": 0}

    @contextlib.contextmanager
    def stage(self) -> Iterator[dict[str, int | None]]:
        """Yields a dict filled, when the stage ends, with its peaks in bytes (None: n/a)."""
        peaks: dict[str, int | None] = {}
        self.pool.free_all_blocks()  # the pool only grows: total_bytes() after = its peak
        if self.torch is not None:
            self.torch.cuda.reset_peak_memory_stats()
        pushed = self.rmm is not None and self.rmm.push_statistics() is not None
        try:
            yield peaks
        finally:
            peaks["torch"] = self.torch.cuda.max_memory_allocated() if self.torch else None
            peaks["cupy pool"] = int(self.pool.total_bytes())
            counts = self.rmm.pop_statistics() if pushed else None
            peaks["RMM"] = None if counts is None else int(counts.peak_bytes)
            for key, value in peaks.items():
                self.peaks[key] = max(self.peaks[key], value or 0)

    def describe(self, peaks: dict[str, int | None]) -> str:
        """``torch 1.23, cupy pool 0.45, RMM 0.00 GiB`` (what is not measured here says so)."""
        torch = "n/a (no CUDA)" if self.torch is None else f"{(peaks['torch'] or 0) / GiB:.2f}"
        rmm = "" if self.rmm is None else f", RMM {(peaks['RMM'] or 0) / GiB:.2f}"
        return f"torch {torch}, cupy pool {(peaks['cupy pool'] or 0) / GiB:.2f}{rmm} GiB"


class Stages:
    """Times GPU stages: a warm-up run, then up to ``repeats`` runs within ``budget`` seconds."""

    def __init__(self, report: Report, repeats: int, budget: float) -> None:
        import cupy

        self.cp, self.report, self.repeats, self.budget = cupy, report, repeats, budget
        self.memory = Memory()

    def run(self, name: str, fn: Callable[[], Any], implementation: str = "") -> Any:
        sync = self.cp.cuda.Device().synchronize
        times, result = [], None
        with self.memory.stage() as peaks:
            for i in range(1 + self.repeats):
                if i and sum(times[1:]) + times[-1] > self.budget:
                    break  # the next run would overrun the stage budget
                result = None  # free the previous result before the next run
                sync()
                start = time.perf_counter()
                result = fn()
                sync()
                times.append(time.perf_counter() - start)
        if len(times) > 1:
            timing = f"median of {len(times) - 1} {statistics.median(times[1:]):8.3f} s"
        else:
            timing = "(no repeat: over the stage budget)" if self.repeats else ""
        self.report(f"  {name:<44} warm-up {times[0]:8.3f} s  {timing}")
        self.report(f"      {implementation + ';  ' if implementation else ''}"
                    f"peak memory: {self.memory.describe(peaks)}")  # fmt: skip
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


def part_a(report: Report, args: argparse.Namespace) -> None:
    report(f"== Part A: correction step on the GPU, {args.n:,} × {args.dim} float32, k={args.k}")
    if reason := no_gpu_reason(torch_cuda=False):
        return report(f"SKIPPED: {reason}")
    import cupy as cp

    import lcc
    from lcc import gpu_memory

    stages = Stages(report, args.repeats, args.stage_budget)
    report(f"  device: {device_name(cp)}; cupy {cp.__version__}")
    table = implementations()
    report_implementations(report, table)
    report(f"  {stages.memory.rmm_note}; lcc's allocator: {gpu_memory.chosen_allocator()}")
    z, blob, y = stages.run("make latents (100 blobs, 10 % labels flipped)",
                            lambda: make_latents(cp, args.n, args.dim))  # fmt: skip
    graph = stages.run("lcc.knn_graph (exact)", lambda: lcc.knn_graph(z, args.k),
                       implementation_of(table, "knn (exact)"))  # fmt: skip
    certified_knn_stages(stages, report, z, args.k)
    try:
        clusters = stages.run("lcc.leiden", lambda: lcc.leiden(graph),
                              implementation_of(table, "leiden"))  # fmt: skip
        source = "lcc.leiden"
    except ImportError as err:
        if absent_package(err) != "igraph":
            raise
        report(f"SKIPPED: lcc.leiden: igraph not installed ({err}); put its wheel in .whl/")
        report("  clusters := the 100 true blob ids (NOT lcc.leiden) for the stages below")
        clusters, source = blob, "blob ids, not lcc.leiden"
    graph = None  # its device memory is not needed any more
    matching = stages.run("lcc.match_clusters", lambda: lcc.match_clusters(y, clusters),
                          implementation_of(table, "glue"))  # fmt: skip
    targets = stages.run(
        "lcc.correction_targets (exact)",
        lambda: lcc.correction_targets(z, y, clusters, k=args.k, mode="exact"),
        implementation_of(table, "knn (exact)") + " per label",
    )
    ari = stages.run("lcc.metrics.ari (clusters vs blob ids)",
                     lambda: lcc.metrics.ari(blob, clusters),
                     implementation_of(table, "nmi, ari"))  # fmt: skip
    flipped = float((y != blob).mean())
    mc, correctible = float(matching.misclustered.mean()), float(targets.correctible.mean())
    report(
        f"  clusters ({source}): {int(clusters.max()) + 1}   ARI vs blobs: {ari:.4f}   "
        f"MC fraction: {mc:.4f} (labels flipped: {flipped:.4f})   "
        f"correctible fraction: {correctible:.4f}"
    )
    report(
        f"  peak device memory of a stage: {stages.memory.describe(stages.memory.peaks)}; "
        f"{stages.memory.rmm_note}; lcc's allocator: {gpu_memory.chosen_allocator()}"
    )
    if not ari >= MIN_ARI:
        report.fail("part A", f"ARI {ari:.4f} < {MIN_ARI} of {source} against the blobs")


def certified_knn_stages(stages: Stages, report: Report, z: Any, k: int) -> None:
    """The certified-exact search in torch (int8 products, float64 re-rank) against the
    cupy tier's float32 tiles, on the first 200,000 latents: times and agreement."""
    import torch

    from lcc.backends.knn import gpu_tiles, torch_certified

    part = z[:200_000]
    search = gpu_tiles.search
    tiles = stages.run("k-NN float32 tiles (200,000 rows)",
                       lambda: search(part, k + 1, chunk_size=8192, progress=False))  # fmt: skip
    view = torch.from_dlpack(part)
    out = stages.run("k-NN certified int8 (200,000 rows)",
                     lambda: torch_certified.certified_knn(view, k))  # fmt: skip
    if out is None:
        return report("  certified k-NN: fell back (too many rows not certified)")
    ids = out[1].cpu().numpy()
    same = float((ids[:, 1:] == tiles[1].get()[:, 1:]).all(axis=1).mean())
    report(f"  certified k-NN: {out[2]}; rows equal to the float32 tiles' answer: {same:.4f}")


def device_name(cp: Any) -> str:
    with contextlib.suppress(Exception):
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    return "?"


PARTS = {"A": part_a, "B": part_b, "C": part_c}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="append the results to this text file")
    parser.add_argument("--n", type=int, default=1_000_000, help="latents in part A")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the warm-up")
    parser.add_argument("--stage-budget", type=float, default=20.0,
                        help="seconds of repeats per stage in part A")  # fmt: skip
    parser.add_argument("--pretrain-epochs", type=int, default=20, help="part C")
    parser.add_argument("--clustering-epochs", type=int, default=10, help="part C")
    parser.add_argument("--part", choices=(*PARTS, "all"), default="all")
    args = parser.parse_args(argv)
    report = Report(args.out)
    for name, part in PARTS.items():
        if args.part in (name, "all"):
            if name != "A" and args.part == "all":
                report()
            try:
                part(report, args)
            except Exception as err:
                report.fail(f"part {name}", f"part {name}: {type(err).__name__}: {err}")
                import traceback

                traceback.print_exc()  # stderr: the shell script shows its tail
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
