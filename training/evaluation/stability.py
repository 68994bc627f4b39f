"""Rank-list stability (RLS, FINEST Eq. 2) between two models on the same test instances.

For every test instance both models rank all items (history not excluded, as FINEST); the two lists
are compared with RBO_ext (p = 0.9 by default, on the top ``rbo_depth(p)`` items, where the remaining
weight is below 1e-4), Jaccard@10, and the full-list average overlap ``ao_full`` (what the official
FINEST code reports as "RBO"). Each model's next-item MRR and Recall@10 come from the same pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from steadyrec.core.similarity import jaccard, rbo_depth, rbo_ext
from training.data.splits import EvalSet
from training.evaluation.ranking import metrics_from_ranks, padded_times, ranks_from_scores
from training.models.base import SequentialModel

__all__ = ["StabilityResult", "compare_models", "full_average_overlap"]


@dataclass(frozen=True)
class StabilityResult:
    rbo: np.ndarray  # (N,) RBO_ext at p
    jaccard: np.ndarray  # (N,) Jaccard@k
    ao_full: np.ndarray  # (N,) average overlap of the two full rankings
    ranks_a: np.ndarray  # (N,) target rank under model a (0-based, all items)
    ranks_b: np.ndarray  # (N,) target rank under model b
    p: float
    k: int

    def summary(self, rows: np.ndarray | None = None) -> dict[str, float]:
        """Means over all instances (or ``rows``), and model b's next-item accuracy."""
        pick = slice(None) if rows is None else rows
        accuracy = metrics_from_ranks(self.ranks_b[pick], ks=(10,))
        return {
            "rbo": float(self.rbo[pick].mean()),
            "ao_full": float(self.ao_full[pick].mean()),
            f"jaccard@{self.k}": float(self.jaccard[pick].mean()),
            "mrr": accuracy["mrr"],
            "recall@10": accuracy["hr@10"],
        }

    def low_accuracy_rows(self, fraction: float = 0.2) -> np.ndarray:
        """Instances of the users with the lowest ``fraction`` mean MRR under model a (FINEST Fig. 6)."""
        rr = 1.0 / (self.ranks_a + 1.0)
        cut = np.quantile(rr, fraction)
        return np.flatnonzero(rr <= cut)


def full_average_overlap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Average overlap of two full rankings per row: (B, N) permutations of 0..N-1 -> (B,).

    An item at position i of ``a`` and j of ``b`` is shared from depth max(i, j) + 1 on; counting those
    depths and accumulating gives every |a[:d] ∩ b[:d]| in O(N) per row.
    """
    rows, n = a.shape
    pos_b = torch.empty_like(b)
    pos_b.scatter_(1, b, torch.arange(n, device=b.device).expand(rows, n))  # position of each item in b
    depth = torch.maximum(torch.arange(n, device=a.device).expand(rows, n), pos_b.gather(1, a))  # (B, N)
    counts = torch.zeros(rows, n, dtype=torch.float64, device=a.device)
    counts.scatter_add_(1, depth, torch.ones_like(depth, dtype=torch.float64))
    overlap = counts.cumsum(1)  # (B, N): |a[:d] ∩ b[:d]| for d = 1..N
    return (overlap / torch.arange(1, n + 1, device=a.device)).mean(1)


@torch.no_grad()
def compare_models(
    model_a: SequentialModel,
    model_b: SequentialModel,
    data: EvalSet,
    *,
    p: float = 0.9,
    k: int = 10,
    batch_size: int = 256,
    on_batch: Callable[[int], None] | None = None,
) -> StabilityResult:
    """RLS of ``model_b`` against ``model_a`` over every instance of ``data`` (full ranking, all items)."""
    depth = min(max(rbo_depth(p), k), model_a.n_items)  # fewer items than the depth: the full lists
    models = (model_a.eval(), model_b.eval())
    out: dict[str, list[np.ndarray]] = {"rbo": [], "jac": [], "ao": [], "ra": [], "rb": []}
    for start in range(0, len(data), batch_size):
        rows = np.arange(start, min(start + batch_size, len(data)))
        length = max(model_a.max_len, model_b.max_len)
        history = torch.from_numpy(data.padded_histories(rows, length))  # (B, L)
        times = padded_times(data, rows, length, history.device)  # (B, L) or None
        targets = torch.from_numpy(data.targets[rows])
        sa, sb = (
            m.scores(history[:, -m.max_len :], None if times is None else times[:, -m.max_len :]).float()
            for m in models
        )  # (B, N) each
        order_a = torch.argsort(sa, dim=1, descending=True, stable=True)  # (B, N)
        order_b = torch.argsort(sb, dim=1, descending=True, stable=True)
        top_a, top_b = order_a[:, :depth].numpy(), order_b[:, :depth].numpy()
        out["rbo"].append(rbo_ext(top_a, top_b, p))
        out["jac"].append(jaccard(top_a[:, :k], top_b[:, :k]))
        out["ao"].append(full_average_overlap(order_a, order_b).numpy())
        out["ra"].append(ranks_from_scores(sa, targets).numpy())
        out["rb"].append(ranks_from_scores(sb, targets).numpy())
        if on_batch is not None:
            on_batch(len(rows))
    cat = {key: np.concatenate(v) if v else np.zeros(0) for key, v in out.items()}
    return StabilityResult(cat["rbo"], cat["jac"], cat["ao"], cat["ra"], cat["rb"], p, k)
