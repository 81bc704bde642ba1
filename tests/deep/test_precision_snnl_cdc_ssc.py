"""``precision`` of the SNNL autoencoder, CDC and SSC: bfloat16 autocast in the training
forwards only, float32 losses, weights and codes (as DEC / IDEC / DCN, ``test_precision.py``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from lcc._validation import InvalidParameterError
from lcc.deep import CDC, SnapshotSpectralClustering, SNNLAutoencoder

rng = np.random.default_rng(0)
X = rng.random((200, 16), dtype=np.float32)  # in [0, 1], for the SNNL's BCE
Y = rng.integers(0, 3, 200)

SMALL = {"batch_size": 64, "random_state": 0, "device": "cpu"}
SSC_OPTIONS = {"n_snapshots": 2, "cycle_epochs": 1, "latent_dim": 4, "n_landmarks": 20, "r": 3}
CONV = {"image_shape": (1, 4, 4), "channels": (4, 8), "strides": (2, 2)}
ESTIMATORS = {
    "snnl": (SNNLAutoencoder, {"latent_dim": 4, "hidden": (8,), "epochs": 2, "n_init": 1}),
    "cdc": (
        CDC,
        {"hidden": (8,), "latent_dim": 4, "pretrain_epochs": 1, "n_init": 1}
        | {"clustering_iterations": 4, "update_interval": 2},
    ),
    "ssc": (SnapshotSpectralClustering, SSC_OPTIONS),
    "ssc_conv": (SnapshotSpectralClustering, SSC_OPTIONS | CONV),
}


@pytest.fixture
def outputs() -> Iterator[list[tuple[type, bool, torch.dtype]]]:
    """``(module type, gradients on, output dtype)`` of every Linear, Conv2d and Sigmoid
    forward from now on: with gradients, a training forward; without, an evaluation one."""
    seen: list[tuple[type, bool, torch.dtype]] = []

    def hook(module, args, output):
        if isinstance(module, nn.Linear | nn.Conv2d | nn.Sigmoid) and torch.is_tensor(output):
            seen.append((type(module), torch.is_grad_enabled(), output.dtype))

    handle = nn.modules.module.register_module_forward_hook(hook)
    yield seen
    handle.remove()


def _fit(name: str, **kwargs):
    cls, options = ESTIMATORS[name]
    model = cls(3, **SMALL, **options, **kwargs)
    return model.fit(X, Y) if name == "snnl" else model.fit(X)


def _dtypes(seen, kinds, training: bool) -> set[torch.dtype]:
    return {dtype for kind, grad, dtype in seen if issubclass(kind, kinds) and grad == training}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_bf16_mixed_trains_in_bfloat16_and_keeps_float32_weights_losses_and_codes(
    name, outputs, monkeypatch
):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with pytest.warns(RuntimeWarning, match="bf16-mixed.*slower"):
        model = _fit(name, precision="bf16-mixed")
    layers = nn.Linear | nn.Conv2d
    assert _dtypes(outputs, layers, training=True) == {torch.bfloat16}
    assert _dtypes(outputs, layers, training=False) == {torch.float32}  # codes, snapshots
    net = model.model_ if hasattr(model, "model_") else model.snapshots_[0]
    assert {p.dtype for p in net.parameters()} == {torch.float32}
    assert all(np.isfinite(h["loss"]) for h in model.history_)
    if name == "snnl":  # its sigmoids (code and output) run in float32
        assert _dtypes(outputs, nn.Sigmoid, training=True) == {torch.float32}
        assert all(np.isfinite(h["snnl"]) and h["snnl"] > 0 for h in model.history_)
    if name.startswith("ssc"):
        assert {np.asarray(e).dtype for e in model.embeddings_} == {np.dtype(np.float32)}
    else:
        assert model.transform(X).dtype == np.float32
        assert model.cluster_centers_.dtype == np.float32


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_32_true_never_leaves_float32(name, outputs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(name)
    assert {dtype for _, _, dtype in outputs} == {torch.float32}
    assert _dtypes(outputs, nn.Linear | nn.Conv2d, training=True) == {torch.float32}
    assert not [w for w in caught if "bf16" in str(w.message)]


def test_snnl_code_layer_loss_trains_in_bfloat16_too(outputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = _fit("snnl", precision="bf16-mixed", layers="code")
    assert _dtypes(outputs, nn.Linear, training=True) == {torch.bfloat16}
    assert all(np.isfinite(h["snnl"]) and h["snnl"] > 0 for h in model.history_)


@pytest.mark.parametrize("name", ["snnl", "cdc", "ssc"])
def test_an_unknown_precision_is_refused_by_name(name):
    with pytest.raises(InvalidParameterError, match=r"precision='16-mixed'.*'bf16-mixed'"):
        _fit(name, precision="16-mixed")


def test_the_representation_pipeline_takes_precision_as_a_model_argument():
    from lcc.pipelines.representation import Config, _estimator

    for method in ("snnl", "cdc"):
        Config(method=method, model={"precision": "bf16-mixed"})
        assert _estimator(method, 3, 0, {"precision": "bf16-mixed"}).precision == "bf16-mixed"
        with pytest.raises(ValueError, match=r"model\.precision='16-mixed'"):
            Config(method=method, model={"precision": "16-mixed"})


def test_the_ssc_pipeline_passes_precision_on_and_refuses_others_by_key(monkeypatch):
    from lcc.pipelines import ssc

    built = []

    def fake_models(config, estimator, *args):
        built.append(estimator)
        return {"labels": {}, "curves": {}, "consensus": {}}

    monkeypatch.setattr(ssc, "_models", fake_models)
    for precision in ("32-true", "bf16-mixed"):
        config = ssc.Config(precision=precision).model_dump()
        ssc._Seed(config, None, {}, 0, None).results(X, Y, 3, None)
        assert built[-1].precision == precision
    assert ssc.Config().precision == "32-true"
    with pytest.raises(ValueError, match="precision"):
        ssc.Config(precision="16-mixed")
