"""FINEST: rank-preserving fine-tuning (Oh, McAuley, Ustun, Kumar; Algorithm 1, Eq. 1-5).

Step 1 (Alg. 1 line 1): a reference model ranks all items for every training instance; the top-2K
items are kept (int16/int32, computed once, never per epoch). An instance is a history and its next
item. Causal models (SASRec, GRU4Rec, LSTM) predict at every position of a training window, so every
position is an instance and one pass serves both loss terms. A bidirectional model (BERT4Rec) predicts
the next item only by appending a mask, so its instance is the last item of each window, scored in a
second pass: without dropout (as at inference, where its reference list came from), with only the
appended mask's query in the last layer and only the 2K reference items scored (about 0.4 of a plain
pass; benchmarks/finest/results/finest-cost.md).
Steps 2-5, every epoch: sample a ratio R of the training interactions and perturb each by deletion,
replacement or insertion of the least popular item with equal probability (lines 4-5); train on the
next-item loss of the perturbed data (line 6, Eq. 1) plus λ times the rank-preserving regulariser
(Eq. 3-4) over the instances that were not perturbed (lines 7-9, Eq. 5).

One call serves both uses: in production the reference is the live model and the model being tuned,
a copy of live on fresh logs, is the next candidate; in the RLS protocol (training/rls.py, as the
official code) the reference is Θ trained on the original data and the tuned model a copy of Θ on the
perturbed data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.methods import FinestConfig
from training.data.batches import Batch
from training.device import training_device
from training.models.base import (
    CausalModel,
    SequentialModel,
    causal_pairs,
    dropout_off,
    input_times,
    next_item_loss,
    require_timestamps,
    softmax_loss,
)
from training.optim import adam
from training.perturbation import Operation, apply_operations

__all__ = [
    "OPERATIONS",
    "BatchWeights",
    "FinestConfig",
    "FinestEpoch",
    "ReferenceLists",
    "Simulation",
    "finest_finetune",
    "rank_preserving_loss",
    "reference_lists",
]

log = logging.getLogger(__name__)

OPERATIONS: tuple[Operation, ...] = ("deletion", "replacement", "insertion")

# (model, batch, epoch) -> (B,) per-user weights of the next-item loss (mean 1), e.g. R-LARM's adversary
BatchWeights = Callable[[SequentialModel, Batch, int], torch.Tensor | None]
# (data, ratio, rng) -> (perturbed log, each item's original position or -1, interactions perturbed): Alg. 1
# lines 4-5 by default (_simulate), another method's perturbations otherwise (APT's)
Simulation = Callable[[InteractionLog, float, np.random.Generator], tuple[InteractionLog, list[np.ndarray], int]]


@dataclass(frozen=True)
class ReferenceLists:
    """Top-2K reference items of every training instance, aligned to the training windows."""

    items: np.ndarray  # (U, S, 2K) internal ids, 0 where no instance; S = L (causal) or 1 (last item)
    lengths: np.ndarray  # (U,) length of each user's original training sequence
    max_len: int


@dataclass(frozen=True)
class FinestEpoch:
    epoch: int
    next_item_loss: float
    regulariser: float
    perturbed: int
    seconds: float


@dataclass
class FinestResult:
    epochs: list[FinestEpoch] = field(default_factory=list)
    reference_s: float = 0.0
    wall_s: float = 0.0


def _windows(
    data: InteractionLog, origins: list[np.ndarray], max_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Last max_len + 1 items of each sequence, their original positions and (when the log has them) their
    timestamps in whole seconds, left-padded: (U, L + 1) each."""
    shape = (data.n_users, max_len + 1)
    items = np.zeros(shape, dtype=np.int64)
    where = np.full(shape, -1, dtype=np.int64)
    times = np.zeros(shape, dtype=np.int64) if data.timestamps is not None else None
    for r, (seq, org) in enumerate(zip(data.sequences, origins, strict=True)):
        tail = seq[-(max_len + 1) :]
        items[r, max_len + 1 - len(tail) :] = tail
        where[r, max_len + 1 - len(tail) :] = org[-(max_len + 1) :]
        if times is not None and data.timestamps is not None:
            times[r, max_len + 1 - len(tail) :] = np.floor(data.timestamps[r][-(max_len + 1) :])
    return items, where, times


