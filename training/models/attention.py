"""Batch-first multi-head attention on ``nn.MultiheadAttention``'s parameters, through one SDPA call.

``nn.MultiheadAttention`` in training mode takes its general path: it transposes batch-first inputs to
(L, B, D) and back, splits the packed input projection through an unflatten/transpose copy (whose
backward fills and adds a (3, L, B, D) buffer), turns a boolean mask into a float one and, for a
per-row mask, needs it repeated per head. :func:`attend` keeps the module as the parameter container
(same ``state_dict``, so checkpoints and artifacts load unchanged) and computes the same attention
with the projections in batch-first layout and a boolean mask that broadcasts over heads. Outputs and
gradients equal the module's (test); the exported ONNX graphs are smaller (SASRec 390 nodes against
443) with identical scores. Training time did not change measurably (BERT4Rec on foursquare, epochs
alternated with the module's path in one process: median 6.05 s against 6.04 s); dropout, not the
attention plumbing, was the cost (``training/models/dropout.py``). So in training on CPU the attention
weights are dropped by that module's cheaper mask, on SDPA's own math path (CPU SDPA takes that path
whenever it drops): BERT4Rec epoch 3.75 -> 3.51 s, SASRec 7.18 -> 6.99 s (median, alternated).
:func:`attend_packed` is BERT4Rec's training path over the real (non-padding) cells only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.models.dropout import dropout

__all__ = ["attend", "attend_packed"]


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, D) -> (B, H, T, D / H)."""
    B, T, D = x.shape
    return x.view(B, T, heads, D // heads).transpose(1, 2)


def _attention(
    mha: nn.MultiheadAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, blocked: torch.Tensor
) -> torch.Tensor:
    """Projected q (B, Q, D), k and v (B, L, D) -> (B, Q, D) heads merged, before the output projection."""
    H = mha.num_heads
    q, k, v = _heads(q, H), _heads(k, H), _heads(v, H)  # (B, H, Q | L, D / H)
    if mha.training and mha.dropout > 0.0 and q.device.type == "cpu":
        out = _attention_with_cheap_dropout(q, k, v, blocked, mha.dropout)
    else:
        p = mha.dropout if mha.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=~blocked, dropout_p=p)  # (B, H, Q, D / H)
    return out.transpose(1, 2).flatten(2)  # (B, Q, D)


def _attention_with_cheap_dropout(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, blocked: torch.Tensor, p: float
) -> torch.Tensor:
    """SDPA's math path, (B, H, Q, d) queries over (B, H, L, d) keys and values -> (B, H, Q, d), with the
    attention weights dropped by :func:`dropout`: on CPU, SDPA with dropout takes this same path but
    samples its mask with ``bernoulli_`` (~4% of a BERT4Rec training step)."""
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (B, H, Q, L)
    weights = scores.masked_fill(blocked, float("-inf")).softmax(dim=-1)
    return dropout(weights, p, training=True) @ v


def attend(
    mha: nn.MultiheadAttention, query: torch.Tensor, context: torch.Tensor, blocked: torch.Tensor
) -> torch.Tensor:
    """Queries (B, Q, D) attend over ``context`` (B, L, D) -> (B, Q, D).

    ``blocked`` is boolean and broadcastable to (B, H, Q, L): True where a query may not see a key
    (``nn.MultiheadAttention``'s ``attn_mask`` convention). Attention dropout is ``mha.dropout`` in
    training mode, none in eval mode, as in the module.
    """
    D = query.shape[-1]
    if query is context:
        q, k, v = _project(mha, query, 0, 3 * D).chunk(3, dim=-1)  # (B, Q, D) each
    else:
        q = _project(mha, query, 0, D)  # (B, Q, D)
        k, v = _project(mha, context, D, 3 * D).chunk(2, dim=-1)  # (B, L, D) each
    return mha.out_proj(_attention(mha, q, k, v, blocked))  # (B, Q, D)


def attend_packed(
    mha: nn.MultiheadAttention,
    x: torch.Tensor,
    cells: torch.Tensor,
    shape: torch.Size,
    ends: torch.Tensor | None = None,
) -> torch.Tensor:
    """Self-attention over packed states: x (T, D) holds the states of the cells ``cells`` (T,) (flat
    indices into a (B, L) grid of ``shape``, ascending); every other cell is padding, which no query
    sees -> (T, D). With ``ends`` (B,), the rows of x that are the last cell of each grid row, only
    those query -> (B, D).

    The same attention as :func:`attend` with pad keys blocked, but the projections run on the T real
    cells only: only the score/softmax/value step needs the (B, L) grid, which is filled with zeros at
    the padding cells (their queries see only themselves and get zeros back, never a NaN).
    """
    B, L = shape
    D = x.shape[-1]
    pad = torch.ones(B * L, dtype=torch.bool, device=x.device).index_fill(0, cells, False).view(B, 1, 1, L)
    if ends is None:  # every cell queries
        q, k, v = _grid(_project(mha, x, 0, 3 * D), cells, shape).chunk(3, dim=-1)  # (B, L, D) each
        blocked = pad & ~torch.eye(L, dtype=torch.bool, device=x.device)  # (B, 1, L, L) a row sees itself
        out = _attention(mha, q, k, v, blocked).flatten(0, 1).index_select(0, cells)  # (T, D)
    else:  # one query a row, at its last cell
        k, v = _grid(_project(mha, x, D, 3 * D), cells, shape).chunk(2, dim=-1)  # (B, L, D) each
        out = _attention(mha, _project(mha, x[ends], 0, D)[:, None], k, v, pad)[:, 0]  # (B, D)
    return mha.out_proj(out)


def _project(mha: nn.MultiheadAttention, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """x (..., D) through rows start:stop of the packed q/k/v input projection -> (..., stop - start)."""
    b = mha.in_proj_bias
    return F.linear(x, mha.in_proj_weight[start:stop], None if b is None else b[start:stop])


def _grid(rows: torch.Tensor, cells: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Packed rows (T, C) of the cells ``cells`` -> a (B, L, C) grid, zeros at the other cells."""
    B, L = shape
    return rows.new_zeros(B * L, rows.shape[-1]).index_copy(0, cells, rows).view(B, L, -1)
