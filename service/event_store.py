"""Per-user interaction histories the service answers ``user_id`` requests from.

A history holds the dataset's own item ids, oldest first, so items a model does not know yet are kept too
(a later model learns them), with the time of each: the events' timestamps, and the seed log's where it
has them (a user seeded from a log without timestamps has no times, and a time-aware model refuses that
history by name). It is capped at the newest ``HISTORY_CAP`` items. Where the histories live:

- in this process's memory (``MemoryEventStore``), the embedded setup: seeded at start-up from the seed
  log (the training log) and the event log, then kept current by the events this process ingests;
- in Redis (``service.redis_histories.RedisEventStore``) when ``REDIS_URL`` is set: shared by every API
  replica, so no sticky routing is needed.

Every event carries its event-log id; a store orders each user's history by it.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from pathlib import Path

from steadyrec.core.event_log import Event, EventLog
from steadyrec.core.formats import read_interactions
from steadyrec.core.history import History
from steadyrec.core.replay import histories_by_recency

__all__ = ["EventStore", "MemoryEventStore", "NumberedEvent"]

log = logging.getLogger(__name__)

NumberedEvent = tuple[int, Event]  # (event-log id, event)


class EventStore(ABC):
    @abstractmethod
    async def history(self, user: str) -> History | None:
        """The user's items, oldest first, with their times; None for a user with no stored history."""

    @abstractmethod
    async def add(self, events: list[NumberedEvent]) -> None:
        """Append committed events (in id order) to their users' histories; they become the most recent."""

    @abstractmethod
    async def recent(self, limit: int) -> list[tuple[str, History]]:
        """The ``limit`` users with the most recent activity, newest first, with their histories."""

    @abstractmethod
    async def load(self, seed: Path | None, seed_format: str | None, event_log: EventLog) -> None:
        """Fill the store at start-up from the seed log and the event log (where it is not filled yet)."""

    async def check(self) -> None:  # noqa: B027 (optional hook)
        """Called periodically: notice lost state and restore it (the Redis store rebuilds)."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""


class MemoryEventStore(EventStore):
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._histories: dict[str, list[str]] = {}  # user -> items, users from the least to the most recent
        self._times: dict[str, list[float] | None] = {}  # user -> the items' times (None: not all known)

    def _seed_from_file(self, path: Path, fmt: str | None) -> int:
        rows = list(read_interactions(Path(path), fmt))  # type: ignore[arg-type]
        seeded = histories_by_recency(rows)
        self._histories = {u: h.items[-self.cap :] for u, h in seeded.items()}
        self._times = {u: None if h.times is None else h.times[-self.cap :] for u, h in seeded.items()}
        log.info("event store seeded with %d interactions of %d users from %s", len(rows), len(self._histories), path)
        return len(rows)

    def _add(self, events: list[NumberedEvent]) -> None:
        for _, event in events:
            history = self._histories.pop(event.user, [])
            times = self._times.pop(event.user, None) if history else []  # a new user's times start here
            history.append(event.item)
            if times is not None:
                times.append(event.timestamp)
            if len(history) > self.cap:
                del history[: len(history) - self.cap]
                if times is not None:
                    del times[: len(times) - self.cap]
            self._histories[event.user] = history
            self._times[event.user] = times

    async def load(self, seed: Path | None, seed_format: str | None, event_log: EventLog) -> None:
        if seed is not None:
            await asyncio.to_thread(self._seed_from_file, seed, seed_format)
        self._add(await asyncio.to_thread(lambda: list(event_log.read_numbered())))  # acknowledged before a restart

    async def history(self, user: str) -> History | None:
        items = self._histories.get(user)
        return None if items is None else History(items, self._times.get(user))

    async def add(self, events: list[NumberedEvent]) -> None:
        self._add(events)

    async def recent(self, limit: int) -> list[tuple[str, History]]:
        users = list(self._histories)[-limit:][::-1] if limit > 0 else []  # the most recent first
        return [(u, History(list(self._histories[u]), _copy(self._times.get(u)))) for u in users]

    def __len__(self) -> int:
        return len(self._histories)


def _copy(times: list[float] | None) -> list[float] | None:
    return None if times is None else list(times)
