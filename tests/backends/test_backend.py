"""Backend choice, lazy GPU imports and zero-copy DLPack staging."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import lcc
from lcc import _backend


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(_backend, "gpu_available", lambda: False)


def test_import_lcc_needs_no_rapids():
    """With every GPU module unimportable, ``import lcc`` and a CPU pipeline still work."""
    code = textwrap.dedent(
        """
        import sys
        for name in ("cupy", "cupyx", "cuml", "cugraph", "cudf", "cuvs", "dask_cuda"):
            sys.modules[name] = None  # makes `import name` raise ImportError
        import numpy as np
        import lcc
        z = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
        labels = lcc.leiden(lcc.knn_graph(z, 5))
        assert not lcc.gpu_available()
        print("ok", labels.max() + 1)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("ok")
    leaked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import lcc, sys; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in {'cupy','cuml','cugraph','cudf','cuvs'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert leaked.stdout.strip() == "[]"


def test_backend_choice_and_env_var(monkeypatch, no_gpu):
    z = np.zeros((4, 2), dtype=np.float32)
    assert _backend.resolve(z) == ("cpu", "cpu")
    assert _backend.resolve(z, "cpu") == ("cpu", "cpu")
    with pytest.raises(RuntimeError, match="backend='gpu' was requested but no usable CUDA"):
        lcc.knn(z, 1, backend="gpu")
    monkeypatch.setenv("LCC_BACKEND", "gpu")
    with pytest.raises(RuntimeError, match=r"\$LCC_BACKEND=gpu was requested"):
        lcc.knn(z, 1)
    monkeypatch.setenv("LCC_BACKEND", "tpu")
    with pytest.raises(ValueError, match=r"\$LCC_BACKEND='tpu' is not a backend"):
        lcc.knn(z, 1)
    monkeypatch.setenv("LCC_BACKEND", "cpu")
    assert lcc.knn(z + np.arange(4)[:, None], 1).indices.shape == (4, 1)
    with pytest.raises(ValueError, match="backend='cuda' is not a backend"):
        lcc.knn(z, 1, backend="cuda")


def test_gpu_available_is_false_without_a_device():
    """RAPIDS imports here, but there is no device: import success must not count."""
    _backend.gpu_available.cache_clear()
    try:
        import cupy

        expected = bool(cupy.is_available())
    except ImportError:
        expected = False
    assert lcc.gpu_available() is expected


def test_cpu_tensor_round_trip_is_zero_copy():
    t = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    a = lcc.to_backend(t)
    assert isinstance(a, np.ndarray) and a.shape == (4, 3)
    a[0, 0] = 42.0  # same memory
    assert t[0, 0].item() == 42.0
    back = lcc.to_torch(a)
    assert back.data_ptr() == t.data_ptr()


def test_to_backend_detaches_and_handles_bfloat16():
    t = torch.ones(3, 2, requires_grad=True)
    assert isinstance(lcc.to_backend(t), np.ndarray)
    b = lcc.to_backend(torch.ones(3, 2, dtype=torch.bfloat16))
    assert b.dtype == np.float32


def test_staging_errors(no_gpu):
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        lcc.to_backend(np.zeros(3))
    with pytest.raises(RuntimeError, match="no usable CUDA"):
        lcc.to_backend(torch.zeros(3), backend="gpu")
    with pytest.raises(TypeError, match="numpy or cupy"):
        lcc.to_torch([1, 2])


def test_latent_buffer_writes_by_index_and_refuses_gaps():
    buf = lcc.LatentBuffer(5, 2)
    buf.write(torch.tensor([4, 0]), torch.tensor([[4.0, 4.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="3 of 5 samples were never written"):
        buf.to_backend()
    buf.write([1, 2, 3], torch.arange(6.0).reshape(3, 2))
    z = buf.to_backend()
    np.testing.assert_array_equal(z[:, 0], [0, 0, 2, 4, 4])
    with pytest.raises(ValueError, match="indices must lie"):
        buf.write([5], torch.zeros(1, 2))
    with pytest.raises(ValueError, match="features"):
        buf.write([0], torch.zeros(1, 3))


@pytest.mark.gpu
@pytest.mark.skipif(not lcc.gpu_available(), reason="no usable CUDA device")
def test_device_indices_are_written_without_a_sync_and_their_range_error_comes_later():
    buf = lcc.LatentBuffer(4, 2, device="cuda")
    good, bad = torch.tensor([0, 1], device="cuda"), torch.tensor([2, 7], device="cuda")
    z = torch.ones(2, 2, device="cuda")
    torch.cuda.set_sync_debug_mode("error")  # any wait for the device raises
    try:
        buf.write(good, z)
        buf.write(bad, z)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    with pytest.raises(ValueError, match="indices must lie"):
        buf.to_backend()


@pytest.mark.gpu
@pytest.mark.skipif(not lcc.gpu_available(), reason="no usable CUDA device")
def test_cuda_tensor_round_trip_is_zero_copy():
    import cupy

    t = torch.arange(12, dtype=torch.float32, device="cuda").reshape(4, 3)
    a = lcc.to_backend(t)
    assert isinstance(a, cupy.ndarray) and a.data.ptr == t.data_ptr()
    assert lcc.to_torch(a).data_ptr() == t.data_ptr()


@pytest.mark.gpu
@pytest.mark.skipif(not lcc.gpu_available(), reason="no usable CUDA device")
def test_cupy_allocates_from_torchs_pool_on_a_real_device():
    import cupy

    from lcc import gpu_memory

    lcc.to_backend(torch.zeros(4, device="cuda"))  # chooses the allocator once
    if gpu_memory.chosen_allocator() != "torch":
        pytest.skip(f"allocator here is {gpu_memory.chosen_allocator()!r}")
    before = torch.cuda.memory_allocated()
    block = cupy.empty(64 << 20, dtype=cupy.uint8)  # 64 MiB through torch's allocator
    assert torch.cuda.memory_allocated() - before >= 64 << 20
    del block


@pytest.mark.gpu  # cuVS, or the cupy tier without RAPIDS
@pytest.mark.skipif(not lcc.gpu_available(), reason="no usable CUDA device")
def test_cuda_tensor_knn_stays_on_the_device():
    import cupy

    a = lcc.to_backend(torch.rand(100, 3, device="cuda"))
    _, idx = lcc.knn(a, 2)
    assert isinstance(idx, cupy.ndarray)
