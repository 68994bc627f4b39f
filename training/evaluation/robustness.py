"""Robustness to worst-case item replacements (Tan et al., Sec. 5.6, Fig. 5 and Fig. 6).

For every test instance, some items of the history the model reads (its last ``max_len`` items) are
replaced: the first, the middle or the last one (Fig. 5), or the last K (Fig. 6). Each replacement is
the worst case among nearby real items: the gradient of the target's cross-entropy with respect to the
item's embedding gives the direction that hurts most (one step on the clean history, for all replaced
positions at once); among the item's ``neighbours`` nearest items (Euclidean, in the item embedding),
the one whose offset from the original points most along that direction (largest cosine) replaces it.
The replacement is never the original item, the target or padding.

The perturbed histories are then ranked with :func:`training.evaluation.ranking.evaluate` (full ranking;
with ``exclude_history`` the user's real history is excluded, the perturbed one is only what the model
reads). The report gives each setting's metrics and their relative drop from the clean ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from training.data.splits import EvalSet
from training.evaluation.ranking import evaluate
from training.models.base import CausalModel

__all__ = ["SETTINGS", "replaced_positions", "robustness_report", "worst_case_inputs"]

SETTINGS = ("first", "middle", "last", "last-2", "last-3", "last-4", "last-5")  # Fig. 5, then Fig. 6's K
_LAST_K = re.compile(r"^last-(\d+)$")


def replaced_positions(setting: str, lengths: np.ndarray, max_len: int) -> np.ndarray:
    """Which positions of left-padded (B, max_len) windows a setting replaces: (B, max_len) bool.

    ``lengths`` (B,) are the visible history lengths (<= max_len); the window's last column is the most
    recent item. ``first`` / ``middle`` / ``last``: one item; ``last-K``: the last min(K, length) items.
    """
    lengths = np.minimum(lengths, max_len)
    start = max_len - lengths  # (B,) column of the earliest visible item
    columns = np.arange(max_len)[None, :]  # (1, L)
    if setting == "first":
        chosen = columns == start[:, None]
    elif setting == "middle":
        chosen = columns == (start + lengths // 2)[:, None]
    elif setting == "last":
        chosen = columns == max_len - 1
    elif match := _LAST_K.match(setting):
        chosen = columns >= np.maximum(start, max_len - int(match.group(1)))[:, None]
    else:
        raise ValueError(f"unknown replacement setting {setting!r}; expected first, middle, last or last-K")
    return chosen & (lengths[:, None] > 0)


def _replacements(
    model: CausalModel, history: torch.Tensor, targets: torch.Tensor, chosen: torch.Tensor, neighbours: int
) -> torch.Tensor:
    """Worst-case nearby items for the chosen positions: history (B, L), targets (B,), chosen (B, L) ->
    (M,) internal ids, M = chosen.sum(), in row-major order of ``chosen``."""
    table = model.input_emb.weight[1 : model.n_items + 1].detach()  # (N, E) the items as the history reads them
    delta = torch.zeros((*history.shape, table.shape[1]), device=history.device, requires_grad=True)
    states = model.encode(history, input_delta=delta, last_only=True)  # (B, D)
    loss = F.cross_entropy(states @ model.item_emb.weight[1 : model.n_items + 1].T, targets - 1, reduction="sum")
    (grad,) = torch.autograd.grad(loss, delta)  # (B, L, E): the direction that raises the loss
    original = history[chosen]  # (M,)
    ascent = grad[chosen]  # (M, E)
    anchor = table[original - 1]  # (M, E)
    dist = torch.cdist(anchor, table)  # (M, N)
    rows = torch.arange(len(original), device=history.device)
    dist[rows, original - 1] = float("inf")  # never the item itself
    dist[rows, targets[chosen.nonzero()[:, 0]] - 1] = float("inf")  # never the target
    k = min(neighbours, table.shape[0] - 2)
    near = torch.topk(dist, k, dim=1, largest=False).indices  # (M, k) nearest candidates
    offsets = table[near] - anchor[:, None, :]  # (M, k, E)
    cosine = F.cosine_similarity(offsets, ascent[:, None, :].expand_as(offsets), dim=-1)  # (M, k)
    return near.gather(1, cosine.argmax(1, keepdim=True)).squeeze(1) + 1  # (M,) internal ids


def worst_case_inputs(
    model: CausalModel, data: EvalSet, setting: str, *, neighbours: int = 20, batch_size: int = 256
) -> EvalSet:
    """``data`` with the setting's positions of each visible history replaced by worst-case nearby items."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    L = model.max_len
    histories = [data.history(i).copy() for i in range(len(data))]
    try:
        for start in range(0, len(data), batch_size):
            rows = np.arange(start, min(start + batch_size, len(data)))
            lengths = np.array([len(histories[i]) for i in rows])
            chosen_np = replaced_positions(setting, lengths, L)  # (B, L)
            if not chosen_np.any():
                continue
            history = torch.from_numpy(data.padded_histories(rows, L)).to(device)  # (B, L)
            targets = torch.from_numpy(data.targets[rows]).to(device)  # (B,)
            chosen = torch.from_numpy(chosen_np).to(device)
            new_items = _replacements(model, history, targets, chosen, neighbours).cpu().numpy()  # (M,)
            r, c = np.nonzero(chosen_np)  # row-major, as the replacements
            for row, column, item in zip(r, c, new_items, strict=True):
                h = histories[rows[row]]
                h[len(h) - (L - column)] = item  # column L - 1 is the history's last item
    finally:
        model.train(was_training)
    return EvalSet.from_instances(list(data.users), list(data.targets), histories)


def robustness_report(
    model: CausalModel,
    data: EvalSet,
    settings: Sequence[str] = SETTINGS,
    *,
    exclude_history: bool = True,
    neighbours: int = 20,
) -> list[dict[str, float | str]]:
    """Clean metrics, then per setting the metrics under replacement and the relative drops (in %)."""
    clean = evaluate(model, data, exclude_history=exclude_history).metrics
    rows: list[dict[str, float | str]] = [{"setting": "clean", **clean}]
    for setting in settings:
        attacked = worst_case_inputs(model, data, setting, neighbours=neighbours)
        metrics = evaluate(model, data, exclude_history=exclude_history, inputs=attacked).metrics
        drops = {f"drop_{k}": 100.0 * (clean[k] - v) / clean[k] if clean[k] else 0.0 for k, v in metrics.items()}
        rows.append({"setting": setting, **metrics, **drops})
    return rows
