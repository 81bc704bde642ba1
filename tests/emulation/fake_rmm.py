"""A fake ``rmm`` (26.10): memory resources, ``reinitialize``, statistics, allocators.

Read from the rmm 26.10 wheel: ``rmm/rmm.py`` (``reinitialize``),
``rmm/statistics.py``, ``rmm/allocators/cupy.py``,
``rmm/pylibrmm/memory_resource/_memory_resource.pyx`` / ``.pyi`` (the classes,
``_initialize``), ``rmm/pylibrmm/helper.pyx`` (``parse_bytes``), and rapidsai/rmm
``cpp/src/mr/detail/pool_memory_resource_impl.cpp`` (the pool's checks):

* every call is recorded in :data:`CALLS` as ``(name, {argument: value})`` so a
  test can assert what ``lcc`` configured; :func:`module_tree` starts afresh
  (a new process: ``CudaMemoryResource`` current, no calls);
* resources take ``upstream_mr`` typed (``TypeError`` otherwise, as the Cython
  signature does); sizes go through ``parse_bytes`` (an int or a byte string:
  a float is a ``TypeError``); a pool size that is not a multiple of 256 bytes,
  or an initial size above the maximum, is RMM's ``RuntimeError``;
* ``rmm_cupy_allocator`` is observed by the emulated cupy (:mod:`.fake_cuda`):
  each new device array is allocated from the *current* resource and given back
  to it when freed, so ``StatisticsResourceAdaptor`` counts, a pool grows, and
  a pool at its ``maximum_pool_size`` raises ``MemoryError`` as RMM's
  ``out_of_memory`` does. Torch's allocations (``rmm_torch_allocator``) are not
  seen: the emulated torch model stays on the host.
"""

from __future__ import annotations

import re
import types
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ALIGN = 256  # rmm::CUDA_ALLOCATION_ALIGNMENT
FREE, TOTAL = 64 << 30, 80 << 30  # the emulated device (fake_cuda.Device.mem_info)
CALLS: list[tuple[str, dict[str, Any]]] = []
_STATE: dict[str, Any] = {}
_BYTES = {"b": 1, "": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50}  # fmt: skip


class RMMError(Exception):
    __module__ = "rmm.rmm"


def parse_bytes(s: Any) -> int:
    """``rmm.pylibrmm.helper.parse_bytes``: an int as is, else a byte specification string."""
    if isinstance(s, int):
        return s
    if not isinstance(s, str | bytes):
        raise TypeError(f"expected string or bytes-like object, got {type(s).__name__!r}")
    match = re.match(r"^([0-9]+(?:\.[0-9]*)?)[\t ]*((?i:(?:[kmgtp]i?)?b))?$", s)
    if match is None:
        raise ValueError(f"Could not parse {s} as a byte specification")
    return int(float(match.group(1)) * _BYTES[(match.group(2) or "").lower()])


def _rmm_failure(message: str) -> RuntimeError:
    return RuntimeError(f"RMM failure at: pool_memory_resource_impl.cpp: {message}")


@dataclass
class Statistics:
    """``rmm.statistics.Statistics``."""

    current_bytes: int = 0
    current_count: int = 0
    peak_bytes: int = 0
    peak_count: int = 0
    total_bytes: int = 0
    total_count: int = 0


Statistics.__module__ = "rmm.statistics"  # after @dataclass, which resolves its module


