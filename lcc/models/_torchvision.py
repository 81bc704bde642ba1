"""torchvision classification models by architecture name (``torchvision/resnet18``).

``weights``: None (random initialisation), a local file or folder
(:func:`lcc.models._weights.weights_file`), or the name of torchvision's published weights
(``IMAGENET1K_V1``, ``DEFAULT``; ``pretrained`` is ``DEFAULT``) read from the torch hub
cache, where ``torch.hub`` keeps what it downloads: nothing is downloaded here.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from torch import nn

from lcc.models._weights import (
    PRETRAINED,
    WeightsNotFoundError,
    is_path,
    load_matching,
    read_state_dict,
    torch_hub_file,
    weights_file,
)

__all__ = ["architectures", "build", "check", "locate"]


def architectures() -> list[str]:
    """torchvision's classification models (``torchvision.models.list_models``)."""
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def check(arch: str) -> None:
    """A ValueError unless ``arch`` is a torchvision classification model."""
    known = architectures()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=3)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise ValueError(
            f"unknown torchvision model {arch!r}{hint}; torchvision.models.list_models() names them"
        )


def locate(arch: str, weights: str) -> Path:
    """The local file ``weights`` stands for; :class:`WeightsNotFoundError` if it is absent."""
    if is_path(weights):
        return weights_file(weights)
    enum = _published(arch, weights)
    path = torch_hub_file(enum.url)
    if not path.is_file():
        raise WeightsNotFoundError(
            f"torchvision's {enum} weights for {arch}",
            [path],
            f"put {enum.url} there, or set the weights to a local file or to null",
        )
    return path


def build(
    arch: str, *, n_classes: int, in_channels: int | None, weights: str | None, **kwargs: Any
) -> nn.Module:
    """``arch`` with ``n_classes`` outputs, its weights loaded (head replaced if it differs)."""
    import torchvision

    check(arch)
    if in_channels not in (None, 3):
        raise ValueError(
            f"torchvision/{arch} takes 3-channel (RGB) images and the data have {in_channels} "
            "channel(s): use a colour data set (cifar10, cifar100, stl10), small_cnn, or a "
            "timm model (timm adapts its first convolution to in_chans)"
        )
    if weights is None:
        return torchvision.models.get_model(arch, num_classes=n_classes, **kwargs)
    path = locate(arch, weights)
    if is_path(weights):
        model = torchvision.models.get_model(arch, num_classes=n_classes, **kwargs)
        load_matching(model, read_state_dict(path), n_classes)
        return model
    # torchvision's own loader finds the file in the hub cache (located above: no download)
    # and applies what the architecture needs (old key names, transform_input, …)
    model = torchvision.models.get_model(arch, weights=_published(arch, weights), **kwargs)
    replace_head(model, n_classes)
    return model


def _published(arch: str, name: str) -> Any:
    """torchvision's weights enum member ``name`` of ``arch`` (``pretrained``: ``DEFAULT``)."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(arch)
    except ValueError:
        enum = None
    names = [w.name for w in enum] + ["DEFAULT"] if enum is not None else []
    key = "DEFAULT" if name == PRETRAINED else name
    if key not in names:
        published = f"one of {names}" if names else "none (it has no published weights)"
        raise ValueError(
            f"torchvision/{arch} has no weights named {name!r}: a local file or folder, "
            f"{PRETRAINED!r} or torchvision's weights name ({published})"
        )
    return enum[key]


def replace_head(model: nn.Module, n_classes: int) -> None:
    """Swap the last ``nn.Linear`` for one with ``n_classes`` outputs, if it has another."""
    last_name, last = None, None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last_name, last = name, module
    if last is None or last_name is None or last.out_features == n_classes:
        return
    parent_name, _, attribute = last_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, nn.Linear(last.in_features, n_classes))
