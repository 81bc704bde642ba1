"""The LCC step's parameters are declared once, in ``lcc.correction.STEP_PARAMETERS``.

:func:`lcc.correct`, :class:`lcc.training.LCCCallback`,
:class:`lcc.lightning.LCCLightningCallback` and the ``lcc`` section of the ``lcc_finetune``
pipeline's config take the same names with the same defaults (the config's seed is the run's),
and a bad value gets the same one-line message from each, at the call, at construction or
when the config is read, where it is named by its dotted key (issue 26, item 4).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import lcc
from lcc._validation import InvalidParameterError
from lcc.config import ConfigError, validate
from lcc.correction import STEP_PARAMETERS
from lcc.pipelines.lcc_finetune import Config, LCCSection
from lcc.training import LCCCallback

DEFAULTS = {name: parameter.default for name, parameter in STEP_PARAMETERS.items()}
BAD = [
    ({"k": 0}, "k must be at least 1, got 0"),
    ({"k": 2.5}, "k must be an integer, got 2.5"),
    (
        {"method": "kmeans"},
        "method='kmeans' is not supported; choose one of ('leiden', 'louvain', 'peer_pressure')",
    ),
    (
        {"mode": "fast"},
        "mode='fast' is not supported; choose one of ('exact', 'approximate', 'orthogonal')",
    ),
    ({"resolution": 0}, "resolution must be a positive finite number, got 0"),
    ({"resolution": []}, "resolution is an empty sequence; give one value or more"),
    ({"resolution": [1.0, 0]}, "resolution values must be a positive finite number, got 0"),
    ({"max_cluster_ratio": 0}, "max_cluster_ratio must be a positive finite number, got 0"),
    ({"max_singleton_share": 1.5}, "max_singleton_share must be in [0, 1), got 1.5"),
    (
        {"on_explosion": "stop"},
        "on_explosion='stop' is not supported; choose one of ('warn', 'skip')",
    ),
    ({"exact_knn": None}, "exact_knn must be a bool, got None"),
    (
        {"metric": "manhattan"},
        "metric='manhattan' is not supported; choose one of "
        "('euclidean', 'cosine', 'inner_product')",
    ),
    ({"seed": -1}, "seed must be at least 0, got -1"),
]
Z = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
DATA = TensorDataset(torch.from_numpy(Z), torch.arange(40) % 3)


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 3))


def _lightning_callback(**options):
    pytest.importorskip("lightning.pytorch")
    from lcc.lightning import LCCLightningCallback

    return LCCLightningCallback(["0"], DATA, **options)


def _defaults(function) -> dict:
    parameters = inspect.signature(function).parameters
    return {name: parameters[name].default for name in STEP_PARAMETERS}


def test_correct_and_the_callback_have_the_tables_names_and_defaults():
    assert _defaults(lcc.correct) == DEFAULTS
    assert _defaults(LCCCallback) == DEFAULTS
    callback = LCCCallback(_model(), ["0"], DATA)
    assert callback.step == DEFAULTS  # what it passes to correct()
    callback.close()
    section = {name: field.default for name, field in LCCSection.model_fields.items()}
    assert {name: section[name] for name in STEP_PARAMETERS if name != "seed"} == {
        name: default for name, default in DEFAULTS.items() if name != "seed"
    }
    assert "seed" not in section and "seed" in Config.model_fields  # the run's seed


@pytest.mark.parametrize(("bad", "message"), BAD, ids=[m.split(",")[0] for _, m in BAD])
def test_a_bad_step_parameter_gets_one_message_everywhere(bad, message):
    calls = {
        "correct": lambda: lcc.correct(Z, DATA.tensors[1].numpy(), **bad),
        "LCCCallback": lambda: LCCCallback(_model(), ["0"], DATA, **bad),
        "LCCLightningCallback": lambda: _lightning_callback(**bad),
    }
    for where, call in calls.items():
        with pytest.raises(InvalidParameterError) as raised:
            call()
        assert str(raised.value) == message, where
    if "seed" not in bad:
        with pytest.raises(ConfigError) as raised:
            validate({"lcc": bad}, Config)
        assert raised.value.lines == [f"lcc.{message}"]


def test_the_callbacks_own_options_are_checked_at_construction():
    with pytest.raises(ValueError, match=r"^weight must be a non-negative finite number"):
        LCCCallback(_model(), ["0"], DATA, weight=-0.1)
    with pytest.raises(ValueError, match=r"^interval must be at least 1, got 0$"):
        _lightning_callback(interval=0)  # before Lightning builds the core at setup
    with pytest.raises(TypeError, match=r"takes no keyword arguments \['kk'\]"):
        _lightning_callback(kk=5)


def test_the_callbacks_options_are_declared_once_for_it_and_the_pipeline():
    """``lcc.training.callback.OPTIONS``: the callback's defaults, the pipeline's fields, and
    one message from both for a bad value."""
    from lcc.training.callback import OPTIONS

    parameters = inspect.signature(LCCCallback).parameters
    assert {n: parameters[n].default for n in OPTIONS} == {n: o.default for n, o in OPTIONS.items()}
    section = LCCSection.model_fields
    in_section = [n for n in OPTIONS if n not in ("batch_size", "progress")]  # the run's own
    assert {n: section[n].default for n in in_section} == {
        n: OPTIONS[n].default for n in in_section
    }
    for bad in ({"warmup": -1}, {"capture": "both"}, {"max_in_memory_bytes": 0}):
        with pytest.raises(InvalidParameterError) as raised:
            LCCCallback(_model(), ["0"], DATA, **bad)
        with pytest.raises(ConfigError) as config:
            validate({"lcc": bad}, Config)
        assert config.value.lines == [f"lcc.{raised.value}"]
