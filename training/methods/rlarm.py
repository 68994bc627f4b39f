"""R-LARM's adversarial user reweighting as a fine-tuning method for the sequential models.

Beyond the paper, which reweights users of EASE (training.methods.larm): the learner is any sequential
model and its loss is its own next-item loss with per-user weights p_i (Batch.weights, rescaled to
mean 1). Per mini-batch, as in Algorithm 2:
- lines 4-7 (after K warm-up epochs): the adversary (linear, Eq. 10, or one hidden layer, Eq. 12) over
  the user's multi-hot history X_i ascends sum_i p_i (1 - NDCG_i@k) - B/2 ||A||^2, NDCG_i@k of the
  current model ranking the window's last item from the items before it (the user's other history
  items excluded from the ranking, as in evaluation); no gradient reaches the model;
- lines 8-9: the model descends sum_i p_i l_i, p_i = sigma(g(X_i)) / z over the mini-batch (Sec. 5.1).
It runs in the FINEST loop (training.methods.finest), so ``finest=True`` combines it with FINEST's
perturbation simulation and rank-preserving regulariser (the regulariser is not reweighted).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.methods import RlarmConfig
from training.data.batches import Batch
from training.device import pick_device
from training.evaluation.heldout import ndcg_at_k
from training.methods.adversary import adversary_step, build_adversary, normalised_weights
from training.methods.finest import FinestEpoch, FinestResult, ReferenceLists, finest_finetune
from training.models.base import SequentialModel, input_times
from training.models.ease import multi_hot
from training.optim import adam

__all__ = ["AdversarialWeights", "next_item_rank_loss", "rlarm_finetune"]


@torch.no_grad()
def next_item_rank_loss(
    model: SequentialModel, history: torch.Tensor, target: torch.Tensor, k: int, times: torch.Tensor | None = None
) -> torch.Tensor:
    """1 - NDCG@k of each target given its history, other history items removed from the ranking:
    history (B, L) (and its (B, L) timestamps for a time-aware model), target (B,) internal ids -> (B,). A
    row without a target (0) has loss 1."""
    was_training = model.training
    model.eval()
    try:
        scores = model.scores(history, times).float()  # (B, N)
    finally:
        model.train(was_training)
    relevant = torch.zeros_like(scores).scatter(1, (target - 1).clamp_min(0)[:, None], 1.0) * (target > 0)[:, None]
    seen = multi_hot(history, model.n_items) * (1.0 - relevant)  # (B, N) history items other than the target
    return 1.0 - ndcg_at_k(scores.masked_fill(seen > 0, float("-inf")), relevant, k).float()


class AdversarialWeights:
    """The per-batch hook of the FINEST loop: an adversary step (after warm-up), then the users' weights."""

    def __init__(self, n_items: int, config: RlarmConfig, device: torch.device) -> None:
        self.config = config
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global stream
            torch.manual_seed(config.seed)
            self.adversary = build_adversary(n_items, config.adversary, config.hidden).to(device)
        self.optimiser = adam(self.adversary.parameters(), lr=config.lr)  # same rate (Sec. 5.1)
        self.objectives: list[float] = []

    def __call__(self, model: SequentialModel, batch: Batch, epoch: int) -> torch.Tensor:
        history, target = batch.items[:, :-1], batch.items[:, -1]  # (B, L), (B,)
        x = multi_hot(history, model.n_items)  # (B, N) = X_i
        if epoch > self.config.warmup:  # Alg. 2 lines 4-7
            times = input_times(batch)  # (B, L) or None
            loss = next_item_rank_loss(model, history, target, self.config.k, times)  # (B,) = 1 - NDCG_i
            self.objectives.append(adversary_step(self.adversary, self.optimiser, x, loss, self.config.b))
        with torch.no_grad():
            p = normalised_weights(self.adversary(x))  # (B,) sums to 1
        return p * len(p)  # mean 1: Batch.weights' convention, so the loss keeps its scale


def rlarm_finetune(
    model: SequentialModel,
    data: InteractionLog,
    reference: SequentialModel | ReferenceLists,
    config: RlarmConfig,
    *,
    on_epoch: Callable[[FinestEpoch], None] | None = None,
) -> tuple[FinestResult, AdversarialWeights]:
    """Fine-tune ``model`` in place with adversarial user weights (and FINEST when ``config.finest``)."""
    weights = AdversarialWeights(model.n_items, config, pick_device(config.device))
    result = finest_finetune(model, data, reference, config.finest_config(), on_epoch=on_epoch, batch_weights=weights)
    return result, weights
