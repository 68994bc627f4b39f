"""What the adversarial fine-tuning methods share: fast-gradient perturbations, the pairwise BCE loss they
attack, and one fine-tuning loop (the trainer's, with the method's loss).

- :func:`fast_gradient`: ``eps * g / ||g||`` per embedding vector (Goodfellow et al.'s fast gradient
  method with an L2 norm, as Eq. 7 / Eq. 9 of the cascade paper and Eq. 8 of SAO use it; APR, which both
  follow, normalises each embedding row on its own).
- :func:`pair_bce`: ``-log σ(w·e_j) - log(1 - σ(w·e_n))`` per position (cascade Eq. 5 / Eq. 8, SAO Eq. 5).
- :func:`adversarial_finetune`: :func:`training.trainer.train` with an :class:`AdversarialLoss`, which
  also keeps the per-epoch means of its named parts (clean loss, adversarial terms) for reports.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import torch
import torch.nn.functional as F

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.methods import AcaeConfig, CascadeConfig, SaoConfig
from training.data.batches import Batch
from training.data.splits import EvalSet
from training.models.base import CausalModel, SequentialModel, draw_negatives
from training.trainer import EpochReport, TrainConfig, TrainResult, train

__all__ = [
    "AdversarialEpoch",
    "AdversarialLoss",
    "adversarial_finetune",
    "fast_gradient",
    "pair_bce",
    "sample_negatives",
]

log = logging.getLogger(__name__)


def fast_gradient(grad: torch.Tensor, eps: float) -> torch.Tensor:
    """``eps * g / ||g||_2`` over the last axis: (..., D) -> (..., D); zero where the gradient is zero."""
    return grad * (eps / torch.linalg.vector_norm(grad, dim=-1, keepdim=True).clamp_min(1e-12))  # one full-size op


def pair_bce(users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """Per-position BCE with one negative: users, positives, negatives (..., D) -> (...)."""
    pos = (users * positives).sum(-1)  # (...) r_ij
    neg = (users * negatives).sum(-1)  # (...) r_in
    return F.softplus(-pos) + F.softplus(neg)  # -log σ(r_ij) - log(1 - σ(r_in))


def sample_negatives(targets: torch.Tensor, n_items: int, batch: Batch) -> torch.Tensor:
    """One negative per position, drawn as the base models' BCE draws it (uniform, or from the user's
    unseen items when the batch carries them): (B, L) internal ids."""
    return draw_negatives(targets, n_items, batch)


@dataclass(frozen=True)
class AdversarialEpoch:
    epoch: int
    loss: float  # the total objective (Eq. 10 of either paper)
    parts: dict[str, float]  # per-epoch means of the named terms, e.g. {"clean": .., "adv1": .., "adv2": ..}
    seconds: float
    valid: dict[str, float] | None = None


class AdversarialLoss(ABC):
    """A method's objective on one batch; remembers the running sums of its named parts."""

    method = "adversarial training"  # named in errors

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._count = 0

    @abstractmethod
    def parts(self, model: CausalModel, batch: Batch) -> dict[str, torch.Tensor]:
        """The weighted terms whose sum is the objective, by name (each a scalar)."""

    def __call__(self, model: SequentialModel, batch: Batch) -> torch.Tensor:
        if not isinstance(model, CausalModel):
            raise TypeError(f"adversarial fine-tuning needs a causal model (sasrec, gru4rec, lstm), got {model.kind}")
        terms = self.parts(model, batch)
        for name, value in terms.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value.detach())
        self._count += 1
        return torch.stack(list(terms.values())).sum()

    def take(self) -> dict[str, float]:
        """Means of the parts since the last call, then reset."""
        means = {k: v / max(self._count, 1) for k, v in self._sums.items()}
        self._sums, self._count = {}, 0
        return means


class FinetuneOptions(TypedDict, total=False):
    """Keyword options every adversarial fine-tuning takes (see ``adversarial_finetune``)."""

    valid: EvalSet | None
    eval_every: int
    on_epoch: Callable[[AdversarialEpoch], None] | None


def adversarial_finetune(
    model: SequentialModel,
    data: InteractionLog,
    objective: AdversarialLoss,
    config: CascadeConfig | SaoConfig | AcaeConfig,
    *,
    valid: EvalSet | None = None,
    eval_every: int = 1,
    on_epoch: Callable[[AdversarialEpoch], None] | None = None,
) -> tuple[TrainResult, list[AdversarialEpoch]]:
    """Fine-tune ``model`` in place on ``data`` with ``objective`` (Adam, the config's schedule and budget).

    With ``valid`` the weights of the best validation pass are kept (as the base training does).
    """
    if not isinstance(model, CausalModel):
        raise TypeError(f"{objective.method} needs a causal model (sasrec, gru4rec, lstm), got {model.kind}")
    epochs: list[AdversarialEpoch] = []

    def report(r: EpochReport) -> None:
        epoch = AdversarialEpoch(r.epoch, r.loss, objective.take(), r.seconds, r.valid)
        epochs.append(epoch)
        log.info("adversarial epoch %d: %s (%.1fs)", r.epoch, epoch.parts, r.seconds)
        if on_epoch is not None:
            on_epoch(epoch)

    schedule = TrainConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        seed=config.seed,
        eval_every=eval_every,
        device=config.device,
        max_seconds=config.max_seconds,
    )
    result = train(model, data, schedule, valid=valid, loss_fn=objective, on_epoch=report)
    model.eval()
    return result, epochs
