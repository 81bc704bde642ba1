"""Matching clusters to labels: argmax equals the paper's max-flow; MC = injected noise."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from helpers import host, on

import lcc


def max_flow_matching(y_true: np.ndarray, y_clst: np.ndarray) -> tuple[dict[int, int], int]:
    """The paper's construction (section III.C, eq. 4–5) solved by networkx.

    Returns the matching read off the optimal flow and its weight (eq. 3).
    """
    graph = nx.DiGraph()
    labels, clusters = np.unique(y_true), np.unique(y_clst)
    for t in labels:
        graph.add_edge("source", ("t", t), weight=0)  # no capacity: unbounded
        for c in clusters:
            overlap = int(np.sum((y_true == t) & (y_clst == c)))
            graph.add_edge(("t", t), ("c", c), capacity=1, weight=-overlap)  # min cost = max weight
    for c in clusters:
        graph.add_edge(("c", c), "sink", capacity=1, weight=0)
    flow = nx.max_flow_min_cost(graph, "source", "sink")
    matching = {int(c): int(t) for t in labels for c in clusters if flow[("t", t)][("c", c)] > 0}
    return matching, -nx.cost_of_flow(graph, flow)


def objective(y_true: np.ndarray, y_clst: np.ndarray, cluster_to_label) -> int:
    """Eq. (3): samples whose cluster is matched to their own label."""
    return int(np.sum(np.asarray([cluster_to_label[c] for c in y_clst]) == y_true))


@pytest.mark.parametrize("seed", range(25))
def test_argmax_matching_equals_max_flow(seed):
    rng = np.random.default_rng(seed)
    n_labels, n_clusters = rng.integers(2, 6), rng.integers(1, 12)
    n = int(rng.integers(20, 200))
    y_true = rng.integers(0, n_labels, size=n)
    y_true[:2] = [0, 1]
    y_clst = rng.integers(0, n_clusters, size=n)
    # label values need not be 0..L-1
    y_true = np.array([3, 7, 8, 11, 20])[y_true]
    matching = lcc.match_clusters(y_true, y_clst)
    flow_matching, flow_weight = max_flow_matching(y_true, y_clst)
    # every cluster gets exactly one label (the paper's Proposition) ...
    assert set(flow_matching) == set(np.unique(y_clst).tolist())
    # ... and the argmax attains the max-flow optimum of eq. (3)
    assert objective(y_true, y_clst, matching.cluster_to_label) == flow_weight
    assert objective(y_true, y_clst, flow_matching) == flow_weight
    expected_mc = np.asarray([matching.cluster_to_label[c] for c in y_clst]) != y_true
    np.testing.assert_array_equal(matching.misclustered, expected_mc)


def test_matching_on_backend_and_unused_cluster_ids(backend):
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_clst = np.array([4, 4, 4, 0, 0, 2])  # ids 1 and 3 unused
    c2l, mc = lcc.match_clusters(on(backend, y_true), on(backend, y_clst))
    np.testing.assert_array_equal(host(c2l), [1, -1, 2, -1, 0])
    np.testing.assert_array_equal(host(mc), [False, False, True, False, False, False])


def inject_label_noise(y: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly ``rate · n`` labels, each to a different class."""
    rng = np.random.default_rng(seed)
    flipped = rng.choice(y.size, size=round(rate * y.size), replace=False)
    noisy = y.copy()
    n_classes = y.max() + 1
    noisy[flipped] = (y[flipped] + rng.integers(1, n_classes, size=flipped.size)) % n_classes
    mask = np.zeros(y.size, dtype=bool)
    mask[flipped] = True
    return noisy, mask


def correction_step(z, y, k: int = 10):
    """The engine's correction pipeline: k-NN graph → Leiden → matching → MC mask."""
    return lcc.match_clusters(y, lcc.leiden(lcc.knn_graph(z, k))).misclustered


def test_mc_fraction_equals_injected_label_noise(backend):
    from sklearn.datasets import make_blobs

    z, y = make_blobs(n_samples=5000, n_features=32, centers=10, cluster_std=1.0, random_state=0)
    noisy, flipped = inject_label_noise(y, 0.05, seed=1)
    mc = host(correction_step(on(backend, z.astype(np.float32)), on(backend, noisy)))
    assert abs(mc.mean() - 0.05) <= 0.01
    assert (mc == flipped).mean() > 0.99  # the MC samples are the flipped ones


class IndexedBlobs:
    """A map-style dataset yielding ``(x, y, index)``."""

    def __init__(self, z: np.ndarray, y: np.ndarray):
        self.z, self.y = z, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.z[i], self.y[i], i


def test_mc_fraction_through_a_shuffled_dataloader():
    """Latents collected out of order land at their dataset index: MC = noise still."""
    import torch
    from sklearn.datasets import make_blobs
    from torch.utils.data import DataLoader

    z, y = make_blobs(n_samples=4000, n_features=16, centers=8, cluster_std=1.0, random_state=2)
    noisy, flipped = inject_label_noise(y, 0.05, seed=3)
    encoder = torch.nn.Linear(16, 8)  # a "model" whose latents we collect
    loader = DataLoader(
        IndexedBlobs(z.astype(np.float32), noisy),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    buffer = lcc.LatentBuffer(len(noisy), 8)
    labels = torch.full((len(noisy),), -1, dtype=torch.long)
    arrival = []
    with torch.no_grad():
        for x, target, index in loader:
            buffer.write(index, encoder(x))
            labels[index] = target
            arrival.append(index)
    assert not torch.equal(torch.cat(arrival), torch.arange(len(noisy)))  # really shuffled
    latents = buffer.to_backend()
    expected = encoder(torch.from_numpy(z.astype(np.float32))).detach().numpy()
    np.testing.assert_allclose(latents, expected, rtol=1e-5, atol=1e-5)
    mc = correction_step(latents, lcc.to_backend(labels))
    assert abs(mc.mean() - 0.05) <= 0.01
    assert (mc == flipped).mean() > 0.99


@pytest.mark.parametrize(
    ("y_true", "y_clst", "error", "match"),
    [
        (np.zeros(5, dtype=int), np.arange(5), ValueError, "single class"),
        (np.array([0, 1, 1]), np.array([0, 1]), ValueError, "same length"),
        (np.array([0, 1, -1]), np.array([0, 1, 1]), ValueError, "non-negative"),
        (np.array([0.5, 1, 1]), np.array([0, 1, 1]), ValueError, "integer"),
        (np.array([[0, 1]]), np.array([0, 1]), ValueError, "1-D"),
        (np.array([], dtype=int), np.array([], dtype=int), ValueError, "empty"),
        ([0, 1], np.array([0, 1]), TypeError, "numpy or cupy"),
    ],
)
def test_matching_bad_input(y_true, y_clst, error, match):
    with pytest.raises(error, match=match):
        lcc.match_clusters(y_true, y_clst)
