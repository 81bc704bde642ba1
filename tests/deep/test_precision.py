"""``precision`` of DEC / IDEC / DCN: bfloat16 autocast in the training forwards only."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from lcc._backend import gpu_available
from lcc._validation import InvalidParameterError
from lcc.deep import DCN, DEC, IDEC, FeedForwardAutoencoder

X, _ = make_blobs(n_samples=96, n_features=6, centers=3, random_state=0)
OPTIONS = {"pretrain_epochs": 1, "clustering_epochs": 2, "hidden": (8,), "batch_size": 32}


def _code_dtypes(monkeypatch) -> list[torch.dtype]:
    """The dtype of every code ``FeedForwardAutoencoder.encode`` returns from now on."""
    seen: list[torch.dtype] = []
    encode = FeedForwardAutoencoder.encode

    def spy(self, x):
        z = encode(self, x)
        seen.append(z.dtype)
        return z

    monkeypatch.setattr(FeedForwardAutoencoder, "encode", spy)
    return seen


@pytest.mark.parametrize("cls", [DEC, IDEC, DCN])
def test_bf16_mixed_trains_in_bfloat16_and_keeps_float32_weights_and_outputs(cls, monkeypatch):
    dtypes = _code_dtypes(monkeypatch)
    model = cls(3, precision="bf16-mixed", random_state=0, **OPTIONS).fit(X)
    # the training forwards (pretraining, clustering steps, DCN's centre update) in
    # bfloat16; the codes of k-Means, P and labels_ (transform) in float32
    assert torch.bfloat16 in dtypes and torch.float32 in dtypes
    assert {p.dtype for p in model.model_.parameters()} == {torch.float32}
    state = model.optimizer_.state.values()
    assert {t.dtype for s in state for t in s.values() if t.is_floating_point()} == {torch.float32}
    assert model.cluster_centers_.dtype == np.float32 and model.transform(X).dtype == np.float32
    assert all(np.isfinite(h["loss"]) for h in model.history_)


def test_32_true_never_leaves_float32(monkeypatch):
    dtypes = _code_dtypes(monkeypatch)
    IDEC(3, random_state=0, **OPTIONS).fit(X)
    assert set(dtypes) == {torch.float32}


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(InvalidParameterError, match=r"precision='16-mixed'.*'bf16-mixed'"):
        DEC(3, precision="16-mixed", **OPTIONS).fit(X)


def test_bf16_mixed_warns_where_bfloat16_products_are_not_native(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with pytest.warns(RuntimeWarning, match="bf16-mixed.*slower"):
        DEC(3, precision="bf16-mixed", device="cpu", **OPTIONS).fit(X)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        DEC(3, precision="bf16-mixed", device="cpu", **OPTIONS).fit(X)


def test_the_pipeline_passes_precision_on_and_refuses_others_by_key():
    from lcc.pipelines.deep_clustering import Config, _estimator

    config = Config(precision="bf16-mixed").model_dump()
    model = _estimator(config, "IDEC", 0, False, 0, None, None)
    assert model.precision == "bf16-mixed"
    with pytest.raises(ValueError, match="precision"):
        Config(precision="16-mixed")


@pytest.mark.gpu  # the initial k-Means of CUDA codes: cuML, or the cupy tier without RAPIDS
@pytest.mark.skipif(not gpu_available(), reason="no usable CUDA device")
@pytest.mark.parametrize("cls", [DEC, IDEC, DCN])
def test_bf16_mixed_on_a_gpu_trains_in_bfloat16_without_a_warning(cls, monkeypatch):
    dtypes = _code_dtypes(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # Ampere and later: native bfloat16
        model = cls(3, precision="bf16-mixed", device="cuda", random_state=0, **OPTIONS).fit(X)
    assert torch.bfloat16 in dtypes and torch.float32 in dtypes
    assert {p.device.type for p in model.model_.parameters()} == {"cuda"}
    assert {p.dtype for p in model.model_.parameters()} == {torch.float32}
    assert all(np.isfinite(h["loss"]) for h in model.history_)
