"""Correction targets on hand-built cases (LCC paper, sections III.D, V.C, VI.B)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import host, on

import lcc


def hand_built():
    """Two classes on a line. Sample 3 has label 0 but sits in cluster 1 (MC)."""
    z = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0], [13.0]], dtype=np.float32)
    y_true = np.array([0, 0, 0, 0, 1, 1, 1])
    y_clst = np.array([0, 0, 0, 1, 1, 1, 1])
    return z, y_true, y_clst


def test_exact_targets_are_centroids_of_nearest_cc_samples(backend):
    z, y_true, y_clst = hand_built()
    targets, ok = lcc.correction_targets(
        on(backend, z), on(backend, y_true), on(backend, y_clst), k=2
    )
    targets, ok = host(targets), host(ok)
    np.testing.assert_array_equal(ok, [False, False, False, True, False, False, False])
    assert targets[3, 0] == pytest.approx((2.0 + 1.0) / 2)  # its 2 nearest CC of label 0
    np.testing.assert_array_equal(targets[~ok], z[~ok])  # zero correction elsewhere


def test_exact_needs_k_cc_samples_of_the_label(backend):
    z, y_true, y_clst = (on(backend, a) for a in hand_built())
    _, ok = lcc.correction_targets(z, y_true, y_clst, k=4)  # label 0 has only 3 CC samples
    assert not host(ok).any()


def test_approximate_targets_are_nearest_matched_representatives(backend):
    z = np.array([[0.0], [1.0], [5.0], [6.0], [20.0], [21.0], [8.0]], dtype=np.float32)
    y_true = np.array([0, 0, 0, 0, 1, 1, 0])
    y_clst = np.array([0, 0, 1, 1, 2, 2, 2])  # clusters 0 and 1 → label 0; 2 → label 1
    targets, ok = lcc.correction_targets(
        on(backend, z), on(backend, y_true), on(backend, y_clst), mode="approximate", seed=3
    )
    targets, ok = host(targets), host(ok)
    np.testing.assert_array_equal(ok, [False] * 6 + [True])
    # the representative of cluster 1 (a sample at 5 or 6) is nearer to 8 than cluster 0's
    assert targets[6, 0] in (5.0, 6.0)


def test_approximate_without_a_matched_cluster_is_not_correctible(backend):
    z = np.array([[0.0], [1.0], [2.0], [3.0]], dtype=np.float32)
    y_true = np.array([0, 0, 1, 2])
    y_clst = np.array([0, 0, 0, 1])  # no cluster is matched to label 1
    args = (on(backend, a) for a in (z, y_true, y_clst))
    _, ok = lcc.correction_targets(*args, mode="approximate")
    np.testing.assert_array_equal(host(ok), [False, False, False, False])


def test_orthogonal_correction_removes_the_tangent_component(backend):
    """The MC sample's neighbourhood is a line along x; the correction is diagonal."""
    rng = np.random.default_rng(0)
    line = np.column_stack([np.linspace(-5, 5, 40), 1e-3 * rng.normal(size=40)])
    cc = np.column_stack([3 + rng.normal(size=40) * 0.1, 10 + rng.normal(size=40) * 0.1])
    z = np.vstack([line, cc, [[0.0, 0.0]]]).astype(np.float32)
    y_true = np.r_[np.zeros(40), np.ones(40), 1].astype(int)
    y_clst = np.r_[np.zeros(40), np.ones(40), 0].astype(int)  # last sample: MC
    z, y_true, y_clst = (on(backend, a) for a in (z, y_true, y_clst))
    exact, ok = map(host, lcc.correction_targets(z, y_true, y_clst, k=5))
    ortho, ok2 = map(
        host, lcc.correction_targets(z, y_true, y_clst, k=5, mode="orthogonal", k_prime=10)
    )
    z = host(z)
    np.testing.assert_array_equal(ok, ok2)
    assert ok[-1] and ok.sum() == 1
    v, v_perp = z[-1] - exact[-1], z[-1] - ortho[-1]
    assert abs(v_perp[0]) < 1e-2 * abs(v[0]) + 1e-3  # the x (tangent) part is gone
    assert v_perp[1] == pytest.approx(v[1], rel=1e-3)  # the normal part is kept


