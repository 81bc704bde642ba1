"""Embedded data sets and torchvision loaders on small files the tests write."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from lcc.data import load_dataset


@pytest.mark.parametrize(("name", "n", "side"), [("digits", 1797, 8), ("mnist_subset", 5000, 28)])
def test_embedded_split_is_fixed_and_stratified(name, n, side):
    split = load_dataset(name)
    assert len(split.train) + len(split.test) == n
    assert len(split.test) == pytest.approx(0.2 * n, abs=1)
    x, _ = split.train[0]
    assert x.shape == (1, side, side) and x.dtype == torch.float32 and 0 <= float(x.min())
    assert float(x.max()) <= 1.0
    labels = torch.stack([split.test[i][1] for i in range(len(split.test))]).numpy()
    assert np.bincount(labels).min() >= 0.8 * len(labels) / 10  # stratified
    again = load_dataset(name)
    assert torch.equal(again.train[5][0], split.train[5][0])  # the same split every time


def write_idx(path, array: np.ndarray) -> None:
    """An IDX file as MNIST ships it (magic, big-endian dims, uint8 data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize(
    ("name", "folder"),
    [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST"), ("kmnist", "KMNIST")],
)
def test_mnist_family_loads_from_a_local_root(tmp_path, name, folder):
    rng = np.random.default_rng(0)
    raw = tmp_path / folder / "raw"
    for prefix, n in (("train", 30), ("t10k", 12)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    split = load_dataset(name, root=tmp_path)
    assert (len(split.train), len(split.test)) == (30, 12)
    assert split.n_classes == 10 and split.in_channels == 1
    x, y = split.train[13]
    assert x.shape == (1, 28, 28) and int(y) == 3


def test_missing_local_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found under"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(ValueError, match="root="):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("imagenet")


def test_the_z_transform_before_the_resize_is_the_brb_authors_order():
    from lcc.data import load_flat

    after, y, shape = load_flat("digits", standardize=True, resize=28)
    before, y2, _ = load_flat("digits", standardize="before_resize", resize=28)
    own, _, _ = load_flat("digits")  # 8 × 8, the statistics' source
    assert shape == (1, 28, 28) and np.array_equal(y, y2)
    assert after.std() == pytest.approx(1.0, abs=1e-4)
    # the 8 × 8 images' mean and std, applied to the resized ones: a 0.86 input scale
    raw, _, _ = load_flat("digits", resize=28)
    np.testing.assert_allclose(before, (raw - own.mean()) / own.std(), rtol=1e-5, atol=1e-5)
    assert before.std() == pytest.approx(0.8634, abs=1e-3)
    with pytest.raises(ValueError, match="standardize must be True, False or 'before_resize'"):
        load_flat("digits", standardize="yes")
