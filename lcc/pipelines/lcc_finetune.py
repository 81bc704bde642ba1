"""The main job: pretrain a classifier, then fine-tune it with and without LCC.

Both fine-tunes start from the same pretrained weights and see the same
shuffling, so the only difference is the LCC term. The run directory gets
``config.yaml`` (resolved), ``metrics.jsonl`` and ``metrics.csv`` (one row per
run and epoch), ``model.safetensors`` (the LCC model), ``baseline.safetensors``,
``accuracy.png`` and ``cc_mc_accuracy.png``; a summary table is printed.
``checkpoints/`` holds the last checkpoint (every epoch of every phase) and
``complete.json`` marks a finished run; ``lcc run --resume RUN_DIR`` goes on
from the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import AfterValidator, Field, field_validator, model_validator

from lcc.config import Section
from lcc.correction import STEP_PARAMETERS
from lcc.distributed import resolve_scheduler
from lcc.gpu_memory import before_cuda_model
from lcc.io import append_jsonl, write_csv, write_safetensors
from lcc.pipelines import new_run_dir
from lcc.pipelines._resume import RunCheckpoints
from lcc.pipelines._schema import (
    DataSection,
    Device,
    NonNegInt,
    PosFloat,
    PosInt,
    RunConfig,
    rule_section,
)
from lcc.training.callback import OPTIONS

__all__ = ["Config", "run"]


class ModelSection(Section):
    """A classifier by name (:func:`lcc.models.build_model`): ``small_cnn``,
    ``torchvision/<arch>`` (or ``<arch>``), ``timm/<name>``, ``hf/<repo id or folder>``;
    ``weights``: null, a local file or folder, or published weights from the local caches
    (torchvision's ``IMAGENET1K_V1``, ``pretrained``). The weights are looked for here, so a
    missing file fails before anything runs, naming every place looked in."""

    name: str = "small_cnn"
    weights: str | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from lcc.models import check_model_name

        try:
            check_model_name(name)
        except ImportError as err:  # a missing extra: one line, as every config error
            raise ValueError(str(err)) from None
        return name

    @model_validator(mode="after")
    def _weights_here(self) -> ModelSection:
        from lcc.models import locate_weights

        try:
            locate_weights(self.name, self.weights)
        except (OSError, ValueError) as err:
            raise ValueError(f"model.weights: {err}") from None
        return self


class TrainSection(Section):
    epochs: NonNegInt = 5
    lr: PosFloat = 0.05
    batch_size: PosInt = 64


# the run's ``seed`` seeds the LCC step too; batch_size and progress are the run's
_StepSection = rule_section(
    "_StepSection",
    {**STEP_PARAMETERS, **OPTIONS},
    exclude=("seed", "batch_size", "progress"),
)


class LCCSection(_StepSection):
    """The LCC fine-tune: the step's keys (``k``, ``method``, ``mode``, ``resolution``,
    ``exact_knn``) are :data:`lcc.correction.STEP_PARAMETERS` and the callback's (``weight``,
    ``warmup``, ``interval``, ``capture``: a capture pass or the training steps' latents,
    ``max_in_memory_bytes``: larger latents go to an on-disk zarr store) are
    :data:`lcc.training.callback.OPTIONS`, defaults and rules; the pipeline's own are here."""

    layers: Annotated[list[str], Field(min_length=1)] = ["fc1"]  # each once: _layers_exist
    track_baseline: bool = True  # CC / MC statistics for the baseline too (weight 0)
    # the correction step on a Dask cluster: null | local | local-cuda | auto | address
    scheduler: Annotated[str, AfterValidator(resolve_scheduler)] | None = None


