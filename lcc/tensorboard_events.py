"""A run's per-epoch metrics and figures as TensorBoard events, written while it trains.

Every pipeline hands each epoch's row to :class:`LiveEvents` as the epoch ends (config
key ``tensorboard``, default true): its scalars go under
``<run_dir>/tensorboard/<run>/<seed>/`` (one TensorBoard run per pipeline run and seed,
tagged by metric, at step ``epoch``) and are flushed at once, so that
``tensorboard --logdir runs`` shows a run while it trains. A resumed process opens each
writer with ``purge_step`` at the first epoch it logs (torch's ``SummaryWriter`` then
writes a ``SessionLog.START`` at that step): TensorBoard discards the events a killed
process wrote for epochs after its last checkpoint, which run again, so no step shows
twice. The PNG figures of the run directory go under ``<run_dir>/tensorboard/figures``
when the run completes (:func:`write_figures`). Nothing is written where the optional
``tensorboard`` package is not installed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["LiveEvents", "write_figures"]

_RUN_KEYS = ("run", "seed")


def _summary_writer() -> Any:
    """torch's ``SummaryWriter``, or None without the tensorboard package."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter


class LiveEvents:
    """Per-epoch rows of a run directory as TensorBoard scalars, one writer per run and
    seed, each flushed as its row arrives."""

    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir) / "tensorboard"
        self.writer_class = _summary_writer()
        self.writers: dict[tuple[str, ...], Any] = {}
        self.steps: dict[tuple[str, ...], int] = {}

    def log(self, row: dict[str, Any]) -> None:
        """Write the scalars of ``row`` (a ``metrics.jsonl`` row: ``run``, ``seed``,
        ``epoch`` and the metrics) and flush them."""
        if self.writer_class is None:
            return
        key = tuple(str(row[k]).replace("/", "_") for k in _RUN_KEYS if k in row) or ("run",)
        step = int(row["epoch"]) if "epoch" in row else self.steps.get(key, -1) + 1
        self.steps[key] = step
        writer = self.writers.get(key)
        if writer is None:  # past a resume, the events from this step on are superseded
            writer = self.writer_class(str(self.root.joinpath(*key)), purge_step=step)
            self.writers[key] = writer
        for name, value in row.items():
            if name not in (*_RUN_KEYS, "epoch") and _is_scalar(value):
                writer.add_scalar(name, float(value), step)
        writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


def write_figures(run_dir: str | Path) -> Path | None:
    """Every ``*.png`` of ``run_dir`` as a TensorBoard image under ``tensorboard/figures``;
    the folder, or None when tensorboard is not installed."""
    writer_class = _summary_writer()
    if writer_class is None:
        return None
    run_dir = Path(run_dir)
    out = run_dir / "tensorboard" / "figures"
    writer = writer_class(str(out))
    try:
        for figure in sorted(run_dir.glob("*.png")):
            writer.add_image(figure.stem, _rgb(figure), 0, dataformats="HWC")
    finally:
        writer.close()
    return out


def _is_scalar(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rgb(path: Path) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
