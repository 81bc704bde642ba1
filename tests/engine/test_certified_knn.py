"""The certified-exact k-NN (lcc.backends.knn.cpu_certified) returns the float64
brute-force answer, ties to the smaller id, on data built to break a loose bound; and
a bound with its residual term removed does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import lcc
from lcc._dispatch import here
from lcc.backends.knn import _blocks, cpu_certified, torch_certified
from lcc.kernels.neighbors import drop_self

needs_vnni = pytest.mark.skipif(
    not cpu_certified.available(), reason="no fast int8 products (VNNI / AMX) on this CPU"
)


def brute_force(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 ``Σ (z_i − z_j)²`` (scipy's cdist), self excluded, stable sort: ties to the
    smaller id."""
    x = np.asarray(z, dtype=np.float64)
    d2 = cdist(x, x, "sqeuclidean")
    np.fill_diagonal(d2, np.inf)
    ids = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d2, ids, axis=1), ids


def certified(z: np.ndarray, k: int, **kwargs) -> tuple[np.ndarray, np.ndarray, str]:
    """The search without the row itself (squared distances, ids, how it ran)."""
    d2, ids, how = cpu_certified.certified_knn(np.ascontiguousarray(z), k, **kwargs)
    if how.startswith("certified"):
        assert (ids[:, 0] == np.arange(len(z))).all()  # column 0 is the row itself
        return d2[:, 1:], ids[:, 1:], how
    dist, ids = drop_self(here(d2), d2, ids, k, n_base=len(z))  # the float32 engine's output
    return dist.astype(np.float64) ** 2, ids, how


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of 128 rows: many diagonal and band tiles, and both directions of the scan."""
    monkeypatch.setattr(cpu_certified, "TILE", 128)


def adversarial(case: str, rng: np.random.Generator) -> np.ndarray:
    n = 1500
    if case == "normal":
        return rng.standard_normal((n, 64), dtype=np.float32)
    if case == "ties":  # a grid: most distances are shared by many pairs
        return rng.integers(0, 3, (n, 6)).astype(np.float32)
    if case == "duplicates":  # every row three times, some rows ten times
        base = rng.standard_normal((400, 16)).astype(np.float32)
        return np.concatenate([base, base, base, np.repeat(base[:30], 10, axis=0)])
    if case == "large_norms":  # far from the origin, small spread: centring must hold
        return 1e6 + rng.standard_normal((n, 24)) * 1e-3
    if case == "tiny_gaps":  # a ring of points whose neighbour distances differ by ~1e-12
        angle = np.sort(rng.uniform(0, 2 * np.pi, n))
        angle += rng.uniform(-1e-13, 1e-13, n)
        return np.stack([np.cos(angle), np.sin(angle), 1e-12 * rng.standard_normal(n)], 1)
    if case == "outlier":  # one row stretches every scale-dependent quantity
        z = rng.standard_normal((n, 32)).astype(np.float32)
        z[7] = 1e7
        return z
    if case == "clusters":
        centres = rng.standard_normal((10, 32)) * 2
        return (centres[rng.integers(0, 10, n)] + rng.standard_normal((n, 32))).astype(np.float32)
    raise AssertionError(case)


CASES = ["normal", "ties", "duplicates", "large_norms", "tiny_gaps", "outlier", "clusters"]


@needs_vnni
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("k", [1, 5, 17])
def test_equals_float64_brute_force(small_tiles, case, k):
    z = adversarial(case, np.random.default_rng(CASES.index(case)))
    d2, ids, how = certified(z, k)
    assert how.startswith("certified int8")
    ref_d2, ref_ids = brute_force(z, k)
    np.testing.assert_array_equal(ids, ref_ids, err_msg=how)
    np.testing.assert_allclose(d2, ref_d2, rtol=1e-12, atol=0)


@needs_vnni
@pytest.mark.parametrize("case", ["normal", "ties", "duplicates", "clusters"])
def test_in_k_means_cells_it_answers_in_sample_order(small_tiles, monkeypatch, case):
    """From REORDER_ROWS latents the rows are searched in k-Means cells, in their
    order, in its blocks, skipping the block pairs certified apart; the answer is
    still per sample, ties to the smaller sample id."""
    monkeypatch.setattr(cpu_certified, "REORDER_ROWS", 100)
    z = adversarial(case, np.random.default_rng(CASES.index(case)))
    order, blocks = _blocks.cell_blocks(z, cpu_certified.TILE)
    assert not (order == np.arange(len(z))).all()
    assert sorted(order) == list(range(len(z)))
    assert blocks[0].start == 0 and blocks[-1].stop == len(z)
    assert all(0 < b.stop - b.start <= cpu_certified.TILE for b in blocks)
    d2, ids, how = certified(z, 5)
    assert how.startswith("certified int8")
    ref_d2, ref_ids = brute_force(z, 5)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(d2, ref_d2, rtol=1e-12, atol=0)


def separated_clusters(rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    """Twelve clusters whose centres lie farther apart than their spread: most block
    pairs in k-Means cells are certified apart."""
    centres = rng.standard_normal((12, 16)) * 3
    return (centres[rng.integers(0, 12, n)] + rng.standard_normal((n, 16))).astype(np.float32)


@needs_vnni
@pytest.mark.parametrize("k", [1, 5])
def test_block_pairs_certified_apart_are_skipped_and_the_answer_is_exact(
    small_tiles, monkeypatch, k
):
    monkeypatch.setattr(cpu_certified, "REORDER_ROWS", 100)
    z = separated_clusters(np.random.default_rng(3))
    d2, ids, how = certified(z, k)
    skipped = int(how.split("% of block pairs certified apart")[0].rsplit(" ", 1)[1])
    assert skipped >= 50, how
    ref_d2, ref_ids = brute_force(z, k)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(d2, ref_d2, rtol=1e-12, atol=0)


@needs_vnni
def test_skipping_on_the_distance_of_the_block_means_is_not_exact(small_tiles, monkeypatch):
    """The counterpart: skip a tile when the distance of its blocks' means (eq. 3
    without the blocks' spread) exceeds every ``τ``, and true neighbours are lost
    (on a line, where eq. 3 itself certifies the far segments apart: see below)."""
    monkeypatch.setattr(cpu_certified, "REORDER_ROWS", 100)

    def by_means(self, i, j, tau):
        return self.gap[i, j] > max(tau[self.blocks[i]].max(), tau[self.blocks[j]].max())

    monkeypatch.setattr(_blocks.Separation, "apart", by_means)
    rng = np.random.default_rng(3)  # a thin line: a segment's end rows neighbour the next's
    z = np.stack([rng.uniform(0, 100, 3000), 0.01 * rng.standard_normal(3000)], 1)
    _, ids, _ = certified(z, 5)
    assert (ids != brute_force(z, 5)[1]).any(axis=1).sum() > 0
    monkeypatch.undo()
    monkeypatch.setattr(cpu_certified, "TILE", 128)
    monkeypatch.setattr(cpu_certified, "REORDER_ROWS", 100)
    _, ids, how = certified(z, 5)
    assert "certified apart" in how and " 0% of block pairs" not in how
    np.testing.assert_array_equal(ids, brute_force(z, 5)[1])


def test_the_row_test_pairs_each_row_with_its_own_bound():
    """Eq. 4 certifies a tile that eq. 3's block test cannot (the row with the largest
    ``τ`` is not the one nearest the other block), and refuses it once that row's
    ``τ`` reaches across."""
    along = np.array([0.0, 0.9, 1.0, 3.0, 3.1, 4.0])
    z = np.zeros((6, 3), dtype=np.float32)
    z[:, 0] = along
    apart = _blocks.Separation(z, [slice(0, 3), slice(3, 6)])
    assert apart.bound[0, 1] == pytest.approx(2.0)
    tau = np.array([0.5, 0.2, 0.2, 0.2, 0.2, 2.5])  # the block test: 2.0 < 2.5
    assert apart.apart(0, 1, tau)
    tau[5] = 3.5  # row 5 is 3.0 from row 2: within its bound
    assert not apart.apart(0, 1, tau)
    assert apart.apart(0, 1, np.full(6, 1.9))  # the block test alone


@needs_vnni
def test_tight_clusters_fall_back_to_float32_and_say_so(small_tiles):
    """Clusters far apart for their spread: int8 rounding, relative to the whole cloud,
    cannot separate a cluster's members, the buffers fill, and the float32 engine runs."""
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((10, 32)) * 30
    z = (centres[rng.integers(0, 10, 1500)] + rng.standard_normal((1500, 32))).astype(np.float32)
    d2, _, how = certified(z, 5)
    assert how.startswith("float32 (the certified pass gave up")
    # float32's answer: near-ties may swap (which is why the certified search exists)
    np.testing.assert_allclose(d2, brute_force(z, 5)[0], rtol=1e-3)


