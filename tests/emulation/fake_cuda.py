"""``cupy.cuda`` of the emulation, and device-memory lifetimes (tests only).

An emulated device array's memory is its numpy storage: the *owning* numpy array
at the root of its ``.base`` chain. Like a cupy allocation it lives while any
array (or view) over it lives, and CPython frees it as soon as the last one goes.

* :class:`DeviceView` is what a RAPIDS object that keeps a raw device pointer
  holds (cuVS's brute-force index over its dataset): a *weak* reference to that
  storage plus the view's offset, shape and strides. Reading it after the
  storage is gone raises (:class:`FreedDeviceMemory`) instead of returning stale
  numbers; on a GPU the pool hands the freed block to the next allocation and
  the reader silently sees someone else's data. Raising is stricter than
  poisoning: the defect fails at its first read, with a message naming it.
* Allocations are routed to the allocator set with ``cupy.cuda.set_allocator``
  when it is the emulated ``rmm.allocators.cupy.rmm_cupy_allocator`` (its
  ``_emulated_observe``): every new owning array is allocated from RMM's current
  device resource and deallocated there when its storage is freed, so RMM's
  statistics, pool growth and ``maximum_pool_size`` (``MemoryError``) are seen.

What stays unmodelled:

* freed memory is never *reused*: numpy returns it to the host heap, so a reader
  that escaped :class:`DeviceView` (a raw ``.data.ptr``, ``UnownedMemory``)
  still sees the old values;
* storage that numpy does not own (``from_dlpack`` of a torch tensor, a base
  that is a foreign buffer) is not tracked: its owner's lifetime is unknown
  here, so a view over it holds it strongly and never fails;
* cupy's own pool (``MemoryPool``) only counts what is passed to ``malloc``; the
  default allocator does not route array allocations through it;
* streams: every operation is synchronous, so a missing ``synchronize`` or a
  use on the wrong stream is invisible.
"""

from __future__ import annotations

import types
import weakref
from typing import Any

import numpy as np


# ------------------------------------------------------------------ lifetimes
class FreedDeviceMemory(RuntimeError):
    """Raised when an object that kept a non-owning device pointer reads freed memory."""


def _owner(a: np.ndarray) -> np.ndarray:
    """The numpy array at the root of ``a``'s ``.base`` chain."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class DeviceView:
    """A non-owning view of an emulated device array's memory (a raw pointer + layout).

    ``what`` names the holder in the error, e.g. ``"cuVS brute_force index"``.
    """

    def __init__(self, a: np.ndarray, what: str):
        self.what = what
        self.shape, self.dtype, self.strides = a.shape, a.dtype, a.strides
        owner = _owner(a)
        flat = owner.ravel(order="K") if owner.base is None else None
        if flat is None or not np.shares_memory(flat, owner) or flat.base is None:
            flat = None  # not numpy-owned, or not one block: cannot be tracked
        self._strong: np.ndarray | None = a if flat is None else None
        self._owner = weakref.ref(owner)
        if flat is not None:
            start = owner.__array_interface__["data"][0]
            self.offset = a.__array_interface__["data"][0] - start

    @property
    def alive(self) -> bool:
        return self._strong is not None or self._owner() is not None

    def get(self) -> np.ndarray:
        """The viewed array, read now (writes made since the build are seen)."""
        if self._strong is not None:
            return self._strong
        owner = self._owner()
        if owner is None:
            raise FreedDeviceMemory(
                f"{self.what}: its dataset was freed (the index is a non-owning view of the "
                "array it was built from, which was garbage-collected); on a GPU this reads "
                "whatever the memory pool put there since. Keep the dataset alive as long "
                "as the index is searched."
            )
        flat = owner.ravel(order="K").view(np.uint8)
        return np.ndarray(self.shape, self.dtype, buffer=flat, offset=self.offset,
                          strides=self.strides)  # fmt: skip


# ------------------------------------------------------------------ allocator
_ALLOCATOR: dict[str, Any] = {"observe": None}
_ACCOUNTED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _allocated(a: np.ndarray) -> None:
    """A new device array's storage: charged to the current allocator when it observes."""
    observe = _ALLOCATOR["observe"]
    if observe is None or a.base is not None or not a.nbytes:
        return
    if _ACCOUNTED.get(id(a)) is a:
        return  # the same storage wrapped twice
    observe(a)
    _ACCOUNTED[id(a)] = a


class Device:
    __module__ = "cupy.cuda"

    def __init__(self, device: int | None = None):
        self.id = 0 if device is None else int(device)

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def use(self) -> None:
        return None

    @property
    def mem_info(self) -> tuple[int, int]:
        return (64 << 30, 80 << 30)

    def synchronize(self) -> None:
        return None


class MemoryPool:
    """cupy's caching pool: counts what it caches so tests can see it released."""

    def __init__(self, allocator: Any = None):
        self.cached = 0

    def used_bytes(self) -> int:
        return 0

    def total_bytes(self) -> int:
        return self.cached

    def free_all_blocks(self, stream: Any = None) -> None:
        self.cached = 0

    def malloc(self, size: int) -> Any:
        self.cached += size
        return None


_POOLS = (MemoryPool(), MemoryPool())


def get_default_memory_pool() -> MemoryPool:
    return _POOLS[0]


def get_default_pinned_memory_pool() -> MemoryPool:
    return _POOLS[1]


def cuda_module() -> types.ModuleType:
    cuda = types.ModuleType("cupy.cuda")
    pool = _POOLS[0]
    state: dict[str, Any] = {"allocator": pool.malloc}

    def set_allocator(allocator: Any = None) -> None:
        state.update(allocator=allocator)
        _ALLOCATOR["observe"] = getattr(allocator, "_emulated_observe", None)

    def reset() -> None:
        """A fresh process: cupy's own pool allocates again (called per test install)."""
        set_allocator(pool.malloc)

    cuda.Device = Device
    cuda.MemoryPool = MemoryPool
    cuda.PinnedMemoryPool = MemoryPool
    cuda.set_allocator = set_allocator
    cuda.get_allocator = lambda: state["allocator"]
    cuda._emulated_reset = reset
    cuda.set_pinned_memory_allocator = lambda allocator=None: None
    cuda.UnownedMemory = lambda ptr, size, owner, device_id=None: types.SimpleNamespace(
        ptr=ptr, size=size, owner=owner
    )
    cuda.MemoryPointer = lambda mem, offset: types.SimpleNamespace(mem=mem, offset=offset)
    cuda.runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        memGetInfo=lambda: Device().mem_info,
        getDevice=lambda: 0,
        getDeviceProperties=lambda i: {"name": b"Emulated GPU", "totalGlobalMem": 80 << 30},
        runtimeGetVersion=lambda: 13000,
        driverGetVersion=lambda: 13000,
    )

    class PythonFunctionAllocator:
        """cupy.cuda.memory.PythonFunctionAllocator(malloc_func, free_func)."""

        def __init__(self, malloc_func: Any, free_func: Any):
            self.malloc_func, self.free_func = malloc_func, free_func

        def malloc(self, size: int) -> Any:
            return self.malloc_func(size, 0)

    cuda.memory = types.SimpleNamespace(PythonFunctionAllocator=PythonFunctionAllocator)
    cuda.get_current_stream = lambda: types.SimpleNamespace(synchronize=lambda: None, ptr=0)
    cuda.Stream = types.SimpleNamespace(null=types.SimpleNamespace(ptr=0))
    cuda._pools = _POOLS
    return cuda
