"""BERT4Rec (Sun et al., CIKM 2019): a bidirectional transformer trained by masked-item prediction.

Training (Cloze task): a fraction ``mask_prob`` of the items of each window is replaced by a [mask]
token and predicted with a softmax over all items. Prediction: the history is shifted left and a
[mask] token appended; the state at that last position scores every item. Padding keys are masked out
of attention, so left padding never changes a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from training.data.batches import Batch
from training.models.attention import attend, attend_packed
from training.models.base import SequentialModel, weighted_mean
from training.models.dropout import Dropout

__all__ = ["BERT4Rec", "BERT4RecConfig"]


@dataclass(frozen=True)
class BERT4RecConfig:
    hidden: int = 64  # BERT4Rec paper Sec. 4.3: hidden size 64 (FINEST uses 128)
    blocks: int = 2  # paper: 2 transformer layers
    heads: int = 2  # paper: 2 attention heads
    dropout: float = 0.1  # paper: 0.1
    mask_prob: float = 0.2  # paper: 0.2 on ML-1M (0.6 on the sparse Amazon sets)
    max_len: int = 200  # paper: 200 on ML-1M (FINEST: 50)

    def __post_init__(self) -> None:
        if self.blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {self.blocks}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob}")


class _Layer(nn.Module):
    """Post-LayerNorm transformer layer (as BERT): attention, add & norm, GELU feed-forward, add & norm."""

    def __init__(self, cfg: BERT4RecConfig) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(cfg.hidden, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(cfg.hidden)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.hidden, 4 * cfg.hidden),
            nn.GELU(),
            Dropout(cfg.dropout),
            nn.Linear(4 * cfg.hidden, cfg.hidden),
        )
        self.norm2 = nn.LayerNorm(cfg.hidden)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor, blocked: torch.Tensor) -> torch.Tensor:
        """Queries x (B, Q, D) attend over context (B, L, D); blocked (B, 1, Q, L) -> (B, Q, D)."""
        return self._rest(x, attend(self.attn, x, context, blocked))  # (B, Q, D)

    def packed(
        self, x: torch.Tensor, cells: torch.Tensor, shape: torch.Size, ends: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The same layer on packed states x (T, D) of the cells ``cells`` of a (B, L) grid -> (T, D),
        or with ``ends`` (B,) (rows of x) for the last cell of each grid row only -> (B, D)."""
        a = attend_packed(self.attn, x, cells, shape, ends)
        return self._rest(x if ends is None else x[ends], a)

    def _rest(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Add & norm the attention output a onto x, then the feed-forward; any leading shape (..., D)."""
        x = self.norm1(x + self.drop(a))
        return self.norm2(x + self.drop(self.ffn(x)))


class BERT4Rec(SequentialModel):
    kind = "bert4rec"
    config: BERT4RecConfig

    def __init__(self, n_items: int, config: BERT4RecConfig) -> None:
        super().__init__(n_items, config)
        d = config.hidden
        self.mask_token = n_items + 1
        self.item_emb = nn.Embedding(n_items + 2, d, padding_idx=0)  # 0 padding, n + 1 the [mask] token
        self.pos_emb = nn.Embedding(config.max_len, d)
        self.emb_norm = nn.LayerNorm(d)
        self.emb_drop = Dropout(config.dropout)
        self.layers = nn.ModuleList(_Layer(config) for _ in range(config.blocks))
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))
        self.out_bias = nn.Parameter(torch.zeros(n_items))
        self.register_buffer("eye", torch.eye(config.max_len, dtype=torch.bool), persistent=False)
        self.eye: torch.Tensor  # (max_len, max_len)
        for name, p in self.named_parameters():
            if p.dim() > 1:
                nn.init.trunc_normal_(p, std=0.02)  # BERT's initialisation
            elif name.endswith("bias") and "norm" not in name:
                nn.init.zeros_(p)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def encode(self, tokens: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(B, L) token ids (items, [mask], 0 padding) -> (B, L, D) bidirectional states, or with
        ``last_only`` the (B, D) state of the last position alone: the same values, but the last layer
        then runs one query per row instead of L (its keys and values still come from every position)."""
        L = tokens.shape[1]
        x = self._embed(tokens, self.pos_emb.weight[-L:])  # (B, L, D)
        pad = tokens == 0  # (B, L)
        blocked = (pad[:, None, :] & ~self.eye[:L, :L])[:, None]  # (B, 1, L, L) pad keys hidden; a row sees itself
        *inner, top = self.layers
        for layer in inner:
            x = layer(x, x, blocked)
        if last_only:
            return top(x[:, -1:], x, blocked[:, :, -1:])[:, 0]  # (B, D)
        return top(x, x, blocked)

    def encode_packed(self, tokens: torch.Tensor, last_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) token ids -> the states of the non-padding cells (T, D), in row-major order, and their
        flat indices (T,). Equal to ``encode(tokens)`` at those cells (padding keys are blocked there
        too), but every per-token step (projections, feed-forward, norms, dropout) runs on the T real
        cells only: training's path, as windows shorter than max_len are left-padded (27% of the cells
        of the foursquare windows). Inference and the ONNX graph keep the dense ``encode``. With
        ``last_only``, the (B, D) states of each row's last cell instead (which must be real, as the
        appended [mask] is), as ``encode(tokens, last_only=True)``."""
        B, L = tokens.shape
        flat = tokens.reshape(-1)  # (B * L,)
        cells = (flat != 0).nonzero().squeeze(1)  # (T,)
        x = self._embed(flat[cells], self.pos_emb.weight[-L:][cells % L])  # (T, D)
        ends = (cells // L).bincount(minlength=B).cumsum(0) - 1 if last_only else None  # (B,) rows of x
        *inner, top = (cast(_Layer, layer) for layer in self.layers)
        for layer in inner:
            x = layer.packed(x, cells, tokens.shape)
        return top.packed(x, cells, tokens.shape, ends), cells

    def _embed(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Token ids (...) and their position embeddings (..., D) -> input states (..., D)."""
        return self.emb_drop(self.emb_norm(self.item_emb(tokens) + positions))

    def _logits(self, states: torch.Tensor) -> torch.Tensor:
        """(..., D) states -> (..., N) item scores through the tied output embedding."""
        return self.head(states) @ self.item_emb.weight[1 : self.n_items + 1].T + self.out_bias

    def _predict_state(self, history: torch.Tensor, packed: bool = False) -> torch.Tensor:
        """(B, L') history -> (B, D) state of a [mask] appended after its last max_len - 1 items; the
        dense path (inference, ONNX) or the packed one (training)."""
        tail = history[:, -(self.max_len - 1) :]  # (B, L - 1)
        masked = torch.full_like(tail[:, :1], self.mask_token)  # (B, 1)
        tokens = torch.cat([tail, masked], dim=1)  # (B, L)
        return self.encode_packed(tokens, last_only=True)[0] if packed else self.encode(tokens, last_only=True)

    def scores(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        return self._logits(self._predict_state(history))  # (B, N)

    def scores_of(self, history: torch.Tensor, items: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        h = self.head(self._predict_state(history, packed=True))  # (B, D): FINEST's regulariser, in training
        return (self.item_emb(items) * h[:, None, :]).sum(-1) + self.out_bias[items - 1]  # (B, M)

    def loss(self, batch: Batch) -> torch.Tensor:
        items = batch.items[:, 1:]  # (B, L)
        real = items > 0
        draw = torch.rand(items.shape, generator=batch.rng).to(items.device)  # (B, L)
        chosen = real & (draw < self.config.mask_prob)
        last = torch.zeros_like(chosen)
        last[:, -1] = True  # windows that drew no mask predict their last item (as at inference)
        chosen = chosen | (last & real & ~chosen.any(dim=1, keepdim=True))
        tokens = torch.where(chosen, torch.full_like(items, self.mask_token), items)  # (B, L)
        states, cells = self.encode_packed(tokens)  # (T, D): the real cells, a superset of the chosen
        logits = self._logits(states[chosen.reshape(-1)[cells]])  # (P, N), row-major as chosen's cells
        per_pos = F.cross_entropy(logits, items[chosen] - 1, reduction="none")  # (P,)
        full = torch.zeros_like(items, dtype=states.dtype).masked_scatter(chosen, per_pos)  # (B, L)
        return weighted_mean(full, chosen, batch.weights)