@needs_vnni
def test_overflowing_rows_go_to_brute_force(small_tiles, monkeypatch):
    """Ties fill a small buffer: those rows are searched by float64 brute force, and the
    result says how many."""
    monkeypatch.setattr(cpu_certified, "MAX_FALLBACK_FRACTION", 1.0)
    z = adversarial("ties", np.random.default_rng(1))
    _, ids, how = certified(z, 5, capacity=8)
    assert "rows by float64 brute force" in how
    np.testing.assert_array_equal(ids, brute_force(z, 5)[1])


@needs_vnni
def test_falls_back_to_float32_and_says_so(small_tiles, monkeypatch):
    monkeypatch.setattr(cpu_certified, "MAX_FALLBACK_FRACTION", 0.0)
    z = adversarial("ties", np.random.default_rng(1))
    d2, _, how = certified(z, 5, capacity=8)
    assert how.startswith("float32 (the certified pass gave up")
    ref_d2, _ = brute_force(z, 5)
    np.testing.assert_allclose(d2, ref_d2, atol=1e-4)  # float32's answer: same distances


@needs_vnni
def test_a_bound_without_the_residual_term_is_not_exact(small_tiles, monkeypatch):
    """The counterpart: drop ρ (eq. 1) from the bound and the candidate pass misses true
    neighbours on plain normal data, so the test above can fail."""
    quantize = cpu_certified._quantize
    monkeypatch.setattr(
        cpu_certified, "_quantize", lambda z: quantize(z)._replace(rho=np.zeros(len(z)))
    )
    z = adversarial("normal", np.random.default_rng(0))
    _, ids, _ = certified(z, 5)
    wrong = (ids != brute_force(z, 5)[1]).any(axis=1)
    assert wrong.sum() > 0


