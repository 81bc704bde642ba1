"""Out-of-core latents: the zarr store, the threshold, identical correction targets from disk."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from helpers import digits_subset

from lcc.models import SmallCNN
from lcc.staging import LatentBuffer, LatentStore, latent_buffer
from lcc.training import LCCCallback


def test_store_writes_by_dataset_index(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, 12)).astype(np.float32)
    store = LatentStore(tmp_path / "z.zarr", 1000, 12, chunk_rows=128)
    memory = LatentBuffer(1000, 12)
    for batch in np.array_split(rng.permutation(1000), 9):  # a shuffled loader
        for buf in (store, memory):
            buf.write(torch.as_tensor(batch), torch.as_tensor(z[batch]))
    for start in range(0, 1000, 100):  # and a sequential one (contiguous slices)
        store.write(torch.arange(start, start + 100), torch.as_tensor(z[start : start + 100]))
    assert store.complete
    sharded = store.to_dask()
    assert sharded.chunks[0][0] == 128
    np.testing.assert_array_equal(sharded.compute(), z)
    np.testing.assert_array_equal(memory.to_backend(), z)


def test_store_checks_writes_and_completeness(tmp_path):
    store = LatentStore(tmp_path / "z.zarr", 10, 3)
    with pytest.raises(ValueError, match="indices must lie"):
        store.write(torch.tensor([10]), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="features"):
        store.write(torch.tensor([0]), torch.zeros(1, 4))
    store.write(torch.tensor([0, 1]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="8 of 10 samples were never written"):
        store.to_dask()


def test_threshold_chooses_the_store_and_logs_it(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="lcc.staging"):
        small = latent_buffer(100, 8, max_in_memory_bytes=100 * 8 * 4, name="fc1")
        big = latent_buffer(100, 8, max_in_memory_bytes=100, store_dir=tmp_path, name="fc2")
    assert isinstance(small, LatentBuffer) and isinstance(big, LatentStore)
    assert big.path == tmp_path / "fc2.zarr"
    assert "fc1: 100 × 8 latents" in caplog.text and "in memory" in caplog.text
    assert f"exceed max_in_memory_bytes=100: written to {tmp_path / 'fc2.zarr'}" in caplog.text


def _targets(scheduler=None, **options):
    torch.manual_seed(0)
    model = SmallCNN()
    data = digits_subset(300)
    callback = LCCCallback(
        model, ["fc1", "fc2"], data, warmup=0, k=5, scheduler=scheduler, **options
    )
    stats = callback.on_epoch_start(0)
    callback.close()
    return callback.targets, stats


@pytest.mark.parametrize("scheduler", [None, "local"])
def test_correction_from_the_disk_store_gives_identical_targets(tmp_path, scheduler):
    expected, stats = _targets()
    got, stats_disk = _targets(scheduler, max_in_memory_bytes=1, store_dir=tmp_path)
    assert (tmp_path / "fc1.zarr").exists() and (tmp_path / "fc2.zarr").exists()
    for layer in ("fc1", "fc2"):
        assert int(expected[layer][1].sum()) > 0  # some samples are corrected
        torch.testing.assert_close(got[layer][0], expected[layer][0], rtol=0, atol=0)
        torch.testing.assert_close(got[layer][1], expected[layer][1], rtol=0, atol=0)
        for key in ("n_clusters", "mc_fraction", "correctible_fraction", "acc_all"):
            assert stats_disk[layer][key] == stats[layer][key]


def test_a_bad_scheduler_fails_at_construction():
    with pytest.raises(ValueError, match="scheduler"):
        LCCCallback(SmallCNN(), ["fc1"], digits_subset(20), scheduler="nowhere")


def test_cli_scheduler_runs_the_correction_on_a_cluster_from_disk(tmp_path, capsys):
    from lcc.cli import main

    args = ["run", "pipelines/configs/lcc_demo.yaml", f"output_dir={tmp_path}", "progress=false"]
    args += ["pretrain.epochs=1", "finetune.epochs=1", "lcc.warmup=0"]
    args += ["lcc.max_in_memory_bytes=1", "lcc.track_baseline=false", "--scheduler", "local"]
    main(args)
    run_dir = tmp_path / capsys.readouterr().out.strip().splitlines()[-1].split("/")[-1]
    assert (run_dir / "latents" / "fc1.zarr").is_dir()
    assert "scheduler: local" in (run_dir / "config.yaml").read_text()
    assert (run_dir / "model.safetensors").stat().st_size > 0


def test_cli_scheduler_errors(capsys):
    from lcc.cli import main

    assert main(["run", "pipelines/configs/lcc_demo.yaml", "--scheduler", "nowhere"]) == 2
    assert "lcc: error: lcc.scheduler: scheduler='nowhere' is neither" in capsys.readouterr().err
    assert main(["run", "pipelines/configs/cdc_digits.yaml", "--scheduler", "local"]) == 2
    assert "applies to the lcc_finetune pipeline" in capsys.readouterr().err
