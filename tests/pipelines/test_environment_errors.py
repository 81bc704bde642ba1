"""Problems around a run (not in its config) are one line at the CLI, exit code 1, saying
what was kept and how to go on; ``--debug`` shows the traceback instead. Running as root
ignores permission bits, so an unwritable disk and a full one are made by failing the
checkpoint writer with the errno the OS would give."""

from __future__ import annotations

import errno

import pytest
import torch

from lcc.checkpoint import Checkpoints
from lcc.cli import main

DEMO = "pipelines/configs/lcc_demo.yaml"
SMALL = ["pretrain.epochs=1", "finetune.epochs=2", "progress=false", "device=cpu"]
SMALL += ["lcc.track_baseline=false", "tensorboard=false"]


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def failing_save(monkeypatch, error: OSError, after: int) -> None:
    """Checkpoints.save succeeds ``after`` times, then raises ``error``."""
    save, calls = Checkpoints.save, []

    def flaky(self, checkpoint):
        calls.append(1)
        if len(calls) > after:
            raise error
        return save(self, checkpoint)

    monkeypatch.setattr(Checkpoints, "save", flaky)


def test_an_output_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "out").write_text("")
    assert main(["run", DEMO, *SMALL, f"output_dir={tmp_path / 'out'}"]) == 1
    err = one_line(capsys)
    assert "is in the way: a file where a folder is needed (is output_dir a file?)" in err
    assert err.strip().endswith("nothing was written")


def test_an_unwritable_run_directory(tmp_path, capsys, monkeypatch):
    failing_save(monkeypatch, PermissionError(errno.EACCES, "Permission denied", "ck"), 0)
    assert main(["run", DEMO, *SMALL, f"output_dir={tmp_path}"]) == 1
    err = one_line(capsys)
    assert "cannot write 'ck' (Permission denied); choose a writable output_dir" in err
    assert "(no checkpoint yet: run it again)" in err


def test_a_full_disk_keeps_the_last_checkpoint_and_says_how_to_resume(
    tmp_path, capsys, monkeypatch
):
    failing_save(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "ck"), 2)
    assert main(["run", DEMO, *SMALL, f"output_dir={tmp_path}"]) == 1
    err = one_line(capsys)
    run_dir = next(tmp_path.glob("lcc_demo-*"))
    assert "no space left on the disk while writing 'ck'; free some space" in err
    assert f"go on with `lcc run --resume {run_dir}`" in err
    kept = err.split("kept: ")[1].split(" — ")[0]
    assert kept.startswith(str(run_dir / "checkpoints" / "checkpoint-")), kept
    assert kept.endswith(".safetensors") and (run_dir / kept).is_file()
    monkeypatch.undo()
    assert main(["run", "--resume", str(run_dir)]) == 0
    assert (run_dir / "complete.json").is_file()


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "out").write_text("")
    with pytest.raises(FileExistsError):
        main(["run", DEMO, *SMALL, f"output_dir={tmp_path / 'out'}", "--debug"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_device_this_process_cannot_see_is_a_config_error(device, capsys):
    assert main(["run", DEMO, f"device={device}"]) == 2
    err = one_line(capsys)
    assert f"device: {device!r} was requested but this process sees 0 CUDA device(s)" in err


def test_a_crash_before_the_first_checkpoint_leaves_no_duplicate_rows(tmp_path, monkeypatch):
    """The epoch's metrics row is written, then the checkpoint fails: the resumed run runs
    that epoch again, and metrics.jsonl holds it once."""
    import json

    failing_save(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "ck"), 0)
    no_pretraining = [*SMALL, "pretrain.epochs=0"]  # the first checkpoint: fine-tuning's
    assert main(["run", DEMO, *no_pretraining, f"output_dir={tmp_path}"]) == 1
    run_dir = next(tmp_path.glob("lcc_demo-*"))
    assert (run_dir / "metrics.jsonl").read_text()  # the row written before the crash
    monkeypatch.undo()
    assert main(["run", "--resume", str(run_dir)]) == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    keys = [(row["run"], row["epoch"]) for row in rows]
    assert len(keys) == len(set(keys)) == 4  # 2 epochs of the baseline and of LCC, once each
