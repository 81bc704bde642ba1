"""Runs that survive: ``lcc run`` killed with SIGKILL, then ``lcc run --resume``, ends exactly
as an uninterrupted run (metrics.csv without its timing columns, model.safetensors bit for bit).

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

from lcc.checkpoint import load

CONFIG = "pipelines/configs/lcc_demo.yaml"
SMALL = [
    "pretrain.epochs=3",
    "finetune.epochs=4",
    "lcc.warmup=1",
    "lcc.interval=2",  # lcc epochs: 0 plain, 1 correction, 2 plain, 3 correction
    "progress=false",
    "device=cpu",
]
TIMING = {"epoch_time_s", "correction_time_s"}


def _lcc(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-m", "lcc.cli", "run", *args]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _run_dir(output: Path) -> Path:
    dirs = list(output.glob("lcc_demo-*"))
    return dirs[0] if dirs else None


def _metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


def _finished(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    output = tmp_path_factory.mktemp("reference")
    _finished(_lcc(CONFIG, *SMALL, f"output_dir={output}", cwd=Path.cwd()))
    return _run_dir(output)


def _kill_during(output: Path, phase: str, epoch: int, rng: random.Random) -> Path:
    """Start a run; once ``phase``'s ``epoch`` is checkpointed, SIGKILL it a random moment later."""
    proc = _lcc(CONFIG, *SMALL, f"output_dir={output}", cwd=Path.cwd())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run_dir = _run_dir(output)
        paths = sorted((run_dir / "checkpoints").glob("*.safetensors")) if run_dir else []
        if paths:
            meta = load(paths[-1]).meta
            if (meta["phase"], meta["epoch"]) == (phase, epoch):
                break
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.6))  # somewhere inside the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "complete.json").exists()
    last = load(sorted((run_dir / "checkpoints").glob("*.safetensors"))[-1]).meta
    order = ["pretrain", "baseline", "lcc"]
    kept = (order.index(last["phase"]), last["epoch"]) >= (order.index(phase), epoch)
    assert kept, "a checkpoint was lost: more than one epoch of work would be redone"
    return run_dir


@pytest.mark.parametrize(
    ("phase", "epoch", "what"),
    [
        ("pretrain", 0, "pretraining"),
        ("lcc", 0, "a correction epoch"),
        ("lcc", 1, "a plain epoch"),
    ],
    ids=["pretraining", "correction-epoch", "plain-epoch"],
)
def test_a_killed_run_resumes_to_the_uninterrupted_result(reference, tmp_path, phase, epoch, what):
    rng = random.Random(f"{phase}{epoch}")
    run_dir = _kill_during(tmp_path, phase, epoch, rng)
    out = _finished(_lcc("--resume", str(run_dir), cwd=Path.cwd()))
    assert f"run_dir={run_dir}" in out
    assert _metrics(run_dir) == _metrics(reference), what
    for name in ("model.safetensors", "baseline.safetensors"):
        ours, theirs = load_file(run_dir / name), load_file(reference / name)
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name
    jsonl = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(jsonl) == len(_metrics(reference))  # no row twice from the cut-short epoch
    again = _finished(_lcc("--resume", str(run_dir), cwd=Path.cwd()))
    assert "is complete; nothing to resume" in again