@pytest.mark.parametrize("mode", ["exact", "approximate", "orthogonal"])
def test_correction_on_blobs_matches_mc_mask(backend, mode):
    from sklearn.datasets import make_blobs

    z, y = make_blobs(n_samples=1000, n_features=8, centers=4, cluster_std=0.5, random_state=0)
    z = z.astype(np.float32)
    y_noisy = y.copy()
    y_noisy[:20] = (y[:20] + 1) % 4
    clusters = lcc.leiden(lcc.knn_graph(on(backend, z), 10))
    targets, ok = map(
        host, lcc.correction_targets(on(backend, z), on(backend, y_noisy), clusters, mode=mode)
    )
    assert ok.sum() == 20 and ok[:20].all()
    if mode == "orthogonal":  # isotropic blobs: the local tangent space is everything
        return
    # targets lie in the blob of the true (noisy) label
    centres = np.array([z[y == c].mean(0) for c in range(4)])
    nearest = np.argmin(((targets[:20, None] - centres[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, y_noisy[:20])


def test_correction_bad_input(backend):
    z, y_true, y_clst = (on(backend, a) for a in hand_built())
    with pytest.raises(ValueError, match="mode"):
        lcc.correction_targets(z, y_true, y_clst, mode="fast")
    with pytest.raises(ValueError, match="same length"):
        lcc.correction_targets(z, y_true[:3], y_clst)
    with pytest.raises(ValueError, match="tangent_variance"):
        lcc.correction_targets(z, y_true, y_clst, mode="orthogonal", tangent_variance=1.5)


# ------------------------------------------------------------------ lcc.correct
def _noisy_blobs():
    from sklearn.datasets import make_blobs

    z, y = make_blobs(n_samples=800, n_features=8, centers=4, cluster_std=1.0, random_state=2)
    y = y.copy()
    y[:30] = (y[:30] + 1) % 4  # 30 labels disagree with their blob: misclustered samples
    return z.astype(np.float32), y


@pytest.mark.parametrize("method", ["leiden", "louvain", "peer_pressure"])
def test_correct_is_the_chain_of_engine_steps_with_one_matching(backend, method, matching_calls):
    z, y = _noisy_blobs()
    step = lcc.correct(on(backend, z), on(backend, y), k=5, method=method, seed=1)
    assert len(matching_calls) == 1  # shared by the targets and the statistics
    graph = lcc.knn_graph(z, 5)
    clusters = getattr(lcc, method)(graph, seed=1)
    if backend == "cpu":  # the same library calls: identical results
        np.testing.assert_array_equal(step.clusters, clusters)
    clusters = host(step.clusters)
    targets, ok = lcc.correction_targets(z, y, clusters, k=5, seed=1)
    np.testing.assert_array_equal(host(step.correctible), ok)
    np.testing.assert_allclose(host(step.targets), targets, atol=1e-5)
    assert step.stats["n_clusters"] == clusters.max() + 1
    assert step.stats["mc_fraction"] == pytest.approx(host(step.matching.misclustered).mean())
    assert step.stats["correctible_fraction"] == pytest.approx(ok.mean())
    assert step.stats["modularity"] == pytest.approx(lcc.modularity(graph, clusters), rel=1e-6)


def test_correct_reports_the_models_cc_mc_accuracy():
    z, y = _noisy_blobs()
    predictions = y.copy()
    predictions[::7] = (predictions[::7] + 1) % 4
    step = lcc.correct(z, y, predictions=predictions)
    acc = lcc.metrics.cc_mc_accuracy(y, predictions, step.matching.misclustered)
    assert (step.stats["acc_all"], step.stats["acc_cc"]) == (acc.overall, acc.cc)
    assert "acc_all" not in lcc.correct(z, y).stats


def test_correct_bad_input():
    z, y = _noisy_blobs()
    with pytest.raises(ValueError, match="method"):
        lcc.correct(z, y, method="kmeans")
    with pytest.raises(ValueError, match="mode"):
        lcc.correct(z, y, mode="fast")


def test_correct_takes_the_step_parameters_of_the_one_table():
    """correct()'s defaults are STEP_PARAMETERS' and its rules check them before any work."""
    import inspect

    from lcc._validation import InvalidParameterError
    from lcc.correction import STEP_PARAMETERS, step_parameters

    signature = inspect.signature(lcc.correct).parameters
    assert {name: signature[name].default for name in STEP_PARAMETERS} == step_parameters()
    z, y = _noisy_blobs()
    for bad, message in [
        ({"k": 0}, "k must be at least 1, got 0"),
        ({"resolution": -1.0}, "resolution must be a positive finite number, got -1.0"),
        ({"exact_knn": "yes"}, "exact_knn must be a bool, got 'yes'"),
        ({"seed": -1}, "seed must be at least 0, got -1"),
    ]:
        with pytest.raises(InvalidParameterError) as raised:
            lcc.correct(z, y, **bad)
        assert str(raised.value) == message
    with pytest.raises(TypeError, match="not parameters of the LCC step"):
        step_parameters(n_neighbors=5)
