"""lcc.lightning.LCCLightningCallback in a tiny LightningModule on CPU: targets, the LCC term after
warm-up, logged statistics, and its state through a Lightning checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from ddp_worker import Centroids  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import lcc.training.callback as core_module  # noqa: E402
from lcc.lightning import LCCLightningCallback, LCCMixin  # noqa: E402
from lcc.training import IndexedDataset  # noqa: E402


class Blobs(LCCMixin, pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU())
        self.latent = torch.nn.Linear(32, 8)
        self.head = torch.nn.Linear(8, 4)
        self.lcc_terms: dict[int, list[float]] = {}

    def forward(self, x):
        return self.head(torch.relu(self.latent(self.body(x))))

    def training_step(self, batch, batch_idx):
        x, y, index = batch
        logits = self(x)  # the forward pass first: the hooks capture the latents
        term = self.lcc_loss(index)
        self.lcc_terms.setdefault(self.current_epoch, []).append(float(term))
        return torch.nn.functional.cross_entropy(logits, y) + term

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _data():
    x, y = make_blobs(400, n_features=10, centers=4, cluster_std=2.0, random_state=0)
    rng = np.random.default_rng(0)
    noisy = rng.random(len(y)) < 0.1
    y[noisy] = rng.integers(0, 4, noisy.sum())
    return TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))


def _fit(tmp_path, epochs, ckpt_path=None):
    data = _data()
    torch.manual_seed(0)
    module = Blobs()
    callback = LCCLightningCallback(["latent"], data, weight=1.0, k=5, warmup=1)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        callbacks=[callback, pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)],
        logger=pl.loggers.CSVLogger(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = DataLoader(IndexedDataset(data), batch_size=64, shuffle=True)
    trainer.fit(module, loader, ckpt_path=ckpt_path)
    return module, trainer


def test_lightning_callback_corrects_after_warmup_and_logs(tmp_path):
    module, trainer = _fit(tmp_path, 3)
    assert all(t == 0 for t in module.lcc_terms[0])  # warm-up epoch: no term
    assert any(t > 0 for t in module.lcc_terms[1]) and any(t > 0 for t in module.lcc_terms[2])
    logged = trainer.callback_metrics
    assert {"lcc/latent/mc_fraction", "lcc/latent/n_clusters"} <= set(logged)
    assert 0 < float(logged["lcc/latent/mc_fraction"]) < 0.5


def test_lightning_callback_state_goes_through_a_checkpoint(tmp_path, monkeypatch):
    _fit(tmp_path, 2)  # correction at epoch 1; "last.ckpt" holds its targets
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)["callbacks"]
    state = next(v for k, v in saved.items() if k.startswith("LCCLightningCallback"))
    assert state["active"] and state["tensors"]["latent/targets"].shape == (400, 8)
    restored = []
    load = core_module.LCCCallback.load_state_dict
    monkeypatch.setattr(
        core_module.LCCCallback,
        "load_state_dict",
        lambda self, s: restored.append(s) or load(self, s),
    )
    module, _ = _fit(tmp_path / "resumed", 3, ckpt_path=tmp_path / "last.ckpt")
    assert len(restored) == 1
    for key, tensor in state["tensors"].items():
        assert torch.equal(restored[0]["tensors"][key], tensor)
    assert list(module.lcc_terms) == [2] and any(t > 0 for t in module.lcc_terms[2])


def test_lightning_brb_resets_at_the_interval_and_zeroes_the_centroid_moments(
    tmp_path, monkeypatch
):
    import lcc.deep.brb as brb_module
    from lcc.deep.brb import reset_optimizer_state
    from lcc.lightning import BRBLightningCallback

    x = _data().tensors[0]
    torch.manual_seed(0)
    module = Centroids(x)
    callback = BRBLightningCallback(alpha=0.8, interval=2, subsample=200, seed=0)
    moments_after_reset = []

    def reset_and_look(optimizer, params, **options):
        reset_optimizer_state(optimizer, params, **options)
        state = optimizer.state[module.centers]
        moments_after_reset.extend([state["exp_avg"].clone(), state["exp_avg_sq"].clone()])

    monkeypatch.setattr(brb_module, "reset_optimizer_state", reset_and_look)
    trainer = pl.Trainer(
        max_epochs=4,
        accelerator="cpu",
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(TensorDataset(x), batch_size=64, shuffle=True))
    assert callback.core.reset_epochs == [1]  # due after epochs 1 and 3; 3 is the last
    # the reset zeroed the centres' Adam moments at epoch 1 and kept the step count, as the
    # BRB authors' code: the count is that of all 4 epochs
    assert [float(m.abs().sum()) for m in moments_after_reset] == [0.0, 0.0]
    steps = trainer.optimizers[0].state[module.centers]["step"]
    assert int(steps) == 4 * len(range(0, len(x), 64))
