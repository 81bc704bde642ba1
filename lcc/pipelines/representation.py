"""Representation-loss recipes — SNNL autoencoders and CDC — as a pipeline.

``lcc run pipelines/configs/snnl5_mnist_subset.yaml`` (or ``cdc_digits.yaml``)
trains the chosen estimator for each seed and writes to
``<output_dir>/<name>-<time>/``:

* ``metrics.jsonl`` / ``metrics.csv`` — per-epoch loss terms, temperature,
  ACC / NMI / ARI, silhouette, Calinski–Harabasz, Davies–Bouldin;
* ``summary.csv`` and the final table printed at the end;
* ``history.png`` — loss-term and metric curves of the first seed;
* ``latent.png`` — 2-D t-SNE (or UMAP) of the clustered samples, input
  pixels next to the learned codes, coloured by label.

``method: snnl`` trains on ``n_labelled`` random samples with their labels
and clusters the codes of all the others (the SNNL paper's protocol);
``method: cdc`` is unsupervised and clusters every sample. ``model`` holds
the estimator's keyword arguments (e.g. ``{configuration: SNNL-5, epochs: 50}``).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import model_validator

from lcc.config import Section
from lcc.io import append_jsonl, write_csv
from lcc.metrics import sample_std
from lcc.pipelines import new_run_dir
from lcc.pipelines._resume import RunCheckpoints
from lcc.pipelines._schema import PosInt, SeededRunConfig

__all__ = ["Config", "run"]


class Picture(Section):
    """The 2-D picture of the codes: ``tsne`` or ``umap`` (if installed) on ``samples`` codes."""

    method: Literal["tsne", "umap"] = "tsne"
    samples: PosInt = 2000


class Config(SeededRunConfig):
    """The ``representation`` pipeline: the SNNL autoencoder or CDC, then k-Means on the codes."""

    pipeline: Literal["representation"] = "representation"
    name: str = "representation"
    method: Literal["snnl", "cdc"] = "snnl"
    n_labelled: PosInt = 1000  # snnl: labelled training samples; the rest are clustered
    model: dict[str, Any] | None = None  # estimator keyword arguments
    picture: Picture = Picture()

    @model_validator(mode="after")
    def _estimator_arguments(self) -> Config:
        """``model`` against the estimator's own declared parameters, before any data loads."""
        from lcc._validation import InvalidParameterError, check_parameters

        estimator = _estimator(self.method, 2, 0, None)
        for key, value in (self.model or {}).items():
            if key not in estimator.get_params():
                known = sorted(estimator.get_params())
                raise ValueError(
                    f"model.{key}: unknown {type(estimator).__name__} argument; known: {known}"
                )
            estimator.set_params(**{key: value})
        try:
            check_parameters(estimator)
        except InvalidParameterError as err:
            raise ValueError(f"model.{err}") from None
        return self

    @model_validator(mode="after")
    def _labelled_fits(self) -> Config:
        """``n_labelled`` leaves samples to cluster (snnl trains on them, clusters the rest)."""
        from lcc.data import flat_size

        n = flat_size(self.data.name)
        if self.method == "snnl" and self.n_labelled >= n:
            raise ValueError(
                f"n_labelled={self.n_labelled} leaves none of the {n:,} samples of "
                f"{self.data.name} to cluster; make it smaller than {n:,}"
            )
        return self


CURVES = {
    "snnl": ["loss", "reconstruction", "snnl", "temperature", "acc", "silhouette"],
    "cdc": ["loss", "reconstruction", "correlation_x", "clustering", "affinity", "acc"],
}
FINAL = ("acc", "nmi", "ari", "silhouette", "calinski_harabasz", "davies_bouldin")


def _estimator(method: str, n_clusters: int, seed: int, model: dict[str, Any] | None):
    from lcc import deep

    cls = deep.SNNLAutoencoder if method == "snnl" else deep.CDC
    return cls(n_clusters, random_state=seed).set_params(**(model or {}))


def run(config: dict[str, Any], run_dir: Path | None = None) -> Path:
    """Train, cluster and picture every seed; ``run_dir`` resumes that run from its last
    checkpoint (every training epoch of the estimator is checkpointed)."""
    with RunCheckpoints(run_dir or new_run_dir(config), config) as runs:
        return _run(config, runs)


