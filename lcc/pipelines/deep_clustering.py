"""DEC / IDEC / DCN with and without BRB, with and without pretraining.

Runs every combination of ``algorithms × brb × pretrain_epochs`` listed in the
config for every seed, and writes to the run directory: ``config.yaml``,
``metrics.jsonl`` / ``metrics.csv`` (one row per run and epoch: loss, ACC,
NMI, ARI, cluster-label change, intra- / inter-class distance, whether a BRB
reset happened), ``summary.csv``, ``accuracy.png`` and ``cl_change.png``
(reset epochs marked) and prints a final table.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from lcc.config import Section
from lcc.io import append_jsonl, write_csv
from lcc.pipelines import new_run_dir
from lcc.pipelines._schema import FlatDataSection, NonNegInt, PosFloat, PosInt, Seeds

__all__ = ["Config", "run"]


class BRBOptions(Section):
    """:class:`lcc.deep.BRB`'s reset strength, interval (epochs) and reclustering subsample."""

    alpha: Annotated[float, Field(ge=0, le=1)] = 0.8
    interval: PosInt = 20
    subsample: PosInt = 10_000


class Config(Section):
    """The ``deep_clustering`` pipeline: every ``algorithms × brb × pretrain_epochs`` run."""

    pipeline: Literal["deep_clustering"] = "deep_clustering"
    name: str = "deep_clustering"
    output_dir: str = "runs"
    seeds: Seeds = [0]
    data: FlatDataSection = FlatDataSection(standardize=True)
    algorithms: Annotated[list[Literal["DEC", "IDEC", "DCN"]], Field(min_length=1)] = [
        "DEC",
        "IDEC",
        "DCN",
    ]
    brb: Annotated[list[bool], Field(min_length=1)] = [False, True]
    pretrain_epochs: Annotated[list[NonNegInt], Field(min_length=1)] = [0]
    clustering_epochs: NonNegInt = 100
    batch_size: PosInt = 256
    lr: PosFloat = 1e-3
    architecture: Literal["mlp", "conv"] = "mlp"
    # layer widths (mlp, default 500-500-2000) or channels (conv, default 32-64)
    hidden: list[PosInt] | None = None
    augment: bool = False  # random affine with the BRB paper's consistency rule
    brb_options: BRBOptions = BRBOptions()


def run(config: dict[str, Any]) -> Path:
    from lcc import deep
    from lcc.plots import plot_curves

    run_dir = new_run_dir(config)
    from lcc.data import load_flat

    x, y, image_shape = load_flat(**config["data"])
    print(f"{config['data']['name']}: {x.shape[0]} samples × {x.shape[1]} features")
    rows, curves, summary = [], {}, []
    for algo in config["algorithms"]:
        for pretrain in config["pretrain_epochs"]:
            for use_brb in config["brb"]:
                label = f"{algo}{'+BRB' if use_brb else ''}{'' if pretrain else ' (scratch)'}"
                finals = []
                for seed in config["seeds"]:
                    callbacks = [deep.BRB(seed=seed, **config["brb_options"])] if use_brb else None
                    model = getattr(deep, algo)(
                        10 if y is None else len(np.unique(y)),
                        pretrain_epochs=pretrain,
                        clustering_epochs=config["clustering_epochs"],
                        batch_size=config["batch_size"],
                        lr=config["lr"],
                        architecture=config["architecture"],
                        hidden=tuple(config["hidden"]) if config["hidden"] else None,
                        augment=config["augment"],
                        image_shape=image_shape,
                        random_state=seed,
                        callbacks=callbacks,
                    )
                    print(f"{label}, seed {seed}", flush=True)
                    model.fit(x, y)
                    for record in model.history_:
                        row = {"run": label, "seed": seed} | record
                        rows.append(row)
                        append_jsonl(run_dir / "metrics.jsonl", row)
                    finals.append(model.history_[-1])
                    curves.setdefault(label, model.history_)
                summary.append(_summarise(label, finals))
    write_csv(run_dir / "metrics.csv", rows)
    write_csv(run_dir / "summary.csv", summary)
    plot_curves(curves, "acc", "clustering accuracy", run_dir / "accuracy.png")
    plot_curves(
        curves, "cl_change", "cluster-label change 100·(1 − NMI)", run_dir / "cl_change.png"
    )
    _print_table(summary)
    return run_dir


def _summarise(label: str, finals: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"run": label, "seeds": len(finals)}
    for key in ("acc", "nmi", "ari"):
        values = [100 * f[key] for f in finals]
        out[f"{key}_mean"] = statistics.mean(values)
        out[f"{key}_std"] = statistics.pstdev(values)
    out["epoch_s"] = statistics.mean(f["epoch_time_s"] for f in finals)
    return out


def _print_table(summary: list[dict[str, Any]]) -> None:
    print(f"\n{'run':<20}{'ACC':>14}{'NMI':>14}{'ARI':>14}{'s/epoch':>9}")
    for s in summary:
        cells = "".join(
            f"{s[f'{k}_mean']:8.1f} ±{s[f'{k}_std']:4.1f}" for k in ("acc", "nmi", "ari")
        )
        print(f"{s['run']:<20}{cells}{s['epoch_s']:9.3f}")
