"""The durable log of ingested events: an append-only ``events`` table in a SQL database (SQLAlchemy 2).

PostgreSQL through psycopg 3 when ``STEADYREC_DATABASE_URL`` is set, shared by every API replica and the
worker; otherwise SQLite in WAL mode in a file beside ``events_path`` (``synchronous=FULL``: a committed
transaction is on disk), the embedded setup with no server. ``POST /events`` answers only after its
batch's transaction committed, so an acknowledged event survives a crash or restart. Rows are numbered in
commit order (``id``); jobs read their fresh events with a time window in SQL.

The schema is made and upgraded by Alembic (``steadyrec.core.migrations``) when the log is opened. A
JSON-lines log of an earlier version at ``events_path`` is imported once, in the transaction that records
the import (by the file's sha256), then renamed to ``*.imported`` and kept as the backup.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from steadyrec.core.migrations import upgrade
from steadyrec.core.settings import SharedSettings

__all__ = ["EVENTS", "Event", "EventLog", "database_url", "open_event_log"]

log = logging.getLogger(__name__)

METADATA = sa.MetaData()
EVENTS = sa.Table(
    "events",
    METADATA,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(256), nullable=False),
    sa.Column("item_id", sa.String(256), nullable=False),
    sa.Column("ts", sa.Float(precision=53), nullable=False),
    sa.Column("received_at", sa.Float(precision=53), nullable=False),
)
IMPORTS = sa.Table(
    "event_imports",
    METADATA,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("events", sa.Integer(), nullable=False),
    sa.Column("imported_at", sa.Float(precision=53), nullable=False),
)
READ_CHUNK = 10_000  # rows fetched per round trip when a job reads its window


@dataclass(frozen=True)
class Event:
    user: str
    item: str
    timestamp: float


def database_url(configured: str | None, events_path: Path) -> str:
    """The SQLAlchemy URL of the event log: the configured database (``postgresql://`` goes through
    psycopg 3), or a SQLite file beside ``events_path``."""
    if configured is None:
        return f"sqlite:///{Path(events_path).with_suffix('.sqlite')}"
    for prefix in ("postgresql://", "postgres://"):
        if configured.startswith(prefix):
            return "postgresql+psycopg://" + configured[len(prefix) :]
    return configured


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    path = sa.engine.make_url(url).database
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers (the worker) never block the writer (the service)
        cursor.execute("PRAGMA synchronous=FULL")  # a commit is fsynced: acknowledged means on disk
        cursor.close()

    return engine


def _read_jsonl(path: Path) -> list[Event]:
    """The events of an earlier version's JSON-lines log; a torn line (never acknowledged) is skipped."""
    out = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = json.loads(line)
                out.append(Event(str(row["user"]), str(row["item"]), float(row["timestamp"])))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("%s:%d: skipping a torn or invalid line (never acknowledged)", path, number)
    return out


class EventLog:
    """The events table: append (one transaction per batch), read a time window, count."""

    def __init__(self, url: str, legacy_jsonl: Path | None = None) -> None:
        self.url = url
        self.engine = _engine(url)
        upgrade(self.engine)
        if legacy_jsonl is not None and Path(legacy_jsonl).is_file():
            self._import(Path(legacy_jsonl))

    def _import(self, path: Path) -> None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        events = _read_jsonl(path)
        try:
            with self.engine.begin() as conn:
                done = conn.execute(sa.select(IMPORTS.c.sha256).where(IMPORTS.c.sha256 == digest)).first()
                if done is None:
                    self._insert(conn, events)
                    conn.execute(
                        sa.insert(IMPORTS).values(
                            sha256=digest, path=str(path), events=len(events), imported_at=time.time()
                        )
                    )
                    log.info("imported %d events of %s into the event log", len(events), path)
        except IntegrityError:
            log.info("%s was imported by another process meanwhile", path)
        path.rename(path.with_name(path.name + ".imported"))

    @staticmethod
    def _insert(conn: sa.Connection, events: list[Event]) -> list[int]:
        if not events:
            return []
        now = time.time()
        rows = [{"user_id": e.user, "item_id": e.item, "ts": e.timestamp, "received_at": now} for e in events]
        result = conn.execute(sa.insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True), rows)
        return [int(row[0]) for row in result]

    def append(self, events: list[Event]) -> list[int]:
        """Blocking: insert the batch in one transaction and commit; returns the events' ids (in order).
        Call it off the event loop."""
        with self.engine.begin() as conn:
            return self._insert(conn, events)

    def read(self, since: float | None = None, until: float | None = None) -> Iterator[Event]:
        """Events in commit order, optionally within [since, until] by timestamp."""
        for _, event in self.read_numbered(since, until):
            yield event

    def read_numbered(
        self, since: float | None = None, until: float | None = None, after_id: int = 0, limit: int | None = None
    ) -> Iterator[tuple[int, Event]]:
        """(id, event) in commit order with ``id > after_id`` (the first ``limit``), optionally within
        [since, until] by timestamp."""
        query = sa.select(EVENTS.c.id, EVENTS.c.user_id, EVENTS.c.item_id, EVENTS.c.ts).order_by(EVENTS.c.id)
        query = query.where(EVENTS.c.id > after_id).limit(limit)
        if since is not None:
            query = query.where(EVENTS.c.ts >= since)
        if until is not None:
            query = query.where(EVENTS.c.ts <= until)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=READ_CHUNK).execute(query)
            for event_id, user, item, ts in result:
                yield int(event_id), Event(user, item, float(ts))

    def count(self) -> int:
        """Events acknowledged so far."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


def open_event_log(settings: SharedSettings) -> EventLog:
    """The event log the settings name (``database_url``, else SQLite beside ``events_path``), migrated, with
    a JSON-lines log at ``events_path`` imported once."""
    return EventLog(database_url(settings.database_url, settings.events_path), legacy_jsonl=settings.events_path)
