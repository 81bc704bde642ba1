"""k-Means, mini-batch k-Means and truncated SVD against scikit-learn / numpy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import host, on
from sklearn.cluster import MiniBatchKMeans

import lcc
from lcc.backends.xp_kmeans import minibatch_kmeans_xp


def test_kmeans_recovers_blobs(blobs, backend):
    z, y = blobs
    labels, centers = lcc.kmeans(on(backend, z), 10, seed=0, n_init=3)
    labels, centers = host(labels), host(centers)
    assert labels.shape == (2000,) and labels.dtype == np.int64 and centers.shape == (10, 16)
    assert lcc.metrics.ari(y, labels) == pytest.approx(1.0)
    np.testing.assert_allclose(centers[labels].mean(0), z.mean(0), atol=1e-3)


def test_minibatch_kmeans_recovers_blobs(blobs, backend):
    z, y = blobs
    labels, centers = lcc.minibatch_kmeans(on(backend, z), 10, seed=0, batch_size=256, n_init=3)
    assert lcc.metrics.ari(y, host(labels)) > 0.95
    assert host(centers).shape == (10, 16)


def inertia(z, centers):
    return ((z[:, None, :] - centers[None]) ** 2).sum(-1).min(1).sum()


@pytest.mark.parametrize("n_clusters", [10, 50])
def test_shared_minibatch_kmeans_matches_sklearn_quality(blobs, n_clusters):
    """The cupy implementation the GPU runs, run here on numpy, vs scikit-learn."""
    z, _ = blobs
    ours = [
        inertia(
            z,
            minibatch_kmeans_xp(
                z, n_clusters, seed=s, batch_size=256, max_iter=50, n_init=1, xp=np
            )[1],
        )
        for s in range(3)
    ]
    theirs = [
        inertia(
            z,
            MiniBatchKMeans(n_clusters, batch_size=256, random_state=s, n_init=1)
            .fit(z)
            .cluster_centers_,
        )
        for s in range(3)
    ]
    assert np.median(ours) <= 1.05 * np.median(theirs), (ours, theirs)


def test_shared_minibatch_kmeans_labels_are_nearest_centres(blobs):
    z, _ = blobs
    labels, centers = minibatch_kmeans_xp(z, 7, seed=0, batch_size=128, max_iter=5, n_init=2, xp=np)
    d = ((z[:, None, :] - centers[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, d.argmin(1))


def test_kmeans_bad_input(backend):
    z = on(backend, np.zeros((5, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="exceeds the number of samples"):
        lcc.kmeans(z, 6)
    with pytest.raises(ValueError, match="at least 1"):
        lcc.minibatch_kmeans(z, 0)
    with pytest.raises(ValueError, match="NaN"):
        lcc.kmeans(on(backend, np.full((5, 2), np.nan)), 2)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_truncated_svd_matches_full_svd(backend, kind):
    rng = np.random.default_rng(0)
    # a matrix with a clear spectrum gap after 6 singular values
    m = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 80)) + 0.01 * rng.normal(size=(300, 80))
    if kind == "sparse":
        m = sp.random(300, 80, density=0.2, random_state=1, format="csr") + sp.csr_matrix(m * 0)
        m = sp.csr_matrix(m.toarray() * 10 + np.outer(rng.random(300), rng.random(80)))
        m = sp.csr_matrix(np.where(rng.random((300, 80)) < 0.3, m.toarray(), 0))
    dense = m.toarray() if sp.issparse(m) else m
    u, s, vt = lcc.truncated_svd(on(backend, m), 6, seed=0)
    u, s, vt = host(u), host(s), host(vt)
    ref_s = np.linalg.svd(dense, compute_uv=False)[:6]
    np.testing.assert_allclose(s, ref_s, rtol=1e-3)
    assert np.all(np.diff(s) <= 0)
    np.testing.assert_allclose(u.T @ u, np.eye(6), atol=1e-6)
    np.testing.assert_allclose(u.T @ dense, s[:, None] * vt, rtol=1e-3, atol=1e-3)
    # deterministic signs: the largest |entry| of every left vector is positive
    assert np.all(u[np.abs(u).argmax(0), np.arange(6)] > 0)


def test_truncated_svd_bad_input(backend):
    with pytest.raises(ValueError, match="smaller than min"):
        lcc.truncated_svd(on(backend, np.ones((5, 3))), 3)
    with pytest.raises(ValueError, match="2-D"):
        lcc.truncated_svd(on(backend, np.ones(5)), 1)
    with pytest.raises(ValueError, match="NaN"):
        nan = sp.csr_matrix(np.array([[np.nan, 1.0], [1.0, 0.0]]))
        lcc.truncated_svd(on(backend, nan), 1)
    with pytest.raises(TypeError, match="matrix must be"):
        lcc.truncated_svd([[1.0, 2.0]], 1)
