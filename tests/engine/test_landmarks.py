"""Landmark affinities and the SSC consensus against brute-force numpy / scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import host, on
from scipy.spatial.distance import cdist
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

import lcc
from lcc.consensus import draw_metrics
from lcc.landmarks import METRICS

# (metric, minkowski_p) → scipy.spatial.distance.cdist arguments
CASES = [("euclidean", 1.0), ("cosine", 1.0), ("minkowski", 1.0), ("minkowski", 3.0)]
CASE_IDS = ["euclidean", "cosine", "minkowski1", "minkowski3"]


@pytest.fixture(autouse=True)
def one_thread():
    """Single-threaded BLAS / OpenMP: on the shared 2-core test machines, two threads
    contending with other jobs made these small k-Means and eigh calls 5-10x slower."""
    with threadpool_limits(1):
        yield


def reference_distances(z: np.ndarray, landmarks: np.ndarray, metric: str, p: float):
    z, landmarks = z.astype(np.float64), landmarks.astype(np.float64)
    if metric == "minkowski":
        return cdist(z, landmarks, "minkowski", p=p)
    return cdist(z, landmarks, metric)


def reference_affinity(z, landmarks, r, metric, p, bandwidth):
    """Section II.B written out densely: r nearest landmarks, Gaussian kernel, row-normalised."""
    d = reference_distances(z, landmarks, metric, p)
    idx = np.argsort(d, axis=1, kind="stable")[:, :r]
    near = np.take_along_axis(d, idx, axis=1)
    if bandwidth == "scott":  # σ = mean(point–landmark distances) · n^(−1/(d+4))
        bandwidth = near.mean() * z.shape[0] ** (-1 / (z.shape[1] + 4))
    k = np.exp(-(near**2) / (2 * bandwidth**2))
    dense = np.zeros_like(d)
    np.put_along_axis(dense, idx, k / k.sum(axis=1, keepdims=True), axis=1)
    return dense, idx


def small_problem(seed: int = 0, n: int = 300, d: int = 8, p: int = 20):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d)).astype(np.float32)
    landmarks = rng.normal(size=(p, d)).astype(np.float32)
    return z, landmarks


def blob_members(n: int = 1500, k: int = 5, dims=(16, 24, 32), seed: int = 0):
    """``len(dims)`` views of the same well-separated blobs: random linear maps plus noise."""
    x, y = make_blobs(n_samples=n, n_features=8, centers=k, cluster_std=1.0, random_state=seed)
    rng = np.random.default_rng(seed)
    members = [
        (x @ rng.normal(size=(8, dim)) + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)
        for dim in dims
    ]
    return members, y


# ----------------------------------------------------------------- landmark_affinity
@pytest.mark.parametrize(("metric", "p"), CASES, ids=CASE_IDS)
def test_rows_have_r_nonzeros_and_sum_to_one(backend, metric, p):
    z, _ = small_problem()
    a = lcc.landmark_affinity(on(backend, z), 25, 4, metric=metric, minkowski_p=p)
    assert type(a).__module__.startswith("cupyx" if backend == "gpu" else "scipy")
    a = host(a)
    assert sp.isspmatrix_csr(a) and a.shape == (300, 25)
    np.testing.assert_array_equal(np.diff(a.indptr), 4)
    assert np.all(a.data > 0) and a.nnz == 300 * 4
    np.testing.assert_allclose(np.asarray(a.sum(axis=1)).ravel(), 1.0, rtol=1e-12)
    assert a.has_sorted_indices or np.all(np.diff(a.indices.reshape(300, 4), axis=1) > 0)


@pytest.mark.parametrize(("metric", "p"), CASES, ids=CASE_IDS)
def test_nearest_landmarks_and_weights_match_numpy(backend, metric, p):
    z, landmarks = small_problem(seed=1)
    for bandwidth in ("scott", 0.7):
        a = lcc.landmark_affinity(
            on(backend, z),
            None,
            3,
            metric=metric,
            minkowski_p=p,
            landmarks=on(backend, landmarks),
            bandwidth=bandwidth,
        )
        a = host(a)
        ref, idx = reference_affinity(z, landmarks, 3, metric, p, bandwidth)
        ours = a.indices.reshape(300, 3)
        np.testing.assert_array_equal(ours, np.sort(idx, axis=1))  # the right landmarks
        np.testing.assert_allclose(a.toarray(), ref, rtol=2e-4, atol=1e-9)  # the right weights


def test_minkowski_two_is_euclidean():
    z, landmarks = small_problem(seed=2)
    kw = {"landmarks": landmarks, "bandwidth": 1.3}
    euclid = lcc.landmark_affinity(z, None, 3, **kw)
    mink = lcc.landmark_affinity(z, None, 3, metric="minkowski", minkowski_p=2, **kw)
    np.testing.assert_array_equal(euclid.indices, mink.indices)
    np.testing.assert_allclose(euclid.data, mink.data)


def test_no_nan_when_all_distances_are_huge(backend):
    """exp(−d²/2σ²) underflows for every landmark: the row-minimum shift keeps rows valid."""
    z, landmarks = small_problem(seed=3)
    a = lcc.landmark_affinity(
        on(backend, z), None, 3, landmarks=on(backend, landmarks + 1e3), bandwidth=1e-3
    )
    a = host(a)
    assert np.all(np.isfinite(a.data)) and np.all(a.data > 0)
    np.testing.assert_array_equal(np.diff(a.indptr), 3)
    np.testing.assert_allclose(np.asarray(a.sum(axis=1)).ravel(), 1.0)
    assert np.all(a.max(axis=1).toarray() == 1.0)  # σ → 0: all weight on the nearest


def test_landmarks_come_from_minibatch_kmeans():
    z, _ = small_problem(seed=4)
    a = lcc.landmark_affinity(z, 12, 2, seed=5)
    centers = lcc.minibatch_kmeans(z, 12, seed=5).centers
    b = lcc.landmark_affinity(z, None, 2, landmarks=centers)
    assert (a != b).nnz == 0


def test_permuting_rows_permutes_the_affinity(backend):
    z, landmarks = small_problem(seed=5)
    perm = np.random.default_rng(0).permutation(300)
    a = host(lcc.landmark_affinity(on(backend, z), None, 3, landmarks=on(backend, landmarks)))
    b = host(lcc.landmark_affinity(on(backend, z[perm]), None, 3, landmarks=on(backend, landmarks)))
    np.testing.assert_allclose(b.toarray(), a.toarray()[perm], rtol=1e-6)


# --------------------------------------------------------------------- ssc_consensus
@pytest.mark.parametrize(
    ("normalize_columns", "svd_solver"), [(True, "gram"), (True, "arpack"), (False, "auto")]
)
def test_consensus_matrix_and_svd_match_dense_numpy(backend, normalize_columns, svd_solver):
    rng = np.random.default_rng(0)  # no clusters: distinct singular values, unique vectors
    members = [rng.normal(size=(240, 6)), rng.normal(size=(240, 10)).astype(np.float32)]
    res = lcc.ssc_consensus(
        [on(backend, m) for m in members],
        4,
        15,
        3,
        metrics=["cosine", "minkowski"],
        normalize_columns=normalize_columns,
        svd_solver=svd_solver,
        return_details=True,
    )
    assert res.metrics == ("cosine", "minkowski")
    affinity, (u_got, s_got, vt_got) = host(res.affinity), map(host, res.svd)
    assert affinity.shape == (240, 30) and affinity.nnz == 240 * 6
    # Z̄ = (1/√m)[Ẑ_1 D_1^(−1/2) | Ẑ_2 D_2^(−1/2)], each block rebuilt on its own
    blocks = []
    for z, landmarks, metric, sigma in zip(
        members, res.landmarks, res.metrics, res.bandwidths, strict=True
    ):
        block = lcc.landmark_affinity(
            z, None, 3, metric=metric, landmarks=host(landmarks), bandwidth=sigma
        ).toarray()
        if normalize_columns:
            totals = block.sum(axis=0)
            block = block / np.sqrt(np.where(totals > 0, totals, 1.0))
        blocks.append(block)
    dense = np.hstack(blocks) / np.sqrt(2)
    np.testing.assert_allclose(affinity.toarray(), dense, rtol=1e-5, atol=1e-12)
    # its k leading singular triplets, against numpy's dense SVD (up to sign)
    u, s, _ = np.linalg.svd(dense, full_matrices=False)
    np.testing.assert_allclose(s_got, s[:4], rtol=1e-5)
    np.testing.assert_allclose(np.abs(np.sum(u_got * u[:, :4], axis=0)), 1.0, atol=1e-5)
    assert u_got.shape == (240, 4) and vt_got.shape == (4, 30)
    np.testing.assert_allclose(u_got.T @ u_got, np.eye(4), atol=1e-6)
    if normalize_columns:  # Z̄Z̄ᵀ is row-stochastic, so its top singular value is 1
        np.testing.assert_allclose(affinity @ (affinity.T @ np.ones(240)), 1.0)
        assert s_got[0] == pytest.approx(1.0)


def test_ssc_recovers_blobs(backend):
    members, y = blob_members()
    res = lcc.ssc_consensus([on(backend, z) for z in members], 5, 40, 3, return_details=True)
    assert type(res.labels) is type(on(backend, members[0]))
    labels = host(res.labels)
    # separated clusters: the top singular value 1 repeats k times, and all k are found
    np.testing.assert_allclose(host(res.svd.S), 1.0, atol=1e-8)
    assert labels.shape == (1500,) and labels.dtype == np.int64
    assert adjusted_rand_score(y, labels) > 0.9


def test_ssc_rm_draws_a_different_metric_per_member_reproducibly(backend):
    members, y = blob_members(n=900, dims=(12, 16, 20))
    members = [on(backend, z) for z in members]
    first = lcc.ssc_consensus(members, 5, 30, 3, metrics="random", seed=7, return_details=True)
    again = lcc.ssc_consensus(members, 5, 30, 3, metrics="random", seed=7, return_details=True)
    assert sorted(first.metrics) == sorted(METRICS)  # three members, three different metrics
    assert first.metrics == again.metrics
    np.testing.assert_array_equal(host(first.labels), host(again.labels))
    assert adjusted_rand_score(y, host(first.labels)) > 0.9
    draws = {draw_metrics(3, seed) for seed in range(20)}
    assert len(draws) > 1, "the draw does not depend on the seed"
    assert all(len(set(d)) == 3 for d in draws)


def test_metric_draw_uses_every_metric_equally_in_blocks():
    drawn = draw_metrics(8, seed=3)
    assert len(drawn) == 8
    for block in (drawn[:3], drawn[3:6]):
        assert sorted(block) == sorted(METRICS)
    assert len(set(drawn[6:])) == 2


def test_permuting_the_samples_permutes_the_partition(backend):
    members, y = blob_members(n=900, dims=(12, 16, 20), seed=1)
    perm = np.random.default_rng(1).permutation(900)
    labels = host(lcc.ssc_consensus([on(backend, z) for z in members], 5, 30, 3))
    shuffled = host(lcc.ssc_consensus([on(backend, z[perm]) for z in members], 5, 30, 3))
    assert adjusted_rand_score(labels[perm], shuffled) == pytest.approx(1.0)
    assert adjusted_rand_score(y, labels) > 0.9


# ------------------------------------------------------------------------ bad input
def test_landmark_affinity_bad_input():
    z, landmarks = small_problem()
    with pytest.raises(ValueError, match="2-D"):
        lcc.landmark_affinity(z[:, 0], 10, 3)
    bad = z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lcc.landmark_affinity(bad, 10, 3)
    with pytest.raises(ValueError, match="r=11"):
        lcc.landmark_affinity(z, 10, 11)
    with pytest.raises(ValueError, match="exceeds the number of samples"):
        lcc.landmark_affinity(z[:20], 30, 3)
    with pytest.raises(ValueError, match="metric='manhattan' is not supported"):
        lcc.landmark_affinity(z, 10, 3, metric="manhattan")
    for bandwidth, error in [(0.0, ValueError), (-1.0, ValueError), ("silverman", TypeError)]:
        with pytest.raises(error, match="bandwidth"):
            lcc.landmark_affinity(z, 10, 3, bandwidth=bandwidth)
    with pytest.raises(TypeError, match="bandwidth"):
        lcc.landmark_affinity(z, 10, 3, bandwidth=True)
    with pytest.raises(ValueError, match="minkowski_p"):
        lcc.landmark_affinity(z, 10, 3, metric="minkowski", minkowski_p=0.5)
    with pytest.raises(TypeError, match="r must be an integer"):
        lcc.landmark_affinity(z, 10, 2.5)
    with pytest.raises(ValueError, match="features"):
        lcc.landmark_affinity(z, None, 3, landmarks=landmarks[:, :5])
    with pytest.raises(ValueError, match="n_landmarks=7 but 20 landmarks"):
        lcc.landmark_affinity(z, 7, 3, landmarks=landmarks)
    with pytest.raises(ValueError, match="n_landmarks is required"):
        lcc.landmark_affinity(z, None, 3)
    with pytest.raises(TypeError, match="numpy or cupy"):
        lcc.landmark_affinity(z.tolist(), 10, 3)
    zero = z.copy()
    zero[0] = 0
    with pytest.raises(ValueError, match="all-zero"):
        lcc.landmark_affinity(zero, None, 3, metric="cosine", landmarks=landmarks)


def test_ssc_consensus_bad_input():
    members, _ = blob_members(n=300, dims=(4, 6))
    with pytest.raises(ValueError, match="embeddings\\[1\\] has 299 rows"):
        lcc.ssc_consensus([members[0], members[1][:-1]], 3, 10, 3)
    with pytest.raises(TypeError, match="list of"):
        lcc.ssc_consensus(members[0], 3, 10, 3)
    with pytest.raises(ValueError, match="empty"):
        lcc.ssc_consensus([], 3, 10, 3)
    with pytest.raises(ValueError, match="2 metrics given for 3"):
        lcc.ssc_consensus([*members, members[0]], 3, 10, 3, metrics=["cosine", "cosine"])
    with pytest.raises(ValueError, match="metrics\\[1\\]"):
        lcc.ssc_consensus(members, 3, 10, 3, metrics=["cosine", "chebyshev"])
    with pytest.raises(ValueError, match="n_clusters=20"):
        lcc.ssc_consensus(members, 20, 10, 3)
    with pytest.raises(ValueError, match="r=11"):
        lcc.ssc_consensus(members, 3, 10, 11)
    with pytest.raises(ValueError, match="NaN"):
        lcc.ssc_consensus([members[0], np.full_like(members[1], np.nan)], 3, 10, 3)
    with pytest.raises(ValueError, match="2-D"):
        lcc.ssc_consensus([members[0][:, 0]], 3, 10, 3)
    with pytest.raises(ValueError, match="svd_solver='lanczos'"):
        lcc.ssc_consensus(members, 3, 10, 3, svd_solver="lanczos")


# ---------------------------------------------------------- GPU glue, checked statically
def test_landmark_glue_calls_exist_in_cupy():
    """The contract test's check, applied to this module's glue (xp / sparse = cupy)."""
    contract = pytest.importorskip("test_gpu_contract")
    calls = [
        (m, *c)
        for m in ("landmarks.py", "kernels/landmarks.py", "consensus.py")
        for c in contract.collect(m, glue=True)
    ]
    assert {"xp.bincount", "xp.take_along_axis", "sparse.csr_matrix"} <= {c[1] for c in calls}
    for module, text, func, keywords, line in calls:
        contract._check_call(f"lcc/{module}:{line}", text, func, keywords)
    gpu_calls = {text for text, *_ in contract.GPU_CALLS}
    assert {"NearestNeighbors", "model.kneighbors", "model.fit"} <= gpu_calls


def test_ensemble_size_labels_equal_the_consensus_of_each_prefix():
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score

    from lcc.consensus import ensemble_size_labels

    x, _ = make_blobs(400, 6, centers=4, cluster_std=3.0, random_state=0)
    rng = np.random.default_rng(0)
    members = [(x @ rng.normal(size=(6, 5))).astype(np.float32) for _ in range(3)]
    full = lcc.ssc_consensus(members, 4, 40, 3, metrics="random", seed=1, return_details=True)
    prefixes = ensemble_size_labels(full, 4, seed=1)
    assert len(prefixes) == 3
    np.testing.assert_array_equal(prefixes[-1], full.labels)
    for i in (1, 2):
        alone = lcc.ssc_consensus(members[:i], 4, 40, 3, metrics="random", seed=1)
        assert adjusted_rand_score(alone, prefixes[i - 1]) == pytest.approx(1.0)


def test_consensus_labels_count_up_in_order_of_appearance(backend):
    """One partition, one labelling: SSC's clusters are numbered by their first sample
    (the GPU's singular vectors rotate between calls, which renumbered k-Means' clusters)."""
    members, y = blob_members(n=600, dims=(12, 16))
    labels = host(lcc.ssc_consensus([on(backend, z) for z in members], 5, 30, 3, seed=1))
    values, first = np.unique(labels, return_index=True)
    assert list(values) == [0, 1, 2, 3, 4] and np.all(np.diff(first) > 0)
    assert adjusted_rand_score(y, labels) > 0.9
