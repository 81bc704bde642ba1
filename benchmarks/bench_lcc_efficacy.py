"""Does LCC help? A preregistered, powered test on MNIST-1D, below the ceiling.

The plan (data, model, schedule, cells, primary cells, seeds, analysis) is
``benchmarks/notes/lcc_efficacy_plan.md``, committed before the first scored run;
this script runs it and nothing else. In short: a 1-D CNN is pretrained on the
standard MNIST-1D (``mnist1d.data.make_dataset``, generated offline) and fine-tuned
on a shifted variant (more noise, shear and translation; 2,000 train / 10,000 test)
with the LCC paper's schedule (section IV: 50 epochs, SGD momentum 0.9, cosine from
lr 0.1, one warm-up epoch without the clustering loss), with and without LCC, for
every cell of the paper's grid (layer ∈ {head, 2nd to last} × w ∈ {1e-2, 1e-4} ×
k ∈ {5, 50, 500}). Per seed, every arm starts from the same pretrained weights and
the same new head, and sees the same batch order — except the null arm, a second
baseline whose batch order alone differs, which calibrates the noise.

Every finished (seed, arm) run is appended at once to ``<out>.runs.jsonl``; a rerun
skips the runs already there, so an interrupted benchmark resumes. The analysis
(``--analyse``) reads that file only.

    python benchmarks/bench_lcc_efficacy.py --pilot          # the pilot (seeds 1000-1004)
    python benchmarks/bench_lcc_efficacy.py --seeds 0-39     # the scored run
    python benchmarks/bench_lcc_efficacy.py --analyse        # tables, PNG, json
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

RESULTS = Path(__file__).parent / "results"
EPOCHS, LR, WARMUP, BATCH, WEIGHT_DECAY = 50, 0.1, 1, 64, 5e-4
PRETRAIN_EPOCHS, PRETRAIN_LR = 30, 0.05
LAYERS = {"head": "fc2", "2nd": "fc1"}
WEIGHTS, KS = {"1e-2": 1e-2, "1e-4": 1e-4}, (5, 50, 500)
PRIMARY = ("head w=1e-2 k=5", "head w=1e-2 k=50", "2nd w=1e-2 k=5", "2nd w=1e-2 k=50")
SECONDARY = ("2nd w=1e-2 k=50 top_connected_5", "2nd", 1e-2, 50, "top_connected_5")
NULL_ORDER_OFFSET = 100_000


def cells() -> dict[str, tuple]:
    """Every LCC arm: name → (layer key, w, k, class selection)."""
    grid = {
        f"{layer} w={w} k={k}": (layer, WEIGHTS[w], k, None)
        for layer in LAYERS
        for w in WEIGHTS
        for k in KS
    }
    name, *cell = SECONDARY
    return grid | {name: tuple(cell)}


def arms() -> list[str]:
    return ["baseline", "null", *cells()]


# --------------------------------------------------------------------------- data, model


def _mnist1d(**changes: Any) -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    for key, value in changes.items():
        setattr(args, key, value)
    state = np.random.get_state()  # noqa: NPY002 (make_dataset seeds the global generator)
    try:
        return make_dataset(args)
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _tensors(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    return TensorDataset(
        torch.as_tensor(x, dtype=torch.float32).unsqueeze(1), torch.as_tensor(y, dtype=torch.long)
    )


SOURCE: dict[str, Any] = {}  # the standard MNIST-1D (5,000 samples, 4,000 / 1,000)
TARGET: dict[str, Any] = {  # the shifted task (12,000 samples, 2,000 / 10,000)
    "num_samples": 12_000,
    "train_split": 2_000 / 12_000,
    "iid_noise_scale": 0.05,
    "corr_noise_scale": 0.35,
    "shear_scale": 0.9,
    "max_translation": 48,
    "seed": 1,
}


@functools.cache
def task(name: str) -> tuple[TensorDataset, TensorDataset]:
    """``"source"`` or ``"target"``: (train, test)."""
    data = _mnist1d(**(SOURCE if name == "source" else TARGET))
    return _tensors(data["x"], data["y"]), _tensors(data["x_test"], data["y_test"])


class Conv1DNet(nn.Module):
    """MNIST-1D's convolutional baseline (three strided 1-D convolutions) with a two-layer
    head: ``fc1`` (64-d, the 2nd-to-last layer) and ``fc2`` (the logits, the head)."""

    def __init__(self, width: int = 32, latent: int = 64, n_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, width, 5, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(width, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(width, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.fc1 = nn.Sequential(nn.Linear(width * 5, latent), nn.ReLU())
        self.fc2 = nn.Linear(latent, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(self.features(x)))


@functools.cache
def start_weights(seed: int) -> tuple[dict, float]:
    """The seed's fine-tuning start: pretrained on the source task, then a new head."""
    from lcc.training import evaluate, train

    train_set, test_set = task("source")
    torch.manual_seed(seed)
    model = Conv1DNet()
    train(model, train_set, epochs=PRETRAIN_EPOCHS, lr=PRETRAIN_LR, seed=seed, progress=False)
    source_acc = evaluate(model, test_set)
    torch.manual_seed(10_000 + seed)
    model.fc2.reset_parameters()  # a new task's head
    return copy.deepcopy(model.state_dict()), source_acc


