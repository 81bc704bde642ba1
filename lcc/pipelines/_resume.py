"""A pipeline run's checkpoints, its metrics file, its live TensorBoard events and its
completion marker.

Every epoch of every phase ends with :meth:`RunCheckpoints.save`: the training
loop's state plus what the pipeline needs to pick up (the phase, the finished
runs' histories, the pretrained weights…) and the resolved config, which a
resume must match. ``complete.json`` marks a finished run. The run directory is locked
(:class:`lcc.pipelines._lock.RunLock`) while a process works in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lcc.checkpoint import Checkpoint, CheckpointError, Checkpoints
from lcc.io import write_atomic, write_json
from lcc.pipelines._lock import RunLock

__all__ = ["METRICS", "RunCheckpoints"]

METRICS = "metrics.jsonl"
"""Every pipeline's per-epoch rows: as of the last checkpoint whenever a run (re)starts."""


class RunCheckpoints:
    """The checkpoints in ``<run_dir>/checkpoints`` of a run of ``config``; constructing it
    takes the run directory's lock (:class:`~lcc.pipelines._lock.RunDirectoryInUse` when
    another live process holds it)."""

    def __init__(self, run_dir: Path, config: dict[str, Any]):
        self.run_dir, self.config = Path(run_dir), config
        self.lock = RunLock(self.run_dir)
        self.enabled = bool(config["checkpoint"]["enabled"])
        self.store = Checkpoints(self.run_dir / "checkpoints", keep=config["checkpoint"]["keep"])
        self.events = None
        if config.get("tensorboard", True):
            from lcc.tensorboard_events import LiveEvents

            self.events = LiveEvents(self.run_dir)

    def __enter__(self) -> RunCheckpoints:
        return self

    def __exit__(self, *exc: object) -> None:
        """The run is over, however it ended: the directory is free for the next process
        (or this one: a traceback kept in a notebook must not hold it)."""
        if self.events is not None:
            self.events.close()
        self.lock.release()

    @property
    def complete(self) -> bool:
        return (self.run_dir / "complete.json").is_file()

    def mark_complete(self, summary: dict[str, Any]) -> None:
        """The run's figures as TensorBoard events (config key ``tensorboard``), then
        ``complete.json``."""
        if self.events is not None:
            from lcc.tensorboard_events import write_figures

            write_figures(self.run_dir)
        write_json(self.run_dir / "complete.json", summary)

    def live(self, row: dict[str, Any]) -> None:
        """An epoch's row as TensorBoard scalars, now (:mod:`lcc.tensorboard_events`)."""
        if self.events is not None:
            self.events.log(row)

    def start(self) -> tuple[Checkpoint | None, dict[str, Any]] | None:
        """Where the run stands: ``(last checkpoint or None, the finished units' results)``;
        None, after saying so, when the run is complete."""
        if self.complete:
            print(f"run {self.run_dir} is complete; nothing to resume")
            return None
        last = self.latest()
        if last is None:  # rows of epochs no checkpoint holds: they will run again
            self.metrics.unlink(missing_ok=True)
        return last, dict(last.meta.get("done", {})) if last is not None else {}

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint, checked against this run's config."""
        ck = self.store.latest()
        if ck is not None and ck.meta.get("config") != self.config:
            raise CheckpointError(
                f"the checkpoints in {str(self.store.folder)!r} belong to another config; "
                "resume with the run's own config.yaml"
            )
        return ck

    def save(self, ck: Checkpoint, **meta: Any) -> None:
        if self.enabled:
            ck.meta |= meta | {"config": self.config}
            self.store.save(ck)

    @property
    def metrics(self) -> Path:
        """The run's ``metrics.jsonl``."""
        return self.run_dir / METRICS

    def rewrite_metrics(self, rows: list[dict[str, Any]]) -> None:
        """``metrics.jsonl`` as of the checkpoint: drops rows of an epoch that was cut short."""
        text = "".join(json.dumps(row) + "\n" for row in rows)
        write_atomic(self.metrics, lambda p: p.write_text(text))
