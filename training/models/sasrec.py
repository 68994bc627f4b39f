"""SASRec (Kang and McAuley, ICDM 2018): causal self-attention over the item sequence.

Learned positional embeddings, pre-LayerNorm attention blocks with a point-wise feed-forward layer,
dropout, and the item embedding shared with the output layer. Two objectives: the paper's BCE with
one sampled negative per position, or full-softmax cross-entropy over all items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from training.models.attention import attend
from training.models.base import CausalModel, init_xavier
from training.models.dropout import Dropout

__all__ = ["SASRec", "SASRecConfig", "causal_mask", "feed_forward"]


@dataclass(frozen=True)
class SASRecConfig:
    hidden: int = 64  # paper uses 50; 64 trains as well and suits SIMD widths
    blocks: int = 2  # paper Sec. IV: two self-attention blocks
    heads: int = 1  # paper: one head; more did not help
    dropout: float = 0.2  # paper: 0.2 on ML-1M (0.5 on the sparse Amazon sets)
    max_len: int = 200  # paper: 200 for ML-1M (users average 165 interactions), 50 for Amazon
    loss: Literal["bce", "ce"] = "ce"  # "bce": paper's one-negative BCE; "ce": full softmax (learns faster)
    # BCE's negative: "uniform" over every item, or from the user's "unseen" items (the paper's sampler)
    negatives: Literal["uniform", "unseen"] = "uniform"

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if self.loss not in ("bce", "ce"):
            raise ValueError(f"loss must be 'bce' or 'ce', got {self.loss!r}")
        if self.negatives not in ("uniform", "unseen"):
            raise ValueError(f"negatives must be 'uniform' or 'unseen', got {self.negatives!r}")


def feed_forward(hidden: int, dropout: float) -> nn.Sequential:
    """The point-wise feed-forward layer (SASRec Sec. III-C): two linear maps, a ReLU, dropout after each."""
    return nn.Sequential(
        nn.Linear(hidden, hidden), nn.ReLU(), Dropout(dropout), nn.Linear(hidden, hidden), Dropout(dropout)
    )


def causal_mask(max_len: int) -> torch.Tensor:
    """(max_len, max_len) bool, True above the diagonal: the future positions a query may not see."""
    return torch.triu(torch.ones(max_len, max_len, dtype=torch.bool), 1)


class _Block(nn.Module):
    def __init__(self, cfg: SASRecConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(cfg.hidden, eps=1e-8)
        self.attn = nn.MultiheadAttention(cfg.hidden, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.ffn_norm = nn.LayerNorm(cfg.hidden, eps=1e-8)
        self.ffn = feed_forward(cfg.hidden, cfg.dropout)

    def forward(
        self, x: torch.Tensor, causal: torch.Tensor, keep: torch.Tensor, last_only: bool = False
    ) -> torch.Tensor:
        """(B, L, D) states -> (B, L, D), or with ``last_only`` (B, 1, D): the last position's row alone (its
        keys and values still come from every position)."""
        q = self.attn_norm(x)  # (B, L, D); queries normalised, keys/values raw as in the paper's code
        if last_only:
            q, causal, keep = q[:, -1:], causal[-1:], keep[:, -1:]  # (B, 1, D), (1, L), (B, 1, 1)
        a = attend(self.attn, q, x, causal)  # (B, Q, D)
        x = q + a
        x = x + self.ffn(self.ffn_norm(x))  # (B, Q, D)
        return x * keep  # padding positions stay zero


class SASRec(CausalModel):
    kind = "sasrec"
    config: SASRecConfig

    def __init__(self, n_items: int, config: SASRecConfig) -> None:
        super().__init__(n_items, config)
        d = config.hidden
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_len, d)
        self.emb_dropout = Dropout(config.dropout)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.blocks))
        self.out_norm = nn.LayerNorm(d, eps=1e-8)
        self.causal: torch.Tensor  # (max_len, max_len) True above the diagonal: future positions hidden
        self.register_buffer("causal", causal_mask(config.max_len), persistent=False)
        init_xavier(self, self.item_emb)

    def pairwise_floats(self, batch: int, length: int) -> int:
        return batch * self.config.heads * length * length  # (B, H, L, L) attention weights

    def encode(
        self,
        history: torch.Tensor,
        input_delta: torch.Tensor | None = None,
        times: torch.Tensor | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """Hidden state at every position: (B, L) ids (+ optional (B, L, D) embedding delta) -> (B, L, D);
        with ``last_only`` the last position's (B, D), its final block run for that query alone."""
        L = history.shape[1]
        e = self.item_emb(history)  # (B, L, D)
        if input_delta is not None:
            e = e + input_delta
        x = e * math.sqrt(self.config.hidden)  # (B, L, D)
        x = x + self.pos_emb.weight[-L:]  # positions aligned to the right (most recent = last)
        keep = (history > 0).unsqueeze(-1).to(x.dtype)  # (B, L, 1)
        x = self.emb_dropout(x) * keep
        causal = self.causal[-L:, -L:]
        *inner, top = self.blocks
        for block in inner:
            x = block(x, causal, keep)
        x = top(x, causal, keep, last_only)  # (B, L, D) or (B, 1, D)
        return self.out_norm(x[:, -1] if last_only else x)  # (B, L, D) or (B, D)
