"""The in-memory interaction log every model trains on.

Items are remapped to dense internal ids 1..n (0 is padding); the mapping back to the dataset's own ids
travels with every model (``item_ids[i - 1]`` is the dataset id of internal item ``i``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["InteractionLog", "RawInteraction", "build_log", "reindex", "sort_key"]

# (user id, item id, timestamp or None). Dataset ids are kept as strings: they are labels, not numbers.
RawInteraction = tuple[str, str, float | None]


def sort_key(identifier: str) -> tuple[int, int | str]:
    """Numeric ids sort numerically (so ml-1m's 1..3416 keep their order), the rest lexicographically."""
    return (0, int(identifier)) if identifier.isdigit() else (1, identifier)


@dataclass(frozen=True)
class InteractionLog:
    """Per-user chronological sequences of internal item ids.

    ``sequences[u]`` is an int64 array of internal ids (1..n_items) for user ``user_ids[u]``;
    ``timestamps[u]`` (same length) when the source had them.
    """

    user_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    sequences: tuple[np.ndarray, ...]
    timestamps: tuple[np.ndarray, ...] | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return int(sum(len(s) for s in self.sequences))

    def item_index(self) -> dict[str, int]:
        """Dataset item id -> internal id (1-based)."""
        return {item: i + 1 for i, item in enumerate(self.item_ids)}

    def item_counts(self) -> np.ndarray:
        """Interactions per internal item, shape (n_items + 1,), index 0 (padding) is 0."""
        if not self.sequences:
            return np.zeros(self.n_items + 1, dtype=np.int64)
        return np.bincount(np.concatenate(self.sequences), minlength=self.n_items + 1)

    def fingerprint(self) -> str:
        """sha256 over users, item ids and sequences: two logs with the same content share it."""
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.item_ids).encode())
        for user, seq in zip(self.user_ids, self.sequences, strict=True):
            digest.update(b"\x1e" + user.encode() + b"\x1d")
            digest.update(np.ascontiguousarray(seq, dtype=np.int64).tobytes())
        return digest.hexdigest()

    def with_sequences(
        self, sequences: Sequence[np.ndarray], timestamps: Sequence[np.ndarray] | None = None
    ) -> InteractionLog:
        """The same users and item index with other sequences (used by perturbations), and their
        timestamps when given (each the length of its sequence)."""
        stamps = tuple(timestamps) if timestamps is not None else None
        if stamps is not None and [len(t) for t in stamps] != [len(s) for s in sequences]:
            raise ValueError("every sequence needs one timestamp per item")
        return InteractionLog(self.user_ids, self.item_ids, tuple(sequences), stamps)

    def truncated(self, lengths: Sequence[int]) -> InteractionLog:
        """Each user's first ``lengths[u]`` interactions, timestamps cut alike (used by splits)."""
        sequences = [seq[:n] for seq, n in zip(self.sequences, lengths, strict=True)]
        stamps = None if self.timestamps is None else [t[:n] for t, n in zip(self.timestamps, lengths, strict=True)]
        return self.with_sequences(sequences, stamps)

    def filter_users(self, min_interactions: int) -> InteractionLog:
        """Drop users with fewer than ``min_interactions``; the item index is kept unchanged."""
        keep = [u for u, s in enumerate(self.sequences) if len(s) >= min_interactions]
        stamps = tuple(self.timestamps[u] for u in keep) if self.timestamps is not None else None
        return InteractionLog(
            tuple(self.user_ids[u] for u in keep),
            self.item_ids,
            tuple(self.sequences[u] for u in keep),
            stamps,
        )


def build_log(interactions: Iterable[RawInteraction], min_interactions: int = 1) -> InteractionLog:
    """Group raw interactions by user in chronological order and remap items to 1..n.

    Interactions of one user are ordered by timestamp when every interaction has one (stable, so ties
    keep file order), else by file order. Users with fewer than ``min_interactions`` are dropped before
    items are indexed, so every internal item occurs in the log.
    """
    by_user: dict[str, list[tuple[str, float | None]]] = {}
    for user, item, stamp in interactions:
        by_user.setdefault(user, []).append((item, stamp))
    kept = {u: rows for u, rows in by_user.items() if len(rows) >= min_interactions}
    has_time = bool(kept) and all(stamp is not None for rows in kept.values() for _, stamp in rows)
    if has_time:
        kept = {u: sorted(rows, key=lambda r: r[1]) for u, rows in kept.items()}  # type: ignore[arg-type, return-value]

    item_ids = sorted({item for rows in kept.values() for item, _ in rows}, key=sort_key)
    index = {item: i + 1 for i, item in enumerate(item_ids)}
    user_ids = sorted(kept, key=sort_key)
    sequences = tuple(np.fromiter((index[i] for i, _ in kept[u]), dtype=np.int64) for u in user_ids)
    timestamps = tuple(np.array([t for _, t in kept[u]], dtype=np.float64) for u in user_ids) if has_time else None
    return InteractionLog(tuple(user_ids), tuple(item_ids), sequences, timestamps)


def reindex(log: InteractionLog, item_ids: Sequence[str]) -> tuple[InteractionLog, int]:
    """Express ``log`` in another item index (a model's); interactions with items outside it are
    dropped. Returns the new log and the number of dropped interactions."""
    index = {item: i + 1 for i, item in enumerate(item_ids)}
    ours = np.array([index.get(item, 0) for item in log.item_ids], dtype=np.int64)
    lookup = np.concatenate([[0], ours])  # old internal id -> new internal id (0 = unknown)
    sequences, stamps, dropped = [], [], 0
    for u, seq in enumerate(log.sequences):
        mapped = lookup[seq]
        known = mapped > 0
        dropped += int((~known).sum())
        sequences.append(mapped[known])
        if log.timestamps is not None:
            stamps.append(log.timestamps[u][known])
    return (
        InteractionLog(log.user_ids, tuple(item_ids), tuple(sequences), tuple(stamps) if log.timestamps else None),
        dropped,
    )
