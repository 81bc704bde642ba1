"""DEC / IDEC / DCN with and without BRB, with and without pretraining.

Runs every combination of ``algorithms × brb × pretrain_epochs`` listed in the
config for every seed, and writes to the run directory: ``config.yaml``,
``metrics.jsonl`` / ``metrics.csv`` (one row per run and epoch: loss, ACC,
NMI, ARI, cluster-label change, intra- / inter-class distance, whether a BRB
reset happened), ``summary.csv``, ``accuracy.png`` and ``cl_change.png``
(reset epochs marked) and prints a final table. Every epoch of every fit
ends with a checkpoint in ``checkpoints/`` (the estimator's state, BRB's resets,
the finished fits' histories); ``lcc run --resume RUN_DIR`` goes on from it.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from lcc.config import Section
from lcc.deep._precision import PRECISIONS
from lcc.io import append_jsonl, write_csv
from lcc.metrics import sample_std
from lcc.pipelines import new_run_dir
from lcc.pipelines._resume import RunCheckpoints
from lcc.pipelines._schema import (
    FlatDataSection,
    NonNegInt,
    PosFloat,
    PosInt,
    SeededRunConfig,
)

__all__ = ["Config", "run"]


class BRBOptions(Section):
    """:class:`lcc.deep.BRBCallback`'s options: reset strength, interval, the reclustering's
    subsample and k-Means restarts, and whether Adam's step count is reset with the moments
    (the authors keep it)."""

    alpha: Annotated[float, Field(ge=0, le=1)] = 0.8
    interval: PosInt = 20
    subsample: PosInt = 10_000
    subsample_from: Literal["random", "first"] = "random"  # first: the authors' first N
    n_init: PosInt = 10
    reset_step: bool = False


class StandardizedData(FlatDataSection):
    """The data z-transformed by default, as the BRB paper's appendix C (its channel-wise
    z-transform: for greyscale digits one mean and standard deviation over all pixels)."""

    standardize: bool | Literal["before_resize"] = True


class Config(SeededRunConfig):
    """The ``deep_clustering`` pipeline: every ``algorithms × brb × pretrain_epochs`` run."""

    pipeline: Literal["deep_clustering"] = "deep_clustering"
    name: str = "deep_clustering"
    data: StandardizedData = StandardizedData()
    algorithms: Annotated[list[Literal["DEC", "IDEC", "DCN"]], Field(min_length=1)] = [
        "DEC",
        "IDEC",
        "DCN",
    ]
    brb: Annotated[list[bool], Field(min_length=1)] = [False, True]
    pretrain_epochs: Annotated[list[NonNegInt], Field(min_length=1)] = [0]
    clustering_epochs: PosInt = 100
    batch_size: PosInt = 256
    lr: PosFloat = 1e-3
    architecture: Literal["mlp", "conv"] = "mlp"
    # layer widths (mlp, default 500-500-2000) or channels (conv, default 32-64)
    hidden: list[PosInt] | None = None
    # random affine with the BRB paper's consistency rule; brb_authors: their RandomAffine
    # (±16°, shear ±8°, nearest) and, for IDEC / DCN, one forward of both views
    augment: bool | Literal["brb_authors"] = False
    # bf16-mixed: bfloat16 autocast in the training forwards (GPUs from Ampere, AMX CPUs)
    precision: Literal[PRECISIONS] = "32-true"  # type: ignore[valid-type]
    brb_options: BRBOptions = BRBOptions()
    # DCN's centroids: step (the DCN paper's eq. 7 after every step) or epoch (the BRB
    # authors' code: once per epoch at a constant rate 1/101)
    dcn_center_update: Literal["auto", "step", "epoch"] = "auto"

    @model_validator(mode="after")
    def _brb_completes(self) -> Config:
        """A BRB arm must reset at least once and recluster at least one sample per
        cluster: checked now, not ``interval`` epochs into training (a failed run could not
        be resumed: ``--resume`` refuses a changed config)."""
        from lcc.data import N_CLASSES

        if True not in self.brb:
            return self
        interval, subsample = self.brb_options.interval, self.brb_options.subsample
        if interval >= self.clustering_epochs:
            raise ValueError(
                f"brb_options.interval={interval} never resets in clustering_epochs="
                f"{self.clustering_epochs} (BRB resets after every interval-th epoch, never "
                "after the last): the brb=true runs would be the plain ones; make it smaller"
            )
        k = N_CLASSES[self.data.name]
        if subsample < k:
            raise ValueError(
                f"brb_options.subsample={subsample}: BRB's k-Means would recluster "
                f"{subsample} samples into the {k} clusters of {self.data.name}; give >= {k}"
            )
        return self


def run(config: dict[str, Any], run_dir: Path | None = None) -> Path:
    """Every run of the grid; ``run_dir`` resumes that run from its last checkpoint."""
    with RunCheckpoints(run_dir or new_run_dir(config), config) as runs:
        return _run(config, runs)


def _run(config: dict[str, Any], runs: RunCheckpoints) -> Path:
    from lcc.data import load_flat
    from lcc.deep import each_epoch
    from lcc.plots import plot_curves

    if (started := runs.start()) is None:
        return runs.run_dir
    last, done = started
    if last is not None:  # metrics.jsonl as of the checkpoint
        runs.rewrite_metrics([r for h in done.values() for r in h])
    x, y, image_shape = load_flat(**config["data"])
    print(f"{config['data']['name']}: {x.shape[0]} samples × {x.shape[1]} features")
    rows, curves, summary = [], {}, []
    for algo in config["algorithms"]:
        for pretrain in config["pretrain_epochs"]:
            for use_brb in config["brb"]:
                label = f"{algo}{'+BRB' if use_brb else ''}{'' if pretrain else ' (scratch)'}"
                finals = []
                for seed in config["seeds"]:
                    key = f"{label}|{seed}"
                    if key not in done:
                        resume = last if last is not None and last.meta["run"] == key else None
                        model = _estimator(config, algo, pretrain, use_brb, seed, y, image_shape)
                        print(f"{label}, seed {seed}", flush=True)
                        live = {"run": label, "seed": seed}
                        with each_epoch(lambda r, live=live: runs.live(live | r)):
                            model.fit(
                                x,
                                y,
                                resume=resume,
                                on_checkpoint=lambda ck, key=key: runs.save(ck, run=key, done=done),
                            )
                        done[key] = [{"run": label, "seed": seed} | r for r in model.history_]
                        for row in done[key]:
                            append_jsonl(runs.metrics, row)
                    rows += done[key]
                    finals.append(done[key][-1])
                    curves.setdefault(label, done[key])
                summary.append(_summarise(label, finals))
    write_csv(runs.run_dir / "metrics.csv", rows)
    write_csv(runs.run_dir / "summary.csv", summary)
    plot_curves(curves, "acc", "clustering accuracy", runs.run_dir / "accuracy.png")
    plot_curves(
        curves, "cl_change", "cluster-label change 100·(1 − NMI)", runs.run_dir / "cl_change.png"
    )
    _print_table(summary)
    runs.mark_complete({"runs": sorted(done)})
    return runs.run_dir


def _estimator(config, algo: str, pretrain: int, use_brb: bool, seed: int, y, image_shape):
    from lcc import deep

    callbacks = [deep.BRBCallback(seed=seed, **config["brb_options"])] if use_brb else None
    return getattr(deep, algo)(
        10 if y is None else len(np.unique(y)),
        pretrain_epochs=pretrain,
        clustering_epochs=config["clustering_epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        architecture=config["architecture"],
        hidden=tuple(config["hidden"]) if config["hidden"] else None,
        augment=config["augment"],
        precision=config["precision"],
        center_update=config["dcn_center_update"] if algo == "DCN" else "auto",
        image_shape=image_shape,
        random_state=seed,
        callbacks=callbacks,
    )


def _summarise(label: str, finals: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"run": label, "seeds": len(finals)}
    for key in ("acc", "nmi", "ari"):
        values = [100 * f[key] for f in finals]
        out[f"{key}_mean"] = statistics.mean(values)
        out[f"{key}_std"] = sample_std(values)
    out["epoch_s"] = statistics.mean(f["epoch_time_s"] for f in finals)
    return out


def _print_table(summary: list[dict[str, Any]]) -> None:
    print(f"\n{'run':<20}{'ACC':>14}{'NMI':>14}{'ARI':>14}{'s/epoch':>9}")
    for s in summary:
        cells = "".join(
            f"{s[f'{k}_mean']:8.1f} ±{s[f'{k}_std']:4.1f}" for k in ("acc", "nmi", "ari")
        )
        print(f"{s['run']:<20}{cells}{s['epoch_s']:9.3f}")
