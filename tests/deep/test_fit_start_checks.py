"""Values checked against the data and the estimator at the start of ``fit``, before the
first epoch: BRB's options (also under Lightning), SSC's landmark counts, and the
callbacks' own arguments at construction. Each case used to train first and fail later
(at the first reset, or at the consensus after the last snapshot)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from lcc.deep import CDC, DEC, IDEC, BRBCallback, SnapshotSpectralClustering

X = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
SLOW = {"pretrain_epochs": 1_000, "clustering_epochs": 1_000, "hidden": (8,)}


def _fails_before_training(estimator, error, message) -> None:
    """``fit`` raises ``error`` with ``message`` and never reached its first epoch (the
    epoch log is made after the checks; 1,000 epochs would take minutes)."""
    with pytest.raises(error, match=re.escape(message)):
        estimator.fit(X)
    assert not hasattr(estimator, "history_")


def test_brb_subsample_below_the_clusters_fails_at_fit_start():
    brb = BRBCallback(interval=2, subsample=5)
    _fails_before_training(
        DEC(10, callbacks=[brb], **SLOW),
        ValueError,
        "subsample=5: the reclustering's k-Means would see 5 samples for n_clusters=10",
    )


def test_brb_on_an_estimator_it_cannot_reset_fails_at_fit_start():
    cdc = CDC(3, pretrain_epochs=1_000, hidden=(8,), callbacks=[BRBCallback(interval=2)])
    _fails_before_training(cdc, TypeError, "CDC lacks ['encoder', 'embedding_layer'")


def test_brb_that_can_never_reset_warns_at_fit_start():
    brb = BRBCallback(interval=3, subsample=60)
    with pytest.warns(UserWarning, match=r"interval=3\) never resets in 3 epochs"):
        IDEC(2, pretrain_epochs=0, clustering_epochs=3, hidden=(8,), callbacks=[brb]).fit(X)
    assert brb.reset_epochs == []


def test_a_brb_that_resets_does_not_warn():
    import warnings

    brb = BRBCallback(interval=2, subsample=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        IDEC(2, pretrain_epochs=0, clustering_epochs=3, hidden=(8,), callbacks=[brb]).fit(X)
    assert brb.reset_epochs == [1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval": "5"}, "interval must be an integer, got '5'"),
        ({"subsample": 0}, "subsample must be at least 1, got 0"),
        ({"init": "xavier"}, "init='xavier' is not supported; choose one of ('kaiming', "),
        ({"alpha": 1.5}, "alpha must be in [0, 1], got 1.5"),
        ({"alpha": "0.8"}, "alpha must be a non-negative finite number, got '0.8'"),
        ({"reset_momentum": "yes"}, "reset_momentum must be a bool, got 'yes'"),
        ({"n_init": 0}, "n_init must be at least 1, got 0"),
    ],
    ids=lambda v: str(v)[:24],
)
def test_brb_options_are_checked_at_construction(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BRBCallback(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_landmarks": 100}, "n_landmarks=100 exceeds the number of samples (60)"),
        ({"n_landmarks": 10, "r": 12}, "r=12 nearest landmarks requested but there are only"),
        ({"n_landmarks": 4, "r": 2}, "n_clusters=5 must be smaller than min(n_samples, "),
    ],
    ids=["landmarks>samples", "r>landmarks", "clusters>=landmarks"],
)
def test_ssc_counts_fail_at_fit_start_not_at_the_consensus(options, message):
    ssc = SnapshotSpectralClustering(5, n_snapshots=50, cycle_epochs=50, **options)
    _fails_before_training(ssc, ValueError, message)


def test_lightning_brb_checks_the_module_before_the_first_epoch():
    pl = pytest.importorskip("lightning.pytorch")
    from ddp_worker import Centroids
    from torch.utils.data import DataLoader, TensorDataset

    from lcc.lightning import BRBLightningCallback

    x = torch.as_tensor(np.random.default_rng(0).normal(size=(40, 10)), dtype=torch.float32)
    module = Centroids(x)  # 4 clusters
    trainer = pl.Trainer(
        max_epochs=1_000,
        accelerator="cpu",
        callbacks=[BRBLightningCallback(interval=2, subsample=3)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(ValueError, match="would see 3 samples for n_clusters=4"):
        trainer.fit(module, DataLoader(TensorDataset(x), batch_size=8))
    assert trainer.current_epoch == 0 and trainer.global_step == 0