def _slots(model: SequentialModel) -> int:
    """Instances per window: every position for causal models, the last one otherwise."""
    return model.max_len if isinstance(model, CausalModel) else 1


@torch.no_grad()
def reference_lists(
    reference: SequentialModel, data: InteractionLog, top_k: int, batch_size: int = 128
) -> ReferenceLists:
    """Alg. 1 line 1: the reference model's top-2K items for every training instance."""
    model = reference.eval()
    device = next(model.parameters()).device
    seqs = list(data.sequences)
    items, _, times = _windows(data, [np.arange(len(s)) for s in seqs], model.max_len)
    depth = min(2 * top_k, model.n_items)
    dtype = np.int16 if model.n_items < np.iinfo(np.int16).max else np.int32
    slots = _slots(model)
    out = np.zeros((len(seqs), slots, depth), dtype=dtype)
    for start in range(0, len(seqs), batch_size):
        window = torch.from_numpy(items[start : start + batch_size]).to(device)  # (B, L + 1)
        inputs, targets = causal_pairs(window)  # (B, L) each
        inputs = inputs.masked_fill(inputs > model.n_items, 0)  # items the reference does not know: absent
        stamps = None if times is None else torch.from_numpy(times[start : start + batch_size, :-1]).to(device)
        if isinstance(model, CausalModel):
            states = model.encode(inputs, times=stamps)  # (B, L, D)
            scores = states @ model.item_emb.weight[1 : model.n_items + 1].T  # (B, L, N)
        else:
            scores = model.scores(inputs, stamps)[:, None, :]  # (B, 1, N): the window's last item as target
            targets = targets[:, -1:]
        top = torch.topk(scores, depth, dim=-1).indices + 1  # (B, S, 2K) internal ids
        top[targets == 0] = 0  # no target, no instance
        out[start : start + batch_size] = top.cpu().numpy().astype(dtype)
    return ReferenceLists(out, np.array([len(s) for s in seqs]), model.max_len)


