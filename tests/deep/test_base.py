"""The base every deep estimator stands on (lcc/deep/_base.py): declared parameters,
one validation at fit, seeding, the epoch log and callbacks, predict / transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from lcc._validation import InvalidParameterError
from lcc.deep import CDC, DCN, DEC, IDEC, SnapshotSpectralClustering, SNNLAutoencoder
from lcc.deep._base import DeepClusterer

TINY = {
    DEC: {"pretrain_epochs": 1, "clustering_epochs": 2, "hidden": (16,), "n_init": 1},
    IDEC: {"pretrain_epochs": 1, "clustering_epochs": 2, "hidden": (16,), "n_init": 1},
    DCN: {"pretrain_epochs": 1, "clustering_epochs": 2, "hidden": (16,), "n_init": 1},
    CDC: {"pretrain_epochs": 1, "clustering_epochs": 2, "hidden": (16,), "n_init": 1},
    SNNLAutoencoder: {"epochs": 2, "hidden": (16,), "latent_dim": 4, "n_init": 1},
    SnapshotSpectralClustering: {
        "n_snapshots": 2,
        "cycle_epochs": 1,
        "latent_dim": 4,
        "n_landmarks": 20,
    },
}
ESTIMATORS = list(TINY)


def _declared(cls: type) -> dict:
    constraints: dict = {}
    for klass in reversed(cls.__mro__):
        constraints |= vars(klass).get("_parameter_constraints", {})
    return constraints


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x[:120] / 16).astype(np.float32), y[:120]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_estimator_stands_on_the_base_and_declares_every_parameter(cls):
    assert issubclass(cls, DeepClusterer)
    assert set(cls().get_params()) == set(_declared(cls))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_a_bad_value_of_any_parameter_is_refused_at_fit_naming_it(cls, digits):
    x, _ = digits
    for name in cls().get_params():
        model = cls(4, **TINY[cls]).set_params(**{name: object()})
        with pytest.raises(InvalidParameterError, match=rf"\b{name}\b"):
            model.fit(x)


class Recorder:
    def __init__(self):
        self.epochs: list[int] = []

    def on_epoch_end(self, epoch, estimator) -> bool:
        assert isinstance(estimator, DeepClusterer)
        self.epochs.append(epoch)
        return False


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_callbacks_history_and_seeding_are_shared(cls, digits):
    x, y = digits
    recorder = Recorder()
    model = cls(4, **TINY[cls], random_state=3, device="cpu", callbacks=[recorder]).fit(x, y)
    logged = [h["epoch"] for h in model.history_ if "reset" in h]
    assert recorder.epochs == logged and len(logged) == 2
    again = cls(4, **TINY[cls], random_state=3, device="cpu").fit(x, y)
    np.testing.assert_array_equal(model.labels_, again.labels_)
    assert model.fit_predict(x, y).shape == (len(x),)
    with pytest.raises(InvalidParameterError, match="on_epoch_end"):
        cls(4, **TINY[cls], callbacks=[object()]).fit(x)


@pytest.mark.parametrize("cls", [DEC, IDEC, DCN, CDC, SNNLAutoencoder], ids=lambda c: c.__name__)
def test_predict_is_the_nearest_centre_of_the_codes(cls, digits):
    x, y = digits
    model = cls(4, **TINY[cls], random_state=0, device="cpu").fit(x, y)
    z = model.transform(x)
    assert z.dtype == np.float32 and z.shape[0] == len(x)
    nearest = ((z[:, None] - model.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(model.predict(x), nearest)
    np.testing.assert_array_equal(model.predict(torch.from_numpy(x)), nearest)
