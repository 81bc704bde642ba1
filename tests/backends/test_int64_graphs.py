"""Graphs past 2³¹ − 1 stored entries (issue 31, item 4): lcc never narrows their ids.

No test machine holds such a graph; the arrays here are zero-stride broadcasts, which
take no memory, and the emulated cuGraph records what it is given instead of building.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

BIG = 2**31 + 10  # stored entries: one past what int32 offsets can count


def _csr(fc, nnz: int, n: int = 3):
    """A cupyx-shaped CSR of ``n`` rows whose last row holds almost every entry."""
    indptr = np.array([0, 1, 2, nnz], dtype=np.int64)[: n + 1]
    indices = np.broadcast_to(np.int64(0), (nnz,))
    data = np.broadcast_to(np.float32(1.0), (nnz,))
    wrap = fc.ndarray._of
    return types.SimpleNamespace(
        shape=(n, n), nnz=nnz, indptr=wrap(indptr), indices=wrap(indices), data=wrap(data)
    )


@pytest.fixture
def adjlists(emulated_gpu, monkeypatch):
    """The dtypes and lengths cuGraph's ``from_cudf_adjlist`` receives."""
    from emulation import fake_rapids

    seen = []

    def record(self, offset_col, index_col, value_col=None, **options):
        seen.append((offset_col._a.dtype, index_col._a.dtype, len(index_col), options))

    monkeypatch.setattr(fake_rapids.Graph, "from_cudf_adjlist", record)
    return seen


def test_cugraph_gets_64_bit_offsets_and_ids_past_int32(emulated_gpu, adjlists):
    from emulation import fake_cupy

    from lcc.backends import gpu

    graph = gpu.community_graph(_csr(fake_cupy, BIG))
    ((offsets, ids, length, options),) = adjlists
    assert (offsets, ids) == (np.int64, np.int64) and length == BIG
    assert options == {"renumber": False, "symmetrize": False} and graph.n == 3


def test_cugraph_keeps_32_bit_ids_where_they_fit(emulated_gpu, adjlists):
    from emulation import fake_cupy

    from lcc.backends import gpu

    gpu.community_graph(_csr(fake_cupy, 1000))
    assert adjlists[0][:2] == (np.int32, np.int32)


def test_fits_int32_counts_entries_and_vertices():
    from lcc.backends.gpu import fits_int32

    assert fits_int32(2**31 - 1, 10) and not fits_int32(2**31, 10)
    assert not fits_int32(5, 2**31)


def test_landmark_row_pointers_do_not_wrap_past_int32():
    from lcc.kernels.landmarks import row_pointers

    indptr = row_pointers(np, 2**22, 2**10)  # 2³² stored entries
    assert indptr.dtype == np.int64 and int(indptr[-1]) == 2**32
    assert np.all(np.diff(indptr) == 2**10)


def test_dask_edge_blocks_number_rows_and_columns_past_int32(emulated_gpu):
    """The Dask backend's edge list (cugraph.dask): a row block that starts past 2³¹ − 1,
    linked to columns past it, keeps its 64-bit ids (a sparse block of 3 rows: no memory)."""
    import scipy.sparse as sp
    from helpers import host, on

    from lcc.backends.dask_gpu import _edges_block

    start, n = 2**31 + 5, 2**31 + 40
    cols = np.array([start + 1, 7, start + 30, start + 2], dtype=np.int64)
    block = sp.csr_matrix(
        (np.ones(4, np.float32), cols, np.array([0, 2, 3, 4])), shape=(3, n)
    )  # row 0 → start + 1 and 7; row 1 → start + 30; row 2 → start + 2 (= itself)
    edges = _edges_block(on("gpu", block), start)
    src, dst = host(edges["src"].to_cupy()), host(edges["dst"].to_cupy())
    assert src.dtype == dst.dtype == np.int64
    edges = sorted(zip(src.tolist(), dst.tolist(), strict=True))
    assert edges == [(start, start + 1), (start + 1, start + 30)]
