"""DEC / IDEC / DCN as a :class:`lcc.deep.brb.ResettableClusterer`, what BRB acts on.

See the protocol for what each member means. The estimator holds its
autoencoder in ``model_``, its cluster head in ``head_``, its clustering
optimizer in ``optimizer_`` and, during ``fit``, its training data in ``_x``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResettableClustererMixin"]


class ResettableClustererMixin:
    """Mixin: :class:`~lcc.deep.brb.ResettableClusterer` on ``model_``, ``head_``,
    ``optimizer_`` and ``_x``."""

    @property
    def encoder(self) -> nn.Module:
        return self.model_.encoder

    @property
    def embedding_layer(self) -> nn.Module:
        return self.model_.embedding_layer

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.optimizer_

    @property
    def n_samples(self) -> int:
        return len(self._x)

    @property
    def n_epochs(self) -> int:
        return self.clustering_epochs

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        return self.transform_tensor(self._x[indices.to(self._x.device)])

    def set_centers(self, centers: torch.Tensor) -> None:
        self.head_.replace_centers(centers, lambda: self.transform_tensor(self._x))

    def center_parameters(self) -> list[torch.Tensor]:
        return list(self.head_.parameters())
