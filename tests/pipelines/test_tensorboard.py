"""A pipeline run's metrics and figures as TensorBoard events, read back with TensorBoard:
while the run trains, after it, and after a resume (issue 32, item 2)."""

from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lcc.cli import main
from lcc.pipelines._resume import RunCheckpoints

RUN = [
    "pipelines/configs/idec_brb_scratch_digits.yaml",
    "clustering_epochs=4",
    "brb_options.interval=2",
    "hidden=[32]",
]
LABEL = "IDEC+BRB (scratch)"  # the config's run, seed 0: tensorboard/<run>/<seed>


def _scalars(folder, tag: str = "acc") -> list[tuple[int, float]]:
    """``(step, value)`` of ``tag`` as TensorBoard loads the folder (orphans purged)."""
    events = EventAccumulator(str(folder))
    events.Reload()
    if tag not in events.Tags()["scalars"]:
        return []
    return [(s.step, s.value) for s in events.Scalars(tag)]


def _rows(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_run_writes_its_metrics_and_figures_as_tensorboard_events(tmp_path, capsys):
    assert main(["run", *RUN, f"output_dir={tmp_path}"]) == 0
    run_dir = next(tmp_path.iterdir())
    rows = _rows(run_dir)
    assert (rows[0]["run"], rows[0]["seed"]) == (LABEL, 0)
    scalars = _scalars(run_dir / "tensorboard" / LABEL / "0")
    assert [s for s, _ in scalars] == [r["epoch"] for r in rows] == [0, 1, 2, 3]
    assert [v for _, v in scalars] == pytest.approx([r["acc"] for r in rows])
    figures = EventAccumulator(str(run_dir / "tensorboard" / "figures"), {"images": 0})
    figures.Reload()
    assert {"accuracy", "cl_change"} <= set(figures.Tags()["images"])


def test_the_scalars_can_be_read_while_the_run_trains(tmp_path, capsys, monkeypatch):
    """At each epoch's checkpoint, TensorBoard already reads that epoch from the files."""
    seen, real = [], RunCheckpoints.save

    def save(self, ck, **meta):
        seen.append([s for s, _ in _scalars(self.run_dir / "tensorboard" / LABEL / "0")])
        real(self, ck, **meta)

    monkeypatch.setattr(RunCheckpoints, "save", save)
    assert main(["run", *RUN, f"output_dir={tmp_path}"]) == 0
    assert seen == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]  # one checkpoint per epoch


def test_a_resumed_run_shows_each_step_once(tmp_path, capsys, monkeypatch):
    """Killed after epoch 2's events and before its checkpoint: the resumed process runs
    epoch 2 again, and TensorBoard shows steps 0-3 once each, epoch 2 as rerun."""
    real, saves = RunCheckpoints.save, []

    def killed(self, ck, **meta):
        if len(saves) == 2:  # epoch 2's checkpoint
            raise KeyboardInterrupt
        saves.append(ck)
        real(self, ck, **meta)

    monkeypatch.setattr(RunCheckpoints, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        main(["run", *RUN, f"output_dir={tmp_path}"])
    run_dir = next(tmp_path.iterdir())
    folder = run_dir / "tensorboard" / LABEL / "0"
    before = _scalars(folder)
    assert [s for s, _ in before] == [0, 1, 2]  # epoch 2 was written, never checkpointed
    monkeypatch.setattr(RunCheckpoints, "save", real)
    assert main(["run", "--resume", str(run_dir)]) == 0
    after = _scalars(folder)
    assert [s for s, _ in after] == [0, 1, 2, 3]
    assert [v for _, v in after] == pytest.approx([r["acc"] for r in _rows(run_dir)])
    assert after[:2] == before[:2]  # the checkpointed epochs kept their events
    assert len(list(folder.glob("events.out.tfevents.*"))) == 2  # one file per process


def test_the_config_key_turns_the_events_off(tmp_path, capsys):
    assert main(["run", *RUN, f"output_dir={tmp_path}", "tensorboard=false"]) == 0
    run_dir = next(tmp_path.iterdir())
    assert (run_dir / "complete.json").is_file() and not (run_dir / "tensorboard").exists()
