"""ACAE as FINEST adapts it for sequential models (FINEST Sec. 6.1; Yuan et al., ACAE, 2019).

ACAE fine-tunes a recommender against adversarial noise that the fast gradient method finds (Goodfellow et
al.): in its own setting on the model parameters, in FINEST's adaptation "to the input sequence embeddings
instead". On one batch:

    g = ∂L(S) / ∂E_S,   Δ = ε g / ||g||  (per history item, real items only),
    minimise  L(S) + λ L(S + Δ)   with Δ held constant,

where L is the model's own next-item loss and E_S the history's input embeddings (the ``input_delta`` hook
every causal model has). The clean pass doubles as the point where g is taken.
"""

from __future__ import annotations

from typing import Unpack

import torch

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.methods import AcaeConfig
from training.data.batches import Batch
from training.methods.adversarial import (
    AdversarialEpoch,
    AdversarialLoss,
    FinetuneOptions,
    adversarial_finetune,
    fast_gradient,
)
from training.models.base import CausalModel, SequentialModel, causal_pairs, input_times, next_item_loss
from training.trainer import TrainResult

__all__ = ["AcaeConfig", "AcaeLoss", "acae_finetune"]


class AcaeLoss(AdversarialLoss):
    """L(S) + λ L(S + Δ) on one batch, Δ the fast gradient of L on the input embeddings."""

    method = "ACAE"

    def __init__(self, config: AcaeConfig) -> None:
        super().__init__()
        self.config = config

    def parts(self, model: CausalModel, batch: Batch) -> dict[str, torch.Tensor]:
        inputs, targets = causal_pairs(batch.items)  # (B, L) each
        times = input_times(batch)  # (B, L) or None
        attack = self.config.lam > 0
        width = model.input_emb.embedding_dim
        zero = torch.zeros((*inputs.shape, width), device=inputs.device, requires_grad=True) if attack else None
        states = model.encode(inputs, input_delta=zero, times=times)  # (B, L, D)
        clean = next_item_loss(states, targets, model.item_emb, model.n_items, batch, model.config.loss)
        if zero is None:
            return {"clean": clean}
        (grad,) = torch.autograd.grad(clean, zero, retain_graph=True)  # (B, L, E) g, parameters constant
        delta = fast_gradient(grad, self.config.eps) * (inputs > 0).unsqueeze(-1)  # (B, L, E) no noise on padding
        perturbed = model.encode(inputs, input_delta=delta.detach(), times=times)  # (B, L, D)
        adv = next_item_loss(perturbed, targets, model.item_emb, model.n_items, batch, model.config.loss)
        return {"clean": clean, "adv": self.config.lam * adv}


def acae_finetune(
    model: SequentialModel, data: InteractionLog, config: AcaeConfig, **options: Unpack[FinetuneOptions]
) -> tuple[TrainResult, list[AdversarialEpoch]]:
    """Fine-tune a trained causal model in place with ACAE's input-embedding noise."""
    return adversarial_finetune(model, data, AcaeLoss(config), config, **options)
