"""Cascade-guided adversarial training (Tan et al., "Towards More Robust and Accurate Sequential
Recommendation with Cascade-guided Adversarial Training", Sec. 4.1, Eq. 6-10), applied to a trained
causal model (SASRec, GRU4Rec, LSTM) after its base training converged (Sec. 4.1, last paragraph).

A causal model predicts at every position of a training window, so every position with a target is one
instance: its state ``w`` (B, L, D) is the user embedding of the sub-sequence that ends there (Sec. 3.2).

Level 1 (Eq. 6-7), on the non-linear part ``w = f(S)``: perturb the history embeddings ``S`` (B, L, E) by
``A / C`` with ``A = eps * g / ||g||`` per history item (or per window: ``CascadeConfig.level1_norm``) and
``C`` the cascade effects of
:mod:`training.methods.cascade_effects`, and penalise ``||ŵ - w||_2`` at every instance. The gradient ``g``
of Eq. 7 is taken at a small random start ``ξ d`` (at ``A = 0`` the distance is flat), with dropout off
so that it measures the input's effect and not dropout noise, as one step of virtual adversarial
training's power iteration. Every history item's perturbation has norm ``eps / C_i^t`` (per window: the
window's A has norm ``eps`` before the 1 / C rescaling). ``ŵ`` is computed
with the same dropout masks as ``w`` (:func:`states_and_perturbed`), so that Eq. 6 measures the
perturbation and not the difference between two dropout draws (large at our Amazon dropout of 0.5).
Level 2 (Eq. 8-9), on the linear part ``r = w·e``: perturb the user state, the target and a sampled
negative embedding, each by ``eps * h / ||h||`` with ``h`` the gradient of Eq. 8's BCE at zero
perturbation, and add that BCE (``CascadeConfig.eps2`` gives this level its own ε; the paper uses one).
Its negative is drawn apart from L_B's: the second negative is part of what level 2 adds (docs/methods.md).
Eq. 10: ``L = L_B + λ1 L_adv1 + λ2 L_adv2``; the perturbations are constants (no gradient through them).

Base loss: the paper trains its base with BCE and one negative (Eq. 5) and uses "exactly the same loss"
for L_adv2. Here ``L_B`` is the base model's own objective (``model.config.loss``: BCE with one negative,
or full-softmax cross-entropy, which our SASRec bases use), and ``L_adv2`` is always Eq. 8's BCE with one
sampled negative, as written in the paper; with a BCE base the two coincide with the paper.

Variants (Table 3 baselines and Table 4 ablation) are switches, see :data:`SWITCHES`.

Eq. 7's direction (``CascadeConfig.direction``): "fresh" computes g per batch as above, as the paper does;
"recycled" takes the gradient of ||ŵ - w|| with respect to ŵ's input that the window's previous update
computed anyway in Eq. 10's backward (:class:`DirectionMemory`; the window's first visit is fresh). That
is one power-iteration step further along the same direction, with weights one epoch older, as in "free"
adversarial training (Shafahi et al., 2019), and it drops the direction pass.

Cost: per batch, level 1 with fresh directions adds three encoder forward passes (the dropout-off clean
pass, the pass at the random start, ŵ) and two backward passes (the direction's, to the input only, and
ŵ's share of the update) to the base's one forward and one backward. Where the encoder dominates an epoch
(BCE with one negative) an adv_cas epoch therefore costs about three base epochs; with recycled
directions, only ŵ's forward and backward (on CPU stacked with w's into one pass where that is cheaper):
about two. Level 2 works on the instances only (padding is left out before its embedding lookups).
Measured costs: docs/methods.md, "Cascade-guided AT".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import partial
from typing import Literal, Unpack

import numpy as np
import torch

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.methods import CascadeConfig
from training.data.batches import Batch, TrainingWindows
from training.methods.adversarial import (
    AdversarialEpoch,
    AdversarialLoss,
    FinetuneOptions,
    adversarial_finetune,
    fast_gradient,
    pair_bce,
    sample_negatives,
)
from training.methods.cascade_effects import cascade_effects
from training.models.base import (
    CausalModel,
    SequentialModel,
    causal_pairs,
    dropout_off,
    input_times,
    next_item_loss,
    weighted_mean,
)
from training.models.dropout import halves_share_masks, masks_recorded, masks_replayed
from training.trainer import TrainResult

__all__ = [
    "SWITCHES",
    "CascadeConfig",
    "CascadeLoss",
    "DirectionMemory",
    "Switches",
    "cascade_finetune",
    "cascade_matrix",
    "linear_perturbations",
    "states_and_perturbed",
]


@dataclass(frozen=True)
class Switches:
    level1: bool  # Eq. 6-7: history-embedding perturbation and ||ŵ - w||
    level2: bool  # Eq. 8-9: user / target / negative perturbation and BCE
    same_sequence: bool  # cascade term 1 + T - t (effects within the user's own window)
    cross_sequence: bool  # cascade term (b/m) Σ (effects on other users' windows in the batch)

    @property
    def cascade(self) -> bool:
        return self.same_sequence or self.cross_sequence


SWITCHES: dict[str, Switches] = {
    "adv_linear": Switches(level1=False, level2=True, same_sequence=False, cross_sequence=False),  # APR [12]
    "adv_seq": Switches(level1=True, level2=False, same_sequence=False, cross_sequence=False),  # [22, 23]
    "adv_global": Switches(level1=True, level2=True, same_sequence=False, cross_sequence=False),  # no cascade
    "adv_cas": Switches(level1=True, level2=True, same_sequence=True, cross_sequence=True),  # the method
    "adv_cas_1": Switches(level1=True, level2=True, same_sequence=True, cross_sequence=False),  # Table 4
    "adv_cas_2": Switches(level1=True, level2=True, same_sequence=False, cross_sequence=True),  # Table 4
}


def cascade_matrix(data: InteractionLog, max_len: int, config: CascadeConfig) -> torch.Tensor:
    """Cascade effects of the training windows' input positions, indexed by log user: (n_users, L).

    Rows of users without a training window, and every row when the variant uses no cascade, are 1.
    """
    switches = SWITCHES[config.variant]
    out = np.ones((data.n_users, max_len), dtype=np.float32)
    windows = TrainingWindows(data, max_len)
    if switches.cascade and len(windows):
        inputs = windows.items[:, :-1].numpy()  # (U, L): the histories the model reads
        out[windows.users.numpy()] = cascade_effects(
            inputs,
            config.batch_size,
            same_sequence=switches.same_sequence,
            cross_sequence=switches.cross_sequence,
            floor=config.floor,
            scale=config.cascade_scale,
        )
    return torch.from_numpy(out)


# floats in a doubled batch's attention weights (CausalModel.pairwise_floats of 2B) above which w and ŵ run
# as two passes instead of one stacked pass (stacking large attention tensors costs more: docs/methods.md)
STACK_LIMIT = 8 * 2**20


def states_and_perturbed(
    model: CausalModel, inputs: torch.Tensor, delta: torch.Tensor, times: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """w = f(S) and ŵ = f(S + delta) under the same dropout masks, so that Eq. 6 measures the perturbation
    and not two dropout draws: (B, L) ids, (B, L, E) delta (and the ids' (B, L) timestamps for a time-aware
    model) -> two (B, L, D).

    On CPU, where the doubled batch's attention weights are within :data:`STACK_LIMIT` (always for recurrent
    models), one encoder pass over the doubled batch [S; S + delta] whose halves share their masks (cheaper
    than two passes, most for GRU4Rec's step-by-step recurrence: 1.8x a base step against 2.0x on beauty).
    Otherwise two passes: on CPU the second replays the masks the first recorded; on CUDA (whose fused
    dropout and attention draw their own) it starts from the first's random state, so that it draws the same
    masks again.
    """
    B, L = inputs.shape
    if inputs.device.type == "cpu":
        if model.pairwise_floats(2 * B, L) <= STACK_LIMIT:
            with halves_share_masks():
                doubled = torch.cat([inputs, inputs])  # (2B, L)
                both = None if times is None else torch.cat([times, times])  # (2B, L)
                states, perturbed = model.encode(doubled, torch.cat([torch.zeros_like(delta), delta]), both).chunk(2)
            return states, perturbed
        with masks_recorded() as tape:
            states = model.encode(inputs, times=times)
        with masks_replayed(tape):
            return states, model.encode(inputs, input_delta=delta, times=times)
    cpu_state, cuda_state = torch.get_rng_state(), torch.cuda.get_rng_state(inputs.device)
    states = model.encode(inputs, times=times)
    torch.set_rng_state(cpu_state)
    torch.cuda.set_rng_state(cuda_state, inputs.device)
    return states, model.encode(inputs, input_delta=delta, times=times)


def linear_perturbations(
    user: torch.Tensor,
    pos: torch.Tensor,
    neg: torch.Tensor,
    eps: float,
    norm: Literal["instance", "batch"] = "instance",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 9 in closed form: ``eps * h / ||h||`` with h the gradients of Eq. 8's BCE at δ = 0 with respect to
    the user state, the target and the negative embedding: (N, D) each, one row per instance -> three
    (N, D) constants. ``norm`` (``CascadeConfig.level2_norm``): ||h|| per instance (row) or over the batch.

    With r_j = w·e_j, r_n = w·e_n and ℓ = -log σ(r_j) - log(1 - σ(r_n)): ∂ℓ/∂w = σ(r_n) e_n - σ(-r_j) e_j,
    ∂ℓ/∂e_j = -σ(-r_j) w and ∂ℓ/∂e_n = σ(r_n) w, so per instance the target moves by -eps w / ||w|| and the
    negative by +eps w / ||w||. (No autograd pass: the same values, for a fraction of the work.)
    """
    with torch.no_grad():
        pull = torch.sigmoid(-(user * pos).sum(-1, keepdim=True))  # (N, 1) σ(-r_j)
        push = torch.sigmoid((user * neg).sum(-1, keepdim=True))  # (N, 1) σ(r_n)
        h_user = push * neg - pull * pos  # (N, D)
        if norm == "instance":
            toward = fast_gradient(user, eps)  # (N, D) eps w / ||w||
            return fast_gradient(h_user, eps), -toward, toward
        # over the batch: each gradient tensor as one vector, ||h|| its Frobenius norm
        d_user, d_pos, d_neg = (
            eps * h / torch.linalg.vector_norm(h).clamp_min(1e-12) for h in (h_user, -pull * user, push * user)
        )
    return d_user, d_pos, d_neg


class DirectionMemory:
    """Eq. 7's g per training window (``CascadeConfig.direction == "recycled"``), from the window's last
    update: the gradient of ||ŵ - w|| with respect to ŵ's input, which Eq. 10's backward computes anyway.

    Kept in bfloat16 (only its direction is used): (n_users, L, E), 155 MB for ml-1m at L 200, E 64.
    """

    def __init__(self, n_users: int, max_len: int, width: int, device: torch.device) -> None:
        self.grads = torch.zeros((n_users, max_len, width), dtype=torch.bfloat16, device=device)  # (U, L, E)
        self.known = torch.zeros(n_users, dtype=torch.bool, device=device)  # (U,)

    def has(self, users: torch.Tensor) -> bool:
        return bool(self.known[users].all())

    def get(self, users: torch.Tensor) -> torch.Tensor:
        return self.grads[users].float()  # (B, L, E)

    def keep(self, users: torch.Tensor, grad: torch.Tensor) -> None:
        self.grads[users] = grad.detach().to(torch.bfloat16)
        self.known[users] = True


class CascadeLoss(AdversarialLoss):
    """Eq. 10 on one batch, with the terms switched by the variant."""

    method = "cascade-guided AT"

    def __init__(self, cascade: torch.Tensor, config: CascadeConfig) -> None:
        super().__init__()
        self.cascade = cascade  # (n_users, L) C of every training input position
        self.config = config
        self.switches = SWITCHES[config.variant]
        self.memory: DirectionMemory | None = None  # recycled directions, made at the first batch

    def history_delta(
        self, model: CausalModel, inputs: torch.Tensor, targets: torch.Tensor, batch: Batch
    ) -> torch.Tensor:
        """Eq. 6's A / C: A = eps * g / ||g|| (Eq. 7), ||g|| per history item or per window
        (``CascadeConfig.level1_norm``), over each item's cascade effect C.

        inputs, targets (B, L) -> (B, L, E), zero at padding; a constant (no graph). One full-size
        multiply: the per-item factor eps / (||g|| C) is formed on (B, L, 1).
        """
        real = (inputs > 0).unsqueeze(-1)  # (B, L, 1)
        g = self.direction(model, inputs, targets, batch)  # (B, L, E)
        C = self.cascade[batch.users.cpu()].to(g.device).unsqueeze(-1)  # (B, L, 1)
        norm = torch.linalg.vector_norm(g, dim=-1, keepdim=True)  # (B, L, 1) per item
        if self.config.level1_norm == "sequence":  # over the window's real items: (B, 1, 1)
            norm = torch.linalg.vector_norm(norm * real, dim=1, keepdim=True)
        elif self.config.level1_norm == "batch":  # over every real item of the batch: (1, 1, 1)
            norm = torch.linalg.vector_norm(norm * real).reshape(1, 1, 1)
        return g * (real * self.config.eps / (norm.clamp_min(1e-12) * C))

    def direction(self, model: CausalModel, inputs: torch.Tensor, targets: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Eq. 7's g (B, L, E): the windows' recycled gradients when every one has been seen, else fresh."""
        if self.config.direction == "fresh":
            return self.fresh_direction(model, inputs, targets, batch.rng, input_times(batch))
        if self.memory is None:
            n_users, max_len = self.cascade.shape
            self.memory = DirectionMemory(n_users, max_len, model.input_emb.embedding_dim, inputs.device)
        if not self.memory.has(batch.users):
            return self.fresh_direction(model, inputs, targets, batch.rng, input_times(batch))
        return self.memory.get(batch.users)

    def fresh_direction(
        self,
        model: CausalModel,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        rng: torch.Generator,
        times: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Eq. 7's g = ∂||ŵ - w|| / ∂S at a ξ-long random start: inputs, targets (B, L) -> (B, L, E)."""
        real = (inputs > 0).unsqueeze(-1)  # (B, L, 1)
        width = model.input_emb.embedding_dim
        start = torch.randn((*inputs.shape, width), generator=rng).to(inputs.device)  # (B, L, E)
        start = fast_gradient(start, self.config.xi) * real  # ξ d, one random unit direction per item
        start.requires_grad_(True)
        # shared masks: the direction should measure the input, not dropout noise; independent passes: the
        # direction of the objective as Eq. 6 then computes it, dropout on
        quiet = dropout_off(model) if self.config.dropout == "shared" else contextlib.nullcontext()
        with quiet:
            with torch.no_grad():
                clean = model.encode(inputs, times=times)  # (B, L, D)
            moved = model.encode(inputs, input_delta=start, times=times)  # (B, L, D)
            distance = weighted_mean(torch.linalg.vector_norm(moved - clean, dim=-1), targets > 0, None)  # Eq. 6
            (grad,) = torch.autograd.grad(distance, start)  # (B, L, E)
        return grad

    def parts(self, model: CausalModel, batch: Batch) -> dict[str, torch.Tensor]:
        cfg, sw = self.config, self.switches
        inputs, targets = causal_pairs(batch.items)  # (B, L) each
        times = input_times(batch)  # (B, L) or None
        mask = targets > 0  # (B, L) instances
        adversarial: dict[str, torch.Tensor] = {}
        if sw.level1 and cfg.lam1 > 0:
            delta = self.history_delta(model, inputs, targets, batch)  # (B, L, E) A / C
            if self.memory is not None:  # keep ∂||ŵ - w|| / ∂(ŵ's input) from Eq. 10's backward for next time
                delta.requires_grad_(True)
                delta.register_hook(partial(self.memory.keep, batch.users))
            if cfg.dropout == "shared":
                states, w_hat = states_and_perturbed(
                    model, inputs, delta, times
                )  # (B, L, D): w, ŵ = f(S + A / C), Eq. 6
            else:  # two training-mode passes, each with its own dropout draws
                states = model.encode(inputs, times=times)  # (B, L, D)
                w_hat = model.encode(inputs, input_delta=delta, times=times)  # (B, L, D)
            adv1 = torch.linalg.vector_norm(w_hat - states, dim=-1)  # (B, L) ||ŵ - w||_2
            judged = mask
            if cfg.adv1_positions == "last":  # windows are left-padded: the last column is the predicting state
                judged = torch.zeros_like(mask)
                judged[:, -1] = mask[:, -1]
            adversarial["adv1"] = cfg.lam1 * weighted_mean(adv1, judged, batch.weights)
        else:
            states = model.encode(inputs, times=times)  # (B, L, D): w at every position
        clean = next_item_loss(states, targets, model.item_emb, model.n_items, batch, model.config.loss)
        if not (sw.level2 and cfg.lam2 > 0):
            return {"clean": clean, **adversarial}
        attacked = sample_negatives(targets, model.n_items, batch)  # (B, L) Eq. 8's own negative
        w = states[mask]  # (N, D): the N instances only (padding: 46 % of ml-1m's training positions, 89 % of beauty's)
        pos, neg = model.item_emb(torch.stack([targets[mask], attacked[mask]])).unbind(0)  # (N, D) each
        d_user, d_pos, d_neg = linear_perturbations(w, pos, neg, cfg.level2_eps, cfg.level2_norm)  # Eq. 9
        adv2 = pair_bce(w + d_user, pos + d_pos, neg + d_neg)  # (N,) Eq. 8
        per_position = torch.zeros_like(targets, dtype=adv2.dtype).masked_scatter(mask, adv2)  # (B, L)
        return {"clean": clean, **adversarial, "adv2": cfg.lam2 * weighted_mean(per_position, mask, batch.weights)}


def cascade_finetune(
    model: SequentialModel, data: InteractionLog, config: CascadeConfig, **options: Unpack[FinetuneOptions]
) -> tuple[TrainResult, list[AdversarialEpoch]]:
    """Fine-tune a trained causal model in place with the cascade-guided adversarial objective (Eq. 10)."""
    objective = CascadeLoss(cascade_matrix(data, model.max_len, config), config)
    return adversarial_finetune(model, data, objective, config, **options)
