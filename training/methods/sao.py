"""SAO: sequential-based adversarial optimisation (Manotumruksa and Yilmaz, SIGIR 2020, Sec. 2.3,
Eq. 6-11, Algorithm 1), applied to a pre-trained SASRec (or another causal model).

At every position ``t`` of a training window, perturbation vectors are added to the input item embedding
(Eq. 9 top: ``Δ_{i_t} + M_{i_t} + P_t``) and to the output embeddings of the target and of its sampled
negative (Eq. 9 bottom: ``F_t (M + Δ)^T``). They come from the fast gradient method (Eq. 8):
``Δ = eps * Γ / ||Γ||`` per embedding vector (as APR, which SAO follows), ``Γ`` the gradient of the
adversarial loss (Eq. 7) at ``Δ = 0`` with the parameters held constant. The model then minimises
``L(Θ) + λ L(Θ + Δ_adv)`` (Eq. 6 / Eq. 10) with ``Δ_adv`` frozen (Eq. 11).

Base loss: the paper's ``L`` is SASRec's BCE with one negative (Eq. 5). Here the clean term is the base
model's own objective (``model.config.loss``; full-softmax cross-entropy for our SASRec bases) and the
adversarial term is Eq. 7's BCE with one sampled negative on the perturbed embeddings, as written in the
paper; with a BCE base both terms are the paper's.
"""

from __future__ import annotations

from typing import Unpack

import torch

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.methods import SaoConfig
from training.data.batches import Batch
from training.methods.adversarial import (
    AdversarialEpoch,
    AdversarialLoss,
    FinetuneOptions,
    adversarial_finetune,
    fast_gradient,
    pair_bce,
    sample_negatives,
)
from training.models.base import (
    CausalModel,
    SequentialModel,
    causal_pairs,
    input_times,
    next_item_loss,
    weighted_mean,
)
from training.trainer import TrainResult

__all__ = ["SaoConfig", "SaoLoss", "sao_finetune"]


class SaoLoss(AdversarialLoss):
    """Eq. 10 on one batch: the clean loss plus λ times the BCE under the fast-gradient perturbations."""

    method = "SAO"

    def __init__(self, config: SaoConfig) -> None:
        super().__init__()
        self.config = config

    def parts(self, model: CausalModel, batch: Batch) -> dict[str, torch.Tensor]:
        inputs, targets = causal_pairs(batch.items)  # (B, L) each
        times = input_times(batch)  # (B, L) or None
        mask = targets > 0
        attack = self.config.lam > 0
        width = model.input_emb.embedding_dim
        # Δ = 0 on the inputs: the clean pass doubles as the point where Eq. 8 takes its gradient
        zero = torch.zeros((*inputs.shape, width), device=inputs.device, requires_grad=True) if attack else None
        states = model.encode(inputs, input_delta=zero, times=times)  # (B, L, D)
        terms = {"clean": next_item_loss(states, targets, model.item_emb, model.n_items, batch, model.config.loss)}
        if zero is None:
            return terms
        negatives = sample_negatives(targets, model.n_items, batch)  # (B, L): j_t, Alg. 1 line 7
        pos, neg = model.item_emb(targets), model.item_emb(negatives)  # (B, L, E) each
        d_pos, d_neg = (torch.zeros_like(pos, requires_grad=True) for _ in range(2))
        attacked = (pair_bce(states, pos.detach() + d_pos, neg.detach() + d_neg) * mask).sum()  # Eq. 7 at Δ = 0
        grads = torch.autograd.grad(attacked, [zero, d_pos, d_neg], retain_graph=True)  # Γ, parameters constant
        real = (inputs > 0).unsqueeze(-1)  # (B, L, 1): no perturbation on padding
        g_in, g_pos, g_neg = (fast_gradient(g, self.config.eps) for g in grads)  # Eq. 8, Alg. 1 line 8
        perturbed = model.encode(inputs, input_delta=g_in * real, times=times)  # (B, L, D) Eq. 9 top
        adv = pair_bce(perturbed, pos + g_pos, neg + g_neg)  # (B, L) Eq. 9 bottom
        terms["adv"] = self.config.lam * weighted_mean(adv, mask, batch.weights)  # Eq. 10
        return terms


def sao_finetune(
    model: SequentialModel, data: InteractionLog, config: SaoConfig, **options: Unpack[FinetuneOptions]
) -> tuple[TrainResult, list[AdversarialEpoch]]:
    """Fine-tune a pre-trained causal model in place with SAO (Algorithm 1, initialised from it)."""
    objective = SaoLoss(config)
    return adversarial_finetune(model, data, objective, config, **options)
