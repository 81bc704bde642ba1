"""The authors' class selection (altaris/lcc correction/choice.py) on a confusion graph
with a known answer, and in the LCC step."""

from __future__ import annotations

import numpy as np
import pytest

import lcc
from lcc._validation import InvalidParameterError
from lcc.class_selection import confusion_graph, select_classes

# six classes, every sample right but these confusions: 0↔1 ×10, 2↔3 ×8, 1↔2 ×5, 4↔5 ×3
CONFUSED = {(0, 1): 10, (2, 3): 8, (1, 2): 5, (4, 5): 3}


def _labels() -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = list(range(6)) * 20, list(range(6)) * 20
    for (a, b), count in CONFUSED.items():
        for i in range(count):  # split between both directions: the graph is symmetric
            y_true.append(a if i % 2 else b)
            y_pred.append(b if i % 2 else a)
    return np.array(y_true), np.array(y_pred)


def test_the_confusion_graph_counts_both_directions_and_no_loops():
    weights = confusion_graph(*_labels(), 6)
    expected = np.zeros((6, 6), dtype=np.int64)
    for (a, b), count in CONFUSED.items():
        expected[a, b] = expected[b, a] = count
    np.testing.assert_array_equal(weights, expected)


@pytest.mark.parametrize(
    ("policy", "classes"),
    [
        ("top_pair_1", [0, 1]),
        ("top_pair_2", [0, 1, 2, 3]),
        ("top_pair_3", [0, 1, 2, 3]),  # (1, 2) adds no class
        ("top_pair_4", [0, 1, 2, 3, 4, 5]),
        ("top_connected_2", [0, 1]),  # = top_pair_1
        ("top_connected_3", [0, 1, 2]),  # weight 15, against {1, 2, 3}'s 13
        ("max_connected", [0, 1, 2, 3]),  # component of weight 23, against {4, 5}'s 3
        ("top_connected_6", None),  # as many as there are: every class
        (None, None),
    ],
)
def test_each_policy_selects_the_known_classes(policy, classes):
    selected = select_classes(*_labels(), policy)
    assert (selected is None) if classes is None else selected.tolist() == classes


def test_a_model_that_confuses_nothing_selects_every_class():
    y = np.arange(6).repeat(5)
    assert select_classes(y, y, "max_connected") is None


def test_correct_corrects_only_the_selected_classes(blobs):
    z, y = blobs
    rng = np.random.default_rng(0)
    y = np.where(rng.random(len(y)) < 0.1, rng.integers(0, 10, len(y)), y)  # MC in every class
    predictions = np.where(rng.random(len(y)) < 0.2, (y + 1) % 10, y)  # confuses c with c+1
    predictions[(y == 3) & (rng.random(len(y)) < 0.5)] = 4  # 3 → 4 the heaviest pair
    everything = lcc.correct(z, y, k=5, predictions=predictions)
    selected = lcc.correct(z, y, k=5, predictions=predictions, class_selection="top_pair_1")
    assert selected.stats["selected_classes"] == [3, 4]
    outside = ~np.isin(y, [3, 4])
    assert everything.correctible[outside].any()  # so the selection removes something
    assert not selected.correctible[outside].any()
    np.testing.assert_array_equal(selected.correctible[~outside], everything.correctible[~outside])


def test_a_bad_policy_or_no_predictions_is_a_clear_error(blobs):
    z, y = blobs
    with pytest.raises(InvalidParameterError, match="is not a class selection"):
        lcc.correct(z, y, class_selection="top_pair_0")
    with pytest.raises(ValueError, match="needs the model's predictions"):
        lcc.correct(z, y, class_selection="max_connected")


def test_the_callback_and_the_pipeline_take_the_selection():
    """The step's parameter table carries it to LCCCallback and the pipeline's lcc section."""
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from lcc.config import ConfigError, validate
    from lcc.pipelines.lcc_finetune import Config

    torch.manual_seed(0)
    x = torch.randn(400, 20)
    data = TensorDataset(x, x[:, :4].argmax(dim=1))
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
    callback = lcc.LCCCallback(model, ["1"], data, warmup=0, class_selection="top_pair_1")
    stats = callback.on_epoch_start(0)["1"]
    callback.close()
    assert len(stats["selected_classes"]) == 2  # the one most confused pair
    assert validate({"lcc": {"class_selection": "max_connected"}}, Config).lcc.class_selection
    with pytest.raises(ConfigError, match=r"lcc\.class_selection='top_3' is not a class selection"):
        validate({"lcc": {"class_selection": "top_3"}}, Config)
