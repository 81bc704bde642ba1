"""Weights from local files only, never a download.

A ``weights`` value is either a path — a ``.safetensors`` file (preferred), a ``.pth`` /
``.pt`` / ``.bin`` file read with ``torch.load(..., weights_only=True)`` (no pickled code),
or a folder holding one of :data:`WEIGHT_FILES` — or the name of a model's published
weights, which a source (:mod:`lcc.models`) looks up in the caches its library fills: the
torch hub cache, the Hugging Face hub cache. A miss raises :class:`WeightsNotFoundError`,
which names every place looked in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

__all__ = [
    "PRETRAINED",
    "WEIGHT_FILES",
    "WeightsNotFoundError",
    "hf_cached_file",
    "is_path",
    "load_matching",
    "read_state_dict",
    "torch_hub_file",
    "weights_file",
]

PRETRAINED = "pretrained"
"""The ``weights`` value that asks for a model's published weights from the local caches."""

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.pth", "model.pt")
"""The files a weights folder is searched for, in this order (safetensors first)."""

_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


class WeightsNotFoundError(FileNotFoundError):
    """Weights (or, for ``hf/`` models, the model's config) that are not on this machine.

    ``places`` lists every file or folder looked in; the message names them all.
    """

    def __init__(self, what: str, places: Iterable[str | Path], hint: str = ""):
        self.places = [str(p) for p in places]
        looked = ", ".join(self.places)
        super().__init__(f"{what} not found; looked in: {looked}" + (f" ({hint})" if hint else ""))


def is_path(weights: str) -> bool:
    """Whether a ``weights`` value names a file or folder (else: published weights by name)."""
    return (
        "/" in weights
        or os.sep in weights
        or weights.startswith((".", "~"))
        or weights.endswith(_SUFFIXES)
        or Path(weights).exists()
    )


def weights_file(path: str | Path) -> Path:
    """The weights file ``path`` names: the file, or the first of :data:`WEIGHT_FILES` in a
    folder."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    places = [path / name for name in WEIGHT_FILES] if path.is_dir() else [path]
    for place in places:
        if place.is_file():
            return place
    raise WeightsNotFoundError(f"weights file {str(path)!r}", places)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, on the CPU: safetensors, or ``torch.load`` with
    ``weights_only=True``; a checkpoint that holds them under ``state_dict`` / ``model`` is
    unwrapped."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{str(path)!r} holds a {type(loaded).__name__}, not a state dict")
    return dict(loaded)


def load_matching(model: nn.Module, state: Mapping[str, torch.Tensor], n_classes: int) -> list[str]:
    """Load ``state`` into ``model``: every tensor must be there with its shape, but a
    classifier's rows.

    A tensor whose shape in the model is ``(n_classes, ...)`` and in ``state`` ``(m, ...)``
    (a head trained for another number of classes) keeps the model's fresh initialisation;
    the names of those are returned. Any other missing, unexpected or differently shaped
    tensor is an error naming it.
    """
    own = model.state_dict()
    fresh = [
        key
        for key, value in state.items()
        if key in own
        and own[key].shape != value.shape
        and own[key].ndim == value.ndim >= 1
        and own[key].shape[0] == n_classes
        and own[key].shape[1:] == value.shape[1:]
    ]
    kept = {key: value for key, value in state.items() if key not in fresh}
    missing = sorted(set(own) - set(kept) - set(fresh))
    unexpected = sorted(set(kept) - set(own))
    shaped = sorted(k for k in kept if k in own and own[k].shape != kept[k].shape)
    problems = [
        f"{what}: {names[:5]}{' …' if len(names) > 5 else ''}"
        for what, names in (
            ("missing", missing),
            ("not in the model", unexpected),
            ("of another shape", shaped),
        )
        if names
    ]
    if problems:
        name = type(model).__name__
        raise ValueError(f"the weights do not fit {name}: tensors {'; '.join(problems)}")
    model.load_state_dict(kept, strict=False)
    return fresh


def torch_hub_file(url: str) -> Path:
    """Where torch hub keeps the file of ``url`` (``$TORCH_HOME/hub/checkpoints/<name>``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def hf_cached_file(repo_id: str, filenames: Iterable[str]) -> tuple[Path | None, Path]:
    """The first of ``filenames`` in the Hugging Face hub cache's copy of ``repo_id`` (None if
    none is there), and that copy's folder; nothing is downloaded."""
    from huggingface_hub import constants, try_to_load_from_cache

    cache = Path(constants.HF_HUB_CACHE)
    folder = cache / f"models--{repo_id.replace('/', '--')}"
    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache)
        if isinstance(found, str):
            return Path(found), folder
    return None, folder
