"""Ranking metrics of the EASE / VAE-CF protocol (R-LARM paper Sec. 5, Eq. 11): NDCG@100, Recall@20, Recall@50.

Per user, over a dense score row and a binary relevance row:
- NDCG@k = DCG@k / IDCG@k with DCG@k = sum_{s<=k} rel_s / log2(s + 1) (Eq. 11) and IDCG@k the DCG of
  the ideal order, i.e. sum_{s <= min(#relevant, k)} 1 / log2(s + 1);
- Recall@k = (#relevant in the top k) / min(#relevant, k) (Liang et al.'s denominator).
A user with no relevant item scores 0. In held-out evaluation the fold-in items are removed from the
ranking (their scores set to -inf) before the top k is taken; ties among scores break by index.
The same NDCG, on training rows, is the rank loss 1 - NDCG_i of R-LARM (Eq. 10).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

__all__ = [
    "HeldoutResult",
    "dense_rows",
    "evaluate_heldout",
    "item_item_scorer",
    "ndcg_at_k",
    "recall_at_k",
    "top_k_hits",
]


def _discounts(k: int, device: torch.device) -> torch.Tensor:
    return 1.0 / torch.log2(torch.arange(2, k + 2, device=device, dtype=torch.float64))  # (k,) 1/log2(s + 1)


def top_k_hits(scores: torch.Tensor, relevant: torch.Tensor, k: int) -> torch.Tensor:
    """(B, N) scores, (B, N) 0/1 relevance -> (B, k') relevance of the top k' = min(k, N) items, in rank order."""
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1).indices  # (B, k')
    return relevant.gather(1, top).to(torch.float64)


def ndcg_at_k(scores: torch.Tensor, relevant: torch.Tensor, k: int) -> torch.Tensor:
    """Per-user NDCG@k (Eq. 11 over its ideal value): (B, N), (B, N) -> (B,) float64."""
    hits = top_k_hits(scores, relevant, k)  # (B, k')
    disc = _discounts(hits.shape[1], scores.device)  # (k',)
    dcg = hits @ disc  # (B,)
    n_rel = relevant.sum(1).to(torch.int64).clamp(max=hits.shape[1])  # (B,) min(#relevant, k')
    ideal = torch.cat([torch.zeros(1, dtype=torch.float64, device=scores.device), disc.cumsum(0)])  # (k' + 1,)
    idcg = ideal[n_rel]  # (B,)
    return torch.where(n_rel > 0, dcg / idcg.clamp_min(1e-12), torch.zeros_like(dcg))


def recall_at_k(scores: torch.Tensor, relevant: torch.Tensor, k: int) -> torch.Tensor:
    """Per-user Recall@k with denominator min(#relevant, k): (B, N), (B, N) -> (B,) float64."""
    hits = top_k_hits(scores, relevant, k).sum(1)  # (B,)
    denominator = relevant.sum(1).to(torch.float64).clamp(max=min(k, scores.shape[1]))  # (B,)
    return torch.where(denominator > 0, hits / denominator.clamp_min(1.0), torch.zeros_like(hits))


def dense_rows(x: sp.csr_matrix, start: int, stop: int, device: torch.device) -> torch.Tensor:
    """Rows start..stop of a sparse 0/1 matrix as a dense float32 tensor (B, N)."""
    return torch.from_numpy(np.asarray(x[start:stop].todense(), dtype=np.float32)).to(device)


@dataclass(frozen=True)
class HeldoutResult:
    per_user: dict[str, np.ndarray]  # metric -> (H,) per held-out user, in the order of the held-out set
    metrics: dict[str, float]  # metric -> mean over held-out users


ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # (B, N) fold-in rows -> (B, N) scores


def item_item_scorer(w: torch.Tensor | np.ndarray) -> ScoreFn:
    """Scores X_i W of an item-item model (EASE and its adversarial variants)."""
    matrix = torch.as_tensor(np.asarray(w, dtype=np.float32)) if isinstance(w, np.ndarray) else w  # (N, N)
    return lambda x: x @ matrix.to(x.device)


@torch.no_grad()
def evaluate_heldout(
    score_fn: ScoreFn,
    fold_in: sp.csr_matrix,
    targets: sp.csr_matrix,
    *,
    ndcg_ks: Sequence[int] = (100,),
    recall_ks: Sequence[int] = (20, 50),
    batch_size: int = 1024,
    device: torch.device | None = None,
) -> HeldoutResult:
    """Score each held-out user's fold-in row, remove the fold-in items from the ranking, rank the rest."""
    device = device or torch.device("cpu")
    per_user: dict[str, list[np.ndarray]] = {f"ndcg@{k}": [] for k in ndcg_ks}
    per_user.update({f"recall@{k}": [] for k in recall_ks})
    for start in range(0, fold_in.shape[0], batch_size):
        stop = min(start + batch_size, fold_in.shape[0])
        given = dense_rows(fold_in, start, stop, device)  # (B, N)
        relevant = dense_rows(targets, start, stop, device)  # (B, N)
        scores = score_fn(given).float().masked_fill(given > 0, float("-inf"))  # fold-in items never ranked
        for k in ndcg_ks:
            per_user[f"ndcg@{k}"].append(ndcg_at_k(scores, relevant, k).cpu().numpy())
        for k in recall_ks:
            per_user[f"recall@{k}"].append(recall_at_k(scores, relevant, k).cpu().numpy())
    arrays = {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in per_user.items()}
    return HeldoutResult(arrays, {name: float(a.mean()) if a.size else 0.0 for name, a in arrays.items()})
