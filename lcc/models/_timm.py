"""timm models by name (``timm/resnet18``, ``timm/resnet18.a1_in1k``, ``timm/test_vit``).

Needs the ``timm`` extra. ``weights``: None (random initialisation), a local file or folder,
or ``pretrained``: the name's published weights from the Hugging Face hub cache or the
torch hub cache, where timm keeps what it downloads. Weights are loaded by timm's own
loader from that local file (``pretrained_cfg_overlay=dict(file=...)``), so its
checkpoint filters apply (e.g. a ViT's position embeddings resampled to ``img_size``) and
``in_chans`` adapts the first convolution; a head of another size is re-initialised.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from lcc.models._weights import (
    PRETRAINED,
    WEIGHT_FILES,
    WeightsNotFoundError,
    hf_cached_file,
    is_path,
    read_state_dict,
    torch_hub_file,
    weights_file,
)

__all__ = ["build", "check", "locate", "require"]

EXTRA = "pip install 'lcc-torch[timm]'"


def require() -> ModuleType:
    """The ``timm`` module; a ModuleNotFoundError naming the extra where it is missing."""
    try:
        import timm
    except ImportError as err:
        raise ModuleNotFoundError(
            f"timm/ models need the timm package, which is not installed: {EXTRA}"
        ) from err
    return timm


def check(name: str) -> None:
    """A ValueError unless ``name`` is a timm model (``timm.list_models()``, tags too)."""
    timm = require()
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise ValueError(f"unknown timm model {name!r}{hint}; timm.list_models() names them")


def locate(name: str, weights: str) -> Path:
    """The local file ``weights`` stands for; :class:`WeightsNotFoundError` if it is absent."""
    if is_path(weights):
        return weights_file(weights)
    if weights != PRETRAINED:
        raise ValueError(
            f"timm/{name} takes weights from a local file or folder, or {PRETRAINED!r} (the "
            f"name's published weights from the local caches), got {weights!r}"
        )
    cfg = _pretrained_cfg(name)
    places: list[Path] = []
    if cfg.hf_hub_id:
        found, folder = hf_cached_file(cfg.hf_hub_id, cfg.hf_hub_filename or WEIGHT_FILES[:2])
        if found is not None:
            return found
        places.append(folder)
    if cfg.url:
        path = torch_hub_file(cfg.url)
        if path.is_file():
            return path
        places.append(path)
    source = cfg.hf_hub_id or cfg.url
    hint = f"download {source} where there is internet" if source else "timm publishes none"
    raise WeightsNotFoundError(f"the published weights of timm/{name}", places, hint)


def build(
    name: str, *, n_classes: int, in_channels: int | None, weights: str | None, **kwargs: Any
) -> nn.Module:
    """``timm.create_model(name)`` with ``n_classes`` outputs and the weights loaded locally."""
    timm = require()
    check(name)
    if in_channels is not None:
        kwargs["in_chans"] = in_channels
    if weights is None:
        return timm.create_model(name, pretrained=False, num_classes=n_classes, **kwargs)
    path = locate(name, weights)
    overlay = {"file": str(path), "num_classes": _head_size(path, _pretrained_cfg(name))}
    return timm.create_model(
        name, pretrained=True, num_classes=n_classes, pretrained_cfg_overlay=overlay, **kwargs
    )


def _pretrained_cfg(name: str) -> Any:
    from timm.models import get_pretrained_cfg

    check(name)
    cfg = get_pretrained_cfg(name)
    if cfg is None:
        raise ValueError(f"timm/{name} has no pretrained config: it takes no weights")
    return cfg


def _head_size(path: Path, cfg: Any) -> int:
    """The classes of the head in the weights file (timm re-initialises a head of another
    size than ``num_classes``; a file with the right one, from a fine-tune, keeps its head)."""
    classifier = cfg.classifier if isinstance(cfg.classifier, str) else (cfg.classifier or [""])[0]
    key = f"{classifier}.weight"
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return f.get_slice(key).get_shape()[0] if key in f.keys() else cfg.num_classes
    state = read_state_dict(path)
    return state[key].shape[0] if key in state else cfg.num_classes
