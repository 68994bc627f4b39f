"""Per-user interaction histories the service answers ``user_id`` requests from.

Seeded from an interaction file (the training log) at start-up, then from the durable event log
(events ingested through ``POST /events``), and kept current as events arrive. Items are kept as the
dataset's own ids, so items a model does not know yet are kept too (a later model learns them).
"""

from __future__ import annotations

import logging
from pathlib import Path

from training.data.event_log import Event
from training.data.formats import read_interactions
from training.data.log import sort_key

__all__ = ["EventStore"]

log = logging.getLogger(__name__)


class EventStore:
    def __init__(self) -> None:
        self._histories: dict[str, list[str]] = {}

    def seed_from_file(self, path: Path, fmt: str | None = None) -> int:
        """Load every interaction of ``path`` in chronological order per user; returns the count."""
        rows = list(read_interactions(Path(path), fmt))  # type: ignore[arg-type]
        timed = all(stamp is not None for _, _, stamp in rows)
        if timed:
            rows.sort(key=lambda r: r[2] or 0.0)  # stable: ties keep file order
        last: dict[str, int] = {}
        for position, (user, item, _) in enumerate(rows):
            self._histories.setdefault(user, []).append(item)
            last[user] = position
        # most recently active users last, as add() keeps them
        self._histories = {u: self._histories[u] for u in sorted(self._histories, key=lambda u: last.get(u, -1))}
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

    def users(self, limit: int = 10) -> list[str]:
        return sorted(self._histories, key=sort_key)[:limit]

    def recent(self, limit: int) -> list[tuple[str, list[str]]]:
        """The ``limit`` users with the most recent activity, newest first, with their histories."""
        users = list(self._histories)[-limit:][::-1]
        return [(u, list(self._histories[u])) for u in users]

    def __len__(self) -> int:
        return len(self._histories)
