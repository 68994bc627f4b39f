"""Recurrent next-item models: GRU4Rec (one GRU layer, Hidasi et al. 2016, as the cascade-guided AT paper
uses it) and the LSTM next-item model of the FINEST paper.

Embedding -> dropout -> one recurrent layer -> projection to the embedding size; items are scored by dot
product with the item embedding (the input table, unless ``tied`` is False). Histories are left-padded, so
the last position is the most recent item and its state summarises the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from training.models.base import CausalModel, init_xavier
from training.models.dropout import Dropout

__all__ = ["GRU4Rec", "GRU4RecConfig", "LSTMRec", "LSTMRecConfig"]


@dataclass(frozen=True)
class GRU4RecConfig:
    hidden: int = 100  # cascade-guided AT paper Sec. 5.1: hidden size 100
    embedding: int = 64  # item embedding size, shared with the output layer
    dropout: float = 0.2  # cascade-guided AT paper: dropout 0.2
    max_len: int = 200  # 200 for ML-1M, 50 for the Amazon sets (cascade-guided AT paper)
    loss: Literal["bce", "ce"] = "ce"  # "bce": the paper's BCE with one negative; "ce": full softmax
    # BCE's negative: "uniform" over every item, or from the user's "unseen" items (the paper's sampler)
    negatives: Literal["uniform", "unseen"] = "uniform"
    # True: one table reads histories and scores items (as our SASRec; half the item parameters). False: a
    # separate output table, as GRU4Rec's own feed-forward output layer (Hidasi et al. 2016, Sec. 3.1)
    tied: bool = True


@dataclass(frozen=True)
class LSTMRecConfig:
    hidden: int = 128  # FINEST Sec. 5.1: embedding/hidden size 128 for every model
    embedding: int = 128  # FINEST: 128
    dropout: float = 0.2  # FINEST uses each model's published defaults; 0.2 is the usual one
    max_len: int = 50  # FINEST: maximum sequence length 50
    loss: Literal["bce", "ce"] = "ce"  # next-item softmax as in FINEST's LSTM
    negatives: Literal["uniform", "unseen"] = "uniform"  # BCE's negative: over every item, or the unseen ones
    tied: bool = True  # one item table for input and output, as FINEST's models


class _Recurrent(CausalModel):
    cell: type[nn.GRU] | type[nn.LSTM]

    def __init__(self, n_items: int, config: GRU4RecConfig | LSTMRecConfig) -> None:
        super().__init__(n_items, config)
        self.item_emb = nn.Embedding(n_items + 1, config.embedding, padding_idx=0)  # scores items
        # reads histories when the tables are untied (``config.tied`` False)
        self.history_emb = None if config.tied else nn.Embedding(n_items + 1, config.embedding, padding_idx=0)
        self.dropout = Dropout(config.dropout)
        self.rnn = self.cell(config.embedding, config.hidden, batch_first=True)
        self.project = nn.Linear(config.hidden, config.embedding)
        init_xavier(self, self.item_emb, self.input_emb)

    @property
    def input_emb(self) -> nn.Embedding:
        return self.item_emb if self.history_emb is None else self.history_emb

    def encode(
        self,
        history: torch.Tensor,
        input_delta: torch.Tensor | None = None,
        times: torch.Tensor | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """(B, L) ids (+ optional (B, L, E) embedding delta) -> (B, L, E) states in item-embedding space; with
        ``last_only`` the last position's (B, E), projected alone."""
        e = self.input_emb(history)  # (B, L, E)
        if input_delta is not None:
            e = e + input_delta
        x = self.dropout(e)  # (B, L, E)
        h, _ = self.rnn(x)  # (B, L, H)
        return self.project(self.dropout(h[:, -1] if last_only else h))  # (B, E) or (B, L, E)


class GRU4Rec(_Recurrent):
    kind = "gru4rec"
    cell = nn.GRU


class LSTMRec(_Recurrent):
    kind = "lstm"
    cell = nn.LSTM