def rank_preserving_loss(
    scores: torch.Tensor,
    top_k: int,
    margin_order: float,
    margin_score: float,
    order_term: bool,
    score_term: bool,
    reduction: str = "sum",
) -> torch.Tensor:
    """Eq. 3 per instance, from the tuned model's scores of the 2K reference items in reference order.

    scores (P, 2K) -> (P,): sum_k max(s[k+1] - s[k] + λ1, 0) over the top-K (ordering) plus
    sum_k max(s[k+K] - s[k] + λ2, 0) (top-K above the "competitive" items K+1..2K). With
    ``reduction="mean"`` each of the two sums becomes a mean over its K-1 or K hinge terms.
    """
    k = min(top_k, scores.shape[1] // 2)
    top = scores[:, :k]  # (P, K)
    reduce = torch.sum if reduction == "sum" else torch.mean
    loss = torch.zeros(scores.shape[0], dtype=scores.dtype, device=scores.device)
    if order_term:
        loss = loss + reduce(torch.relu(top[:, 1:] - top[:, :-1] + margin_order), 1)
    if score_term:
        loss = loss + reduce(torch.relu(scores[:, k : 2 * k] - top + margin_score), 1)
    return loss


def _simulate(
    data: InteractionLog, ratio: float, rng: np.random.Generator
) -> tuple[InteractionLog, list[np.ndarray], int]:
    """Alg. 1 lines 4-5: perturb a ratio of interactions, each by one of the three operations; returns the
    perturbed log, each item's original position (-1: inserted or replaced) and the number perturbed."""
    seqs = list(data.sequences)
    if ratio <= 0:
        return data, [np.arange(len(s)) for s in seqs], 0
    flat_users = np.concatenate([np.full(len(s), u) for u, s in enumerate(seqs)])
    flat_pos = np.concatenate([np.arange(len(s)) for s in seqs])
    n = max(1, round(ratio * len(flat_users)))
    pick = rng.choice(len(flat_users), size=n, replace=False)
    chosen = [(int(flat_users[i]), int(flat_pos[i])) for i in pick]
    ops = [OPERATIONS[j] for j in rng.integers(0, 3, size=n)]
    result = apply_operations(data, chosen, ops)
    return result.log, list(result.origins), n


def _batch_losses(
    model: SequentialModel,
    window: torch.Tensor,
    slot: torch.Tensor,
    references: torch.Tensor,
    config: FinestConfig,
    batch: Batch,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-item loss (Eq. 1) on the perturbed windows and the mean Eq. 3 regulariser over the
    non-perturbed instances that have reference lists (Eq. 4).

    window (B, L + 1) perturbed items; slot (B, S) the reference slot of each of the last S targets
    (-1: perturbed or none); references (B, S, 2K) the reference lists of these users.
    """
    valid = slot >= 0  # (B, S)
    if isinstance(model, CausalModel):
        inputs, targets = causal_pairs(window)
        states = model.encode(inputs, times=input_times(batch))  # (B, L, D): one pass for both terms
        index = slot.clamp_min(0)[:, :, None].expand(-1, -1, references.shape[2])  # (B, L, 2K)
        chosen = references.gather(1, index)[valid]  # (P', 2K) reference items of the valid instances
        if model.config.loss == "ce":
            # the softmax already scored every item at every target position: read the references from it
            next_loss, logits = softmax_loss(states, targets, model.item_emb, model.n_items, batch.weights)
            if not config.regularize or not valid.any():
                return next_loss, torch.zeros((), device=window.device)
            row = (targets > 0).flatten().cumsum(0) - 1  # (B * L,) row of each position in the logits
            # one flat take of the (P', 2K) entries: no (P', N) row copy, so the backward scatters only
            # into the logits' gradient (P, N) instead of building two dense intermediates
            flat = row[valid.flatten()][:, None] * model.n_items + (chosen - 1)  # (P', 2K)
            scores = logits.flatten().take(flat)  # (P', 2K)
        else:
            next_loss = next_item_loss(states, targets, model.item_emb, model.n_items, batch, model.config.loss)
            if not config.regularize or not valid.any():
                return next_loss, torch.zeros((), device=window.device)
            scores = model.score_items(states[valid], chosen)  # (P', 2K)
    else:
        next_loss = model.loss(batch)
        if not config.regularize or not valid.any():
            return next_loss, torch.zeros((), device=window.device)
        rows = valid[:, 0]
        chosen = references[rows, 0]  # (P, 2K)
        with dropout_off(model):  # scored as at inference, as its reference list was
            stamps = input_times(batch)
            # (P, 2K): a second pass, 2K items scored
            scores = model.scores_of(window[rows, :-1], chosen, None if stamps is None else stamps[rows])
    terms = (config.top_k, config.margin_order, config.margin_score, config.order_term, config.score_term)
    return next_loss, rank_preserving_loss(scores, *terms, config.reduction).mean()  # Eq. 4 as a batch mean


def _reference_slots(where: torch.Tensor, window: torch.Tensor, lengths: torch.Tensor, slots: int) -> torch.Tensor:
    """For every target of the perturbed windows, its slot in the reference lists (-1 if none).

    A target at original position o of a user with n training items sits, in the original window, at
    target slot S - n + o; it has a reference when that slot exists, o >= 1 (never the first item) and
    its input is a real item. Perturbed targets have o = -1.
    """
    origin = where[:, 1:]  # (B, L) original position of each target, -1 if inserted or replaced
    slot = origin[:, -slots:] - lengths[:, None] + slots  # (B, S)
    ok = (origin[:, -slots:] >= 1) & (slot >= 0) & (slot < slots) & (window[:, :-1][:, -slots:] > 0)
    return torch.where(ok, slot, torch.full_like(slot, -1))


def finest_finetune(
    model: SequentialModel,
    data: InteractionLog,
    reference: SequentialModel | ReferenceLists,
    config: FinestConfig,
    *,
    on_epoch: Callable[[FinestEpoch], None] | None = None,
    batch_weights: BatchWeights | None = None,
    simulation: Simulation | None = None,
) -> FinestResult:
    """Fine-tune ``model`` in place with FINEST against ``reference`` (a model, or lists already built);
    ``batch_weights`` gives each batch's per-user weights of the next-item loss (default: uniform) and
    ``simulation`` each epoch's perturbations (default: Alg. 1's). Without the regulariser no reference
    lists are built (``reference`` is not read)."""
    require_timestamps(model, data)
    device = training_device(config.device)
    model.to(device)
    result = FinestResult()
    started = time.perf_counter()
    slots = _slots(model)
    if not config.regularize:  # the lists are never read: placeholders of the right shape
        sizes = np.array([len(s) for s in data.sequences])
        refs = ReferenceLists(np.zeros((data.n_users, slots, 1), dtype=np.int16), sizes, model.max_len)
    elif isinstance(reference, ReferenceLists):
        refs = reference
    else:
        refs = reference_lists(reference.to(device), data, config.top_k)
    result.reference_s = time.perf_counter() - started
    if refs.max_len != model.max_len or len(refs.lengths) != data.n_users or refs.items.shape[1] != slots:
        raise ValueError("reference lists were built for other data, another max length or another model kind")
    ref_items = torch.from_numpy(refs.items.astype(np.int64))  # (U, S, 2K)
    lengths = torch.from_numpy(refs.lengths)  # (U,)
    # dropout draws from torch's global stream: seeded here (as train() does), so a FINEST run gives the
    # same model whatever ran before it in the process (e.g. Random F.T. before FINEST in the RLS harness)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    order_rng = torch.Generator().manual_seed(config.seed * 2 + 1)
    sample_rng = torch.Generator().manual_seed(config.seed * 2 + 2)
    optimiser = adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98))
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        perturbed, origins, n_perturbed = (simulation or _simulate)(
            data, config.sample_ratio if config.simulate else 0.0, rng
        )
        items_np, where_np, times_np = _windows(perturbed, origins, model.max_len)
        items, where = torch.from_numpy(items_np), torch.from_numpy(where_np)
        times = None if times_np is None else torch.from_numpy(times_np)
        model.train()
        totals = np.zeros(2)
        batches = 0
        for idx in torch.randperm(perturbed.n_users, generator=order_rng).split(config.batch_size):
            slot = _reference_slots(where[idx], items[idx], lengths[idx], slots)  # (B, S)
            window = items[idx].to(device)  # (B, L + 1)
            batch = Batch(window, idx.to(device), sample_rng, times=None if times is None else times[idx].to(device))
            if batch_weights is not None:
                batch.weights = batch_weights(model, batch, epoch)  # (B,)
            next_loss, reg = _batch_losses(model, window, slot.to(device), ref_items[idx].to(device), config, batch)
            loss = next_loss + config.lam * reg  # Eq. 5
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            totals += [float(next_loss.detach()), float(reg.detach())]
            batches += 1
        report = FinestEpoch(epoch, totals[0] / batches, totals[1] / batches, n_perturbed, time.perf_counter() - t0)
        result.epochs.append(report)
        log.info("finest epoch %d: next-item %.4f, regulariser %.4f (%.1fs)", epoch, *totals / batches, report.seconds)
        if on_epoch is not None:
            on_epoch(report)
    model.eval()
    result.wall_s = time.perf_counter() - started
    return result
