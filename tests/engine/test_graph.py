"""Communities, modularity and conductance against igraph / networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from helpers import host, on
from sklearn.metrics import homogeneity_score

import lcc


def karate() -> sp.csr_matrix:
    return sp.csr_matrix(nx.to_scipy_sparse_array(nx.karate_club_graph(), weight=None))


def random_graph(n: int = 60, p: float = 0.1, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    upper = sp.triu(sp.random(n, n, density=p, random_state=rng, format="csr"), k=1)
    return (upper + upper.T).tocsr()


@pytest.mark.parametrize("algorithm", [lcc.leiden, lcc.louvain])
def test_karate_club_modularity(backend, algorithm):
    labels = algorithm(on(backend, karate()), seed=0)
    labels = host(labels)
    assert labels.shape == (34,) and labels.dtype == np.int64
    np.testing.assert_array_equal(np.unique(labels), np.arange(labels.max() + 1))
    q = lcc.modularity(karate(), labels)
    assert q >= 0.41, q  # best known ≈ 0.4198
    parts = [set(np.flatnonzero(labels == c)) for c in range(labels.max() + 1)]
    assert q == pytest.approx(nx.community.modularity(nx.karate_club_graph(), parts, weight=None))


def test_leiden_is_reproducible_and_resolution_matters():
    adj = karate()
    np.testing.assert_array_equal(lcc.leiden(adj, seed=3), lcc.leiden(adj, seed=3))
    few = lcc.leiden(adj, resolution=0.2).max() + 1
    many = lcc.leiden(adj, resolution=3.0).max() + 1
    assert few < many


def test_leiden_recovers_blobs(blobs, backend):
    z, y = blobs
    adj = lcc.knn_graph(on(backend, z), 10)
    labels = host(lcc.leiden(adj))
    assert lcc.metrics.ari(y, labels) > 0.99


@pytest.mark.parametrize("resolution", [0.5, 1.0, 2.0])
def test_modularity_matches_igraph_and_networkx(resolution):
    import igraph as ig

    adj = random_graph()
    labels = np.random.default_rng(1).integers(0, 4, size=60)
    upper = sp.triu(adj, k=1, format="coo")
    g = ig.Graph(n=60, edges=np.column_stack([upper.row, upper.col]).tolist())
    expected = g.modularity(labels.tolist(), weights=upper.data.tolist(), resolution=resolution)
    assert lcc.modularity(adj, labels, resolution=resolution) == pytest.approx(expected)
    graph = nx.from_scipy_sparse_array(adj)
    parts = [set(np.flatnonzero(labels == c)) for c in range(4)]
    nx_q = nx.community.modularity(graph, parts, resolution=resolution)
    assert lcc.modularity(adj, labels, resolution=resolution) == pytest.approx(nx_q)


def direct_conductance(adj: np.ndarray, labels: np.ndarray) -> float:
    """Eq. (10)–(11) by loops over communities on a dense matrix."""
    total = adj.sum()
    acc = 0.0
    for c in np.unique(labels):
        inside = labels == c
        vol = adj[inside].sum()
        cut = adj[np.ix_(inside, ~inside)].sum()
        denom = min(vol, total - vol)
        phi = cut / denom if denom > 0 else 1.0
        acc += vol * phi
    return acc / total


def test_conductance_matches_direct_computation_and_networkx(backend):
    adj = random_graph(seed=4)
    labels = np.random.default_rng(2).integers(0, 5, size=60)
    value = lcc.conductance(on(backend, adj), on(backend, labels))
    assert value == pytest.approx(direct_conductance(adj.toarray(), labels))
    graph = nx.from_scipy_sparse_array(adj)
    total = adj.sum()
    nx_value = (
        sum(
            nx.volume(graph, s, weight="weight") * nx.conductance(graph, s, weight="weight")
            for s in (set(np.flatnonzero(labels == c)) for c in range(5))
        )
        / total
    )
    assert value == pytest.approx(nx_value)


def test_conductance_extremes():
    adj = sp.block_diag([np.ones((3, 3)) - np.eye(3)] * 2, format="csr")
    assert lcc.conductance(adj, np.array([0, 0, 0, 1, 1, 1])) == 0.0  # perfect split
    assert lcc.conductance(adj, np.zeros(6, dtype=int)) == 1.0  # eq. (10) convention


def test_peer_pressure_recovers_blobs_and_lowers_conductance(blobs, backend):
    z, y = blobs
    adj = lcc.knn_graph(on(backend, z), 10)
    labels = host(lcc.peer_pressure(adj, seed=0))
    assert labels.dtype == np.int64
    # synchronous majority moves may split a blob, but never merge two
    assert homogeneity_score(y, labels) > 0.999
    assert labels.max() + 1 < 30
    assert not lcc.match_clusters(y, labels).misclustered.any()
    first_round = lcc.peer_pressure(adj, max_iter=1)
    assert lcc.conductance(adj, on(backend, labels)) < 0.5 * lcc.conductance(adj, first_round)


def _karate_factions() -> np.ndarray:
    graph = nx.karate_club_graph()
    return np.array([graph.nodes[i]["club"] == "Officer" for i in graph], dtype=np.int64)


def _check_peer_pressure_finds_communities(peer_pressure) -> None:
    """Against independent references on Zachary's karate club: the two factions it split
    into have modularity 0.358 and conductance 0.147; a random 4-way split −0.06 and 0.77."""
    adj = karate()
    labels = peer_pressure(adj)
    assert lcc.modularity(adj, labels) > 0.3
    assert lcc.conductance(adj, labels) < 0.3
    assert homogeneity_score(_karate_factions(), labels) > 0.6  # clusters within factions
    one = peer_pressure(adj, max_iter=1)  # the best partition is kept: more rounds never worse
    assert lcc.conductance(adj, labels) <= lcc.conductance(adj, one)


def test_peer_pressure_finds_the_karate_communities():
    _check_peer_pressure_finds_communities(lcc.peer_pressure)


def test_the_peer_pressure_check_fails_on_a_broken_clustering():
    def one_round_only(adj, max_iter=None, **kwargs):  # stops after the first round
        return lcc.peer_pressure(adj, max_iter=1, **kwargs)

    with pytest.raises(AssertionError):
        _check_peer_pressure_finds_communities(one_round_only)


def test_peer_pressure_breaks_ties_at_random_reproducibly():
    """Two 6-cliques joined by one edge: the first round is all ties."""
    clique = np.ones((6, 6)) - np.eye(6)
    adj = sp.block_diag([clique, clique], format="lil")
    adj[5, 6] = adj[6, 5] = 1
    adj = adj.tocsr()
    truth = np.repeat([0, 1], 6)
    runs = [lcc.peer_pressure(adj, seed=s) for s in range(10)]
    for labels in runs:  # never merges the cliques; usually finds exactly them
        assert homogeneity_score(truth, labels) == pytest.approx(1.0)
    assert sum(lcc.metrics.ari(truth, labels) == 1.0 for labels in runs) >= 6
    assert len({tuple(labels) for labels in runs}) > 1  # ties really are random
    np.testing.assert_array_equal(lcc.peer_pressure(adj, seed=3), runs[3])


def test_peer_pressure_fully_synchronous_is_the_papers_rule(blobs):
    z, y = blobs
    adj = lcc.knn_graph(z, 10)
    paper = lcc.peer_pressure(adj, update_fraction=1.0, patience=1)
    assert homogeneity_score(y, paper) > 0.999
    assert lcc.conductance(adj, lcc.peer_pressure(adj)) <= lcc.conductance(adj, paper)


@pytest.mark.parametrize(
    ("adj", "error", "match"),
    [
        (sp.csr_matrix(np.array([[0, 1], [0, 0]])), ValueError, "not symmetric"),
        (sp.csr_matrix(np.array([[0, -1], [-1, 0]])), ValueError, "negative"),
        (sp.csr_matrix(np.array([[0, np.nan], [np.nan, 0]])), ValueError, "NaN"),
        (sp.csr_matrix(np.zeros((2, 3))), ValueError, "square"),
        (sp.csr_matrix(np.zeros((1, 1))), ValueError, "at least 2"),
        ([[0, 1], [1, 0]], TypeError, "sparse"),
    ],
)
@pytest.mark.parametrize(
    "func", [lcc.leiden, lcc.louvain, lcc.peer_pressure, lambda a: lcc.conductance(a, [0, 1])]
)
def test_graph_bad_input(adj, error, match, func):
    with pytest.raises(error, match=match):
        func(adj)


def test_labels_must_match_the_graph():
    with pytest.raises(ValueError, match="34 samples"):
        lcc.modularity(karate(), np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="resolution"):
        lcc.leiden(karate(), resolution=0)


@pytest.mark.parametrize("algorithm", [lcc.leiden, lcc.louvain])
def test_a_resolution_sweep_equals_separate_calls_from_one_graph(backend, algorithm, monkeypatch):
    import lcc.kernels.graph

    adj = on(backend, random_graph(n=120, p=0.08, seed=4))
    built = []
    real = lcc.kernels.graph.communities

    def counting(on_, algorithm_, a, **options):  # the backend's graph, built per call
        impl = on_.impl
        graph_of = impl.community_graph
        monkeypatch.setattr(impl, "community_graph", lambda a_: built.append(1) or graph_of(a_))
        try:
            return real(on_, algorithm_, a, **options)
        finally:
            monkeypatch.setattr(impl, "community_graph", graph_of)

    monkeypatch.setattr(lcc.kernels.graph, "communities", counting)
    resolutions = (0.3, 1.0, 2.5)
    sweep = algorithm(adj, resolution=list(resolutions), seed=2, n_runs=2)
    assert isinstance(sweep, list) and len(sweep) == 3 and built == [1]
    for resolution, labels in zip(resolutions, sweep, strict=True):
        alone = algorithm(adj, resolution=resolution, seed=2, n_runs=2)
        np.testing.assert_array_equal(host(labels), host(alone))
    counts = [int(host(labels).max()) + 1 for labels in sweep]
    assert counts[0] < counts[-1], counts  # the sweep did change the resolution
    one = algorithm(adj, resolution=np.array([1.0]), seed=2, n_runs=2)
    assert isinstance(one, list) and len(one) == 1


def test_resolution_sweep_bad_values_name_the_argument():
    adj = karate()
    with pytest.raises(ValueError, match="resolution is an empty sequence"):
        lcc.leiden(adj, resolution=[])
    with pytest.raises(TypeError, match="resolution values must be numbers, got str"):
        lcc.leiden(adj, resolution=[1.0, "2"])
    with pytest.raises(ValueError, match="resolution values must be positive, got -1"):
        lcc.louvain(adj, resolution=(1.0, -1))
    with pytest.raises(TypeError, match="a number or a sequence of numbers, got str"):
        lcc.leiden(adj, resolution="1.0")
