"""Input checks at the public boundary.

Every public function validates its arguments here, once, so that bad input
fails with a ``ValueError`` / ``TypeError`` that names the argument and the
problem instead of crashing deep inside faiss, igraph or cuML.
"""

from __future__ import annotations

from typing import Any

from lcc._backend import array_module, backend_of, is_dask_array, is_gpu_array


def _xp(x: Any):
    return array_module(backend_of(x))


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "ndim")


def _check_kind(x: Any, name: str) -> None:
    import numpy as np

    if isinstance(x, np.ndarray) or (is_gpu_array(x) and _is_array(x)):
        return
    if type(x).__module__.startswith("torch"):
        raise TypeError(
            f"{name} is a torch tensor; convert it with lcc.to_backend({name}) "
            "(zero-copy through DLPack) first"
        )
    raise TypeError(f"{name} must be a numpy or cupy array, got {type(x).__name__}")


def check_latents(z: Any, name: str = "z", *, min_samples: int = 2) -> Any:
    """Validate an ``(N, d)`` matrix of latent vectors and return it as floating point.

    numpy, cupy or Dask arrays (for Dask the finiteness check is one pass on
    the cluster). Integer input is converted to float32; float16 is promoted
    to float32 (the k-NN libraries do not take it). Raises ``ValueError`` for
    NaN/inf values, a wrong number of dimensions, or fewer than
    ``min_samples`` rows.
    """
    sharded = is_dask_array(z)
    if not sharded:
        _check_kind(z, name)
    if z.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n_samples, n_features) array, got {z.ndim}-D with "
            f"shape {tuple(z.shape)}; reshape 1-D data with {name}.reshape(-1, 1)"
        )
    n, d = z.shape
    if n != n or d != d:  # NaN: a Dask array of unknown chunk sizes
        raise ValueError(f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes()")
    if n < min_samples:
        raise ValueError(f"{name} has {n} sample(s); at least {min_samples} are needed")
    if d == 0:
        raise ValueError(f"{name} has 0 features")
    if z.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {z.dtype}")
    if z.dtype.kind != "f" or z.dtype.itemsize < 4:
        z = z.astype("float32")
    if sharded:
        import dask.array as da

        if not bool(da.isfinite(z).all().compute()):
            raise ValueError(f"{name} contains NaN or infinite values")
        return z
    xp = _xp(z)
    if not bool(xp.all(xp.isfinite(z))):
        bad = int(xp.sum(~xp.all(xp.isfinite(z), axis=1)))
        raise ValueError(f"{name} contains NaN or infinite values in {bad} row(s)")
    return z


def check_k(k: Any, n: int, name: str = "k") -> int:
    """``k`` neighbours among ``n`` samples, self excluded: 1 ≤ k ≤ n − 1."""
    if isinstance(k, bool) or not isinstance(k, int | _np_integer()):
        raise TypeError(f"{name} must be an integer, got {type(k).__name__}")
    k = int(k)
    if k < 1:
        raise ValueError(f"{name} must be at least 1, got {k}")
    if k >= n:
        raise ValueError(
            f"{name}={k} must be smaller than the number of samples ({n}): a sample is "
            "never its own neighbour"
        )
    return k


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | _np_integer()):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_labels(labels: Any, name: str, n_samples: int | None = None) -> Any:
    """Validate a 1-D integer label vector (numpy or cupy) of length ``n_samples``."""
    _check_kind(labels, name)
    xp = _xp(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(labels.shape)}")
    if n_samples is not None and labels.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {labels.shape[0]} entries but there are {n_samples} samples; "
            "per-sample arrays must be indexed by dataset index and have the same length"
        )
    if labels.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if labels.dtype.kind == "f":
        if not bool(xp.all(xp.round(labels) == labels)):
            raise ValueError(f"{name} must hold integer labels, got non-integer floats")
        labels = labels.astype(xp.int64)
    elif labels.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    if bool(xp.any(labels < 0)):
        raise ValueError(f"{name} must be non-negative integers")
    return labels


def check_same_kind(**arrays: Any) -> None:
    """All arrays on the same device (all numpy or all cupy)."""
    kinds = {name: is_gpu_array(a) for name, a in arrays.items()}
    if len(set(kinds.values())) > 1:
        desc = ", ".join(f"{n} is {'cupy' if g else 'numpy'}" for n, g in kinds.items())
        raise TypeError(f"arrays must all be numpy or all be cupy: {desc}")


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {choices}")
    return value


def _np_integer():
    import numpy as np

    return np.integer
