"""The training loop every model and every method shares.

Randomness comes from three seeded streams so that experiments can isolate them: parameter
initialisation (and dropout) from ``torch.manual_seed(seed)``, the data order from ``order_rng`` and
in-batch sampling (negatives, masks) from ``sample_rng``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from steadyrec.core.interactions import InteractionLog
from training.data.batches import Batch, TrainingWindows
from training.data.splits import EvalSet
from training.device import training_device
from training.evaluation.ranking import evaluate
from training.models.base import SequentialModel, require_timestamps
from training.optim import adam

__all__ = [
    "EpochReport",
    "TrainConfig",
    "TrainResult",
    "model_loss",
    "optimiser_for",
    "seed_everything",
    "train",
    "train_step",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 50  # FINEST trains every model 50 epochs; ml-1m SASRec keeps improving past 40
    batch_size: int = 128  # SASRec paper
    lr: float = 1e-3  # SASRec paper (Adam, betas 0.9 / 0.98)
    weight_decay: float = 0.0  # SASRec paper uses none; the cascade AT paper uses L2 1e-5
    seed: int = 0  # one seed fixes initialisation, data order and sampling
    eval_every: int = 5  # epochs between validation passes (a full-ranking pass costs ~1 epoch)
    patience: int = 0  # validation passes without improvement before stopping; 0 = never stop early
    exclude_history: bool = True  # validation ranks exclude history (cascade AT protocol)
    monitor: str = "ndcg@10"  # validation metric for early stopping and best-epoch selection
    device: str = "auto"  # CUDA when present, else CPU
    max_seconds: float | None = None  # wall-time budget: stop after the epoch that crosses it

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    loss: float
    seconds: float  # the whole epoch: training and, when it ran, validation
    train_seconds: float  # the training passes alone (epoch costs compare these)
    valid: dict[str, float] | None = None


@dataclass
class TrainResult:
    epochs: list[EpochReport] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: dict[str, float] | None = None
    wall_s: float = 0.0


def seed_everything(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Seed torch's global stream (init, dropout); return (order_rng, sample_rng) seeded from ``seed``."""
    torch.manual_seed(seed)
    order_rng = torch.Generator().manual_seed(seed * 2 + 1)
    sample_rng = torch.Generator().manual_seed(seed * 2 + 2)
    return order_rng, sample_rng


LossFn = Callable[[SequentialModel, Batch], torch.Tensor]


def model_loss(model: SequentialModel, batch: Batch) -> torch.Tensor:
    """The model's own training objective (the default ``loss_fn``)."""
    return model.loss(batch)


def optimiser_for(model: SequentialModel, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam with the config's learning rate and L2; betas (0.9, 0.98) as SASRec's reference code."""
    return adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98), weight_decay=config.weight_decay)


def train_step(model: SequentialModel, optimiser: torch.optim.Optimizer, loss_fn: LossFn, batch: Batch) -> float:
    """One update on one batch; returns the loss before it."""
    loss = loss_fn(model, batch)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return float(loss.detach())


def train(
    model: SequentialModel,
    data: InteractionLog,
    config: TrainConfig,
    *,
    valid: EvalSet | None = None,
    loss_fn: LossFn = model_loss,
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    rngs: tuple[torch.Generator, torch.Generator] | None = None,
) -> TrainResult:
    """Train ``model`` in place with Adam; keeps the weights of the best validation pass when ``valid``.

    ``loss_fn`` lets a hardening method replace the objective while reusing this loop. ``rngs``
    (order, sample) overrides the streams derived from ``config.seed`` (initialisation is the caller's:
    build the model after :func:`seed_everything`).
    """
    require_timestamps(model, data)
    device = training_device(config.device)
    model.to(device)
    order_rng, sample_rng = rngs or seed_everything(config.seed)
    unseen = getattr(model.config, "negatives", "uniform") == "unseen"  # batches carry the users' seen items
    windows = TrainingWindows(data, model.max_len, seen=unseen)
    if len(windows) == 0:
        raise ValueError("no user has 2 or more training interactions: nothing to train on")
    optimiser = optimiser_for(model, config)
    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    stale = 0
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        t0, total, count = time.perf_counter(), 0.0, 0
        for step, batch in enumerate(windows.batches(config.batch_size, order_rng, sample_rng), start=1):
            total, count = total + train_step(model, optimiser, loss_fn, batch.to(device)), count + 1
            if on_batch is not None:
                on_batch(step, windows.n_batches(config.batch_size))
        trained_s = time.perf_counter() - t0
        over_budget = config.max_seconds is not None and time.perf_counter() - started > config.max_seconds
        last = epoch == config.epochs or over_budget
        metrics = None
        if valid is not None and len(valid) and (epoch % config.eval_every == 0 or last):
            metrics = evaluate(model, valid, exclude_history=config.exclude_history).metrics
        report = EpochReport(epoch, total / max(count, 1), time.perf_counter() - t0, trained_s, metrics)
        result.epochs.append(report)
        log.info("epoch %d loss %.4f (%.1fs) %s", epoch, report.loss, report.seconds, metrics or "")
        if on_epoch is not None:
            on_epoch(report)
        if metrics is not None:
            if result.best_valid is None or metrics[config.monitor] > result.best_valid[config.monitor]:
                result.best_epoch, result.best_valid, stale = epoch, metrics, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if config.patience and stale >= config.patience:
                    log.info("early stop at epoch %d (best %d)", epoch, result.best_epoch)
                    break
        if over_budget:
            log.info("time budget of %.0fs reached after epoch %d", config.max_seconds, epoch)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_epoch = len(result.epochs)
    result.wall_s = time.perf_counter() - started
    return result
