"""Per-user interaction histories the service answers ``user_id`` requests from.

Seeded from an interaction file (the training log) at start-up, then from the durable event log
(events ingested through ``POST /events``), and kept current as events arrive. Items are kept as the
dataset's own ids, so items a model does not know yet are kept too (a later model learns them).
"""

from __future__ import annotations

import logging
from pathlib import Path

from steadyrec.core.event_log import Event
from steadyrec.core.formats import read_interactions
from steadyrec.core.replay import histories_by_recency, most_recent

__all__ = ["EventStore"]

log = logging.getLogger(__name__)


class EventStore:
    def __init__(self) -> None:
        self._histories: dict[str, list[str]] = {}

    def seed_from_file(self, path: Path, fmt: str | None = None) -> int:
        """Load every interaction of ``path`` (in time order when every row has a timestamp); returns the count."""
        rows = list(read_interactions(Path(path), fmt))  # type: ignore[arg-type]
        self._histories = histories_by_recency(rows)
        log.info("event store seeded with %d interactions of %d users from %s", len(rows), len(self._histories), path)
        return len(rows)

    def add(self, events: list[Event]) -> None:
        """Append events to their users' histories (in the order given); they become the most recent."""
        for event in events:
            history = self._histories.pop(event.user, [])
            history.append(event.item)
            self._histories[event.user] = history

    def history(self, user: str) -> list[str] | None:
        return self._histories.get(user)

    def recent(self, limit: int) -> list[tuple[str, list[str]]]:
        """The ``limit`` users with the most recent activity, newest first, with their histories."""
        return most_recent(self._histories, limit)

    def __len__(self) -> int:
        return len(self._histories)
