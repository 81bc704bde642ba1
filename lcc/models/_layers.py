"""A model's layers as LCC names them: what ``lcc.layers`` / ``LCCCallback(layers=...)`` take.

:func:`describe_layers` runs one dummy input through the model and reports every named
submodule (name, type, output shape, parameters), marking the head and the latent layer
before it, the one the LCC paper corrects; :func:`check_layers` is the one rule for layer
names, used by the callbacks and the pipeline's config.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["LayerInfo", "check_layers", "describe_layers", "format_layers"]

# modules that only reshape or regularise: never the latent layer the listing marks
_PASS_THROUGH = (nn.Flatten, nn.Dropout, nn.Identity)


@dataclass(frozen=True)
class LayerInfo:
    """One named submodule: ``output`` is one sample's output shape (a tuple), the name of
    a non-tensor output's type, or None when the dummy forward pass did not call it;
    ``role`` is ``"head"``, ``"latent"`` or ``""``."""

    name: str
    type: str
    output: tuple[int, ...] | str | None
    parameters: int
    role: str = ""


def describe_layers(
    model: nn.Module, input_shape: tuple[int, ...] = (3, 32, 32)
) -> list[LayerInfo]:
    """Every named submodule of ``model`` with its output shape for one ``input_shape`` input
    (``(C, H, W)``), in the order of ``model.named_modules()``.

    The head is the last module with parameters of its own that the forward pass calls; the
    latent layer is the last one called before it whose output is a tensor, other than a
    flatten / dropout / identity (``avgpool`` of a torchvision ResNet, ``fc1`` of
    :class:`lcc.models.SmallCNN`).
    """
    modules = {name: module for name, module in model.named_modules() if name}
    outputs: dict[str, Any] = {}
    order: list[str] = []

    def hook(name: str):
        def keep(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if name not in outputs:
                order.append(name)
            if isinstance(output, tuple | list) and output:
                output = output[0]  # as the latent capture does
            outputs[name] = output

        return keep

    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    device = next(model.parameters(), torch.empty(0)).device
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *input_shape, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    roles = _roles(modules, order, outputs)
    return [
        LayerInfo(
            name,
            type(module).__name__,
            _shape(outputs.get(name, None), name in outputs),
            sum(p.numel() for p in module.parameters()),
            roles.get(name, ""),
        )
        for name, module in modules.items()
    ]


def _shape(output: Any, called: bool) -> tuple[int, ...] | str | None:
    if not called:
        return None
    if isinstance(output, torch.Tensor):
        return tuple(output.shape[1:])
    return type(output).__name__


def _roles(modules: dict[str, nn.Module], order: list[str], outputs: dict) -> dict[str, str]:
    owning = [n for n in order if any(True for _ in modules[n].parameters(recurse=False))]
    if not owning:
        return {}
    head = owning[-1]
    roles = {head: "head"}
    for name in reversed(order[: order.index(head)]):
        if isinstance(outputs[name], torch.Tensor) and not isinstance(modules[name], _PASS_THROUGH):
            roles[name] = "latent"
            break
    return roles


_NOTES = {"head": "head", "latent": "latent: the layer before the head (the LCC paper's)"}


def format_layers(layers: Iterable[LayerInfo], *, max_depth: int | None = None) -> str:
    """The table ``lcc layers`` prints; ``max_depth`` keeps names of at most that many dotted
    parts (the head and the latent layer always)."""
    rows = [
        layer
        for layer in layers
        if max_depth is None or layer.role or layer.name.count(".") < max_depth
    ]
    cells = [("layer", "type", "output", "parameters", "")] + [
        (r.name, r.type, _output(r.output), f"{r.parameters:,}", _NOTES.get(r.role, ""))
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = [
        f"{name:<{widths[0]}}  {kind:<{widths[1]}}  {out:<{widths[2]}}  {params:>{widths[3]}}"
        + (f"  {note}" if note else "")
        for name, kind, out, params, note in cells
    ]
    return "\n".join(lines)


def _output(output: tuple[int, ...] | str | None) -> str:
    if output is None:
        return "(not called)"
    if isinstance(output, str):
        return f"({output})"
    return "×".join(map(str, output)) or "scalar"


def check_layers(model: nn.Module, layers: Any, *, model_name: str | None = None) -> list[str]:
    """``layers`` as a list, each name once and a submodule of ``model``; else a ValueError
    (TypeError for what is not a list of names) naming the offending names.

    A bare string is refused rather than read as its characters (``"fc1"`` is not
    ``["f", "c", "1"]``), and a repeated layer rather than given its loss twice.
    ``model_name`` is the name the model was built by (``lcc layers MODEL`` then lists its
    layers); without it the message points to :func:`describe_layers`.
    """
    if isinstance(layers, str) or not isinstance(layers, Iterable):
        raise TypeError(f"layers must be a list of layer names, got {layers!r}")
    layers = list(layers)
    if not layers:
        raise ValueError("layers must name at least one submodule")
    if not all(isinstance(layer, str) for layer in layers):
        raise TypeError(f"layers must be a list of layer names (str), got {layers!r}")
    repeated = sorted({name for name in layers if layers.count(name) > 1})
    if repeated:
        raise ValueError(f"{repeated} given more than once; list each layer once")
    _check_known(model, layers, model_name)
    return layers


def _check_known(model: nn.Module, layers: list[str], model_name: str | None) -> None:
    known = [name for name, _ in model.named_modules() if name]
    unknown = [layer for layer in layers if layer not in set(known)]
    if not unknown:
        return
    close = sorted({m for layer in unknown for m in difflib.get_close_matches(layer, known, n=3)})
    hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
    if model_name is not None:
        where = f"{model_name}{hint}; `lcc layers {model_name}` lists them"
    else:
        where = (
            f"the model ({type(model).__name__}){hint}; lcc.models.describe_layers(model) lists "
            "them, as `lcc layers MODEL` does for a model by name"
        )
    raise ValueError(f"{unknown} are not layers of {where}")
