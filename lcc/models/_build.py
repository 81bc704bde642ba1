"""Classifiers by name, from four sources, with weights from local files only.

A model name is one of

* ``small_cnn``: :class:`lcc.models.SmallCNN`;
* ``torchvision/<arch>``, or a bare torchvision architecture (``resnet18``);
* ``timm/<name>`` (the ``timm`` extra), tags included (``timm/resnet18.a1_in1k``);
* ``hf/<repo id or folder>`` (the ``huggingface`` extra): a ``transformers`` image
  classifier, wrapped so that its forward returns the logits tensor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lcc.models import _huggingface, _timm, _torchvision
from lcc.models.small_cnn import SmallCNN

__all__ = ["MODEL_NAMES", "build_model", "check_model_name", "locate_weights", "skeleton"]

MODEL_NAMES = (
    "'small_cnn', 'torchvision/<arch>' (or a bare torchvision architecture such as "
    "'resnet18'), 'timm/<name>' or 'hf/<repo id or folder>'"
)
"""How model names are formed, as the errors say it."""

_SOURCES = {"torchvision": _torchvision, "timm": _timm, "hf": _huggingface}


def _parse(name: str) -> tuple[str, str]:
    """``(source, the name within it)``; a bare name is torchvision's."""
    if name == "small_cnn":
        return "small_cnn", name
    prefix, slash, rest = name.partition("/")
    if not slash:
        return "torchvision", name
    if prefix in _SOURCES and rest:
        return prefix, rest
    raise ValueError(f"unknown model {name!r}; a model name is {MODEL_NAMES}")


def check_model_name(name: str) -> None:
    """A ValueError unless ``name`` names a model (``hf/`` names are checked when built);
    a ModuleNotFoundError naming the extra where its source's library is missing."""
    source, rest = _parse(name)
    if source == "small_cnn":
        return
    if source == "hf":
        _huggingface.require()
        return
    try:
        _SOURCES[source].check(rest)
    except ValueError as err:
        if source == "torchvision" and "/" not in name:  # a bare name: say how names go
            raise ValueError(f"unknown model {name!r}; a model name is {MODEL_NAMES}") from None
        raise err from None


def locate_weights(name: str, weights: str | None) -> Path | None:
    """The local file or folder the model's ``weights`` are read from, without reading it;
    :class:`lcc.models.WeightsNotFoundError` naming every place looked in if it is absent."""
    source, rest = _parse(name)
    if weights is None:
        return None
    if source == "small_cnn":
        from lcc.models._weights import weights_file

        return weights_file(weights)
    return _SOURCES[source].locate(rest, weights)


def build_model(
    name: str,
    *,
    n_classes: int,
    in_channels: int | None = None,
    weights: str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """A classifier by name (the module docstring's forms), ``n_classes`` outputs.

    Parameters
    ----------
    name : str
        ``small_cnn``, ``torchvision/<arch>`` (or ``<arch>``), ``timm/<name>``,
        ``hf/<repo id or folder>``.
    n_classes : int
        Outputs of the head; a head of another size in the weights is replaced.
    in_channels : int, optional
        Channels of the images; default: the model's own (1 for ``small_cnn``, 3 for the
        others). timm adapts its first convolution; torchvision models take 3 only.
    weights : str, optional
        None: random initialisation. A path: a ``.safetensors`` file (preferred), a
        ``.pth`` / ``.pt`` / ``.bin`` file (``torch.load(..., weights_only=True)``), or a
        folder (``model.safetensors``, ``pytorch_model.bin``, …; for ``hf/`` a
        ``save_pretrained`` folder). A name: published weights from the local caches
        only — torchvision's (``IMAGENET1K_V1``, ``DEFAULT``) from the torch hub cache;
        ``pretrained``: torchvision's ``DEFAULT``, timm's from the Hugging Face or torch
        hub cache, a ``hf/`` model's own. Nothing is downloaded; a miss raises
        :class:`lcc.models.WeightsNotFoundError` naming every place looked in.
    **kwargs
        Passed to the model's constructor (``SmallCNN``, ``torchvision.models.get_model``,
        ``timm.create_model``; for ``hf/``, config overrides).
    """
    source, rest = _parse(name)
    if source == "small_cnn":
        model = SmallCNN(in_channels=in_channels or 1, n_classes=n_classes, **kwargs)
        if weights is not None:
            from lcc.models._weights import load_matching, read_state_dict

            load_matching(model, read_state_dict(locate_weights(name, weights)), n_classes)
        return model
    if source == "torchvision" and "/" not in name:
        check_model_name(name)  # a bare unknown name gets the message on how names go
    build = _SOURCES[source].build
    return build(rest, n_classes=n_classes, in_channels=in_channels, weights=weights, **kwargs)


def skeleton(name: str, *, n_classes: int = 10, in_channels: int | None = None) -> nn.Module:
    """The architecture ``name`` without weights, on the meta device (no memory) where it
    builds there, else on the CPU: what its layer names (and whether it takes images of
    ``in_channels``) are checked against."""
    try:
        with torch.device("meta"):
            return build_model(name, n_classes=n_classes, in_channels=in_channels)
    except (RuntimeError, NotImplementedError):  # .item() / .tolist() of a meta tensor
        return build_model(name, n_classes=n_classes, in_channels=in_channels)
