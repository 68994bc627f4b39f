"""The one contract every model keeps, so every method and every evaluation works with every model.

- ``loss(batch) -> scalar``: the model's own training objective on a :class:`~training.data.batches.Batch`
  (per-user ``batch.weights`` honoured when present).
- ``scores(history) -> (B, n_items)``: scores of all real items for left-padded histories (B, L);
  column ``j`` is internal item ``j + 1`` (id 0 is padding and never scored).
- ``config``: the dataclass it was built from; ``build_model(kind, config_dict, n_items)`` rebuilds it,
  which is what checkpoints and ONNX manifests store.

``forward`` is ``scores`` so that ``torch.onnx.export`` traces exactly what the service runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from training.data.batches import Batch

__all__ = ["SequentialModel", "weighted_mean"]


def weighted_mean(per_position: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of a (B, L) loss over the positions in ``mask``, each user's positions scaled by ``weights``."""
    mask = mask.to(per_position.dtype)
    if weights is not None:
        mask = mask * weights[:, None]
    return (per_position * mask).sum() / mask.sum().clamp_min(1.0)


class SequentialModel(nn.Module, ABC):
    kind: ClassVar[str]

    def __init__(self, n_items: int, config: Any) -> None:
        super().__init__()
        self.n_items = n_items
        self.config = config

    @property
    def max_len(self) -> int:
        return int(self.config.max_len)

    @abstractmethod
    def loss(self, batch: Batch) -> torch.Tensor: ...

    @abstractmethod
    def scores(self, history: torch.Tensor) -> torch.Tensor: ...

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return self.scores(history)
