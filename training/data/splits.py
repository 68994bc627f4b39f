"""Train/validation/test splits over an :class:`InteractionLog`.

A test (or validation) instance is a user's history up to a point and the next item. Histories are
stored as one CSR-style array pair so that masking the history of a batch of instances is vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from steadyrec.core.interactions import InteractionLog

__all__ = ["EvalSet", "Split", "leave_one_out", "temporal_split"]


@dataclass(frozen=True)
class EvalSet:
    """N next-item instances: ``history(i)`` (chronological internal ids) followed by ``targets[i]``."""

    users: np.ndarray  # (N,) index of the user in the log
    targets: np.ndarray  # (N,) internal item id to predict
    history_ptr: np.ndarray  # (N + 1,) offsets of each history in history_items
    history_items: np.ndarray  # (sum of history lengths,) concatenated histories
    history_times: np.ndarray | None = None  # (sum of history lengths,) their timestamps, when the log had them

    def __len__(self) -> int:
        return len(self.targets)

    def history(self, i: int) -> np.ndarray:
        return self.history_items[self.history_ptr[i] : self.history_ptr[i + 1]]

    def padded_histories(self, rows: np.ndarray, max_len: int) -> np.ndarray:
        """Last ``max_len`` history items of each instance in ``rows``, left-padded with 0: (B, max_len)."""
        out = np.zeros((len(rows), max_len), dtype=np.int64)
        for r, i in enumerate(rows):
            h = self.history(int(i))[-max_len:]
            if len(h):
                out[r, max_len - len(h) :] = h
        return out

    def padded_times(self, rows: np.ndarray, max_len: int) -> np.ndarray | None:
        """Timestamps (whole seconds) of :meth:`padded_histories`' items, 0 at padding: (B, max_len); None
        when the log had no timestamps."""
        if self.history_times is None:
            return None
        out = np.zeros((len(rows), max_len), dtype=np.int64)
        for r, i in enumerate(rows):
            t = self.history_times[self.history_ptr[i] : self.history_ptr[i + 1]][-max_len:]
            if len(t):
                out[r, max_len - len(t) :] = np.floor(t)
        return out

    @staticmethod
    def from_instances(
        users: list[int], targets: list[int], histories: list[np.ndarray], times: list[np.ndarray] | None = None
    ) -> EvalSet:
        lengths = np.array([len(h) for h in histories], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        items = np.concatenate(histories).astype(np.int64) if histories else np.zeros(0, np.int64)
        stamps = None
        if times is not None:
            stamps = np.concatenate(times).astype(np.float64) if times else np.zeros(0, np.float64)
        return EvalSet(np.asarray(users, np.int64), np.asarray(targets, np.int64), ptr, items, stamps)


@dataclass(frozen=True)
class Split:
    name: str
    train: InteractionLog
    valid: EvalSet | None
    test: EvalSet


def leave_one_out(log: InteractionLog) -> Split:
    """Last item of each user is the test target, the second-to-last the validation target (SASRec
    protocol). Users with fewer than 3 interactions keep everything in train and are not evaluated."""
    train = [len(seq) if len(seq) < 3 else len(seq) - 2 for seq in log.sequences]
    evaluated = [u for u, seq in enumerate(log.sequences) if len(seq) >= 3]
    seqs = [log.sequences[u] for u in evaluated]
    stamps = None if log.timestamps is None else [log.timestamps[u] for u in evaluated]
    valid = EvalSet.from_instances(
        evaluated,
        [int(s[-2]) for s in seqs],
        [s[:-2] for s in seqs],
        None if stamps is None else [t[:-2] for t in stamps],
    )
    test = EvalSet.from_instances(
        evaluated,
        [int(s[-1]) for s in seqs],
        [s[:-1] for s in seqs],
        None if stamps is None else [t[:-1] for t in stamps],
    )
    return Split("leave-one-out", log.truncated(train), valid, test)


def temporal_split(log: InteractionLog, train_fraction: float = 0.9) -> Split:
    """FINEST's split: the first ``train_fraction`` of each user's interactions train, every later
    interaction is a test instance whose history is everything before it. No validation set (FINEST
    trains for a fixed number of epochs)."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    train: list[int] = []
    users: list[int] = []
    targets: list[int] = []
    hist: list[np.ndarray] = []
    times: list[np.ndarray] | None = None if log.timestamps is None else []
    for u, seq in enumerate(log.sequences):
        cut = max(1, int(len(seq) * train_fraction))
        train.append(cut)
        for pos in range(cut, len(seq)):
            users.append(u)
            targets.append(int(seq[pos]))
            hist.append(seq[:pos])
            if times is not None and log.timestamps is not None:
                times.append(log.timestamps[u][:pos])
    return Split("temporal", log.truncated(train), None, EvalSet.from_instances(users, targets, hist, times))
