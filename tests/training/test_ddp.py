"""LCC under torch.distributed: 2 CPU processes (gloo, shuffled DistributedSampler) get
exactly the targets, masks, statistics and per-batch LCC terms of one process."""

from __future__ import annotations

import torch
import torch.multiprocessing as mp
from ddp_worker import correction, worker


def test_two_ranks_give_exactly_the_single_process_targets(tmp_path):
    mp.spawn(worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        alone = correction(None, got["indices"])
        assert torch.equal(got["targets"], alone["targets"])
        assert torch.equal(got["correctible"], alone["correctible"])
        assert got["correctible"].any()  # something to correct, so the check has teeth
        assert got["mc_fraction"] == alone["mc_fraction"]
        torch.testing.assert_close(got["loss"], alone["loss"])
        assert float(got["loss"]) > 0 or not alone["correctible"][got["indices"]].any()


def test_two_ranks_past_max_in_memory_bytes_give_the_single_process_targets(tmp_path):
    """Each rank captures its share to an on-disk store of its own and sends rank 0 its rows
    in messages of 1 KiB (32 rows of the 8 latents: 7 rounds), which writes the whole
    store and clusters it from there as one process does."""
    stores = tmp_path / "stores"
    options = {"max_in_memory_bytes": 1, "store_dir": str(stores), "message_bytes": 1024}
    mp.spawn(worker, args=(2, str(tmp_path), options), nprocs=2, join=True)
    assert {p.name for p in stores.iterdir()} >= {"rank0", "rank1", "2.zarr", "2.zarr.complete"}
    for rank in (0, 1):
        assert (stores / f"rank{rank}" / "2.zarr").is_dir()  # the share went to disk
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        alone = correction(
            None, got["indices"], max_in_memory_bytes=1, store_dir=str(tmp_path / "alone")
        )
        assert torch.equal(got["targets"], alone["targets"])
        assert torch.equal(got["correctible"], alone["correctible"])
        assert got["correctible"].any()
        assert got["mc_fraction"] == alone["mc_fraction"]
        torch.testing.assert_close(got["loss"], alone["loss"])


def test_lightning_ddp_gives_exactly_the_single_process_targets(tmp_path):
    from ddp_worker import lightning_targets

    lightning_targets(str(tmp_path), devices=1)
    lightning_targets(str(tmp_path), devices=2)  # ddp_spawn, gloo, DistributedSampler
    alone = torch.load(tmp_path / "lightning1-rank0.pt", weights_only=True)
    assert alone["correctible"].any()
    for rank in (0, 1):
        got = torch.load(tmp_path / f"lightning2-rank{rank}.pt", weights_only=True)
        assert torch.equal(got["targets"], alone["targets"])
        assert torch.equal(got["correctible"], alone["correctible"])


def test_lightning_brb_under_ddp_keeps_the_replicas_identical(tmp_path):
    from ddp_worker import lightning_brb

    def ranks(folder):
        return [torch.load(folder / f"brb-rank{r}.pt", weights_only=True) for r in (0, 1)]

    lightning_brb(str(tmp_path))  # ddp_spawn, 2 CPU processes, interval 2, 4 epochs
    first, second = ranks(tmp_path)
    assert first["resets"] == second["resets"] == [1]  # after epoch 1; never after the last
    steps_per_epoch = len(range(0, 401 // 2 + 1, 64))  # each rank's share of 401 samples
    # the reset zeroed the centres' moments and kept Adam's step count: all 4 epochs' steps
    assert int(first["steps"]) == int(second["steps"]) == 4 * steps_per_epoch
    for key, value in first["state"].items():
        assert torch.equal(value, second["state"][key]), key
    broken = tmp_path / "broken"
    broken.mkdir()
    lightning_brb(str(broken), broadcast=False)  # no broadcast: the replicas split
    first, second = ranks(broken)
    assert not torch.equal(first["state"]["centers"], second["state"]["centers"])
