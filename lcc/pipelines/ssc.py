"""Snapshot Spectral Clustering against its baselines (the SSC paper's Table I) as a pipeline.

``lcc run pipelines/configs/ssc_mnist_subset.yaml`` runs, for each seed, the
six models of Table I on the same data:

1. ``kmeans`` — k-Means on the raw pixels;
2. ``dae_kmeans`` — k-Means on the codes of a denoising autoencoder trained
   with Adam and early stopping (same network and epoch budget as SSC);
3. ``lsc`` — landmark spectral clustering (:func:`lcc.ssc_consensus` with one
   member) on the raw pixels;
4. ``dae_lsc`` — the same on the DAE's codes;
5. ``ssc`` — the snapshot ensemble's consensus (Algorithm 1);
6. ``ssc_rm`` — the same snapshots, a random metric per member (Algorithm 2).

Defaults are the paper's MNIST column of Table II. Writes to
``<output_dir>/<name>-<time>/``: ``metrics.csv`` (one row per seed × model:
ACC, NMI, ARI, seconds), ``summary.csv``, ``ensemble_size.png`` (NMI and ACC
of the consensus of the first 1 … m snapshots, the paper's Fig. 3),
``consensus.json`` (time and peak memory of the final consensus step, and what
a dense n × n affinity would need), and the final table.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from lcc.config import Section
from lcc.deep._precision import PRECISIONS
from lcc.io import write_csv, write_json
from lcc.landmarks import METRICS
from lcc.metrics import sample_std
from lcc.pipelines import new_run_dir
from lcc.pipelines._resume import RunCheckpoints
from lcc.pipelines._schema import (
    NonNegFloat,
    PosFloat,
    PosInt,
    SeededRunConfig,
)

__all__ = ["MODELS", "Config", "run"]

MODELS = ("kmeans", "dae_kmeans", "lsc", "dae_lsc", "ssc", "ssc_rm")


Model = Literal[MODELS]  # type: ignore[valid-type]
Metric = Literal[(*METRICS, "random")]  # type: ignore[valid-type]


class DAEOptions(Section):
    """The DAE baseline's Adam learning rate and early-stopping patience (epochs)."""

    lr: PosFloat = 1e-3
    patience: PosInt = 10


class Config(SeededRunConfig):
    """The ``ssc`` pipeline; defaults are the paper's MNIST column of Table II."""

    pipeline: Literal["ssc"] = "ssc"
    name: str = "ssc"
    models: Annotated[list[Model], Field(min_length=1)] = list(MODELS)
    n_snapshots: PosInt = 6
    cycle_epochs: PosInt = 20
    lr: PosFloat = 0.01
    latent_dim: PosInt = 256
    noise_std: NonNegFloat = 0.2
    batch_size: PosInt = 256
    n_landmarks: PosInt = 350
    r: PosInt = 3
    metric: Metric = "euclidean"
    # bf16-mixed: bfloat16 autocast in the snapshot network's training forwards (GPUs from
    # Ampere, AMX CPUs); the DAE baselines train in float32
    precision: Literal[PRECISIONS] = "32-true"  # type: ignore[valid-type]
    dae: DAEOptions = DAEOptions()

    @model_validator(mode="after")
    def _counts(self) -> Config:
        """``n_landmarks`` and ``r`` against the data's samples and classes
        (:func:`lcc.consensus.check_counts`), before the DAE and the snapshots train."""
        from lcc.consensus import check_counts
        from lcc.data import N_CLASSES, flat_size

        if set(self.models) <= {"kmeans", "dae_kmeans"}:
            return self
        n, k = flat_size(self.data.name), N_CLASSES[self.data.name]
        try:
            check_counts(n, self.n_landmarks, self.r, k)
        except ValueError as err:
            raise ValueError(f"{err} ({self.data.name}: {n:,} samples, {k} classes)") from None
        return self


def run(config: dict[str, Any], run_dir: Path | None = None) -> Path:
    """Every model of Table I for every seed; ``run_dir`` resumes that run from its last
    checkpoint (the DAE's and the snapshot ensemble's epochs are checkpointed)."""
    with RunCheckpoints(run_dir or new_run_dir(config), config) as runs:
        return _run(config, runs)


def _run(config: dict[str, Any], runs: RunCheckpoints) -> Path:
    from lcc.data import load_flat

    if (started := runs.start()) is None:
        return runs.run_dir
    last, done = started
    x, y, image_shape = load_flat(**config["data"])
    k = len(np.unique(y))
    print(f"{config['data']['name']}: {x.shape[0]} samples × {x.shape[1]} features, k = {k}")
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[list[dict[str, float]]]] = {"SSC": [], "SSC-RM": []}
    consensus: dict[str, Any] = {}
    for seed in config["seeds"]:
        if str(seed) not in done:
            resume = last if last is not None and last.meta["seed"] == seed else None
            one = _Seed(config, runs, done, seed, resume)
            done[str(seed)] = one.results(x, y, k, image_shape)
        results = done[str(seed)]
        rows += results["rows"]
        for name, curve in results["curves"].items():
            curves[name].append(curve)
        consensus = results["consensus"] or consensus
        print(
            f"seed {seed} NMI: "
            + ", ".join(f"{r['model']} {r['nmi']:.3f}" for r in results["rows"])
        )
    write_csv(runs.run_dir / "metrics.csv", rows)
    summary = _summarise(rows, config["models"])
    write_csv(runs.run_dir / "summary.csv", summary)
    if consensus:
        write_json(runs.run_dir / "consensus.json", consensus)
    if any(curves.values()):
        _plot_ensemble_size(curves, summary, runs.run_dir / "ensemble_size.png")
    _print_table(summary, consensus)
    runs.mark_complete({"seeds": sorted(done)})
    return runs.run_dir


