"""Full-ranking next-item evaluation: every instance ranks its target against all items.

Rank of the target (0 = first) = number of other items scoring strictly higher plus the number of
other items tying with it (ties count against the model, so a constant scorer gets the worst rank).
With ``exclude_history`` the items of the instance's history, other than the target itself, are
removed from the ranking (the cascade-guided AT paper's protocol); FINEST ranks over all items.
Metrics: NDCG@K = 1/log2(rank + 2) if rank < K, HR@K = [rank < K], MRR = 1/(rank + 1) (no cut-off).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from training.data.splits import EvalSet
from training.models.base import SequentialModel

__all__ = [
    "RankingResult",
    "evaluate",
    "metrics_from_ranks",
    "ndcg_per_instance",
    "padded_times",
    "ranks_from_scores",
]


@dataclass(frozen=True)
class RankingResult:
    ranks: np.ndarray  # (N,) 0-based rank of each target
    metrics: dict[str, float]


def ranks_from_scores(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, N) scores, (B,) internal target ids -> (B,) 0-based pessimistic ranks."""
    target_scores = scores.gather(1, (targets - 1).unsqueeze(1))  # (B, 1)
    higher_or_tied = (scores >= target_scores).sum(1)  # (B,) includes the target itself
    return higher_or_tied - 1


def ndcg_per_instance(ranks: np.ndarray, k: int) -> np.ndarray:
    """(N,) 0-based ranks -> (N,) NDCG@k of each instance (one relevant item: 1 / log2(rank + 2) or 0)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def metrics_from_ranks(ranks: np.ndarray, ks: Sequence[int] = (10,)) -> dict[str, float]:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return {}
    out: dict[str, float] = {}
    for k in ks:
        out[f"ndcg@{k}"] = float(np.mean(ndcg_per_instance(ranks, k)))
        out[f"hr@{k}"] = float(np.mean(ranks < k))
    out["mrr"] = float(np.mean(1.0 / (ranks + 1.0)))
    return out


def history_mask(data: EvalSet, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices (into a (B, N) score matrix) of every history item of ``rows``."""
    starts, ends = data.history_ptr[rows], data.history_ptr[rows + 1]
    row_idx = np.repeat(np.arange(len(rows)), ends - starts)
    flat = np.concatenate(
        [data.history_items[s:e] for s, e in zip(starts, ends, strict=True)] + [np.zeros(0, np.int64)]
    )
    return torch.from_numpy(row_idx), torch.from_numpy(flat - 1)


def padded_times(data: EvalSet, rows: np.ndarray, max_len: int, device: torch.device) -> torch.Tensor | None:
    """(B, max_len) timestamps of ``rows``' padded histories on ``device``, or None without timestamps."""
    times = data.padded_times(rows, max_len)
    return None if times is None else torch.from_numpy(times).to(device)


@torch.no_grad()
def evaluate(
    model: SequentialModel,
    data: EvalSet,
    *,
    exclude_history: bool,
    ks: Sequence[int] = (10,),
    batch_size: int = 512,
    on_batch: Callable[[int], None] | None = None,
    inputs: EvalSet | None = None,
) -> RankingResult:
    """Rank every target of ``data`` against all items; batched and vectorised, deterministic.

    ``inputs``: histories the model reads instead of ``data``'s (same instances, e.g. with items replaced
    by an attack); targets and the excluded history stay ``data``'s.
    """
    reads = data if inputs is None else inputs
    if len(reads) != len(data):
        raise ValueError(f"inputs has {len(reads)} instances, data {len(data)}")
    was_training = model.training
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device  # an exported graph has none: CPU
    ranks = np.empty(len(data), dtype=np.int64)
    try:
        for start in range(0, len(data), batch_size):
            rows = np.arange(start, min(start + batch_size, len(data)))
            history = torch.from_numpy(reads.padded_histories(rows, model.max_len)).to(device)  # (B, L)
            scores = model.scores(history, padded_times(reads, rows, model.max_len, device)).float()  # (B, N)
            targets = torch.from_numpy(data.targets[rows]).to(device)  # (B,)
            if exclude_history:
                r, c = history_mask(data, rows)
                target_scores = scores.gather(1, (targets - 1).unsqueeze(1))  # (B, 1)
                scores[r.to(device), c.to(device)] = float("-inf")
                scores.scatter_(1, (targets - 1).unsqueeze(1), target_scores)  # the target stays ranked
            ranks[rows] = ranks_from_scores(scores, targets).cpu().numpy()
            if on_batch is not None:
                on_batch(len(rows))
    finally:
        model.train(was_training)
    return RankingResult(ranks, metrics_from_ranks(ranks, ks))
