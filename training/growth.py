"""Catalog growth: a fine-tune learns the items its new data brings, keeping every old item's internal id.

Which items enter: those the base model does not know that appear in at least ``min_interactions``
interactions of the fine-tuning data (its log plus fresh events); the rest are left out, as before.
They take the next internal ids (n + 1, n + 2, ...) in the data's item order, so live and candidate
still compare item for item, and the manifest's item index grows by appending.

How their rows start: every item-indexed tensor of the model (input table, an untied output table, an
output bias) gets, for each new item, the mean of the rows of the known items it co-occurs with: those
within ``window`` positions of it in users' sequences, each occurrence counted. A new item whose
neighbours are all new starts at the mean of the known items' rows. Rows are found by shape: a tensor whose
first dimension is n_items + s holds padding in row 0 when s >= 1, the items next, and s - 1 special
rows (BERT4Rec's [mask]) last; those special rows move to the end of the grown tensor.

Then the warm-up: the new rows alone are trained (every other weight frozen, old rows' gradients zeroed)
on the training windows that hold a new item, with the model's own loss. The mean of neighbours alone is
a blurred row that ranks far down, and the method's few epochs barely move it; fitted against the frozen
network, a new item rises where its contexts predict it and nowhere else, and no old item moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from steadyrec.core.interactions import InteractionLog, reindex
from training.data.batches import TrainingWindows
from training.models import SequentialModel, build_model, config_dict

__all__ = ["CatalogGrowth", "NewItemWarmUp", "cooccurrence_weights", "grow_catalog", "grow_model", "warm_up_new_items"]

WINDOW = 3  # neighbours on each side whose rows a new item starts from


@dataclass(frozen=True)
class NewItemWarmUp:
    """Training of the new rows alone before the method runs (every other weight frozen)."""

    epochs: int = 20  # the windows holding new items are few: 20 passes take about a second
    lr: float = 0.1  # rows start far from where they belong (benchmarks/loop/README.md)
    batch_size: int = 128
    seed: int = 0


@dataclass(frozen=True)
class CatalogGrowth:
    log: InteractionLog  # the data in the grown item index
    item_ids: tuple[str, ...]  # the base's items, then the added ones
    added: tuple[str, ...]  # the items that entered
    dropped: int  # interactions with unknown items below the threshold


def grow_catalog(log: InteractionLog, known: Sequence[str], min_interactions: int | None) -> CatalogGrowth:
    """``log`` in the base's item index, extended by the unknown items with at least ``min_interactions``
    interactions (None: no growth, every unknown item left out)."""
    known_set = set(known)
    added: list[str] = []
    if min_interactions is not None:
        counts = log.item_counts()[1:]  # (N_log,) interactions per item of the log's own index
        added = [
            item
            for item, n in zip(log.item_ids, counts, strict=True)
            if item not in known_set and n >= min_interactions
        ]
    item_ids = (*known, *added)
    mapped, dropped = reindex(log, item_ids)
    return CatalogGrowth(mapped, item_ids, tuple(added), dropped)


def cooccurrence_weights(log: InteractionLog, n_old: int, window: int = WINDOW) -> np.ndarray:
    """(added, n_old) row weights summing to 1: each new item's known neighbours within ``window`` positions
    (uniform over the known items when it has none). Internal ids above ``n_old`` are the new items."""
    n_new = log.n_items - n_old
    counts = np.zeros((n_new, n_old), dtype=np.float64)
    for seq in log.sequences:
        for shift in range(1, window + 1):
            for a, b in ((seq[:-shift], seq[shift:]), (seq[shift:], seq[:-shift])):
                pick = (a > n_old) & (b <= n_old)  # a new item beside a known one
                np.add.at(counts, (a[pick] - n_old - 1, b[pick] - 1), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    uniform = np.full((1, n_old), 1.0 / n_old)
    return np.where(totals > 0, counts / np.maximum(totals, 1.0), uniform)


def _item_tensors(model: SequentialModel) -> list[tuple[torch.nn.Parameter, int]]:
    """Each item-indexed parameter with the row where its items start (after a padding row, if any)."""
    out = []
    for param in model.parameters():
        special = param.shape[0] - model.n_items if param.dim() >= 1 else -1
        if 0 <= special <= 2:
            out.append((param, 1 if special >= 1 else 0))
    return out


def warm_up_new_items(model: SequentialModel, log: InteractionLog, n_old: int, config: NewItemWarmUp) -> float:
    """Fit the rows of items above ``n_old`` to the training windows that hold them, with the rest of
    ``model`` frozen: each new item is pulled up where it is the next item and pushed down (as every
    model's loss does) where it is not, so it enters the lists where the frozen model's context predicts
    it, and no old item's row moves. Returns the last epoch's mean loss (0.0 when no window holds one)."""
    windows = TrainingWindows(log, model.max_len)
    keep = (windows.items > n_old).any(dim=1)  # (U,) windows with a new item
    windows.select(keep)
    if len(windows) == 0:
        return 0.0
    tensors = _item_tensors(model)
    frozen = {name: p.requires_grad for name, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    hooks = []
    for param, lead in tensors:
        param.requires_grad_(True)
        mask = torch.zeros(param.shape[0], *([1] * (param.dim() - 1)), device=param.device)
        mask[lead + n_old : lead + model.n_items] = 1.0
        hooks.append(param.register_hook(lambda grad, m=mask: grad * m))
    optimizer = torch.optim.Adam([p for p, _ in tensors], lr=config.lr)
    order, sample = torch.Generator().manual_seed(config.seed), torch.Generator().manual_seed(config.seed + 1)
    device = next(model.parameters()).device
    was_training = model.training
    model.train()
    last = 0.0
    try:
        for _ in range(config.epochs):
            total, batches = 0.0, 0
            for batch in windows.batches(config.batch_size, order, sample):
                optimizer.zero_grad(set_to_none=True)
                loss = model.loss(batch.to(device))
                loss.backward()
                optimizer.step()
                total, batches = total + float(loss.detach()), batches + 1
            last = total / max(batches, 1)
    finally:
        for hook in hooks:
            hook.remove()
        for name, p in model.named_parameters():
            p.requires_grad_(frozen[name])
        model.train(was_training)
    return last


@torch.no_grad()
def grow_model(model: SequentialModel, weights: np.ndarray) -> SequentialModel:
    """A copy of ``model`` with ``len(weights)`` more items, their rows in every item-indexed tensor
    started as ``weights @ known rows``; every other tensor copied as it is."""
    n_old, n_add = model.n_items, len(weights)
    grown = build_model(model.kind, n_old + n_add, config_dict(model))
    mix = torch.as_tensor(weights, dtype=torch.float32)  # (added, n_old)
    target = grown.state_dict()
    for name, old in model.state_dict().items():
        new = target[name]
        if new.shape == old.shape:
            new.copy_(old)
            continue
        special = old.shape[0] - n_old  # 0: items only; 1: padding row first; 2: padding first, one row last
        if new.shape[0] - old.shape[0] != n_add or new.shape[1:] != old.shape[1:] or not 0 <= special <= 2:
            raise ValueError(f"cannot grow {name}: {tuple(old.shape)} -> {tuple(new.shape)}")
        lead = 1 if special >= 1 else 0
        items = old[lead : lead + n_old]  # (n_old, ...)
        new[: lead + n_old] = old[: lead + n_old]
        new[lead + n_old : lead + n_old + n_add] = (mix.to(items.dtype) @ items.reshape(n_old, -1)).reshape(
            n_add, *items.shape[1:]
        )
        new[lead + n_old + n_add :] = old[lead + n_old :]  # special rows keep their place at the end
    grown.load_state_dict(target)
    grown.train(model.training)
    return grown
