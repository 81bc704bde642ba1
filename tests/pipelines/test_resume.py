"""Runs that survive: ``lcc run`` killed with SIGKILL, then ``lcc run --resume``, ends exactly
as an uninterrupted run (metrics.csv without its timing columns, the saved models bit for bit).

CPU, the same torch thread count in every process (the default: what this machine gives).
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lcc.checkpoint import CheckpointError, load

LCC = (
    "pipelines/configs/lcc_demo.yaml",
    [
        "pretrain.epochs=3",
        "finetune.epochs=4",
        "lcc.warmup=1",
        "lcc.interval=2",  # lcc epochs: 0 plain, 1 correction, 2 plain, 3 correction
        "progress=false",
        "device=cpu",
    ],
)
BRB = (
    "pipelines/configs/dcn_brb_pretrained_digits.yaml",
    ["seeds=[0,1]", "pretrain_epochs=[2]", "clustering_epochs=4", "brb_options.interval=2"],
)
TIMING = {"epoch_time_s", "correction_time_s", "time_s"}


def _lcc(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-m", "lcc.cli", "run", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _run_dir(output: Path) -> Path | None:
    dirs = [d for d in output.iterdir() if d.is_dir()]
    return dirs[0] if dirs else None


def _checkpoints(run_dir: Path | None) -> list[Path]:
    return sorted((run_dir / "checkpoints").glob("*.safetensors")) if run_dir else []


def _metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


def _finished(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


def _reference(tmp_path_factory, config) -> Path:
    output = tmp_path_factory.mktemp("reference")
    _finished(_lcc(config[0], *config[1], f"output_dir={output}"))
    return _run_dir(output)


@pytest.fixture(scope="module")
def lcc_reference(tmp_path_factory):
    return _reference(tmp_path_factory, LCC)


@pytest.fixture(scope="module")
def brb_reference(tmp_path_factory):
    return _reference(tmp_path_factory, BRB)


def _kill_after(config, output: Path, trigger: dict, rng: random.Random) -> Path:
    """Start a run; once a checkpoint whose metadata matches ``trigger`` is written, SIGKILL
    the run at a random moment of the next epoch."""
    proc = _lcc(config[0], *config[1], f"output_dir={output}")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run_dir = _run_dir(output)
        paths = _checkpoints(run_dir)
        try:
            if paths and trigger.items() <= load(paths[-1]).meta.items():
                break
        except CheckpointError:  # the run pruned it between the listing and the read
            pass
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.02)
    seen = paths[-1].name
    time.sleep(rng.uniform(0.0, 0.4))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "complete.json").exists()
    assert _checkpoints(run_dir)[-1].name >= seen  # at most one epoch of work is redone
    return run_dir


def _resumed_equals(run_dir: Path, reference: Path, models: list[str], jsonl: bool = True) -> None:
    out = _finished(_lcc("--resume", str(run_dir)))
    assert f"run_dir={run_dir}" in out
    assert _metrics(run_dir) == _metrics(reference)
    for name in models:
        ours, theirs = load_file(run_dir / name), load_file(reference / name)
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name
    if jsonl:  # no row twice from the cut-short epoch
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == len(_metrics(reference))
    assert "is complete; nothing to resume" in _finished(_lcc("--resume", str(run_dir)))


@pytest.mark.parametrize(
    "trigger",
    [
        {"phase": "pretrain", "epoch": 0},
        {"phase": "lcc", "epoch": 0},  # the next epoch corrects
        {"phase": "lcc", "epoch": 1},  # the next epoch does not
    ],
    ids=["pretraining", "correction-epoch", "plain-epoch"],
)
def test_a_killed_lcc_run_resumes_to_the_uninterrupted_result(lcc_reference, tmp_path, trigger):
    run_dir = _kill_after(LCC, tmp_path, trigger, random.Random(str(trigger)))
    _resumed_equals(run_dir, lcc_reference, ["model.safetensors", "baseline.safetensors"])


@pytest.mark.parametrize(
    "trigger",
    [
        {"run": "DCN+BRB|0", "phase": "cluster", "epoch": 0},  # the next epoch ends in a reset
        {"run": "DCN+BRB|1", "phase": "pretrain", "epoch": 0},  # the second seed's pretraining
    ],
    ids=["before-a-brb-reset", "second-seed-pretraining"],
)
def test_a_killed_brb_run_resumes_to_the_uninterrupted_result(brb_reference, tmp_path, trigger):
    run_dir = _kill_after(BRB, tmp_path, trigger, random.Random(str(trigger)))
    _resumed_equals(run_dir, brb_reference, [])


SSC = (
    "pipelines/configs/ssc_mnist_subset.yaml",
    [
        "data.name=digits",
        "n_snapshots=3",
        "cycle_epochs=2",
        "latent_dim=16",
        "n_landmarks=60",
        "batch_size=128",
    ],
)


@pytest.fixture(scope="module")
def ssc_reference(tmp_path_factory):
    return _reference(tmp_path_factory, SSC)


@pytest.mark.parametrize(
    "trigger",
    [
        {"phase": "dae", "epoch": 1},  # the DAE baseline's training
        {"phase": "train", "epoch": 1},  # after the first snapshot
    ],
    ids=["dae-baseline", "snapshot-ensemble"],
)
def test_a_killed_ssc_run_resumes_to_the_uninterrupted_result(ssc_reference, tmp_path, trigger):
    run_dir = _kill_after(SSC, tmp_path, trigger, random.Random(str(trigger)))
    _resumed_equals(run_dir, ssc_reference, [], jsonl=False)


CDC = (
    "pipelines/configs/cdc_digits.yaml",
    [
        "model.pretrain_epochs=2",
        "model.clustering_iterations=0",
        "model.clustering_epochs=3",
        "model.hidden=[64]",
        "picture.samples=200",
    ],
)


@pytest.fixture(scope="module")
def cdc_reference(tmp_path_factory):
    return _reference(tmp_path_factory, CDC)


@pytest.mark.parametrize(
    "trigger",
    [{"phase": "pretrain", "epoch": 0}, {"phase": "cluster", "epoch": 0}],
    ids=["pretraining", "fine-tuning"],
)
def test_a_killed_representation_run_resumes_to_the_uninterrupted_result(
    cdc_reference, tmp_path, trigger
):
    run_dir = _kill_after(CDC, tmp_path, trigger, random.Random(str(trigger)))
    _resumed_equals(run_dir, cdc_reference, [])
