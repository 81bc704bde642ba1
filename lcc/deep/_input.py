"""Input checks shared by the deep clustering estimators."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import validate_data

__all__ = ["check_input", "check_labels"]


def check_input(estimator: Any, X: Any, reset: bool = False) -> torch.Tensor:
    """A float32 ``(n, features)`` tensor on the training device.

    numpy-like input goes through scikit-learn's ``validate_data`` (clear
    errors for sparse, complex, object, empty or 1-sample input; checks
    ``n_features_in_``); a torch tensor stays on its device.
    """
    if torch.is_tensor(X):
        x = X.detach().float().flatten(1)
        if x.ndim != 2 or len(x) < (2 if reset else 1):
            raise ValueError(f"X has too few samples: shape {tuple(X.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("X contains NaN or infinite values")
        if reset:
            estimator.n_features_in_ = x.shape[1]
        elif x.shape[1] != estimator.n_features_in_:
            raise ValueError(
                f"X has {x.shape[1]} features, but {type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input"
            )
    else:
        x = validate_data(
            estimator, X, reset=reset, dtype=np.float32, ensure_min_samples=2 if reset else 1
        )
        x = torch.from_numpy(np.ascontiguousarray(x))
    device = estimator.device or (str(x.device) if x.is_cuda else None)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return x.to(device)


def check_labels(y: Any, n: int, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D numpy array of ``n`` class labels (numpy, list or torch input)."""
    y = np.asarray(y.cpu() if torch.is_tensor(y) else y)
    type_of_target(y, input_name=name, raise_unknown=True)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {y.shape}")
    return y
