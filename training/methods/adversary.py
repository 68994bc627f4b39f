"""User-level adversaries of the R-LARM paper (Sec. 4.3-4.4) and their gradient-ascent step.

An adversary maps a user's multi-hot row X_i (B, N) to a logit; sigma of it, normalised over the
mini-batch (Sec. 5.1: z over each mini-batch instead of the whole data), is the user's weight:
- linear (ARM / R-LARM, Eq. 9-10): sigma(X_i a), a in R^n;
- R-LARM(NN) (Eq. 12): sigma(tanh(X_i A0) A1), A0 in R^{n x k}, A1 in R^k.
Parameters start GlorotNormal (Sec. 5.1). The adversary ascends sum_i p_i l_i - B/2 sum ||A||^2, where
l_i is the learner's per-user loss (ARM, Eq. 9) or rank loss 1 - NDCG_i (R-LARM, Eq. 10 and 12).
The same pieces reweight users of the sequential models (training.methods.rlarm).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["Adversary", "AdversaryKind", "adversary_step", "build_adversary", "normalised_weights"]

AdversaryKind = Literal["linear", "nn"]


class Adversary(nn.Module):
    """sigma-logits of users from their multi-hot rows: (B, N) -> (B,)."""

    def __init__(self, n_items: int, kind: AdversaryKind, hidden: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "linear":
            self.layers = nn.ParameterList([nn.Parameter(torch.empty(n_items, 1))])  # a (Eq. 9-10)
        elif kind == "nn":
            self.layers = nn.ParameterList(
                [nn.Parameter(torch.empty(n_items, hidden)), nn.Parameter(torch.empty(hidden, 1))]  # A0, A1 (Eq. 12)
            )
        else:
            raise ValueError(f"adversary must be 'linear' or 'nn', got {kind!r}")
        for p in self.layers:
            nn.init.xavier_normal_(p)  # GlorotNormal (Sec. 5.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "linear":
            return (x @ self.layers[0]).squeeze(1)  # (B,) = X_i a
        return (torch.tanh(x @ self.layers[0]) @ self.layers[1]).squeeze(1)  # (B,) = tanh(X_i A0) A1

    def penalty(self) -> torch.Tensor:
        """sum of squared norms of the adversary's parameters (||a||^2, or ||A0||^2 + ||A1||^2 in Eq. 12)."""
        return sum((p.pow(2).sum() for p in self.layers), torch.zeros((), device=self.layers[0].device))


def build_adversary(n_items: int, kind: AdversaryKind, hidden: int) -> Adversary:
    return Adversary(n_items, kind, hidden)


def normalised_weights(logits: torch.Tensor) -> torch.Tensor:
    """p_i = sigma(logit_i) / z with z the sum over the mini-batch (Sec. 5.1): (B,) -> (B,), sums to 1."""
    s = torch.sigmoid(logits)
    return s / s.sum()


def adversary_step(
    adversary: Adversary, optimiser: torch.optim.Optimizer, x: torch.Tensor, user_loss: torch.Tensor, b: float
) -> float:
    """One ascent step on sum_i p_i l_i - B/2 sum ||A||^2 (Eq. 9, 10 or 12) for fixed per-user losses l (B,)."""
    objective = (normalised_weights(adversary(x)) * user_loss.detach()).sum() - 0.5 * b * adversary.penalty()
    optimiser.zero_grad(set_to_none=True)
    (-objective).backward()  # ascent
    optimiser.step()
    return float(objective.detach())