# --------------------------------------------------------------------------- one run


def run(seed: int, arm: str) -> dict:
    """Fine-tune one arm of one seed; its test accuracy and, for LCC, its per-epoch eq. (9)."""
    from lcc.training import LCCCallback, evaluate, train

    torch.set_num_threads(1)
    weights, source_acc = start_weights(seed)
    train_set, test_set = task("target")
    model = Conv1DNet()
    model.load_state_dict(weights)
    callback = None
    if arm in cells():
        layer, w, k, selection = cells()[arm]
        callback = LCCCallback(
            model,
            [LAYERS[layer]],
            train_set,
            weight=w,
            k=k,
            warmup=WARMUP,
            seed=seed,
            class_selection=selection,
        )
    order = seed + NULL_ORDER_OFFSET if arm == "null" else seed
    start = time.perf_counter()
    history = train(
        model,
        train_set,
        epochs=EPOCHS,
        lr=LR,
        batch_size=BATCH,
        weight_decay=WEIGHT_DECAY,
        seed=order,
        callback=callback,
        progress=False,
    )
    if callback is not None:
        callback.close()
    epochs = [_epoch_record(h, callback) for h in history]
    return {
        "seed": seed,
        "arm": arm,
        "test_acc": 100 * evaluate(model, test_set),
        "source_test_acc": 100 * source_acc,
        "seconds": time.perf_counter() - start,
        "epochs": epochs,
    }


def _epoch_record(h: dict, callback: Any) -> dict:
    """The epoch's training accuracy and LCC loss; for LCC, its eq. (9) statistics."""
    keep = {"epoch": h["epoch"], "train_acc": h["train_acc"], "lcc_loss": h["lcc_loss"]}
    if callback is not None:
        keep |= {
            stat: value
            for key, value in h.items()
            if (stat := key.partition("/")[2]) in EPOCH_STATS
        }
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in keep.items()}


EPOCH_STATS = (
    "mc_fraction",
    "correctible_fraction",
    "acc_all",
    "acc_cc",
    "acc_mc",
    "n_clusters",
    "selected_classes",
)


def _run_star(job: tuple[int, str]) -> dict:
    return run(*job)


# --------------------------------------------------------------------------- driver


def runs_path(out: Path) -> Path:
    return out.with_suffix(".runs.jsonl")


def done(out: Path) -> list[dict]:
    path = runs_path(out)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def execute(seeds: list[int], names: list[str], out: Path, workers: int) -> None:
    from lcc.io import append_jsonl

    finished = {(r["seed"], r["arm"]) for r in done(out)}
    jobs = [(s, a) for s in seeds for a in names if (s, a) not in finished]
    print(f"{len(jobs)} runs to do ({len(finished)} already in {runs_path(out)})", flush=True)
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(workers, maxtasksperchild=None) as pool:
        for i, record in enumerate(pool.imap_unordered(_run_star, jobs, chunksize=1), 1):
            append_jsonl(runs_path(out), record)
            elapsed = time.perf_counter() - start
            print(
                f"[{i}/{len(jobs)} {elapsed / 60:.1f} min] seed {record['seed']} "
                f"{record['arm']:<34} test {record['test_acc']:.2f} "
                f"({record['seconds']:.0f} s)",
                flush=True,
            )


def seed_range(text: str) -> list[int]:
    """``"0-39"`` or ``"0,3,5"``."""
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=seed_range, default=None)
    parser.add_argument("--pilot", action="store_true", help="seeds 1000-1004, pilot arms")
    parser.add_argument("--arms", nargs="+", default=None, help="default: every arm")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--analyse", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "lcc_mnist1d.json")
    args = parser.parse_args(argv)
    if args.pilot:
        out = args.out.with_name("lcc_mnist1d_pilot.json")
        seeds = args.seeds or list(range(1000, 1005))
        execute(seeds, args.arms or ["baseline", "null", *PRIMARY], out, args.workers)
        return 0
    if args.analyse:
        from lcc_efficacy_report import report

        return report(args.out)
    execute(args.seeds or list(range(40)), args.arms or arms(), args.out, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
