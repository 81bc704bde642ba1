"""Soft nearest neighbour loss and the SNNL autoencoder recipe (seed 001)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lcc.deep import SNNLAutoencoder
from lcc.deep.snnl import CONFIGURATIONS
from lcc.losses import SNNLoss, annealed_temperature


def snnl_numpy(
    z: np.ndarray, y: np.ndarray | None, t: float, distance: str, log_space: bool = False
) -> float:
    """Eq. (2) by direct double loop in float64 (rows without a partner skipped).

    ``log_space``: sums of exponentials by scipy's logsumexp, for temperatures
    where ``exp(−d/T)`` underflows float64.
    """
    from scipy.special import logsumexp

    z = z.astype(np.float64)
    b = len(z)
    if distance == "cosine":
        u = z / np.linalg.norm(z, axis=1, keepdims=True)
        d = 1 - u @ u.T
    else:
        d = ((z[:, None] - z[None]) ** 2).sum(-1)
    terms = []
    for i in range(b):
        num = [-d[i, j] / t for j in range(b) if j != i and (y is None or y[j] == y[i])]
        den = [-d[i, k] / t for k in range(b) if k != i]
        if not num:
            continue
        if log_space:
            terms.append(logsumexp(den) - logsumexp(num))
        else:
            terms.append(-np.log(np.exp(num).sum() / np.exp(den).sum()))
    return float(np.mean(terms)) if terms else 0.0


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("t", [0.5, 2.0, 100.0])
def test_snnl_equals_a_direct_float64_computation(distance, t):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(24, 5))
    y = rng.integers(0, 4, size=24)
    got = SNNLoss(distance)(torch.from_numpy(z), torch.from_numpy(y), t)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(float(got), snnl_numpy(z, y, t, distance), rtol=1e-10)


def test_snnl_layers_sum_and_min():
    rng = np.random.default_rng(1)
    layers = [torch.from_numpy(rng.normal(size=(16, d))) for d in (3, 6, 2)]
    y = torch.from_numpy(rng.integers(0, 3, size=16))
    each = [float(SNNLoss()(layer, y, 1.0)) for layer in layers]
    assert float(SNNLoss(combine="sum")(layers, y, 1.0)) == pytest.approx(sum(each))
    assert float(SNNLoss(combine="min")(layers, y, 1.0)) == pytest.approx(min(each))


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_snnl_is_finite_at_very_low_temperature_and_with_singleton_classes(distance):
    torch.manual_seed(0)
    z = (10 * torch.randn(12, 4)).requires_grad_()
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 9])  # class 9 has one sample
    loss = SNNLoss(distance)(z, y, 1e-4)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    z = z.detach()
    # the singleton row is left out, not turned into -log(ε) or inf
    z64 = z.double().numpy()
    np.testing.assert_allclose(
        float(loss), snnl_numpy(z64, y.numpy(), 1e-4, distance, log_space=True), rtol=1e-4
    )
    # no row with a partner at all: 0, with a (zero) gradient
    alone = SNNLoss(distance)(z.requires_grad_(), torch.arange(12), 1e-4)
    assert float(alone) == 0.0 and alone.requires_grad


def test_the_epsilon_free_loss_differs_from_the_authors_epsilon_version():
    """At low T the bare-ε formula saturates at −log(1e-5); the log-sum-exp one does not."""
    z = torch.tensor([[0.0, 1.0], [0.0, 1.1], [1.0, 0.0], [1.1, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1])  # every nearest neighbour is of the other class
    exact = float(SNNLoss("euclidean")(z, y, 1e-3))
    assert exact > 500  # ~ (d_far − d_near) / T
    reference = snnl_numpy(z.numpy(), y.numpy(), 1e-3, "euclidean", log_space=True)
    assert exact == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_snnl_gradcheck(distance):
    torch.manual_seed(0)
    z = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 1, 3])
    assert torch.autograd.gradcheck(lambda v: SNNLoss(distance)(v, y, 0.7), (z,))


def test_unsupervised_snnl_is_zero_as_the_paper_defines_it():
    z = torch.randn(20, 4, requires_grad=True)
    loss = SNNLoss()(z, None, 0.3)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_annealing_gives_the_papers_temperature_sequence():
    expected = [1.0, 2**-0.55, 3**-0.55, 4**-0.55, 51**-0.55]
    got = [annealed_temperature(e) for e in (0, 1, 2, 3, 50)]
    np.testing.assert_allclose(got, expected)
    assert got == sorted(got, reverse=True)
    with pytest.raises(ValueError, match="epoch"):
        annealed_temperature(-1)


def test_snnl_bad_input():
    z = torch.randn(5, 3)
    with pytest.raises(ValueError, match="distance"):
        SNNLoss("manhattan")
    with pytest.raises(ValueError, match="combine"):
        SNNLoss(combine="mean")
    with pytest.raises(ValueError, match="temperature"):
        SNNLoss()(z, None, 0.0)
    with pytest.raises(ValueError, match="y must"):
        SNNLoss()(z, torch.zeros(4, dtype=torch.long), 1.0)
    with pytest.raises(TypeError, match="integer"):
        SNNLoss()(z, torch.zeros(5), 1.0)
    with pytest.raises(ValueError, match="same batch"):
        SNNLoss()([z, torch.randn(4, 3)], None, 1.0)


def test_table_one_configurations():
    assert CONFIGURATIONS["SNNL-5"] == (True, "sum", True)
    assert CONFIGURATIONS["SNNL-4"] == (False, "min", False)
    assert CONFIGURATIONS["SNNL-7"] == (True, "min", True)
    assert [c.supervised for c in CONFIGURATIONS.values()] == [True, False] * 4


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y


def test_supervised_snnl_makes_codes_easier_to_cluster_than_the_plain_autoencoder():
    x, y = _digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))  # train on a shuffled labelled subset
    train, test = order[:600], order[600:]
    kw = {"epochs": 8, "hidden": (128, 128), "latent_dim": 16, "random_state": 0, "n_init": 3}
    plain = SNNLAutoencoder(10, "SNNL-6", **kw).fit(x[train], eval_set=(x[test], y[test]))
    snnl = SNNLAutoencoder(10, "SNNL-5", **kw).fit(x[train], y[train], eval_set=(x[test], y[test]))
    assert snnl.history_[-1]["acc"] > plain.history_[-1]["acc"] + 0.05
    assert snnl.history_[-1]["snnl"] < snnl.history_[0]["snnl"]
    assert all(h["snnl"] == pytest.approx(0.0, abs=1e-6) for h in plain.history_)
    keys = {"loss", "reconstruction", "snnl", "temperature", "acc", "nmi", "ari"}
    assert keys | {"silhouette", "calinski_harabasz", "davies_bouldin"} <= set(snnl.history_[0])
    assert snnl.transform(x[test]).shape == (len(test), 16)
    assert snnl.labels_.shape == (len(train),)
    assert (snnl.predict(x[train]) == snnl.labels_).mean() > 0.95


def test_snnl_autoencoder_bad_input():
    x, y = _digits()
    with pytest.raises(ValueError, match="configuration"):
        SNNLAutoencoder(10, "SNNL-9").fit(x[:50], y[:50])
    with pytest.raises(ValueError, match="supervised"):
        SNNLAutoencoder(10, "SNNL-1", epochs=1).fit(x[:50])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SNNLAutoencoder(10, "SNNL-2", epochs=1).fit(x[:50] * 16)
    with pytest.raises(ValueError, match="y must have shape"):
        SNNLAutoencoder(10, epochs=1).fit(x[:50], y[:40])
    with pytest.raises(ValueError, match="layers"):
        SNNLAutoencoder(10, layers="decoder").fit(x[:50], y[:50])


def test_representation_pipeline_writes_metrics_pictures_and_table(tmp_path, capsys):
    import csv

    from lcc.cli import main

    main(
        [
            "run",
            "pipelines/configs/snnl5_mnist_subset.yaml",
            f"output_dir={tmp_path}",
            "data.name=digits",
            "n_labelled=500",
            "model.epochs=2",
            "model.hidden=[64]",
            "model.latent_dim=8",
            "picture.samples=200",
        ]
    )
    (run_dir,) = tmp_path.iterdir()
    names = {p.name for p in run_dir.iterdir()}
    assert {"metrics.jsonl", "metrics.csv", "summary.csv", "history.png", "latent.png"} <= names
    with open(run_dir / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and {"snnl", "temperature", "silhouette", "acc"} <= set(rows[0])
    assert (run_dir / "latent.png").read_bytes()[:4] == b"\x89PNG"
    assert "davies_bouldin" in capsys.readouterr().out
    assert main(["run", "pipelines/configs/snnl5_mnist_subset.yaml", "model.epochz=2"]) == 2
    assert "model.epochz: unknown SNNLAutoencoder argument" in capsys.readouterr().err
