"""TiSASRec (Li, Wang and McAuley, WSDM 2020): self-attention aware of absolute positions and of the time
intervals between the items of a sequence.

Sec. 3.2, personalised time intervals: for a window with timestamps t_1..t_n, the user's unit is the
smallest non-zero interval between two of its items, r_min, and the relation of items i and j is

    r_ij = min(floor(|t_i - t_j| / r_min), k)                                   (k = ``time_span``)

computed here over the window the model reads, so that training, evaluation, the exported graph and the
service derive it from the same input: the history's own timestamps.

Sec. 3.3, time interval-aware self-attention (Eq. 3-4): position i's output is

    z_i = sum_j a_ij (m_j W^V + r^V_ij + p^V_j),   a_ij = softmax_j(e_ij),
    e_ij = m_i W^Q (m_j W^K + r^K_ij + p^K_j)^T / sqrt(d),

with separate absolute-position tables for keys and values (p^K, p^V, added after the projections, not
to the input) and separate interval tables (r^K, r^V, one row per interval 0..k). The interval terms are
computed without materialising the (B, L, L, d) pair embeddings of the paper's code: q_i r^K_ij is a
gather from q_i R^K (B, L, k + 1), and sum_j a_ij r^V_ij adds each row's attention per interval
(scatter-add, (B, L, k + 1)) before one product with R^V. The rest follows SASRec (Sec. 3.4-3.6):
item embeddings scaled by sqrt(d), dropout, causal masking, a point-wise feed-forward layer, layer
norms, the item embedding shared with the output, and BCE with one negative (or full softmax).

Dropout on the interval tables is drawn per table row (every pair at that interval shares it), where the
paper's code drops each pair's copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from training.models.base import CausalModel, init_xavier
from training.models.dropout import Dropout, dropout
from training.models.sasrec import causal_mask, feed_forward

__all__ = ["TiSASRec", "TiSASRecConfig", "TimestampsRequired", "relative_intervals"]


class TimestampsRequired(ValueError):
    """A time-aware model was asked without the history's timestamps."""


@dataclass(frozen=True)
class TiSASRecConfig:
    hidden: int = 50  # paper Sec. 4.4: d = 50
    blocks: int = 2  # paper: two blocks
    heads: int = 1  # paper: one head
    dropout: float = 0.2  # paper: 0.2 on MovieLens
    max_len: int = 50  # paper: n = 50
    time_span: int = 256  # paper: k = 256 (intervals above it are clipped)
    loss: Literal["bce", "ce"] = "ce"  # as SASRec's default: full softmax learns faster than the paper's BCE
    # BCE's negative: "uniform" over every item, or from the user's "unseen" items (the paper's sampler)
    negatives: Literal["uniform", "unseen"] = "uniform"

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if self.time_span < 1:
            raise ValueError(f"time_span must be at least 1, got {self.time_span}")
        if self.loss not in ("bce", "ce"):
            raise ValueError(f"loss must be 'bce' or 'ce', got {self.loss!r}")
        if self.negatives not in ("uniform", "unseen"):
            raise ValueError(f"negatives must be 'uniform' or 'unseen', got {self.negatives!r}")


_NO_INTERVAL = 1 << 62  # above any interval in seconds: stands for "not a non-zero interval" in the min