class _Seed:
    """The models of one seed; the DAE and the snapshot ensemble checkpoint every epoch, with
    the models already done (``partial``) and the finished seeds (``done``) alongside."""

    def __init__(self, config, runs: RunCheckpoints, done: dict, seed: int, resume) -> None:
        self.config, self.runs, self.done, self.seed, self.resume = config, runs, done, seed, resume
        self.partial: dict[str, Any] = dict(resume.meta["partial"]) if resume is not None else {}

    def save(self, ck) -> None:
        self.runs.save(ck, seed=self.seed, done=self.done, partial=self.partial)

    def resume_in(self, phase: str):
        """The checkpoint to resume from when it is of ``phase``."""
        ck = self.resume
        return ck if ck is not None and ck.meta["phase"] == phase else None

    def results(self, x, y, k, image_shape) -> dict[str, Any]:
        import torch

        from lcc.deep import SnapshotSpectralClustering

        config = self.config
        estimator = SnapshotSpectralClustering(
            k,
            n_snapshots=config["n_snapshots"],
            cycle_epochs=config["cycle_epochs"],
            lr=config["lr"],
            latent_dim=config["latent_dim"],
            noise_std=config["noise_std"],
            batch_size=config["batch_size"],
            image_shape=image_shape,
            n_landmarks=config["n_landmarks"],
            r=config["r"],
            metric=config["metric"],
            precision=config["precision"],
            random_state=self.seed,
        )
        out = _models(config, estimator, x, y, k, self, torch.from_numpy(x))
        rows = [
            {"seed": self.seed, "model": model} | _scores(y, labels) | {"time_s": seconds}
            for model, (labels, seconds) in out["labels"].items()
        ]
        return {"rows": rows, "curves": out["curves"], "consensus": out["consensus"]}


def _models(config, estimator, x, y, k, one: _Seed, x_tensor) -> dict[str, Any]:
    """Labels (and seconds) of every requested model for one seed."""
    from lcc.consensus import ssc_consensus
    from lcc.kmeans import kmeans

    wanted, seed = config["models"], one.seed
    p, r, metric = config["n_landmarks"], config["r"], config["metric"]
    out: dict[str, Any] = {"labels": {}, "curves": {}, "consensus": {}}

    def timed(name: str, fn) -> None:
        start = time.perf_counter()
        labels = fn()
        out["labels"][name] = (np.asarray(labels), time.perf_counter() - start)

    if "kmeans" in wanted:
        timed("kmeans", lambda: kmeans(x, k, seed=seed, n_init=10).labels)
    if "lsc" in wanted:
        timed("lsc", lambda: ssc_consensus([x], k, p, r, metrics=metric, seed=seed))
    if {"dae_kmeans", "dae_lsc"} & set(wanted):
        if "dae" not in one.partial:
            _dae_models(config, estimator, x, k, one, x_tensor, timed, out)
            one.partial["dae"] = {
                n: [out["labels"][n][0].tolist(), out["labels"][n][1]]
                for n in ("dae_kmeans", "dae_lsc")
                if n in out["labels"]
            }
        for name, (labels, seconds) in one.partial["dae"].items():
            out["labels"][name] = (np.asarray(labels), seconds)
    if {"ssc", "ssc_rm"} & set(wanted):
        _ssc_models(config, estimator, x, y, k, one, out)
    return out


def _dae_models(config, estimator, x, k, one: _Seed, x_tensor, timed, out) -> None:
    """DAE + k-Means and DAE + LSC: one denoising autoencoder with the ensemble's budget;
    its training time is added to both."""
    import torch

    from lcc.consensus import ssc_consensus
    from lcc.deep.snapshot import train_denoising_autoencoder
    from lcc.kmeans import kmeans

    wanted, p, r, metric = config["models"], config["n_landmarks"], config["r"], config["metric"]
    seed = one.seed
    start = time.perf_counter()
    torch.manual_seed(seed)  # the DAE's initial weights (torch's own seed differs per process)
    dae, _ = train_denoising_autoencoder(
        estimator.build_model(x.shape[1]),
        x_tensor,
        epochs=config["n_snapshots"] * config["cycle_epochs"],
        lr=config["dae"]["lr"],
        batch_size=config["batch_size"],
        noise_std=config["noise_std"],
        patience=config["dae"]["patience"],
        seed=seed,
        on_checkpoint=one.save,
        resume=one.resume_in("dae"),
    )
    with torch.no_grad():
        z = dae.encode(x_tensor).numpy()
    train_s = time.perf_counter() - start
    if "dae_kmeans" in wanted:
        timed("dae_kmeans", lambda: kmeans(z, k, seed=seed, n_init=10).labels)
    if "dae_lsc" in wanted:
        timed("dae_lsc", lambda: ssc_consensus([z], k, p, r, metrics=metric, seed=seed))
    for name in ("dae_kmeans", "dae_lsc"):
        if name in out["labels"]:
            labels, seconds = out["labels"][name]
            out["labels"][name] = (labels, seconds + train_s)