class DeviceMemoryResource:
    __module__ = "rmm.pylibrmm.memory_resource._memory_resource"

    def allocate(self, nbytes: int, stream: Any = None) -> int:
        _STATE["next_ptr"] += -(-max(nbytes, 1) // ALIGN) * ALIGN
        return _STATE["next_ptr"]

    def deallocate(self, ptr: int, nbytes: int, stream: Any = None) -> None:
        return None


def _record(name: str, **arguments: Any) -> None:
    CALLS.append((name, arguments))


def _upstream(mr: Any) -> DeviceMemoryResource:
    if not isinstance(mr, DeviceMemoryResource):
        raise TypeError(
            "Argument 'upstream_mr' has incorrect type (expected rmm.pylibrmm.memory_resource."
            f"_memory_resource.DeviceMemoryResource, got {type(mr).__name__})"
        )
    return mr


class CudaMemoryResource(DeviceMemoryResource):
    def __init__(self):
        _record("CudaMemoryResource")


class ManagedMemoryResource(DeviceMemoryResource):
    def __init__(self):
        _record("ManagedMemoryResource")


class UpstreamResourceAdaptor(DeviceMemoryResource):
    def __init__(self, upstream_mr, *args, **kwargs):
        self.upstream_mr = _upstream(upstream_mr)

    def get_upstream(self) -> DeviceMemoryResource:
        return self.upstream_mr


class PoolMemoryResource(UpstreamResourceAdaptor):
    """A pool of ``initial_pool_size`` (default half the free memory) growing on demand up
    to ``maximum_pool_size``; every block is rounded up to 256 bytes."""

    def __init__(self, upstream_mr, initial_pool_size=None, maximum_pool_size=None):
        super().__init__(upstream_mr)
        initial = FREE // 2 // ALIGN * ALIGN if initial_pool_size is None else (
            parse_bytes(initial_pool_size))  # fmt: skip
        maximum = None if maximum_pool_size is None else parse_bytes(maximum_pool_size)
        if initial % ALIGN:
            raise _rmm_failure("Error, Initial pool size required to be a multiple of 256 bytes")
        if (maximum or 0) % ALIGN:
            raise _rmm_failure("Error, Maximum pool size required to be a multiple of 256 bytes")
        if maximum is not None and initial > maximum:
            raise _rmm_failure("Initial pool size exceeds the maximum pool size!")
        self.initial, self.maximum, self.size, self.used = initial, maximum, initial, 0
        _record("PoolMemoryResource", upstream_mr=upstream_mr, initial_pool_size=initial_pool_size,
                maximum_pool_size=maximum_pool_size)  # fmt: skip

    def pool_size(self) -> int:
        return self.size

    def allocate(self, nbytes: int, stream: Any = None) -> int:
        block = -(-max(nbytes, 1) // ALIGN) * ALIGN
        if self.used + block > self.size:
            grown = max(self.used + block, min(2 * self.size, TOTAL))
            limit = TOTAL if self.maximum is None else self.maximum
            if self.used + block > limit:
                raise MemoryError(
                    "std::bad_alloc: out_of_memory: RMM failure at: pool_memory_resource_impl."
                    f"cpp: Maximum pool size exceeded (failed to allocate {block} B): Not enough "
                    f"room to grow, current/max/try size = {self.size}, {limit}, {block}"
                )
            self.size = min(grown, limit)
        self.used += block
        return super().allocate(block)

    def deallocate(self, ptr: int, nbytes: int, stream: Any = None) -> None:
        self.used -= -(-max(nbytes, 1) // ALIGN) * ALIGN


class StatisticsResourceAdaptor(UpstreamResourceAdaptor):
    """Current / peak / total bytes and counts, on a stack of counters."""

    def __init__(self, upstream_mr):
        super().__init__(upstream_mr)
        self._stack = [Statistics()]
        _record("StatisticsResourceAdaptor", upstream_mr=upstream_mr)

    def allocate(self, nbytes: int, stream: Any = None) -> int:
        ptr = self.upstream_mr.allocate(nbytes, stream)
        for s in self._stack:
            s.current_bytes += nbytes
            s.current_count += 1
            s.total_bytes += nbytes
            s.total_count += 1
            s.peak_bytes = max(s.peak_bytes, s.current_bytes)
            s.peak_count = max(s.peak_count, s.current_count)
        return ptr

    def deallocate(self, ptr: int, nbytes: int, stream: Any = None) -> None:
        self.upstream_mr.deallocate(ptr, nbytes, stream)
        for s in self._stack:
            s.current_bytes -= nbytes
            s.current_count -= 1

    @property
    def allocation_counts(self) -> Statistics:
        return Statistics(**vars(self._stack[-1]))

    def push_counters(self) -> Statistics:
        before = self.allocation_counts
        self._stack.append(Statistics())
        return before

    def pop_counters(self) -> Statistics:
        if len(self._stack) == 1:
            raise IndexError("cannot pop the last counter pair")
        return self._stack.pop()


class CallbackMemoryResource(DeviceMemoryResource):
    def __init__(self, allocate_func, deallocate_func):
        self.allocate_func, self.deallocate_func = allocate_func, deallocate_func
        _record("CallbackMemoryResource", allocate_func=allocate_func,
                deallocate_func=deallocate_func)  # fmt: skip

    def allocate(self, nbytes: int, stream: Any = None) -> int:
        return self.allocate_func(nbytes, stream)

    def deallocate(self, ptr: int, nbytes: int, stream: Any = None) -> None:
        self.deallocate_func(ptr, nbytes, stream)


for _cls in (CudaMemoryResource, ManagedMemoryResource, UpstreamResourceAdaptor,
             PoolMemoryResource, StatisticsResourceAdaptor, CallbackMemoryResource):  # fmt: skip
    _cls.__module__ = DeviceMemoryResource.__module__


def set_current_device_resource(mr):
    if not isinstance(mr, DeviceMemoryResource):
        raise TypeError(
            "Argument 'mr' has incorrect type (expected rmm.pylibrmm.memory_resource."
            f"_memory_resource.DeviceMemoryResource, got {type(mr).__name__})"
        )
    _record("set_current_device_resource", mr=mr)
    _STATE["resources"][0] = mr


def get_current_device_resource():
    return _STATE["resources"][0]


def set_per_device_resource(device, mr):
    _record("set_per_device_resource", device=device, mr=mr)
    _STATE["resources"][int(device)] = mr


def get_per_device_resource(device):
    return _STATE["resources"][int(device)]


def is_initialized():
    return True


def reinitialize(pool_allocator=False, managed_memory=False, initial_pool_size=None,
                 maximum_pool_size=None, devices=0, logging=False, log_file_name=None):  # fmt: skip
    """``rmm.reinitialize``: runs the hooks, then one resource per device (``_initialize``)."""
    _record("reinitialize", pool_allocator=pool_allocator, managed_memory=managed_memory,
            initial_pool_size=initial_pool_size, maximum_pool_size=maximum_pool_size,
            devices=devices, logging=logging, log_file_name=log_file_name)  # fmt: skip
    for func, args, kwargs in reversed(_STATE["hooks"]):
        func(*args, **kwargs)
    upstream = ManagedMemoryResource if managed_memory else CudaMemoryResource
    for device in [devices] if isinstance(devices, int) else (devices or [0]):
        if pool_allocator:
            mr = PoolMemoryResource(
                upstream(),
                initial_pool_size=None if initial_pool_size is None else parse_bytes(
                    initial_pool_size),
                maximum_pool_size=None if maximum_pool_size is None else parse_bytes(
                    maximum_pool_size),
            )  # fmt: skip
        else:
            mr = upstream()
        set_per_device_resource(device, mr)


def register_reinitialize_hook(func, *args, **kwargs):
    _STATE["hooks"].append((func, args, kwargs))
    return func


def unregister_reinitialize_hook(func):
    _STATE["hooks"][:] = [h for h in _STATE["hooks"] if h[0] is not func]


# --------------------------------------------------------------- rmm.statistics
def enable_statistics() -> None:
    mr = get_current_device_resource()
    if not isinstance(mr, StatisticsResourceAdaptor):
        set_current_device_resource(StatisticsResourceAdaptor(mr))


def get_statistics() -> Statistics | None:
    mr = get_current_device_resource()
    return mr.allocation_counts if isinstance(mr, StatisticsResourceAdaptor) else None


def push_statistics() -> Statistics | None:
    mr = get_current_device_resource()
    return mr.push_counters() if isinstance(mr, StatisticsResourceAdaptor) else None


def pop_statistics() -> Statistics | None:
    mr = get_current_device_resource()
    return mr.pop_counters() if isinstance(mr, StatisticsResourceAdaptor) else None


@contextmanager
def statistics():
    prior = None
    if push_statistics() is None:
        prior = get_current_device_resource()
        enable_statistics()
    current = get_current_device_resource()
    try:
        yield
    finally:
        if current is not get_current_device_resource():
            raise ValueError("RMM memory source stack was changed while in the statistics context")
        if prior is None:
            pop_statistics()
        else:
            set_current_device_resource(prior)


# ------------------------------------------------------------------ allocators
def rmm_cupy_allocator(nbytes: int) -> Any:
    """Allocates ``nbytes`` from the current device resource (a ``MemoryPointer`` stand-in)."""
    mr = get_current_device_resource()
    ptr = mr.allocate(nbytes)
    return types.SimpleNamespace(ptr=ptr, mem=types.SimpleNamespace(ptr=ptr, size=nbytes, owner=mr))


def _observe(storage: Any) -> None:
    """Called by the emulated cupy for each new array while this is cupy's allocator."""
    import weakref

    nbytes = storage.nbytes
    mr = get_current_device_resource()
    ptr = mr.allocate(nbytes)
    weakref.finalize(storage, mr.deallocate, ptr, nbytes)  # a DeviceBuffer frees to its own mr


rmm_cupy_allocator._emulated_observe = _observe


def module_tree(module: Any) -> dict[str, types.ModuleType]:
    """Fresh ``rmm`` modules and state (``module(name, **attrs)`` makes one)."""
    CALLS.clear()
    _STATE.update(next_ptr=1 << 32, hooks=[], resources={})
    _STATE["resources"][0] = DeviceMemoryResource.__new__(CudaMemoryResource)
    names = ("CudaMemoryResource", "ManagedMemoryResource", "UpstreamResourceAdaptor",
             "PoolMemoryResource", "StatisticsResourceAdaptor", "CallbackMemoryResource",
             "DeviceMemoryResource", "set_current_device_resource", "get_current_device_resource",
             "set_per_device_resource", "get_per_device_resource", "is_initialized")  # fmt: skip
    mr = module("rmm.mr", **{n: globals()[n] for n in names})
    stats = module("rmm.statistics", Statistics=Statistics, enable_statistics=enable_statistics,
                   get_statistics=get_statistics, push_statistics=push_statistics,
                   pop_statistics=pop_statistics, statistics=statistics)  # fmt: skip
    rmm_cupy = module("rmm.allocators.cupy", rmm_cupy_allocator=rmm_cupy_allocator)
    rmm_torch = module("rmm.allocators.torch", rmm_torch_allocator=object())
    allocators = module("rmm.allocators", cupy=rmm_cupy, torch=rmm_torch)
    rmm = module("rmm", __version__="26.10.00", mr=mr, statistics=stats, allocators=allocators,
                 reinitialize=reinitialize, is_initialized=is_initialized, RMMError=RMMError,
                 register_reinitialize_hook=register_reinitialize_hook,
                 unregister_reinitialize_hook=unregister_reinitialize_hook)  # fmt: skip
    return {"rmm": rmm, "rmm.mr": mr, "rmm.statistics": stats, "rmm.allocators": allocators,
            "rmm.allocators.cupy": rmm_cupy, "rmm.allocators.torch": rmm_torch}  # fmt: skip
