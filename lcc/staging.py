"""Move latents between torch and the engine through DLPack, without copies.

A CUDA tensor becomes a cupy array on the same device and a CPU tensor a numpy
array, sharing memory (``to_backend``); engine results go back the same way
(``to_torch``). :class:`LatentBuffer` collects per-sample latents by dataset
index so that shuffled loaders, ``drop_last`` or DDP sharding can never
misalign them with labels. When a latent matrix would not fit in memory,
:func:`latent_buffer` gives a :class:`LatentStore` instead: the same writes go
to an on-disk zarr array, read back as a Dask array by the engine's Dask
backend.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lcc._backend import is_gpu_array, requested_backend, require_gpu

if TYPE_CHECKING:
    import torch

__all__ = ["LatentBuffer", "LatentStore", "latent_buffer", "to_backend", "to_torch"]

log = logging.getLogger(__name__)


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

        from lcc.gpu_memory import use_one_allocator

        use_one_allocator()  # torch and cupy share one pool from here on
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
        self.out_of_range = torch.zeros((), dtype=torch.bool, device=device)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]

    def write(self, indices: Any, latents: torch.Tensor) -> None:
        """Store ``latents`` (batch, ...) flattened, at rows ``indices`` (batch,)."""
        import torch

        idx, z = _check_writes(torch.as_tensor(indices), latents.detach(), *self.data.shape)
        idx = rows_on(idx, self.data.shape[0], self.data.device, self.out_of_range)
        self.data[idx] = z.to(self.data.dtype)
        self.filled.index_fill_(0, idx, True)  # a Python scalar through [] waits for the device

    @property
    def complete(self) -> bool:
        return bool(self.filled.all())

    def to_backend(self, backend: str | None = None) -> Any:
        """The whole buffer as a numpy / cupy array (zero-copy); every row must be written."""
        raise_out_of_range(self.out_of_range, self.data.shape[0])
        if not self.complete:
            missing = int((~self.filled).sum())
            raise ValueError(
                f"{missing} of {self.filled.numel()} samples were never written; run the "
                "capture pass over the whole data set (without drop_last) first"
            )
        return to_backend(self.data, backend)


def _check_writes(indices: Any, latents: Any, n: int, dim: int) -> tuple[Any, Any]:
    """``(indices, latents)`` flattened to ``(batch,)`` / ``(batch, dim)``, checked."""
    idx = indices.reshape(-1)
    z = latents.reshape(latents.shape[0], -1)
    if z.shape[0] != idx.shape[0]:
        raise ValueError(f"{z.shape[0]} latents but {idx.shape[0]} indices")
    if z.shape[1] != dim:
        raise ValueError(f"latents have {z.shape[1]} features, the buffer {dim}")
    return idx, z


def rows_on(indices: Any, n: int, device: Any, out_of_range: Any) -> Any:
    """``indices`` (dataset indices) as a long tensor on ``device``, range-checked.

    Indices on the host (a DataLoader's) are checked at once. Indices already on
    a GPU (Lightning moves the whole batch) are not read back, which would make
    every training step wait for the device: they are clamped into range and
    any violation is or-ed into the bool tensor ``out_of_range`` (on their
    device), which :func:`raise_out_of_range` turns into the error later.
    """
    import torch

    idx = torch.as_tensor(indices).reshape(-1)
    if idx.device.type == "cpu":
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise ValueError(f"indices must lie in [0, {n})")
        return idx.to(device, torch.long, non_blocking=True)
    idx = idx.to(device, torch.long)
    out_of_range |= ((idx < 0) | (idx >= n)).any().to(out_of_range.device)
    return idx.clamp(0, n - 1)


def raise_out_of_range(out_of_range: Any, n: int) -> None:
    """The deferred error of :func:`rows_on` (reads one flag: one device sync)."""
    if bool(out_of_range):
        raise ValueError(f"indices must lie in [0, {n}): a write had one outside")


class LatentStore:
    """An ``(n_samples, dim)`` latent matrix on disk (zarr), written by dataset index.

    The out-of-core twin of :class:`LatentBuffer`: same ``write`` /
    ``complete``, but rows go to a zarr array in ``path`` (chunks of
    ``chunk_rows`` samples) and :meth:`to_dask` reads it back as a Dask array
    sharded by the same chunks, which the engine's Dask backend clusters
    without loading it whole. Rows written in one call are sorted by index
    first, so a sequential capture pass writes whole chunks.

    :meth:`finish` writes a completion marker beside the store
    (``<path>.complete``) once every row is in; :meth:`open` reads a store back
    only with it, so an interrupted capture is never taken for a whole one.
    """

    def __init__(
        self,
        path: str | Path,
        n_samples: int,
        dim: int,
        *,
        chunk_rows: int = 65536,
        dtype: Any = np.float32,
    ):
        import zarr

        if n_samples < 1 or dim < 1:
            raise ValueError(f"n_samples and dim must be positive, got {n_samples}, {dim}")
        self.path = Path(path)
        self.marker.unlink(missing_ok=True)  # an old completion does not cover the new rows
        self.array = zarr.open_array(
            str(self.path),
            mode="w",
            shape=(n_samples, dim),
            chunks=(min(chunk_rows, n_samples), dim),
            dtype=dtype,
        )
        self.filled = np.zeros(n_samples, dtype=bool)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    def write(self, indices: Any, latents: torch.Tensor) -> None:
        """Store ``latents`` (batch, ...) flattened, at rows ``indices`` (batch,)."""
        import torch

        idx = torch.as_tensor(indices).cpu()  # rows go to disk from the host anyway
        idx, z = _check_writes(idx, latents.detach(), *self.shape)
        idx = rows_on(idx, self.shape[0], "cpu", None)
        order = torch.argsort(idx)
        rows = idx[order].numpy()
        values = z[order].float().cpu().numpy()
        if rows.size and np.all(np.diff(rows) == 1):  # one contiguous run: a plain slice
            self.array[int(rows[0]) : int(rows[-1]) + 1] = values
        else:
            self.array.oindex[rows] = values
        self.filled[rows] = True

    @property
    def complete(self) -> bool:
        return bool(self.filled.all())

    @property
    def marker(self) -> Path:
        return self.path.with_name(self.path.name + ".complete")

    def finish(self) -> None:
        """Mark the store complete on disk (every row written), atomically."""
        from lcc.io import write_json

        if not self.complete:
            missing = int((~self.filled).sum())
            raise ValueError(f"{missing} of {self.filled.size} samples were never written")
        write_json(self.marker, {"shape": list(self.shape)})

    @classmethod
    def open(cls, path: str | Path) -> LatentStore:
        """A finished store read back from ``path``; an error when its capture never finished."""
        import zarr

        store = cls.__new__(cls)
        store.path = Path(path)
        if not store.marker.is_file():
            raise ValueError(
                f"latent store {str(store.path)!r} is incomplete: its capture pass was "
                "interrupted (no completion marker); capture the latents again"
            )
        store.array = zarr.open_array(str(store.path), mode="r")
        store.filled = np.ones(store.array.shape[0], dtype=bool)
        return store

    def to_dask(self) -> Any:
        """The stored matrix as a Dask array chunked like the zarr array (every row written)."""
        import dask.array as da

        if not self.complete:
            missing = int((~self.filled).sum())
            raise ValueError(f"{missing} of {self.filled.size} samples were never written")
        return da.from_zarr(self.array)


def latent_buffer(
    n_samples: int,
    dim: int,
    *,
    device: Any = "cpu",
    max_in_memory_bytes: int | None = None,
    store_dir: str | Path | None = None,
    name: str = "latents",
) -> LatentBuffer | LatentStore:
    """An in-memory :class:`LatentBuffer` if the latents fit, else an on-disk :class:`LatentStore`.

    ``max_in_memory_bytes`` is the largest float32 matrix kept in memory
    (default: half the free memory of ``device`` — CUDA's free memory, or the
    host's available RAM). The choice is logged. The store goes to
    ``store_dir/name.zarr`` (default: a fresh temporary directory).
    """
    import torch

    nbytes = n_samples * dim * 4
    device = torch.device(device)
    if max_in_memory_bytes is None:
        if device.type == "cuda":
            max_in_memory_bytes = torch.cuda.mem_get_info(device)[0] // 2
        else:
            import psutil

            max_in_memory_bytes = psutil.virtual_memory().available // 2
    if nbytes <= max_in_memory_bytes:
        log.info(
            "%s: %d × %d latents (%.1f MiB) in memory on %s",
            name,
            n_samples,
            dim,
            nbytes / 2**20,
            device,
        )
        return LatentBuffer(n_samples, dim, device=device)
    root = Path(store_dir) if store_dir is not None else Path(tempfile.mkdtemp(prefix="lcc-"))
    path = root / f"{name}.zarr"
    log.info(
        "%s: %d × %d latents (%.1f MiB) exceed max_in_memory_bytes=%d: written to %s",
        name,
        n_samples,
        dim,
        nbytes / 2**20,
        max_in_memory_bytes,
        path,
    )
    return LatentStore(path, n_samples, dim)