def relative_intervals(times: torch.Tensor, real: torch.Tensor, span: int) -> torch.Tensor:
    """Sec. 3.2: (B, L) int64 timestamps and (B, L) bool real positions -> (B, L, L) int64 r_ij in 0..span.

    r_min is the smallest non-zero |t_i - t_j| between real positions of the row (1 when there is none:
    one item, or all at the same time). A pair with a padding position gets ``span``, as the paper's code
    (padding times 0 there, so their interval is clipped)."""
    diff = (times[:, :, None] - times[:, None, :]).abs()  # (B, L, L)
    pair = real[:, :, None] & real[:, None, :]  # (B, L, L)
    candidates = torch.where(pair & (diff > 0), diff, torch.full_like(diff, _NO_INTERVAL))
    r_min = candidates.flatten(1).min(dim=1).values  # (B,)
    r_min = torch.where(r_min == _NO_INTERVAL, torch.ones_like(r_min), r_min)
    r = torch.div(diff, r_min[:, None, None], rounding_mode="trunc").clamp(max=span)  # (B, L, L), diff >= 0
    return torch.where(pair, r, torch.full_like(r, span))


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, D) -> (B, H, T, D / H)."""
    B, T, D = x.shape
    return x.view(B, T, heads, D // heads).transpose(1, 2)


class _TimeAwareAttention(nn.Module):
    """Eq. 3-4 for every query position at once."""

    def __init__(self, cfg: TiSASRecConfig) -> None:
        super().__init__()
        d = cfg.hidden
        self.heads, self.p = cfg.heads, cfg.dropout
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(
        self,
        q_in: torch.Tensor,  # (B, Q, D) normalised states (queries): every position, or the last alone
        x: torch.Tensor,  # (B, L, D) states (keys and values)
        pos_k: torch.Tensor,  # (B | 1, L, D) p^K
        pos_v: torch.Tensor,  # (B | 1, L, D) p^V
        interval_k: torch.Tensor,  # (k + 1, D) R^K
        interval_v: torch.Tensor,  # (k + 1, D) R^V
        r: torch.Tensor,  # (B, Q, L) int64 intervals
        blocked: torch.Tensor,  # (Q, L) bool, True where a query may not see a key
    ) -> torch.Tensor:
        H = self.heads
        B, L, D = x.shape
        Q = q_in.shape[1]  # L, or 1 for the last position alone
        K1 = interval_k.shape[0]
        q = _heads(self.query(q_in), H)  # (B, H, Q, d)
        k = _heads(self.key(x) + pos_k, H)  # (B, H, L, d)
        v = _heads(self.value(x) + pos_v, H)  # (B, H, L, d)
        rk = interval_k.view(K1, H, D // H).transpose(0, 1)  # (H, k + 1, d)
        rv = interval_v.view(K1, H, D // H).transpose(0, 1)  # (H, k + 1, d)
        rel = r[:, None].expand(B, H, Q, L)  # (B, H, Q, L)
        e = q @ k.transpose(-2, -1) + (q @ rk.transpose(-2, -1)).gather(-1, rel)  # (B, H, Q, L)
        e = e / math.sqrt(D // H)
        a = e.masked_fill(blocked, float("-inf")).softmax(dim=-1)  # (B, H, Q, L)
        a = dropout(a, self.p, self.training)
        per_interval = torch.zeros(B, H, Q, K1, dtype=a.dtype, device=a.device).scatter_add(
            -1, rel, a
        )  # (B, H, Q, k + 1)
        z = a @ v + per_interval @ rv  # (B, H, Q, d)
        return z.transpose(1, 2).flatten(2)  # (B, Q, D)


class _Block(nn.Module):
    def __init__(self, cfg: TiSASRecConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(cfg.hidden, eps=1e-8)
        self.attn = _TimeAwareAttention(cfg)
        self.ffn_norm = nn.LayerNorm(cfg.hidden, eps=1e-8)
        self.ffn = feed_forward(cfg.hidden, cfg.dropout)

    def forward(
        self, x: torch.Tensor, keep: torch.Tensor, last_only: bool = False, **context: torch.Tensor
    ) -> torch.Tensor:
        """(B, L, D) states -> (B, L, D), or with ``last_only`` (B, 1, D): the last position's row alone."""
        q = self.attn_norm(x)  # (B, L, D); queries normalised, keys / values raw as in the paper's code
        if last_only:  # one query: the last row of the intervals and of the mask
            q, keep = q[:, -1:], keep[:, -1:]  # (B, 1, D), (B, 1, 1)
            context = {**context, "r": context["r"][:, -1:], "blocked": context["blocked"][-1:]}
        x = q + self.attn(q, x, **context)  # (B, Q, D)
        x = x + self.ffn(self.ffn_norm(x))  # (B, Q, D)
        return x * keep  # padding positions stay zero


class TiSASRec(CausalModel):
    kind = "tisasrec"
    uses_time = True
    config: TiSASRecConfig

    def __init__(self, n_items: int, config: TiSASRecConfig) -> None:
        super().__init__(n_items, config)
        d = config.hidden
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.pos_k = nn.Embedding(config.max_len, d)
        self.pos_v = nn.Embedding(config.max_len, d)
        self.interval_k = nn.Embedding(config.time_span + 1, d)
        self.interval_v = nn.Embedding(config.time_span + 1, d)
        self.emb_dropout = Dropout(config.dropout)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.blocks))
        self.out_norm = nn.LayerNorm(d, eps=1e-8)
        self.causal: torch.Tensor  # (max_len, max_len) True above the diagonal: future positions hidden
        self.register_buffer("causal", causal_mask(config.max_len), persistent=False)
        init_xavier(self, self.item_emb)

    def pairwise_floats(self, batch: int, length: int) -> int:
        # attention weights and their interval sums (B, H, L, L + k + 1), intervals and their gather (B, L, L)
        heads, span = self.config.heads, self.config.time_span
        return batch * heads * length * (length + span + 1) * 2 + batch * length * length * 2

    def encode(
        self,
        history: torch.Tensor,
        input_delta: torch.Tensor | None = None,
        times: torch.Tensor | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """(B, L) ids and (B, L) int64 timestamps (+ optional (B, L, D) embedding delta) -> (B, L, D); with
        ``last_only`` the last position's (B, D), its final block run for that query alone."""
        if times is None:
            raise TimestampsRequired("TiSASRec reads the history's timestamps: pass times (B, L), 0 at padding")
        if times.shape != history.shape:
            raise ValueError(f"times {tuple(times.shape)} must have the history's shape {tuple(history.shape)}")
        L = history.shape[1]
        real = history > 0  # (B, L)
        r = relative_intervals(times.long(), real, self.config.time_span)  # (B, L, L)
        e = self.item_emb(history)  # (B, L, D)
        if input_delta is not None:
            e = e + input_delta
        keep = real.unsqueeze(-1).to(e.dtype)  # (B, L, 1)
        x = self.emb_dropout(e * math.sqrt(self.config.hidden)) * keep  # (B, L, D)
        B = history.shape[0] if self.training else 1  # per-example dropout on positions in training only
        p = self.config.dropout
        context = {
            "pos_k": self.emb_dropout(self.pos_k.weight[-L:].expand(B, L, -1)),  # right-aligned: last = most recent
            "pos_v": self.emb_dropout(self.pos_v.weight[-L:].expand(B, L, -1)),
            "interval_k": dropout(self.interval_k.weight, p, self.training),
            "interval_v": dropout(self.interval_v.weight, p, self.training),
            "r": r,
            "blocked": self.causal[-L:, -L:],
        }
        *inner, top = self.blocks
        for block in inner:
            x = block(x, keep, **context)
        x = top(x, keep, last_only=last_only, **context)  # (B, L, D) or (B, 1, D)
        return self.out_norm(x[:, -1] if last_only else x)  # (B, L, D) or (B, D)
