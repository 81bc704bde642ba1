"""Move latents between torch and the engine through DLPack, without copies.

A CUDA tensor becomes a cupy array on the same device and a CPU tensor a numpy
array, sharing memory (``to_backend``); engine results go back the same way
(``to_torch``). :class:`LatentBuffer` collects per-sample latents by dataset
index so that shuffled loaders, ``drop_last`` or DDP sharding can never
misalign them with labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lcc._backend import is_gpu_array, requested_backend, require_gpu

if TYPE_CHECKING:
    import torch

__all__ = ["LatentBuffer", "to_backend", "to_torch"]


def to_backend(tensor: torch.Tensor, backend: str | None = None) -> Any:
    """View a torch tensor as the engine's array type, zero-copy through DLPack.

    Parameters
    ----------
    tensor : torch.Tensor
        Any tensor; it is detached from the autograd graph first.
    backend : {"auto", "cpu", "gpu"}, optional
        ``"auto"`` (default, or ``$LCC_BACKEND``): a CUDA tensor becomes a cupy
        array and a CPU tensor a numpy array, both sharing the tensor's memory.
        ``"cpu"`` / ``"gpu"`` move the tensor to that device first (a copy).

    Returns
    -------
    numpy.ndarray or cupy.ndarray
        Shares memory with ``tensor`` when no move was needed. bfloat16 has no
        numpy / cupy equivalent and is converted to float32 (a copy).
    """
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    choice = requested_backend(backend)
    t = tensor.detach()
    if choice == "gpu" or (choice == "auto" and t.is_cuda):
        require_gpu("a CUDA tensor" if choice == "auto" else "backend='gpu'")
        import cupy

        if not t.is_cuda:
            t = t.cuda()
        return cupy.from_dlpack(_dlpack_ready(t))
    if t.is_cuda:
        t = t.cpu()
    return np.from_dlpack(_dlpack_ready(t))


def to_torch(array: Any, device: torch.device | str | None = None) -> torch.Tensor:
    """View a numpy / cupy array as a torch tensor through DLPack (zero-copy).

    ``device`` moves the result afterwards (a copy when it differs).
    """
    import torch

    if not (isinstance(array, np.ndarray) or is_gpu_array(array)):
        raise TypeError(f"array must be a numpy or cupy array, got {type(array).__name__}")
    if isinstance(array, np.ndarray) and not array.flags.writeable:
        array = array.copy()  # torch refuses read-only memory
    out = torch.from_dlpack(array)
    return out if device is None else out.to(device)


def _dlpack_ready(t: torch.Tensor) -> torch.Tensor:
    import torch

    if t.dtype == torch.bfloat16:
        t = t.float()
    if t.is_conj():
        t = t.resolve_conj()
    return t


class LatentBuffer:
    """An ``(n_samples, dim)`` latent matrix filled by dataset index.

    Rows are written at the indices of the samples they belong to, never in
    arrival order, so a shuffled ``DataLoader`` gives the same matrix as a
    sequential one. The buffer lives on the model's device and is handed to
    the engine with :meth:`to_backend` without a copy.

    Parameters
    ----------
    n_samples, dim : int
        Size of the data set and of one flattened latent vector.
    device, dtype
        Where and how to store it (default: CPU, float32).

    Examples
    --------
    >>> buf = LatentBuffer(len(dataset), 64, device=model_device)
    >>> for x, y, idx in loader:                       # any order
    ...     buf.write(idx, encoder(x))
    >>> z = buf.to_backend()                           # numpy or cupy, zero-copy
    """

    def __init__(self, n_samples: int, dim: int, *, device: Any = "cpu", dtype: Any = None):
        import torch

        if n_samples < 1 or dim < 1:
            raise ValueError(f"n_samples and dim must be positive, got {n_samples}, {dim}")
        self.data = torch.zeros(n_samples, dim, device=device, dtype=dtype or torch.float32)
        self.filled = torch.zeros(n_samples, dtype=torch.bool, device=device)

    def write(self, indices: Any, latents: torch.Tensor) -> None:
        """Store ``latents`` (batch, ...) flattened, at rows ``indices`` (batch,)."""
        import torch

        idx = torch.as_tensor(indices, device=self.data.device, dtype=torch.long).reshape(-1)
        z = latents.detach().reshape(latents.shape[0], -1)
        if z.shape[0] != idx.shape[0]:
            raise ValueError(f"{z.shape[0]} latents but {idx.shape[0]} indices")
        if z.shape[1] != self.data.shape[1]:
            raise ValueError(f"latents have {z.shape[1]} features, the buffer {self.data.shape[1]}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.data.shape[0]):
            raise ValueError(f"indices must lie in [0, {self.data.shape[0]})")
        self.data[idx] = z.to(self.data.dtype)
        self.filled[idx] = True

    @property
    def complete(self) -> bool:
        return bool(self.filled.all())

    def to_backend(self, backend: str | None = None) -> Any:
        """The whole buffer as a numpy / cupy array (zero-copy); every row must be written."""
        if not self.complete:
            missing = int((~self.filled).sum())
            raise ValueError(
                f"{missing} of {self.filled.numel()} samples were never written; run the "
                "capture pass over the whole data set (without drop_last) first"
            )
        return to_backend(self.data, backend)
