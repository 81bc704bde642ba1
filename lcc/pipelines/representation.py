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
from typing import Any

import numpy as np

from lcc.io import append_jsonl, write_csv
from lcc.pipelines import new_run_dir

__all__ = ["DEFAULTS", "run"]

DEFAULTS: dict[str, Any] = {
    "name": "representation",
    "output_dir": "runs",
    "seeds": [0],
    "data": {"name": "mnist_subset", "root": None, "download": False, "standardize": False},
    "method": "snnl",  # or "cdc"
    "n_labelled": 1000,  # snnl: labelled training samples; the rest are clustered
    "model": None,  # estimator keyword arguments
    "picture": {"method": "tsne", "samples": 2000},
}
CURVES = {
    "snnl": ["loss", "reconstruction", "snnl", "temperature", "acc", "silhouette"],
    "cdc": ["loss", "reconstruction", "correlation_x", "clustering", "affinity", "acc"],
}
FINAL = ("acc", "nmi", "ari", "silhouette", "calinski_harabasz", "davies_bouldin")


def _estimator(method: str, n_clusters: int, seed: int, model: dict[str, Any] | None):
    from lcc import deep

    if method not in CURVES:
        raise ValueError(f"method must be one of {sorted(CURVES)}, got {method!r}")
    cls = deep.SNNLAutoencoder if method == "snnl" else deep.CDC
    estimator = cls(n_clusters, random_state=seed)
    if model:
        if not isinstance(model, dict):
            raise ValueError(f"model must be a mapping of {cls.__name__} arguments, got {model!r}")
        estimator.set_params(**model)  # unknown names: ValueError listing the valid ones
    return estimator


def run(config: dict[str, Any]) -> Path:
    from lcc.data import load_flat
    from lcc.kmeans import kmeans
    from lcc.metrics import clustering_report
    from lcc.plots import embed_2d, plot_embeddings, plot_history

    method = config["method"]
    _estimator(method, 2, 0, config["model"])  # fail on a bad config before loading data
    run_dir = new_run_dir(config)
    x, y, _ = load_flat(**config["data"])
    n_clusters = len(np.unique(y))
    print(f"{config['data']['name']}: {x.shape[0]} samples × {x.shape[1]} features, {method}")
    rows, finals = [], []
    for seed in config["seeds"]:
        estimator = _estimator(method, n_clusters, seed, config["model"])
        if method == "snnl":
            n = int(config["n_labelled"])
            if not 0 < n < len(x):
                raise ValueError(f"n_labelled must be in (0, {len(x)}), got {n}")
            order = np.random.default_rng(seed).permutation(len(x))
            train, held_out = order[:n], order[n:]
            estimator.fit(x[train], y[train], eval_set=(x[held_out], y[held_out]))
        else:
            held_out = np.arange(len(x))
            estimator.fit(x, y)
        z = estimator.transform(x[held_out])
        labels = np.asarray(kmeans(z, n_clusters, seed=seed, n_init=10).labels)
        final = {"seed": seed} | clustering_report(z, labels, y[held_out])
        finals.append(final)
        print("seed {seed}: ACC {acc:.3f}  NMI {nmi:.3f}  ARI {ari:.3f}".format(**final))
        for record in estimator.history_:
            row = {"seed": seed} | record
            rows.append(row)
            append_jsonl(run_dir / "metrics.jsonl", row)
        if seed == config["seeds"][0]:
            title = estimator.get_params().get("configuration", method.upper())
            plot_history(estimator.history_, CURVES[method], run_dir / "history.png", title)
            pick = np.random.default_rng(seed).permutation(len(held_out))
            pick = pick[: config["picture"]["samples"]]
            how = config["picture"]["method"]
            panels = {
                "input pixels": (embed_2d(x[held_out][pick], how, seed), y[held_out][pick]),
                f"{title} codes": (embed_2d(z[pick], how, seed), y[held_out][pick]),
            }
            plot_embeddings(panels, run_dir / "latent.png")
    write_csv(run_dir / "metrics.csv", rows)
    summary = _summarise(finals)
    write_csv(run_dir / "summary.csv", [summary])
    _print_table(summary)
    return run_dir


def _summarise(finals: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"seeds": len(finals)}
    for key in FINAL:
        values = [f[key] for f in finals]
        out[f"{key}_mean"] = statistics.mean(values)
        out[f"{key}_std"] = statistics.pstdev(values)
    return out


def _print_table(summary: dict[str, Any]) -> None:
    print(f"\n{'metric':<20}{'mean':>10}{'std':>10}   over {summary['seeds']} seed(s)")
    for key in FINAL:
        print(f"{key:<20}{summary[f'{key}_mean']:10.4f}{summary[f'{key}_std']:10.4f}")
