"""capture="online": the correction step takes the latents the training steps saw.

With the weights frozen (no optimizer step) and no dropout / BatchNorm, the previous epoch's
training latents are exactly those of a capture pass, so the targets must be
exactly the pass's; and the online mode must run no capture pass over samples
the training steps already saw.
"""

from __future__ import annotations

import pytest
import torch
from ddp_worker import blob_data, blob_net, one_thread
from torch.utils.data import DataLoader

from lcc.training import IndexedDataset, LatentCapture, LCCCallback


def _frozen_epochs(capture: str, *, drop_last: bool = False, epochs: int = 2):
    """``epochs`` epochs of a frozen blob net (warm-up 1, so epoch 1 corrects), shuffled."""
    data, model = blob_data(), blob_net()
    callback = LCCCallback(model, ["2"], data, weight=1.0, warmup=1, k=5, capture=capture)
    loader = DataLoader(
        IndexedDataset(data),
        batch_size=64,
        shuffle=True,
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(0),
    )
    stats = {}
    with one_thread():  # a row's latents do not depend on its batch (see ddp_worker)
        for epoch in range(epochs):
            stats = callback.on_epoch_start(epoch)
            model.train()
            for x, y, index in loader:
                model(x)  # no optimizer step: the weights stay as they are
                callback.loss(index, y)
    callback.close()
    return callback, stats


def _count_passes(monkeypatch) -> list:
    calls: list = []
    fill = LatentCapture.fill

    def counted(self, record, model, dataset, *, indices=None, **kwargs):
        calls.append(None if indices is None else list(indices))
        return fill(self, record, model, dataset, indices=indices, **kwargs)

    monkeypatch.setattr(LatentCapture, "fill", counted)
    return calls


def test_online_capture_gives_the_pass_targets_without_a_pass(monkeypatch):
    passes = _count_passes(monkeypatch)
    reference, ref_stats = _frozen_epochs("pass")
    assert passes == [None]  # one whole pass at the correction epoch
    passes.clear()
    online, stats = _frozen_epochs("online")
    assert passes == []  # epoch 0's training steps saw every sample: no pass
    for name in ("targets", "correctible"):
        got, want = online.targets["2"], reference.targets["2"]
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), name
    assert reference.targets["2"][1].any()  # something to correct: the check has teeth
    assert stats["2"]["mc_fraction"] == ref_stats["2"]["mc_fraction"]
    assert stats["2"]["acc_all"] == ref_stats["2"]["acc_all"]  # predictions recorded too


def test_online_capture_passes_over_the_samples_training_did_not_see(monkeypatch):
    passes = _count_passes(monkeypatch)
    reference, _ = _frozen_epochs("pass")
    passes.clear()
    online, _ = _frozen_epochs("online", drop_last=True)  # 401 = 6 × 64 + 17 dropped
    assert len(passes) == 1 and len(passes[0]) == 401 % 64
    assert torch.equal(online.targets["2"][0], reference.targets["2"][0])


def test_online_capture_records_only_before_a_correction_epoch():
    data, model = blob_data(), blob_net()
    callback = LCCCallback(model, ["2"], data, warmup=2, interval=2, capture="online")
    x, y, index = data.tensors[0][:8], data.tensors[1][:8], torch.arange(8)
    recorded = []
    for epoch in range(5):
        callback.on_epoch_start(epoch)
        model(x)
        callback.loss(index, y)
        recorded.append(callback.record is not None)
    # corrections at 2 and 4: recorded during epochs 1 and 3 (then used and dropped)
    assert recorded == [False, True, False, True, False]
    callback.close()


def test_online_capture_needs_the_labels():
    data, model = blob_data(), blob_net()
    callback = LCCCallback(model, ["2"], data, warmup=1, capture="online")
    callback.on_epoch_start(0)
    model(data.tensors[0][:8])
    with pytest.raises(ValueError, match="loss\\(index, labels\\)"):
        callback.loss(torch.arange(8))
    with pytest.raises(ValueError, match="capture"):
        LCCCallback(model, ["2"], data, capture="stream")
    callback.close()