class Config(RunConfig):
    """The ``lcc_finetune`` pipeline's config (``lcc run CONFIG --print-config`` shows it)."""

    pipeline: Literal["lcc_finetune"] = "lcc_finetune"
    name: str = "lcc"
    seed: NonNegInt = 0
    device: Device = "auto"
    progress: bool = True
    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    pretrain: TrainSection = TrainSection()
    finetune: TrainSection = TrainSection(epochs=6, lr=0.01)
    lcc: LCCSection = LCCSection()

    @model_validator(mode="after")
    def _completes(self) -> Config:
        """Values checked against each other and the data's size before anything runs, so
        that a run that passes can complete (a failure after training could not be
        resumed: ``--resume`` refuses a changed config)."""
        from lcc.data import train_size

        epochs, warmup, k = self.finetune.epochs, self.lcc.warmup, self.lcc.k
        if epochs < 1:
            raise ValueError("finetune.epochs: 0 epochs leave nothing to compare; give >= 1")
        if warmup >= epochs:
            raise ValueError(
                f"lcc.warmup={warmup} leaves no LCC epoch in finetune.epochs={epochs}; "
                "make it smaller than finetune.epochs"
            )
        n = train_size(self.data.name)
        if k >= n:
            raise ValueError(
                f"lcc.k={k} must be smaller than the {n:,} training samples of "
                f"{self.data.name} (a sample is never its own neighbour)"
            )
        return self

    @model_validator(mode="after")
    def _layers_exist(self) -> Config:
        """``lcc.layers`` against the model's modules, built without weights for the data's
        image channels on the meta device where it can be (no memory)."""
        from lcc.data import CHANNELS
        from lcc.models import check_layers, skeleton

        try:
            model = skeleton(self.model.name, in_channels=CHANNELS[self.data.name])
        except (OSError, ValueError, ImportError) as err:
            raise ValueError(f"model.name: {err}") from None
        try:
            check_layers(model, self.lcc.layers, model_name=self.model.name)
        except ValueError as err:
            raise ValueError(f"lcc.layers: {err}") from None
        return self


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda[:i], got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} was requested but CUDA is not available")
    return torch.device(name)


def run(config: dict[str, Any], run_dir: Path | None = None) -> Path:
    """Run the pipeline for a validated config (:class:`Config` as a dict); return the run dir.

    ``run_dir`` (``lcc run --resume RUN_DIR``) resumes that run from its last
    checkpoint: pretraining, the baseline and the LCC fine-tune each go on from
    the epoch after it, and the run ends as an uninterrupted one would.
    """
    with RunCheckpoints(run_dir or new_run_dir(config), config) as runs:
        return _run(config, runs)


def _run(config: dict[str, Any], runs: RunCheckpoints) -> Path:
    from lcc.data import load_dataset
    from lcc.training import evaluate

    _device(config["device"])  # a device that is not there fails before anything is written
    if (started := runs.start()) is None:
        return runs.run_dir
    last, done = started
    phase = last.meta["phase"] if last is not None else "pretrain"
    data = load_dataset(
        config["data"]["name"],
        root=config["data"]["root"],
        download=config["data"]["download"],
        seed=0,
    )
    model = _pretrained_model(config, data, runs, last if phase == "pretrain" else None)
    if phase == "pretrain":
        pretrained = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        pretrained_acc = evaluate(model, data.test)
    else:
        pretrained, pretrained_acc = last.with_prefix("pretrained"), last.meta["pretrained_acc"]
    arm = _Arm(config, data, runs, pretrained, pretrained_acc)
    for run_name in ("baseline", "lcc"):
        if run_name in done:
            continue
        resume = last if phase == run_name else None
        done[run_name] = arm.fine_tune(model, run_name, done, resume)
        name = "model.safetensors" if run_name == "lcc" else "baseline.safetensors"
        write_safetensors(runs.run_dir / name, model.state_dict())
    _report(runs, done, pretrained_acc, list(config["lcc"]["layers"]))
    return runs.run_dir


def _report(runs: RunCheckpoints, histories: dict, pretrained_acc: float, layers: list) -> None:
    from lcc.plots import plot_accuracy, plot_cc_mc_accuracy

    rows = [{"run": n} | r for n, h in histories.items() for r in h]
    write_csv(runs.run_dir / "metrics.csv", rows)
    plot_accuracy(histories, runs.run_dir / "accuracy.png")
    plot_cc_mc_accuracy(histories, layers, runs.run_dir / "cc_mc_accuracy.png")
    print_summary(histories, pretrained_acc, layers)
    runs.mark_complete({"pretrained_acc": pretrained_acc, "runs": sorted(histories)})


def _pretrained_model(config: dict[str, Any], data: Any, runs: RunCheckpoints, resume) -> Any:
    """The configured model on its device, trained for ``pretrain.epochs`` (0: as built)."""
    from lcc.models import build_model
    from lcc.training import train

    device = _device(config["device"])
    before_cuda_model(device)  # torch and cupy share one allocator, RMM's pool where it can
    torch.manual_seed(config["seed"])
    model = build_model(
        config["model"]["name"],
        n_classes=data.n_classes,
        in_channels=data.in_channels,
        weights=config["model"]["weights"],
    )
    model.to(device)
    pre = config["pretrain"]
    if pre["epochs"] > 0:
        print(
            f"pretraining {config['model']['name']} on {config['data']['name']} "
            f"for {pre['epochs']} epochs ({device})"
        )
        train(
            model,
            data.train,
            epochs=pre["epochs"],
            lr=pre["lr"],
            batch_size=pre["batch_size"],
            seed=config["seed"],
            progress=bool(config["progress"]),
            on_checkpoint=lambda ck: runs.save(ck, phase="pretrain"),
            resume=resume,
        )
    return model


