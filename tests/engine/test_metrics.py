"""Metrics against scikit-learn and direct computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import on
from sklearn import metrics as skm

import lcc
from lcc import metrics
from lcc.backends.xp_metrics import calinski_harabasz_xp, davies_bouldin_xp


@pytest.fixture
def labelled():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 6)).astype(np.float32)
    y_true = rng.integers(0, 4, size=400)
    y_pred = np.where(rng.random(400) < 0.7, y_true, rng.integers(0, 5, size=400))
    z += 3 * np.eye(6, dtype=np.float32)[y_pred]
    return z, y_true, y_pred


def brute_force_accuracy(y_true, y_pred):
    labels, clusters = np.unique(y_true), np.unique(y_pred)
    best = 0
    for perm in itertools.permutations(labels, min(len(labels), len(clusters))):
        mapping = dict(zip(clusters, perm, strict=False))
        best = max(
            best, np.mean([mapping.get(c, -1) == t for c, t in zip(y_pred, y_true, strict=True)])
        )
    return best


def test_clustering_accuracy_is_the_best_permutation(labelled, backend):
    _, y_true, y_pred = labelled
    acc = lcc.metrics.clustering_accuracy(on(backend, y_true), on(backend, y_pred))
    assert acc == pytest.approx(brute_force_accuracy(y_true, y_pred))
    assert lcc.metrics.clustering_accuracy(y_true, (y_true + 1) % 4) == 1.0


def test_label_metrics_match_sklearn(labelled, backend):
    _, y_true, y_pred = labelled
    t, p = on(backend, y_true), on(backend, y_pred)
    assert lcc.metrics.nmi(t, p) == pytest.approx(skm.normalized_mutual_info_score(y_true, y_pred))
    assert lcc.metrics.ari(t, p) == pytest.approx(skm.adjusted_rand_score(y_true, y_pred))


def test_geometry_metrics_match_sklearn(labelled, backend):
    z, _, y_pred = labelled
    zz, p = on(backend, z), on(backend, y_pred)
    assert lcc.metrics.silhouette(zz, p) == pytest.approx(skm.silhouette_score(z, y_pred), rel=1e-4)
    assert lcc.metrics.calinski_harabasz(zz, p) == pytest.approx(
        skm.calinski_harabasz_score(z, y_pred), rel=1e-5
    )
    assert lcc.metrics.davies_bouldin(zz, p) == pytest.approx(
        skm.davies_bouldin_score(z, y_pred), rel=1e-5
    )


def test_shared_ch_and_db_glue_matches_sklearn(labelled):
    """The implementations the GPU runs (cuML has neither), run on numpy."""
    z, _, y_pred = labelled
    labels = y_pred * 3 + 2  # non-contiguous cluster ids
    assert calinski_harabasz_xp(z, labels) == pytest.approx(
        skm.calinski_harabasz_score(z, labels), rel=1e-6
    )
    assert davies_bouldin_xp(z, labels) == pytest.approx(
        skm.davies_bouldin_score(z, labels), rel=1e-6
    )


def test_silhouette_subsamples_large_inputs(labelled):
    z, _, y_pred = labelled
    sub = lcc.metrics.silhouette(z, y_pred, sample_size=200, seed=0)
    assert sub == pytest.approx(skm.silhouette_score(z, y_pred), abs=0.05)


def test_cc_mc_accuracy_eq9(backend):
    y_true = on(backend, np.array([0, 0, 1, 1, 2, 2]))
    y_model = on(backend, np.array([0, 1, 1, 1, 0, 2]))
    mc = on(backend, np.array([False, True, False, False, True, False]))
    res = lcc.metrics.cc_mc_accuracy(y_true, y_model, mc)
    assert res.overall == pytest.approx(4 / 6)
    assert res.cc == 1.0 and res.mc == 0.0 and res.mc_fraction == pytest.approx(2 / 6)
    assert np.isnan(lcc.metrics.cc_mc_accuracy(y_true, y_model, on(backend, np.zeros(6, bool))).mc)
    with pytest.raises(ValueError, match="boolean mask"):
        lcc.metrics.cc_mc_accuracy(y_true, y_model, mc[:3])


def test_metrics_bad_input(labelled, backend):
    z, y_true, y_pred = (on(backend, a) for a in labelled)
    with pytest.raises(ValueError, match="same length"):
        lcc.metrics.nmi(y_true, y_pred[:10])
    with pytest.raises(ValueError, match="1 distinct cluster"):
        lcc.metrics.silhouette(z, on(backend, np.zeros(400, dtype=int)))
    with pytest.raises(ValueError, match="NaN"):
        lcc.metrics.davies_bouldin(on(backend, np.full(z.shape, np.nan, np.float32)), y_pred)
    with pytest.raises(ValueError, match="400 samples"):
        lcc.metrics.calinski_harabasz(z, y_pred[:5])


def test_clustering_report_matches_the_single_metrics(backend):
    from sklearn.datasets import make_blobs

    z, y = make_blobs(200, 4, centers=3, random_state=1)
    pred = (y + (np.arange(200) % 17 == 0)) % 3  # a few wrong
    z, y, pred = on(backend, z.astype(np.float32)), on(backend, y), on(backend, pred)
    report = metrics.clustering_report(z, pred, y)
    assert report["acc"] == metrics.clustering_accuracy(y, pred)
    assert report["nmi"] == metrics.nmi(y, pred)
    assert report["davies_bouldin"] == metrics.davies_bouldin(z, pred)
    assert report["silhouette"] == metrics.silhouette(z, pred)
    one = metrics.clustering_report(z, on(backend, np.zeros(200, dtype=int)))
    assert set(one) == {"silhouette", "calinski_harabasz", "davies_bouldin"}
    assert all(np.isnan(v) for v in one.values())


def test_sample_std_and_the_paired_difference_match_scipy():
    from scipy import stats

    a = [71.2, 74.9, 70.3, 77.8, 73.0]
    b = [69.0, 74.1, 70.5, 75.2, 71.4]
    assert lcc.metrics.sample_std(a) == pytest.approx(np.std(a, ddof=1))
    assert np.isnan(lcc.metrics.sample_std([1.0]))
    got = lcc.metrics.paired_difference(a, b)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (got.mean, got.low, got.high, got.n) == pytest.approx((1.4, ci.low, ci.high, 5))
    with pytest.raises(ValueError, match="≥ 2 values"):
        lcc.metrics.paired_difference([1.0], [2.0])
