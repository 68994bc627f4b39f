"""Training windows and mini-batches shared by every sequential model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from steadyrec.core.interactions import InteractionLog

__all__ = ["Batch", "TrainingWindows"]


@dataclass
class Batch:
    """One mini-batch of user windows.

    ``items`` holds each user's last ``max_len + 1`` training items, left-padded with 0. Causal models
    read ``items[:, :-1]`` as input and ``items[:, 1:]`` as targets; masked models use ``items[:, 1:]``.
    """

    items: torch.Tensor  # (B, L + 1) internal ids, 0 = padding
    users: torch.Tensor  # (B,) user index in the training log
    rng: torch.Generator  # randomness for negatives / masks of this batch (independent of data order)
    weights: torch.Tensor | None = None  # (B,) per-user loss weights (mean 1) or None for uniform
    # (B, H) each user's training items, sorted ascending, right-padded with a value above every id; only
    # when the model draws its negatives from unseen items (``negatives="unseen"``)
    seen: torch.Tensor | None = None
    # (B, L + 1) timestamps of ``items`` in whole seconds, 0 at padding; when the log had timestamps
    times: torch.Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        w = self.weights.to(device) if self.weights is not None else None
        seen = self.seen.to(device) if self.seen is not None else None
        times = self.times.to(device) if self.times is not None else None
        return Batch(self.items.to(device), self.users.to(device), self.rng, w, seen, times)


class TrainingWindows:
    """The last ``max_len + 1`` items of every user with at least 2 training interactions, with their
    timestamps when the log has them (:attr:`Batch.times`); with ``seen``, each batch also carries its
    users' whole training histories (:attr:`Batch.seen`)."""

    def __init__(self, log: InteractionLog, max_len: int, seen: bool = False) -> None:
        self.max_len = max_len
        rows = [u for u, s in enumerate(log.sequences) if len(s) >= 2]
        # per window row: the user's distinct training items, sorted (CSR: values, offsets)
        self._seen: tuple[np.ndarray, np.ndarray] | None = None
        if seen:
            distinct = [np.unique(np.asarray(log.sequences[u], dtype=np.int64)) for u in rows]
            offsets = np.zeros(len(rows) + 1, dtype=np.int64)
            offsets[1:] = np.cumsum([len(d) for d in distinct])
            values = np.concatenate(distinct) if distinct else np.zeros(0, dtype=np.int64)
            self._seen = (values, offsets)
            self._above = log.n_items + 1  # padding of Batch.seen: above every item id
        items = np.zeros((len(rows), max_len + 1), dtype=np.int64)
        times = np.zeros((len(rows), max_len + 1), dtype=np.int64) if log.timestamps is not None else None
        for r, u in enumerate(rows):
            tail = log.sequences[u][-(max_len + 1) :]
            items[r, max_len + 1 - len(tail) :] = tail
            if times is not None and log.timestamps is not None:
                times[r, max_len + 1 - len(tail) :] = np.floor(log.timestamps[u][-(max_len + 1) :])
        self.items = torch.from_numpy(items)  # (U, L + 1)
        self.times = torch.from_numpy(times) if times is not None else None  # (U, L + 1) seconds, 0 at padding
        self.users = torch.tensor(rows, dtype=torch.long)  # (U,)

    def __len__(self) -> int:
        return len(self.users)

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the windows where ``keep`` (U,) is True, with their timestamps and seen items."""
        rows = keep.nonzero().squeeze(1)  # (U',)
        self.items, self.users = self.items[rows], self.users[rows]
        if self.times is not None:
            self.times = self.times[rows]
        if self._seen is not None:
            values, offsets = self._seen
            kept = [values[offsets[r] : offsets[r + 1]] for r in rows.tolist()]
            new_offsets = np.zeros(len(kept) + 1, dtype=np.int64)
            new_offsets[1:] = np.cumsum([len(k) for k in kept])
            self._seen = (np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64), new_offsets)

    def n_batches(self, batch_size: int) -> int:
        return (len(self) + batch_size - 1) // batch_size

    def batches(self, batch_size: int, order_rng: torch.Generator, sample_rng: torch.Generator) -> Iterator[Batch]:
        """Shuffled mini-batches; ``order_rng`` drives the order, ``sample_rng`` the in-batch sampling."""
        order = torch.randperm(len(self), generator=order_rng)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            times = self.times[idx] if self.times is not None else None
            yield Batch(self.items[idx], self.users[idx], sample_rng, seen=self.seen_items(idx), times=times)

    def seen_items(self, idx: torch.Tensor) -> torch.Tensor | None:
        """(B, H) the distinct training items of rows ``idx``, sorted, padded above every id; None without
        ``seen``."""
        if self._seen is None:
            return None
        values, offsets = self._seen
        rows = idx.numpy()
        lengths = offsets[rows + 1] - offsets[rows]
        out = np.full((len(rows), int(lengths.max(initial=1))), self._above, dtype=np.int64)
        for r, row in enumerate(rows):
            out[r, : lengths[r]] = values[offsets[row] : offsets[row + 1]]
        return torch.from_numpy(out)
