"""A pipeline run's metrics and figures as TensorBoard events, read back with TensorBoard."""

from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lcc.cli import main

RUN = [
    "pipelines/configs/idec_brb_scratch_digits.yaml",
    "clustering_epochs=3",
    "brb_options.interval=2",
    "hidden=[32]",
]


def test_a_run_writes_its_metrics_and_figures_as_tensorboard_events(tmp_path, capsys):
    assert main(["run", *RUN, f"output_dir={tmp_path}"]) == 0
    run_dir = next(tmp_path.iterdir())
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    tag = f"{rows[0]['run']}/{rows[0]['seed']}/acc"
    scalars = events.Scalars(tag)
    assert [s.step for s in scalars] == [r["epoch"] for r in rows]
    assert [s.value for s in scalars] == pytest.approx([r["acc"] for r in rows])
    assert {"accuracy", "cl_change"} <= set(events.Tags()["images"])


def test_the_config_key_turns_the_events_off(tmp_path, capsys):
    assert main(["run", *RUN, f"output_dir={tmp_path}", "tensorboard=false"]) == 0
    run_dir = next(tmp_path.iterdir())
    assert (run_dir / "complete.json").is_file() and not (run_dir / "tensorboard").exists()