class _Arm:
    """The two fine-tunes (``"baseline"``: LCC weight 0, statistics tracked if asked;
    ``"lcc"``), both from the pretrained weights, each checkpointed every epoch."""

    def __init__(self, config, data, runs: RunCheckpoints, pretrained, pretrained_acc) -> None:
        self.config, self.data, self.runs = config, data, runs
        self.pretrained, self.pretrained_acc = pretrained, pretrained_acc

    def fine_tune(self, model, run_name: str, finished: dict, resume) -> list:
        from lcc.training import train

        model.load_state_dict(self.pretrained)
        callback = self._callback(model, run_name)
        if resume is not None:  # the rows as of the checkpoint, none of a cut-short epoch
            rows = [{"run": n} | r for n, h in finished.items() for r in h]
            rows += [{"run": run_name} | r for r in resume.meta["history"]]
            self.runs.rewrite_metrics(rows)

        def save(ck) -> None:
            ck.put("pretrained", self.pretrained)
            extra = {"done": finished, "pretrained_acc": self.pretrained_acc}
            self.runs.save(ck, phase=run_name, **extra)

        print(f"fine-tuning: {run_name}")
        ft = self.config["finetune"]
        try:
            return train(
                model,
                self.data.train,
                epochs=ft["epochs"],
                lr=ft["lr"],
                batch_size=ft["batch_size"],
                val_set=self.data.test,
                callback=callback,
                seed=self.config["seed"],
                progress=bool(self.config["progress"]),
                on_epoch_end=lambda r: self._log({"run": run_name} | r),
                on_checkpoint=save,
                resume=resume,
            )
        finally:
            if callback is not None:
                callback.close()

    def _log(self, row: dict[str, Any]) -> None:
        """An epoch's row: a line of ``metrics.jsonl`` and live TensorBoard scalars."""
        append_jsonl(self.runs.metrics, row)
        self.runs.live(row)

    def _callback(self, model, run_name: str):
        from lcc.training import LCCCallback

        opts = self.config["lcc"]
        if run_name != "lcc" and not opts["track_baseline"]:
            return None
        on_disk = opts["max_in_memory_bytes"] is not None
        step = {name: opts[name] for name in STEP_PARAMETERS if name in opts}
        return LCCCallback(
            model,
            opts["layers"],
            self.data.train,
            weight=opts["weight"] if run_name == "lcc" else 0.0,
            warmup=opts["warmup"],
            interval=opts["interval"],
            capture=opts["capture"],
            seed=self.config["seed"],
            scheduler=opts["scheduler"],
            max_in_memory_bytes=opts["max_in_memory_bytes"],
            store_dir=self.runs.run_dir / "latents" if on_disk else None,
            **step,
        )


def print_summary(
    histories: dict[str, list[dict[str, Any]]], pretrained_acc: float, layers: list[str]
) -> None:
    """The short comparison table printed at the end of a run."""
    print(f"\npretrained test accuracy: {pretrained_acc:.4f}")
    header = f"{'run':<10}{'test acc':>10}{'best test':>11}{'train acc':>11}{'s/epoch':>9}"
    layer = layers[0]
    header += f"{'MC frac':>9}{'acc CC':>8}{'acc MC':>8}   ({layer}, last correction epoch)"
    print(header)
    for name, history in histories.items():
        last = history[-1]
        stats = [h for h in history if f"{layer}/acc_all" in h]
        cells = (
            f"{stats[-1][f'{layer}/mc_fraction']:9.3f}{stats[-1][f'{layer}/acc_cc']:8.3f}"
            f"{stats[-1][f'{layer}/acc_mc']:8.3f}"
            if stats
            else f"{'-':>9}{'-':>8}{'-':>8}"
        )
        seconds = sum(h["epoch_time_s"] for h in history) / len(history)
        print(
            f"{name:<10}{last['val_acc']:10.4f}{max(h['val_acc'] for h in history):11.4f}"
            f"{last['train_acc']:11.4f}{seconds:9.2f}{cells}"
        )
