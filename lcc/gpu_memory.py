"""One GPU memory allocator for torch and cupy in a process.

During LCC fine-tuning torch (the model) and cupy (the engine: cuVS, cuGraph,
cuML all allocate through cupy or RMM) share one device. With their default
allocators each keeps a cache of freed blocks the other cannot use, so the
correction step's peak sits on top of torch's cache and the training step's
on top of cupy's. lcc therefore routes both through one allocator, chosen
once per process, the first time torch data enters the GPU engine
(:func:`lcc.to_backend` of a CUDA tensor) or when you call
:func:`use_one_allocator` yourself:

* ``"rmm"`` (default when RMM is installed and torch has not allocated on
  CUDA yet): one RMM pool (``PoolMemoryResource`` over ``CudaMemoryResource``,
  starting at RMM's default of half the free memory and growing on demand) as
  the device's current resource, then RMM's allocators for both,
  ``rmm.allocators.torch.rmm_torch_allocator`` through
  ``torch.cuda.memory.change_current_allocator`` and
  ``rmm.allocators.cupy.rmm_cupy_allocator`` through ``cupy.cuda.set_allocator``
  — RAPIDS' own libraries allocate from the current resource, so they share
  the pool too. Without the pool every torch tensor would be a ``cudaMalloc``
  and a ``cudaFree``;
* ``"torch"`` (default otherwise): cupy allocates from torch's caching
  allocator (``torch.cuda.caching_allocator_alloc`` / ``_delete`` behind a
  ``cupy.cuda.memory.PythonFunctionAllocator``, the recipe of
  pytorch-pfn-extras' ``use_torch_mempool_in_cupy``), so memory the engine
  frees is reused by the next training step; where RMM is installed, its
  current resource becomes an ``rmm.mr.CallbackMemoryResource`` over the same
  torch allocator, so cuVS / cuML / cuGraph allocate there too instead of
  ``cudaMalloc`` outside torch's cache;
* ``"cupy"``: leave cupy's own memory pool; the correction step then empties
  it when it ends (:func:`release_cached`).

``$LCC_GPU_ALLOCATOR`` (``auto`` | ``rmm`` | ``torch`` | ``cupy``) sets the choice.
``"auto"`` can choose RMM only before torch's first CUDA allocation: the
pipelines call :func:`use_one_allocator` before they build the model; in your
own script call it first thing.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from lcc._validation import check_choice

__all__ = [
    "ALLOCATOR_ENV_VAR",
    "before_cuda_model",
    "chosen_allocator",
    "release_cached",
    "use_one_allocator",
]

ALLOCATOR_ENV_VAR = "LCC_GPU_ALLOCATOR"
_CHOICES = ("auto", "rmm", "torch", "cupy")
_state: dict[str, Any] = {"chosen": None, "allocator": None}
log = logging.getLogger(__name__)


def chosen_allocator() -> str | None:
    """``"rmm"``, ``"torch"`` or ``"cupy"`` once chosen, else None."""
    return _state["chosen"]


def use_one_allocator(kind: str | None = None) -> str:
    """Route torch and cupy through one allocator (see the module docstring); idempotent.

    Parameters
    ----------
    kind : {"auto", "rmm", "torch", "cupy"}, optional
        Default ``$LCC_GPU_ALLOCATOR`` or ``"auto"``. A different choice after
        one was made is an error: allocations already made belong to the first.

    Returns
    -------
    str
        The allocator in force.
    """
    source = "kind" if kind is not None else f"${ALLOCATOR_ENV_VAR}"
    kind = kind or os.environ.get(ALLOCATOR_ENV_VAR, "auto").strip().lower() or "auto"
    check_choice(kind, source, _CHOICES)
    chosen = _state["chosen"]
    if chosen is not None:
        if kind not in ("auto", chosen):
            raise RuntimeError(
                f"the GPU allocator is already {chosen!r} for this process; {kind!r} can "
                f"only be chosen before lcc's first GPU use (set ${ALLOCATOR_ENV_VAR})"
            )
        return chosen
    import torch

    if kind == "auto":
        kind = "rmm" if _rmm_installed() and not torch.cuda.is_initialized() else "torch"
    if kind == "rmm":
        _use_rmm(torch)
    elif kind == "torch":
        _use_torch_pool()
    _state["chosen"] = kind
    log.info("GPU memory: torch and cupy allocate through %s", kind)
    return kind


def before_cuda_model(device: Any, backend: str | None = None) -> None:
    """Choose the allocator before a model on ``device`` first allocates on CUDA.

    Only then can ``"auto"`` pick RMM (:func:`use_one_allocator`). Nothing
    happens for a CPU device, an engine forced onto the CPU (``backend`` /
    ``$LCC_BACKEND``) or where no GPU is usable.
    """
    import torch

    from lcc._backend import gpu_available, requested_backend

    if torch.device(device).type != "cuda" or requested_backend(backend) == "cpu":
        return
    if gpu_available():
        use_one_allocator()


def _rmm_installed() -> bool:
    from lcc._registry import installed

    return installed("rmm")


def _use_rmm(torch: Any) -> None:
    import cupy
    from rmm.allocators.cupy import rmm_cupy_allocator
    from rmm.allocators.torch import rmm_torch_allocator

    if torch.cuda.is_initialized():
        raise RuntimeError(
            "RMM can only become torch's allocator before torch's first CUDA allocation; "
            f"call lcc.gpu_memory.use_one_allocator('rmm') first, or set {ALLOCATOR_ENV_VAR}=torch"
        )
    import rmm

    # RMM keeps a reference to its current resource (set_per_device_resource)
    rmm.mr.set_current_device_resource(rmm.mr.PoolMemoryResource(rmm.mr.CudaMemoryResource()))
    torch.cuda.memory.change_current_allocator(rmm_torch_allocator)
    cupy.cuda.set_allocator(rmm_cupy_allocator)


def _use_torch_pool() -> None:
    """cupy allocations served by torch's caching allocator, on torch's current stream."""
    import cupy
    import torch

    def alloc(size: int, device: int) -> int:
        return torch.cuda.caching_allocator_alloc(size, device, torch.cuda.current_stream(device))

    def free(pointer: int, device: int) -> None:
        torch.cuda.caching_allocator_delete(pointer)

    allocator = cupy.cuda.memory.PythonFunctionAllocator(alloc, free)
    _state["allocator"] = allocator  # cupy keeps no reference to it
    cupy.cuda.set_allocator(allocator.malloc)
    if _rmm_installed():  # RAPIDS allocates through RMM's current resource: route it too
        import rmm

        resource = rmm.mr.CallbackMemoryResource(
            lambda size, stream: alloc(size, torch.cuda.current_device()),
            lambda pointer, size, stream: free(pointer, 0),
        )
        rmm.mr.set_current_device_resource(resource)


def release_cached() -> None:
    """Give back what the engine cached: cupy's pools when cupy allocates on its own.

    With the ``"torch"`` or ``"rmm"`` allocator freed blocks are already back in
    the shared pool, so nothing is left to release.
    """
    from lcc._backend import gpu_available

    if _state["chosen"] not in (None, "cupy") or not gpu_available():
        return  # the pool is shared, or the engine never ran on a GPU
    import cupy

    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()


def _reset_for_tests() -> None:
    _state.update(chosen=None, allocator=None)
