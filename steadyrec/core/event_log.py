"""The durable log of ingested events: an append-only JSON-lines file, fsynced before acknowledging.

Each batch is written with one ``write`` and ``fsync``; only then does ``POST /events`` answer, so an
acknowledged event survives a crash or restart of the service. A torn last line (a crash mid-write,
never acknowledged) is skipped with a warning when the log is read. Fine-tune jobs read the same
file as their fresh logs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Event", "EventLog"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    user: str
    item: str
    timestamp: float


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, events: list[Event]) -> None:
        """Blocking: append and fsync. Call it off the event loop."""
        payload = "".join(
            json.dumps({"user": e.user, "item": e.item, "timestamp": e.timestamp}, ensure_ascii=False) + "\n"
            for e in events
        ).encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self, since: float | None = None, until: float | None = None) -> Iterator[Event]:
        """Events in file order, optionally within [since, until] by timestamp."""
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    row = json.loads(line)
                    event = Event(str(row["user"]), str(row["item"]), float(row["timestamp"]))
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    log.warning("%s:%d: skipping a torn or invalid line (never acknowledged)", self.path, number)
                    continue
                if (since is None or event.timestamp >= since) and (until is None or event.timestamp <= until):
                    yield event

    def count(self) -> int:
        """Events acknowledged so far (valid lines)."""
        return sum(1 for _ in self.read())
