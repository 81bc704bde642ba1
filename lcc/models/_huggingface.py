"""Hugging Face ``transformers`` image classifiers (``hf/<repo id or folder>``).

Needs the ``huggingface`` extra. The name's config (its architecture) comes from a local
folder (``save_pretrained``) or the Hugging Face hub cache's copy of a repo id, with
``local_files_only``: nothing is downloaded. ``weights``: None (random initialisation from
the config), ``pretrained`` (the weights next to that config), a folder or a weights file.
The head gets ``n_classes`` outputs (``num_labels``; a head of another size is
re-initialised). The model is wrapped in :class:`HFImageClassifier`, whose forward returns
the logits tensor, so its layers are named ``hf.<name>`` (``lcc layers`` shows them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from lcc.models._weights import (
    PRETRAINED,
    WeightsNotFoundError,
    is_path,
    load_matching,
    read_state_dict,
    weights_file,
)

__all__ = ["HFImageClassifier", "build", "locate", "require"]

EXTRA = "pip install 'lcc-torch[huggingface]'"
_SAVED = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


class HFImageClassifier(nn.Module):
    """A ``transformers`` image classifier as a module whose forward returns logits.

    ``hf`` is the wrapped ``AutoModelForImageClassification``; a layer ``resnet.pooler`` of
    it is ``hf.resnet.pooler`` here.
    """

    def __init__(self, hf: nn.Module):
        super().__init__()
        self.hf = hf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hf(pixel_values=x).logits


def require() -> ModuleType:
    """The ``transformers`` module; a ModuleNotFoundError naming the extra where it is missing."""
    try:
        import transformers
    except ImportError as err:
        raise ModuleNotFoundError(
            f"hf/ models need the transformers package, which is not installed: {EXTRA}"
        ) from err
    return transformers


def folder(source: str) -> Path:
    """The local folder of ``source``: the folder itself, or the hub cache's snapshot of the
    repo id (:class:`WeightsNotFoundError` naming where it looked)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import constants, snapshot_download

    places = [path] if source.startswith((".", "/", "~")) else []
    if not places:
        try:
            return Path(snapshot_download(source, local_files_only=True))
        except (OSError, ValueError):  # not in the cache / not a repo id
            places.append(Path(constants.HF_HUB_CACHE) / f"models--{source.replace('/', '--')}")
    raise WeightsNotFoundError(
        f"the model hf/{source}",
        places,
        "a folder written by save_pretrained, or a repo id in the hub cache: "
        f"`hf download {source}` where there is internet",
    )


def locate(source: str, weights: str) -> Path:
    """The local file or folder ``weights`` stands for (:class:`WeightsNotFoundError` if absent)."""
    if is_path(weights):
        path = Path(weights).expanduser()
        return path if path.is_dir() and _saved(path) else weights_file(path)
    if weights != PRETRAINED:
        raise ValueError(
            f"hf/{source} takes weights from a local file or folder, or {PRETRAINED!r} (those "
            f"saved with its config), got {weights!r}"
        )
    where = folder(source)
    if not _saved(where):
        raise WeightsNotFoundError(f"the weights of hf/{source}", [where / f for f in _SAVED])
    return where


def build(
    source: str, *, n_classes: int, in_channels: int | None, weights: str | None, **kwargs: Any
) -> HFImageClassifier:
    """The classifier ``source`` names with ``n_classes`` outputs; ``kwargs`` override its
    config (e.g. ``image_size``)."""
    transformers = require()
    auto = transformers.AutoModelForImageClassification
    with _quiet(transformers):
        config = transformers.AutoConfig.from_pretrained(
            folder(source), local_files_only=True, **kwargs
        )
        config.num_labels = n_classes
        channels = getattr(config, "num_channels", None)
        if in_channels is not None and channels is not None and in_channels != channels:
            if weights is not None:
                raise ValueError(
                    f"hf/{source} takes {channels}-channel images and the data have "
                    f"{in_channels}: use data with {channels} channels, or weights=null"
                )
            config.num_channels = in_channels
        if weights is None:
            return HFImageClassifier(auto.from_config(config))
        path = locate(source, weights)
        if path.is_dir():
            model = auto.from_pretrained(
                path, config=config, local_files_only=True, ignore_mismatched_sizes=True
            )
        else:
            model = auto.from_config(config)
            load_matching(model, read_state_dict(path), n_classes)
    return HFImageClassifier(model)


def _saved(path: Path) -> bool:
    return any((path / name).is_file() for name in _SAVED)


@contextlib.contextmanager
def _quiet(transformers: ModuleType) -> Iterator[None]:
    """transformers' load reports and progress bars off (a replaced head is expected here)."""
    logging = transformers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
