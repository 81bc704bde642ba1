"""Checkpoints a killed run resumes from: safetensors for tensors, JSON for the rest, no pickle.

A checkpoint is one ``.safetensors`` file: every tensor (model, optimizer
buffers, RNG states, callback targets…) under a flat key, and everything else
as JSON in the file's metadata (``"lcc"``). Nested state such as an
optimizer's ``state_dict`` is stored by :func:`flatten` (tensors out, a JSON
skeleton in) and rebuilt by :func:`unflatten`, dictionary key types included.

:class:`Checkpoints` numbers the files of a run directory, writes each one
atomically (temporary file, fsync, rename), keeps the last ``keep`` and reads
the newest back; a truncated or tampered file is a :class:`CheckpointError`
naming it, never a silent restart.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lcc.io import write_atomic

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Checkpoints",
    "flatten",
    "load",
    "restore_rng",
    "rng_state",
    "unflatten",
]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read (truncated, tampered, or from another config)."""


@dataclass
class Checkpoint:
    """``tensors`` (flat names → CPU tensors) and ``meta`` (JSON-able)."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def with_prefix(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors under ``prefix/``, the prefix removed (e.g. a model's state_dict)."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + "/")}

    def put(self, prefix: str, tensors: dict[str, torch.Tensor]) -> None:
        """Add ``tensors`` under ``prefix/`` (detached CPU copies)."""
        for key, value in tensors.items():
            self.tensors[f"{prefix}/{key}"] = value.detach().cpu().clone()


def flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """A JSON skeleton of ``obj`` with its tensors moved into ``tensors`` under ``prefix``."""
    if torch.is_tensor(obj):
        tensors[prefix] = obj.detach().cpu().clone()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[k, flatten(v, f"{prefix}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, list | tuple):
        items = [flatten(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot checkpoint {type(obj).__name__} at {prefix!r}")


def unflatten(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The object :func:`flatten` took apart."""
    if isinstance(skeleton, list):
        return [unflatten(v, tensors) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if "__tensor__" in skeleton:
        return tensors[skeleton["__tensor__"]]
    if "__tuple__" in skeleton:
        return tuple(unflatten(v, tensors) for v in skeleton["__tuple__"])
    return {k: unflatten(v, tensors) for k, v in skeleton["__dict__"]}


def rng_state(checkpoint: Checkpoint) -> None:
    """Python's, numpy's, torch's and every CUDA device's global RNG state, into ``checkpoint``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (the global one)
    checkpoint.tensors["rng/numpy"] = torch.from_numpy(keys.astype(np.int64))
    checkpoint.tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            checkpoint.tensors[f"rng/cuda/{i}"] = state
    checkpoint.meta["rng"] = {
        "numpy": [kind, int(pos), int(has_gauss), float(gauss)],
        "python": flatten(random.getstate(), "python", {}),
    }


def restore_rng(checkpoint: Checkpoint) -> None:
    """Set the global RNGs back to what :func:`rng_state` recorded."""
    kind, pos, has_gauss, gauss = checkpoint.meta["rng"]["numpy"]
    keys = checkpoint.tensors["rng/numpy"].numpy().astype(np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, gauss))  # noqa: NPY002
    random.setstate(unflatten(checkpoint.meta["rng"]["python"], {}))
    torch.set_rng_state(checkpoint.tensors["rng/torch"])
    cuda = checkpoint.with_prefix("rng/cuda")
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([cuda[str(i)] for i in range(len(cuda))])


class Checkpoints:
    """The numbered checkpoints of a run: ``<folder>/checkpoint-000012.safetensors``."""

    def __init__(self, folder: str | Path, keep: int = 1):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.folder, self.keep = Path(folder), keep

    def paths(self) -> list[Path]:
        return sorted(self.folder.glob("checkpoint-*.safetensors"))

    def save(self, checkpoint: Checkpoint) -> Path:
        """Write ``checkpoint`` as the next number, atomically; drop all but the last ``keep``."""
        from safetensors.torch import save_file

        existing = self.paths()
        number = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
        path = self.folder / f"checkpoint-{number:06d}.safetensors"
        tensors = {k: v.contiguous() for k, v in checkpoint.tensors.items()}
        metadata = {"lcc": json.dumps(checkpoint.meta), "sha256": _digest(tensors)}
        write_atomic(path, lambda p: save_file(tensors, str(p), metadata=metadata))
        for old in self.paths()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint, or None when there is none yet."""
        paths = self.paths()
        return load(paths[-1]) if paths else None


def load(path: str | Path) -> Checkpoint:
    """Read one checkpoint file; a :class:`CheckpointError` naming it when it is damaged."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = fh.metadata() or {}
            meta = json.loads(metadata["lcc"])
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
        if _digest(tensors) != metadata["sha256"]:
            raise ValueError("the tensors' SHA-256 differs from the one written with them")
    except Exception as err:  # safetensors raises several types for a damaged header
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged or not an lcc checkpoint "
            f"({type(err).__name__}: {err}); delete it to resume from an earlier one "
            "(checkpoint.keep > 1) or start the run again"
        ) from None
    return Checkpoint(tensors, meta)


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes (catches tampered data)."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
