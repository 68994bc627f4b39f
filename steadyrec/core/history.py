"""A user's history as the service, the canary and the replays read it: items, oldest first, and the time of
each when known. Time-aware models (TiSASRec) need the times; the others read the items only. Torch-free."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["History", "as_history"]


@dataclass(frozen=True, slots=True)
class History:
    items: list[str]  # dataset item ids, oldest first
    times: list[float] | None = None  # seconds (the dataset's clock), one per item; None where the source had none

    def __post_init__(self) -> None:
        if self.times is not None and len(self.times) != len(self.items):
            raise ValueError(f"{len(self.times)} timestamps for {len(self.items)} items: give one per item")

    def __len__(self) -> int:
        return len(self.items)

    def head(self, n: int) -> History:
        """The first ``n`` items (``n`` < 0: all but the last ``-n``), with their times."""
        return History(self.items[:n], None if self.times is None else self.times[:n])


def as_history(history: History | Sequence[str]) -> History:
    """A History as is; a plain sequence of item ids as a history without times."""
    return history if isinstance(history, History) else History(list(history))
