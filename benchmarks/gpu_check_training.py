"""Parts B and C of ``benchmarks/gpu_check.py``: training on CUDA.

Part B, the LCC fine-tuning demo (``pipelines/configs/lcc_demo.yaml``) with the model on
CUDA and the engine on the GPU (``LCC_BACKEND=gpu``). Part C, DEC / IDEC / DCN with
``precision="bf16-mixed"`` on CUDA on scikit-learn's digits.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gpu_check_common import (
    GiB,
    Report,
    absent_package,
    implementation_of,
    implementations,
    no_gpu_reason,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path("pipelines/configs/lcc_demo.yaml")
DEEP = ("DEC", "IDEC", "DCN")


class _Tee(io.StringIO):
    """Keeps what the pipeline prints and passes it on."""

    def write(self, text: str) -> int:
        sys.__stdout__.write(text)
        return super().write(text)


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


def part_b(report: Report, args: argparse.Namespace) -> None:
    report(f"== Part B: LCC fine-tuning demo, model on CUDA, engine on the GPU ({DEMO})")
    if reason := no_gpu_reason(torch_cuda=True):
        return report(f"SKIPPED: {reason}")
    import torch

    from lcc import gpu_memory
    from lcc.cli import main

    table = implementations()
    report(f"  k-NN: {implementation_of(table, 'knn (exact)')}; "
           f"Leiden: {implementation_of(table, 'leiden')}")  # fmt: skip
    overrides = ["device=cuda", "progress=false"]
    report(f"  LCC_BACKEND=gpu lcc run {DEMO} {' '.join(overrides)}")
    tee = _Tee()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, environ(LCC_BACKEND="gpu"):
        try:
            with contextlib.redirect_stdout(tee):
                rc = main(["run", str(ROOT / DEMO), *overrides, f"output_dir={tmp}"])
        except ImportError as err:
            if package := absent_package(err):
                return report(f"SKIPPED: {package} not installed ({err}); put its wheel in .whl/ "
                              "(benchmarks/README.md)")  # fmt: skip
            raise
        seconds = time.perf_counter() - start
        if rc:
            return report.fail("part B", f"lcc run exited {rc}")
        rows = [json.loads(line) for path in Path(tmp).glob("*/metrics.jsonl")
                for line in path.read_text().splitlines() if line.strip()]  # fmt: skip
    lines = tee.getvalue().splitlines()
    report(f"  wall time {seconds:.1f} s, torch max_memory_allocated "
           f"{torch.cuda.max_memory_allocated() / GiB:.2f} GiB, lcc's allocator: "
           f"{gpu_memory.chosen_allocator()}")  # fmt: skip
    corrections = [r for r in rows if r.get("run") == "lcc" and "fc1/n_clusters" in r]
    if corrections:
        steps = [r["correction_time_s"] for r in corrections]
        report(f"  correction steps on the GPU engine (run lcc): {len(steps)}, median "
               f"{statistics.median(steps):.3f} s, first {steps[0]:.3f} s")  # fmt: skip
    first = next((i for i, s in enumerate(lines) if s.startswith("pretrained test acc")), 0)
    for line in lines[first:]:
        if line.strip() and not line.startswith("run_dir="):
            report(f"  {line}")
    if not corrections:
        report.fail("part B", "the LCC run made no correction step (no fc1/n_clusters row)")


def load_digits_scaled() -> tuple[Any, Any]:
    import numpy as np
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y


@contextlib.contextmanager
def code_dtypes() -> Iterator[list]:
    """The dtype of every code ``FeedForwardAutoencoder.encode`` returns inside the block."""
    from lcc.deep import FeedForwardAutoencoder

    seen: list = []
    encode = FeedForwardAutoencoder.encode

    def spy(self: Any, x: Any) -> Any:
        z = encode(self, x)
        seen.append(z.dtype)
        return z

    FeedForwardAutoencoder.encode = spy
    try:
        yield seen
    finally:
        FeedForwardAutoencoder.encode = encode


def check_bf16_fit(model: Any, dtypes: list, caught: list) -> list[str]:
    """What is wrong with a ``bf16-mixed`` fit on CUDA (empty: nothing)."""
    import torch

    problems = [f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})"
                for w in caught if issubclass(w.category, RuntimeWarning)]  # fmt: skip
    params = list(model.model_.parameters())
    if {p.dtype for p in params} != {torch.float32}:
        problems.append(f"weights in {sorted({str(p.dtype) for p in params})}")
    if {p.device.type for p in params} != {"cuda"}:
        problems.append(f"weights on {sorted({p.device.type for p in params})}")
    state = [t for s in model.optimizer_.state.values() for t in s.values() if torch.is_tensor(t)]
    if {t.dtype for t in state if t.is_floating_point()} - {torch.float32}:
        problems.append("optimizer state not float32")
    if torch.bfloat16 not in dtypes:
        problems.append(f"no forward in bfloat16 (codes: {sorted({str(d) for d in dtypes})})")
    if not all(math.isfinite(h["loss"]) for h in model.history_ if "loss" in h):
        problems.append("a loss is not finite")
    return problems


def part_c(report: Report, args: argparse.Namespace) -> None:
    report(
        "== Part C: DEC / IDEC / DCN, precision='bf16-mixed', device='cuda', digits "
        f"1,797 × 64, {args.pretrain_epochs} + {args.clustering_epochs} epochs"
    )
    if reason := no_gpu_reason(torch_cuda=True):
        return report(f"SKIPPED: {reason}")
    import torch

    from lcc import deep
    from lcc.metrics import clustering_accuracy

    x, y = load_digits_scaled()
    report(f"  device: {torch.cuda.get_device_name()} (capability "
           f"{'.'.join(map(str, torch.cuda.get_device_capability()))}); initial k-Means: "
           f"{implementation_of(implementations(), 'kmeans')}")  # fmt: skip
    for name in DEEP:  # every other parameter at its default
        estimator = getattr(deep, name)(
            n_clusters=10,
            pretrain_epochs=args.pretrain_epochs,
            clustering_epochs=args.clustering_epochs,
            precision="bf16-mixed",
            device="cuda",
            random_state=0,
        )
        with code_dtypes() as dtypes, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.synchronize()
            start = time.perf_counter()
            model = estimator.fit(x)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        acc = clustering_accuracy(y, model.labels_)
        report(f"  {name:<5} fit {seconds:6.2f} s   ACC {acc:.3f}   forwards in "
               f"{', '.join(sorted({str(d).replace('torch.', '') for d in dtypes}))}, "
               f"warnings: {len(caught)}")  # fmt: skip
        for w in caught:  # a RuntimeWarning (bfloat16 not native, numerics) fails below
            report(f"    warning: {w.category.__name__}: {str(w.message)[:160]}")
        for problem in check_bf16_fit(model, dtypes, caught):
            report.fail("part C", f"{name}: {problem}")
