"""The LCC step's resolution sweep and its guard against cluster explosions (issue 31,
items 2–3; :mod:`lcc.partition_guard`)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from helpers import host, on
from sklearn.datasets import make_blobs
from torch.utils.data import TensorDataset

import lcc
from lcc.partition_guard import ClusterExplosionWarning, closest_to_classes, explosion


def _blobs(n: int = 600, classes: int = 4):
    z, y = make_blobs(n, n_features=8, centers=classes, cluster_std=1.0, random_state=0)
    return z.astype(np.float32), y


def _pairs(n_pairs: int = 150, classes: int = 3):
    """Latents built to explode at k = 1: tight pairs, each far from every other, so the
    1-NN graph is ``n_pairs`` separate edges and every pair is a community; a pair's two
    samples have different classes, so half the samples are misclustered."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=100.0, size=(n_pairs, 8))
    z = np.repeat(centres, 2, axis=0) + rng.normal(scale=0.01, size=(2 * n_pairs, 8))
    first = np.arange(n_pairs) % classes
    y = np.stack([first, (first + 1) % classes], axis=1).reshape(-1)
    return z.astype(np.float32), y


def test_closest_to_classes_reads_only_the_class_count():
    assert closest_to_classes([3, 9, 12, 40], 10) == 1
    assert closest_to_classes([8, 12], 10) == 0  # equals: the first (the lower resolution)


def test_explosion_figures_and_limits():
    clusters = np.array([0, 0, 1, 2, 3, 4])  # 5 clusters, 4 singletons of 6 samples
    stats = explosion(clusters, 2, max_cluster_ratio=2.0, max_singleton_share=0.5)
    assert stats["n_clusters"] == 5 and stats["singleton_fraction"] == pytest.approx(4 / 6)
    assert stats["exploded"] and "5 clusters for 2 classes" in stats["explosion"]
    assert "66.7% of the samples alone" in stats["explosion"]
    off = explosion(clusters, 2, max_cluster_ratio=None, max_singleton_share=None)
    assert not off["exploded"] and off["explosion"] is None
    assert not explosion(clusters, 2, max_cluster_ratio=3.0, max_singleton_share=0.7)["exploded"]


def test_a_resolution_sweep_keeps_the_count_closest_to_the_classes(backend):
    z, y = _blobs()
    sweep = (0.05, 1.0, 30.0)
    step = lcc.correct(on(backend, z), on(backend, y), k=10, resolution=list(sweep))
    counts = [step.stats[f"n_clusters_at_{r:g}"] for r in sweep]
    assert counts[0] < counts[-1], counts  # the sweep spans the class count
    best = min(range(3), key=lambda i: (abs(counts[i] - 4), i))
    assert step.stats["resolution"] == sweep[best] and step.stats["n_clusters"] == counts[best]
    alone = lcc.correct(on(backend, z), on(backend, y), k=10, resolution=sweep[best])
    np.testing.assert_array_equal(host(step.clusters), host(alone.clusters))
    np.testing.assert_array_equal(host(step.correctible), host(alone.correctible))
    assert not step.stats["exploded"] and step.stats["n_classes"] == 4


def test_an_exploded_partition_warns_and_skip_corrects_nothing(backend):
    z, y = _pairs()
    with pytest.warns(ClusterExplosionWarning, match=r"150 clusters for 3 classes") as caught:
        warned = lcc.correct(on(backend, z), on(backend, y), k=1)
    assert len(caught) == 1 and "corrected as usual" in str(caught[0].message)
    assert warned.stats["exploded"] and not warned.stats["skipped"]
    assert warned.stats["n_clusters"] == 150 and host(warned.correctible).any()
    with pytest.warns(ClusterExplosionWarning, match="nothing corrected"):
        skipped = lcc.correct(on(backend, z), on(backend, y), k=1, on_explosion="skip")
    assert skipped.stats["skipped"] and not host(skipped.correctible).any()
    assert skipped.stats["correctible_fraction"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClusterExplosionWarning)
        unguarded = lcc.correct(on(backend, z), on(backend, y), k=1, max_cluster_ratio=None)
    assert not unguarded.stats["exploded"]
    np.testing.assert_array_equal(host(unguarded.correctible), host(warned.correctible))


def test_singletons_explode_at_a_huge_resolution():
    z, y = _blobs(300)
    with pytest.warns(ClusterExplosionWarning, match="alone in their cluster"):
        step = lcc.correct(z, y, k=5, resolution=1e4, max_cluster_ratio=None)
    assert step.stats["exploded"] and step.stats["singleton_fraction"] > 0.5


def test_healthy_blobs_do_not_explode():
    z, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClusterExplosionWarning)
        step = lcc.correct(z, y, k=10)
    assert not step.stats["exploded"] and step.stats["singleton_fraction"] == 0.0


def test_the_callback_warns_at_the_first_explosion_and_records_every_one():
    from lcc.training import LCCCallback, train

    z, y = _pairs()
    data = TensorDataset(torch.from_numpy(z), torch.from_numpy(y))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 3))
    callback = LCCCallback(model, ["0"], data, k=1, warmup=0, on_explosion="skip")
    with pytest.warns(ClusterExplosionWarning) as caught:
        history = train(model, data, epochs=3, seed=0, progress=False, callback=callback)
    callback.close()
    assert len([w for w in caught if w.category is ClusterExplosionWarning]) == 1
    assert [record["0/exploded"] for record in history] == [True] * 3
    assert all(record["0/skipped"] and record["lcc_loss"] == 0 for record in history)