def _run(config: dict[str, Any], runs: RunCheckpoints) -> Path:
    from lcc.data import load_flat
    from lcc.deep import each_epoch
    from lcc.plots import plot_history

    method = config["method"]
    if (started := runs.start()) is None:
        return runs.run_dir
    last, done = started
    if last is not None:  # metrics.jsonl as of the checkpoint
        runs.rewrite_metrics([r for d in done.values() for r in d["rows"]])
    x, y, _ = load_flat(**config["data"])
    n_clusters = len(np.unique(y))
    print(f"{config['data']['name']}: {x.shape[0]} samples × {x.shape[1]} features, {method}")
    rows, finals = [], []
    for seed in config["seeds"]:
        if str(seed) not in done:
            resume = last if last is not None and last.meta["seed"] == seed else None

            def save(ck, seed=seed) -> None:
                runs.save(ck, seed=seed, done=done)

            with each_epoch(lambda r, seed=seed: runs.live({"seed": seed} | r)):
                estimator, z, held_out = _fit(config, x, y, n_clusters, seed, resume, save)
            done[str(seed)] = _seed_results(estimator, z, y[held_out], n_clusters, seed)
            for row in done[str(seed)]["rows"]:
                append_jsonl(runs.metrics, row)
            if seed == config["seeds"][0]:
                title = estimator.get_params().get("configuration", method.upper())
                plot_history(
                    estimator.history_, CURVES[method], runs.run_dir / "history.png", title
                )
                _picture(config, x[held_out], z, y[held_out], seed, title, runs.run_dir)
        rows += done[str(seed)]["rows"]
        finals.append(done[str(seed)]["final"])
        print("seed {seed}: ACC {acc:.3f}  NMI {nmi:.3f}  ARI {ari:.3f}".format(**finals[-1]))
    write_csv(runs.run_dir / "metrics.csv", rows)
    summary = _summarise(finals)
    write_csv(runs.run_dir / "summary.csv", [summary])
    _print_table(summary)
    runs.mark_complete({"seeds": sorted(done)})
    return runs.run_dir


def _fit(config, x, y, n_clusters: int, seed: int, resume, save):
    """The fitted estimator, the codes of the clustered samples and their indices."""
    method = config["method"]
    estimator = _estimator(method, n_clusters, seed, config["model"])
    if method == "snnl":
        n = int(config["n_labelled"])
        if not 0 < n < len(x):
            raise ValueError(f"n_labelled must be in (0, {len(x)}), got {n}")
        order = np.random.default_rng(seed).permutation(len(x))
        train, held_out = order[:n], order[n:]
        fit_set = {"eval_set": (x[held_out], y[held_out])}
        estimator.fit(x[train], y[train], **fit_set, resume=resume, on_checkpoint=save)
    else:
        held_out = np.arange(len(x))
        estimator.fit(x, y, resume=resume, on_checkpoint=save)
    return estimator, estimator.transform(x[held_out]), held_out


def _seed_results(estimator, z, y_held_out, n_clusters: int, seed: int) -> dict[str, Any]:
    """k-Means on the held-out codes: the seed's final scores and its per-epoch rows."""
    from lcc.kmeans import kmeans
    from lcc.metrics import clustering_report

    labels = np.asarray(kmeans(z, n_clusters, seed=seed, n_init=10).labels)
    final = {"seed": seed} | clustering_report(z, labels, y_held_out)
    return {"final": final, "rows": [{"seed": seed} | r for r in estimator.history_]}


def _picture(config, x_held_out, z, y_held_out, seed: int, title: str, run_dir: Path) -> None:
    from lcc.plots import embed_2d, plot_embeddings

    pick = np.random.default_rng(seed).permutation(len(x_held_out))[: config["picture"]["samples"]]
    how = config["picture"]["method"]
    panels = {
        "input pixels": (embed_2d(x_held_out[pick], how, seed), y_held_out[pick]),
        f"{title} codes": (embed_2d(z[pick], how, seed), y_held_out[pick]),
    }
    plot_embeddings(panels, run_dir / "latent.png")


def _summarise(finals: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"seeds": len(finals)}
    for key in FINAL:
        values = [f[key] for f in finals]
        out[f"{key}_mean"] = statistics.mean(values)
        out[f"{key}_std"] = sample_std(values)
    return out


def _print_table(summary: dict[str, Any]) -> None:
    print(f"\n{'metric':<20}{'mean':>10}{'std':>10}   over {summary['seeds']} seed(s)")
    for key in FINAL:
        print(f"{key:<20}{summary[f'{key}_mean']:10.4f}{summary[f'{key}_std']:10.4f}")