@needs_vnni
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int16", "int64"])
def test_knn_runs_it_on_every_input_dtype(monkeypatch, dtype):
    monkeypatch.setattr(cpu_certified, "MIN_ROWS", 100)
    rng = np.random.default_rng(3)
    z = (rng.standard_normal((1200, 20)) * (40 if dtype.startswith("int") else 1)).astype(dtype)
    result = lcc.knn(z, 6)
    assert result.search.startswith("certified int8")
    x = z.astype(np.float32) if dtype in ("float16", "int16", "int64") else z
    _, ref_ids = brute_force(x, 6)
    np.testing.assert_array_equal(result.indices, ref_ids)
    assert result.distances.dtype == np.float32


@needs_vnni
def test_knn_uses_it_from_min_rows_on_and_keeps_sample_order():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((cpu_certified.MIN_ROWS + 10, 16)).astype(np.float32)
    result = lcc.knn(z, 4)
    assert result.search.startswith("certified int8")
    perm = rng.permutation(len(z))
    shuffled = lcc.knn(z[perm], 4)
    np.testing.assert_array_equal(perm[shuffled.indices], result.indices[perm])
    assert lcc.knn(z[:500], 4).search == "exact"  # small: the float32 engine


# ------------------------------------------- the torch version (the GPU cupy tier's shape)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("k", [1, 5, 17])
def test_torch_version_equals_float64_brute_force(case, k):
    z = adversarial(case, np.random.default_rng(CASES.index(case)))
    d2, ids, how = torch_certified.certified_knn(torch.from_numpy(np.ascontiguousarray(z)), k)
    assert how.startswith("certified int8")
    assert (ids[:, 0] == torch.arange(len(z))).all()
    ref_d2, ref_ids = brute_force(z, k)
    np.testing.assert_array_equal(ids[:, 1:].numpy(), ref_ids, err_msg=how)
    np.testing.assert_allclose(d2[:, 1:].numpy(), ref_d2, rtol=1e-12, atol=0)


def test_torch_version_without_the_residual_term_is_not_exact(monkeypatch):
    quantize = torch_certified._quantize

    def no_rho(z):
        quant = quantize(z)
        quant["rho"] = torch.zeros_like(quant["rho"])
        quant["rho_light"] = torch.zeros_like(quant["rho_light"])
        return quant

    monkeypatch.setattr(torch_certified, "_quantize", no_rho)
    z = adversarial("normal", np.random.default_rng(0))
    _, ids, _ = torch_certified.certified_knn(torch.from_numpy(z), 5)
    assert (ids[:, 1:].numpy() != brute_force(z, 5)[1]).any(axis=1).sum() > 0
