"""The one contract every model keeps, so every method and every evaluation works with every model.

- ``loss(batch) -> scalar``: the model's own training objective on a :class:`~training.data.batches.Batch`
  (per-user ``batch.weights`` honoured when present).
- ``scores(history, times=None) -> (B, n_items)``: scores of all real items for left-padded histories
  (B, L); column ``j`` is internal item ``j + 1`` (id 0 is padding and never scored). ``times`` (B, L) are
  the history's timestamps in whole seconds (0 at padding): time-aware models (``uses_time``) need them
  and refuse a call without them; the others do not read them.
- ``config``: the dataclass it was built from; ``build_model(kind, n_items, config_dict)`` rebuilds it,
  which is what checkpoints and ONNX manifests store.

``forward`` is ``scores`` so that ``torch.onnx.export`` traces exactly what the service runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from steadyrec.core.interactions import InteractionLog
from training.data.batches import Batch

__all__ = [
    "CausalModel",
    "SequentialModel",
    "causal_pairs",
    "init_xavier",
    "input_times",
    "next_item_loss",
    "require_timestamps",
    "softmax_loss",
    "weighted_mean",
]


def init_xavier(model: nn.Module, *padded: nn.Embedding) -> None:
    """Xavier-normal on every matrix, zero biases, zero padding row of each ``padded`` table (the reference
    SASRec init; with PyTorch's N(0, 1) embedding init SASRec does not learn at all on ml-1m)."""
    for name, p in model.named_parameters():
        if p.dim() > 1:
            nn.init.xavier_normal_(p)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
    with torch.no_grad():
        for table in padded:
            table.weight[0].zero_()


def weighted_mean(per_position: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of a (B, L) loss over the positions in ``mask``, each user's positions scaled by ``weights``."""
    mask = mask.to(per_position.dtype)
    if weights is not None:
        mask = mask * weights[:, None]
    return (per_position * mask).sum() / mask.sum().clamp_min(1.0)


NEGATIVE_DRAWS = 20  # redraws of a negative that hit a seen item (each hits with the seen share, ~7.5% on ml-1m)


def draw_negatives(targets: torch.Tensor, n_items: int, batch: Batch) -> torch.Tensor:
    """One negative per position, uniform over the items: (B, L) internal ids. With ``batch.seen`` (the
    model's ``negatives="unseen"``), an item the user interacted with in training, the target included, is
    drawn again (the paper's sampling: SASRec Sec. III-E, Tan et al. Eq. 5)."""
    negatives = torch.randint(1, n_items + 1, targets.shape, generator=batch.rng).to(targets.device)  # (B, L)
    if batch.seen is None:
        return negatives
    seen = batch.seen.to(targets.device)  # (B, H) sorted
    for _ in range(NEGATIVE_DRAWS):
        at = torch.searchsorted(seen, negatives).clamp_max(seen.shape[1] - 1)  # (B, L)
        hit = seen.gather(1, at) == negatives  # (B, L)
        if not bool(hit.any()):
            break
        again = torch.randint(1, n_items + 1, targets.shape, generator=batch.rng).to(targets.device)
        negatives = torch.where(hit, again, negatives)
    return negatives


def next_item_loss(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    item_emb: nn.Embedding,
    n_items: int,
    batch: Batch,
    kind: Literal["ce", "bce"],
) -> torch.Tensor:
    """Next-item loss of per-position states against targets, scored by dot product with item embeddings.

    ``hidden`` (B, L, D), ``targets`` (B, L) with 0 where there is no target. ``ce``: softmax
    cross-entropy over all items; ``bce``: one sampled negative per position (SASRec Eq. 7,
    :func:`draw_negatives`).
    """
    if kind == "ce":
        return softmax_loss(hidden, targets, item_emb, n_items, batch.weights)[0]
    mask = targets > 0  # (B, L)
    negatives = draw_negatives(targets, n_items, batch)  # (B, L)
    pos = (hidden * item_emb(targets)).sum(-1)  # (B, L)
    neg = (hidden * item_emb(negatives)).sum(-1)  # (B, L)
    per_pos = F.softplus(-pos) + F.softplus(neg)  # -log sigma(pos) - log(1 - sigma(neg))
    return weighted_mean(per_pos, mask, batch.weights)


def softmax_loss(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    item_emb: nn.Embedding,
    n_items: int,
    weights: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-softmax cross-entropy at the positions with a target, and the logits it computed:
    (loss, logits (P, N)) where the P rows follow ``targets > 0`` in row-major order."""
    mask = targets > 0  # (B, L)
    logits = hidden[mask] @ item_emb.weight[1 : n_items + 1].T  # (P, N) for the P real positions
    per_pos = F.cross_entropy(logits, targets[mask] - 1, reduction="none")  # (P,)
    full = torch.zeros_like(targets, dtype=hidden.dtype).masked_scatter(mask, per_pos)  # (B, L)
    return weighted_mean(full, mask, weights), logits


class SequentialModel(nn.Module, ABC):
    kind: ClassVar[str]
    uses_time: ClassVar[bool] = False  # True: reads the history's timestamps (``times``) as well as its items

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
    def scores(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor: ...

    def scores_of(self, history: torch.Tensor, items: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of chosen items only: history (B, L), items (B, M) internal ids -> (B, M), the values
        ``scores(history, times)`` has at those items (models override it to skip scoring all N items)."""
        return self.scores(history, times).gather(1, items - 1)

    def forward(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        return self.scores(history, times)


class CausalModel(SequentialModel):
    """A model whose state at position t sees only items up to t (SASRec, GRU4Rec, LSTM).

    One pass over a window gives a next-item prediction at every position, which methods such as
    FINEST use as training instances. Items are scored by dot product with ``item_emb``.
    """

    item_emb: nn.Embedding

    @abstractmethod
    def encode(
        self,
        history: torch.Tensor,
        input_delta: torch.Tensor | None = None,
        times: torch.Tensor | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """(B, L) left-padded ids -> (B, L, D) states; position t summarises items up to t.

        ``last_only``: the (B, D) state of the last position alone, equal to ``encode(...)[:, -1]``; a model
        computes no more than that row needs (scoring and the exported graph read only it).

        ``input_delta`` (B, L, E), when given, is added to the history's item embeddings before anything
        else reads them: the hook adversarial methods perturb the input with (E = ``item_emb`` width).
        ``times`` (B, L): the history's timestamps (see ``scores``).
        """

    @property
    def input_emb(self) -> nn.Embedding:
        """The table ``encode`` reads histories from (``input_delta`` has its width): ``item_emb`` unless the
        model keeps separate input and output tables."""
        return self.item_emb

    def pairwise_floats(self, batch: int, length: int) -> int:
        """Floats in one position-by-position activation (attention weights) of a (batch, length) pass, which
        grows as length²; 0 for models without one (the recurrent ones). Methods that stack passes read it."""
        return 0

    def score_items(self, states: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of chosen items: states (P, D), items (P, M) internal ids -> (P, M)."""
        return (self.item_emb(items) * states[:, None, :]).sum(-1)

    def scores(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        window = slice(-self.max_len, None)
        h = self.encode(history[:, window], times=None if times is None else times[:, window], last_only=True)  # (B, D)
        return h @ self.item_emb.weight[1 : self.n_items + 1].T  # (B, N)

    def loss(self, batch: Batch) -> torch.Tensor:
        inputs, targets = causal_pairs(batch.items)
        states = self.encode(inputs, times=input_times(batch))  # (B, L, D)
        return next_item_loss(states, targets, self.item_emb, self.n_items, batch, self.config.loss)


@contextmanager
def dropout_off(model: nn.Module) -> Iterator[None]:
    """Run the block with the model in eval mode (no dropout), then restore its mode; gradients still flow."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def require_timestamps(model: SequentialModel, log: InteractionLog) -> None:
    """Refuse, with a message naming the fix, to train a time-aware model on a log without timestamps."""
    if model.uses_time and log.timestamps is None:
        raise ValueError(
            f"{model.kind} reads the time of every interaction, but this log has no timestamps: train it on "
            "data with a timestamp per interaction (e.g. foursquare or ml-100k), or choose another model"
        )


def input_times(batch: Batch) -> torch.Tensor | None:
    """Timestamps of the inputs :func:`causal_pairs` takes from ``batch.items``: (B, L) or None."""
    return None if batch.times is None else batch.times[:, :-1]


def causal_pairs(window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L + 1) window -> inputs (B, L) and targets (B, L); a target counts only where its input is a
    real item, so a user's first item is never predicted from an empty history (as in SASRec)."""
    inputs = window[:, :-1]
    return inputs, window[:, 1:] * (inputs > 0)