def _ssc_models(config, estimator, x, y, k, one: _Seed, out) -> None:
    """SSC and SSC-RM from one snapshot ensemble; the consensus step timed and measured alone."""
    from lcc.consensus import ensemble_size_labels, ssc_consensus
    from lcc.profiling import PeakRSS

    wanted, p, r, metric = config["models"], config["n_landmarks"], config["r"], config["metric"]
    seed = one.seed
    start = time.perf_counter()
    estimator.fit(x, on_checkpoint=one.save, resume=one.resume_in("train"))
    train_s = time.perf_counter() - start
    members = estimator.embeddings_
    for name, metrics in (("ssc", metric), ("ssc_rm", "random")):
        if name not in wanted:
            continue
        with PeakRSS() as peak:  # the consensus step alone, on the snapshots' embeddings
            before = peak.peak
            start = time.perf_counter()
            details = ssc_consensus(
                members, k, p, r, metrics=metrics, seed=seed, return_details=True
            )
            seconds = time.perf_counter() - start
        out["labels"][name] = (np.asarray(details.labels), seconds + train_s)
        prefixes = ensemble_size_labels(details, k, seed=seed)
        out["curves"]["SSC" if name == "ssc" else "SSC-RM"] = [_scores(y, a) for a in prefixes]
        out["consensus"][name] = {
            "seconds": seconds,
            "peak_rss_increase_mib": (peak.peak - before) / 2**20,
            "n_samples": len(x),
            "members": len(members),
            "metrics": list(details.metrics),
            "dense_affinity_gib_float32": len(x) ** 2 * 4 / 2**30,
        }


def _scores(y: np.ndarray, labels: Any) -> dict[str, float]:
    from lcc import metrics

    labels = np.asarray(labels)
    return {
        "acc": metrics.clustering_accuracy(y, labels),
        "nmi": metrics.nmi(y, labels),
        "ari": metrics.ari(y, labels),
    }


def _summarise(rows: list[dict[str, Any]], models: list[str]) -> list[dict[str, Any]]:
    out = []
    for model in models:
        runs = [r for r in rows if r["model"] == model]
        entry: dict[str, Any] = {"model": model, "seeds": len(runs)}
        for key in ("nmi", "acc", "ari", "time_s"):
            values = [r[key] for r in runs]
            entry[f"{key}_mean"] = statistics.mean(values)
            entry[f"{key}_std"] = sample_std(values)
        out.append(entry)
    return out


def _plot_ensemble_size(curves, summary, path: Path) -> None:
    from lcc.plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    reference = {s["model"]: s for s in summary}
    for ax, key in zip(axes, ("nmi", "acc"), strict=True):
        for i, (name, per_seed) in enumerate(curves.items()):
            if not per_seed:
                continue
            values = np.array([[point[key] for point in curve] for curve in per_seed])
            sizes = np.arange(1, values.shape[1] + 1)
            ax.errorbar(
                sizes,
                values.mean(0),
                yerr=values.std(0, ddof=1) if len(values) > 1 else None,
                color=f"C{i}",
                label=name,
                capsize=3,
            )
        if "dae_lsc" in reference:
            ax.axhline(
                reference["dae_lsc"][f"{key}_mean"], color="grey", ls="--", label="DAE + LSC"
            )
        ax.set(xlabel="ensemble size (snapshots)", ylabel=key.upper())
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Consensus of the first m snapshots (SSC paper, Fig. 3)", fontsize=10)
    _save(fig, path)


def _print_table(summary: list[dict[str, Any]], consensus: dict[str, Any]) -> None:
    print(f"\n{'model':<12}{'NMI':>14}{'ACC':>14}{'ARI':>14}{'seconds':>10}")
    for s in summary:
        cells = "".join(
            f"{100 * s[f'{k}_mean']:8.1f} ±{100 * s[f'{k}_std']:4.1f}"
            for k in ("nmi", "acc", "ari")
        )
        print(f"{s['model']:<12}{cells}{s['time_s_mean']:10.1f}")
    for name, c in consensus.items():
        dense = c["dense_affinity_gib_float32"]
        print(
            f"{name} consensus step: {c['seconds']:.2f} s, peak memory "
            f"+{c['peak_rss_increase_mib']:.0f} MiB (a dense {c['n_samples']:,}² affinity: "
            f"{dense:.2f} GiB float32)"
        )
