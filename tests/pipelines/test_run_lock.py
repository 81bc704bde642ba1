"""One process per run directory: a second ``lcc run --resume`` on a directory another
live process holds exits 1 with one line naming that process; the lock dies with its
holder, however the holder ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from lcc.cli import main
from lcc.pipelines._lock import RunDirectoryInUse, RunLock

DEMO = "pipelines/configs/lcc_demo.yaml"
SMALL = ["pretrain.epochs=1", "finetune.epochs=2", "progress=false", "device=cpu"]
HOLD = "import sys, time; from lcc.pipelines._lock import RunLock; l = RunLock(sys.argv[1]); "
HOLD += "print('held', flush=True); time.sleep(120)"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    output = tmp_path_factory.mktemp("runs")
    assert main(["run", DEMO, *SMALL, "lcc.track_baseline=false", f"output_dir={output}"]) == 0
    return next(output.glob("lcc_demo-*"))


@pytest.fixture
def holder(run_dir):
    """Another live process holding ``run_dir``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_process_is_refused_naming_the_holder(run_dir, holder, capsys):
    files = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != "run.lock"}
    assert main(["run", "--resume", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert f"is in use by process {holder.pid} on " in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != "run.lock"}
    assert after == files  # nothing written


def test_the_lock_dies_with_a_killed_holder(run_dir, holder, capsys):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert main(["run", "--resume", str(run_dir)]) == 0  # complete: nothing to resume
    assert "is complete; nothing to resume" in capsys.readouterr().out


def test_one_process_cannot_hold_a_directory_twice_and_release_frees_it(tmp_path):
    first = RunLock(tmp_path)
    with pytest.raises(RunDirectoryInUse, match=f"process {os.getpid()} on "):
        RunLock(tmp_path)
    first.release()
    RunLock(tmp_path).release()


def test_a_finished_pipeline_run_releases_its_directory(run_dir):
    RunLock(run_dir).release()  # the fixture's run, in this process, let go when it ended
