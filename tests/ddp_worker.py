"""What each process of tests/training/test_ddp.py runs (importable for torch's spawn)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch


@contextlib.contextmanager
def one_thread():
    """torch on one thread: with several, a row's latents can differ in the last bit with
    the batch it is computed in (1 ulp, measured), and the ranks' shares are batched
    differently from the single process; with one, rows do not depend on their batch."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def blob_data():
    from sklearn.datasets import make_blobs
    from torch.utils.data import TensorDataset

    x, y = make_blobs(401, n_features=10, centers=4, cluster_std=2.0, random_state=0)
    rng = np.random.default_rng(0)
    noisy = rng.random(len(y)) < 0.1
    y[noisy] = rng.integers(0, 4, noisy.sum())
    return TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))


def blob_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(10, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 4),
    )


def correction(rank: int | None, indices: torch.Tensor, **options) -> dict:
    """One correction step and the LCC term of the batch ``indices`` (``options``: more
    of :class:`lcc.training.LCCCallback`'s)."""
    from lcc.training import LCCCallback

    data, model = blob_data(), blob_net()
    callback = LCCCallback(model, ["2"], data, weight=1.0, warmup=0, k=5, batch_size=64, **options)
    with one_thread():
        stats = callback.on_epoch_start(0)
    model(data.tensors[0][indices])
    loss = callback.loss(indices)
    callback.close()
    targets, correctible = callback.targets["2"]
    return {
        "targets": targets,
        "correctible": correctible,
        "loss": loss.detach(),
        "mc_fraction": stats["2"]["mc_fraction"],
        "indices": indices,
    }


def worker(rank: int, world: int, folder: str, options: dict | None = None) -> None:
    """``options``: the callback's, and ``message_bytes`` (``lcc.training.ddp.MESSAGE_BYTES``)."""
    import torch.distributed as dist
    from torch.utils.data import DistributedSampler

    from lcc.training import ddp

    options = dict(options or {})
    ddp.MESSAGE_BYTES = options.pop("message_bytes", ddp.MESSAGE_BYTES)

    dist.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world
    )
    try:
        sampler = DistributedSampler(blob_data(), num_replicas=world, rank=rank, shuffle=True)
        sampler.set_epoch(3)
        indices = torch.as_tensor(list(sampler))[:64]
        torch.save(correction(rank, indices, **options), Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def lightning_targets(folder: str, devices: int) -> None:
    """Targets of the first correction epoch (warm-up 0, before any step) under Lightning,
    on ``devices`` CPU processes (``ddp_spawn``) or one; each rank saves its own."""
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader

    from lcc.lightning import LCCLightningCallback
    from lcc.training import IndexedDataset

    data = blob_data()
    lcc_callback = LCCLightningCallback(["net.2"], data, weight=1.0, warmup=0, k=5, batch_size=64)
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=devices,
        strategy="ddp_spawn" if devices > 1 else "auto",
        callbacks=[lcc_callback, SaveTargets(folder, f"lightning{devices}")],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = DataLoader(IndexedDataset(data), batch_size=64, shuffle=True)
    with one_thread():  # ddp_spawn's processes start from this setting
        trainer.fit(LightningBlobNet(), loader)


def lightning_brb(folder: str, broadcast: bool = True) -> None:
    """4 epochs of a centroid LightningModule with BRBLightningCallback (interval 2) under
    ``ddp_spawn`` on 2 CPU processes; each rank saves its parameters, resets and the centres'
    step count.
    ``broadcast=False`` disables the rank-0 broadcast after the reset (the broken variant)."""
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from lcc.lightning import BRBLightningCallback

    x = blob_data().tensors[0]
    trainer = pl.Trainer(
        max_epochs=4,
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        callbacks=[
            BRBLightningCallback(interval=2, subsample=200, seed=0),
            SaveBRB(folder, broadcast),
        ],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    torch.manual_seed(0)
    trainer.fit(Centroids(x, noise=1e-3), DataLoader(TensorDataset(x), batch_size=64, shuffle=True))


def _lightning_classes():
    import lightning.pytorch as pl

    from lcc.lightning import BRBLightningCallback, LCCLightningCallback, LCCMixin

    class LightningBlobNet(LCCMixin, pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = blob_net()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y, index = batch
            logits = self(x)
            return torch.nn.functional.cross_entropy(logits, y) + self.lcc_loss(index)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class SaveTargets(pl.Callback):
        """Saves each rank's targets after the callback computed them (a later callback)."""

        def __init__(self, folder: str, prefix: str):
            self.folder, self.prefix = folder, prefix

        def on_train_epoch_start(self, trainer, module):
            core = next(c for c in trainer.callbacks if isinstance(c, LCCLightningCallback)).core
            targets, correctible = core.targets["net.2"]
            path = Path(self.folder) / f"{self.prefix}-rank{trainer.global_rank}.pt"
            torch.save({"targets": targets, "correctible": correctible}, path)

    class Centroids(pl.LightningModule):
        """A DCN-like centroid model written as a LightningModule, a ResettableClusterer for BRB;
        ``noise`` makes its embedding differ slightly between ranks, as a nondeterministic
        GPU kernel can."""

        def __init__(self, x, noise: float = 0.0):
            super().__init__()
            self.x, self.noise = x, noise
            self.encoder = torch.nn.Sequential(
                torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)
            )
            self.centers = torch.nn.Parameter(torch.randn(4, 4))
            self.n_clusters, self.n_samples = 4, len(x)

        @property
        def embedding_layer(self):
            return self.encoder[2]

        def embed(self, indices):
            per_rank = torch.Generator().manual_seed(self.global_rank)
            with torch.no_grad():
                z = self.encoder(self.x[indices])
                return z + self.noise * torch.randn(z.shape, generator=per_rank)

        def set_centers(self, centers):
            with torch.no_grad():
                self.centers.copy_(centers)

        def center_parameters(self):
            return [self.centers]

        def training_step(self, batch, batch_idx):
            z = self.encoder(batch[0])
            return torch.cdist(z, self.centers).min(dim=1).values.pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    class SaveBRB(pl.Callback):
        """Saves each rank's parameters, resets and the centres' Adam step count at the end."""

        def __init__(self, folder: str, broadcast: bool):
            self.folder, self.broadcast = folder, broadcast

        def setup(self, trainer, module, stage):
            if not self.broadcast:  # in the spawned process: the broken variant
                import lcc.lightning

                lcc.lightning.broadcast_module = lambda module: None

        def on_train_end(self, trainer, module):
            brb = next(c for c in trainer.callbacks if isinstance(c, BRBLightningCallback)).core
            steps = trainer.optimizers[0].state[module.centers]["step"]
            path = Path(self.folder) / f"brb-rank{trainer.global_rank}.pt"
            state = {k: v.clone() for k, v in module.state_dict().items()}
            torch.save({"state": state, "resets": brb.reset_epochs, "steps": steps}, path)

    return LightningBlobNet, SaveTargets, Centroids, SaveBRB


try:  # module-level classes, so that ddp_spawn can pickle them
    LightningBlobNet, SaveTargets, Centroids, SaveBRB = _lightning_classes()
    for _cls in (LightningBlobNet, SaveTargets, Centroids, SaveBRB):
        _cls.__qualname__ = _cls.__name__
except ImportError:  # lightning is optional
    pass
