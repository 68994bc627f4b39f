"""Scheduled fine-tunes: a job declared once with a trigger, run by the scheduler on its own.

Triggers: ``every_hours`` (slots every period from when the schedule was declared), ``daily_at`` ("HH:MM"
UTC, once a day; a time before the schedule was declared does not count) or ``after_events`` (once that
many events arrived through ``POST /events`` since the schedule's last run or its declaration). A slot
names one due run; the scheduler claims it with a compare-and-set on the schedule's last slot, so two
schedulers (or two ticks) never start a job twice for the same slot, and the job id is derived from the
schedule and the slot. Records live beside the job records: Redis, or a SQLite file when there is no
Redis.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from steadyrec.core.job_spec import FinetuneJobRequest
from steadyrec.core.settings import SharedSettings
from steadyrec.core.sqlite_file import SQLiteFile

__all__ = [
    "ScheduleRecord",
    "ScheduleSpec",
    "ScheduleStore",
    "Trigger",
    "due_slot",
    "next_run",
    "open_schedule_store",
]

ScheduleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class Trigger(BaseModel):
    """When a schedule runs: exactly one of the three."""

    model_config = ConfigDict(extra="forbid")

    every_hours: float | None = Field(None, ge=1 / 3600, le=24 * 366, description="a run every this many hours")
    daily_at: str | None = Field(
        None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="a run every day at HH:MM (UTC)"
    )
    after_events: int | None = Field(None, ge=1, le=10**9, description="a run once this many fresh events arrived")

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        given = [n for n in ("every_hours", "daily_at", "after_events") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of every_hours, daily_at or after_events")
        return self


class ScheduleSpec(BaseModel):
    """A schedule as declared (``POST /schedules``)."""

    model_config = ConfigDict(extra="forbid")

    name: ScheduleName = Field(description="1-64 letters, digits, '.', '_' or '-'")
    job: FinetuneJobRequest = Field(description="the job each run makes, as POST /jobs/finetune takes it")
    trigger: Trigger


class ScheduleRecord(BaseModel):
    spec: ScheduleSpec
    created_at: float = Field(default_factory=time.time)
    events_at_last: int = 0  # events in the log when the schedule last ran (or was declared)
    last_slot: str | None = None
    last_job: str | None = None
    last_at: float | None = None
    last_error: str | None = None  # why the last due run could not make its job


def due_slot(trigger: Trigger, *, now: float, created_at: float, events: int, events_at_last: int) -> str | None:
    """The slot due at ``now`` (None: none is), from the schedule's trigger and history."""
    if trigger.every_hours is not None:
        runs = math.floor((now - created_at) / (trigger.every_hours * 3600))
        return f"every:{runs}" if runs >= 1 else None
    if trigger.daily_at is not None:
        hour, minute = map(int, trigger.daily_at.split(":"))
        moment = datetime.fromtimestamp(now, UTC)
        today = moment.replace(hour=hour, minute=minute, second=0, microsecond=0)
        latest = today if today <= moment else today - timedelta(days=1)
        return f"daily:{latest.date().isoformat()}" if latest.timestamp() >= created_at else None
    assert trigger.after_events is not None
    return f"events:{events}" if events - events_at_last >= trigger.after_events else None


def next_run(trigger: Trigger, *, now: float, created_at: float, events: int, events_at_last: int) -> dict[str, Any]:
    """When the next run is due: a time (``at``, seconds since the epoch) or a count of events still to come."""
    if trigger.every_hours is not None:
        period = trigger.every_hours * 3600
        return {"at": created_at + (math.floor((now - created_at) / period) + 1) * period}
    if trigger.daily_at is not None:
        hour, minute = map(int, trigger.daily_at.split(":"))
        moment = datetime.fromtimestamp(now, UTC)
        today = moment.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return {"at": (today if today > moment else today + timedelta(days=1)).timestamp()}
    assert trigger.after_events is not None
    return {"events_to_go": max(0, trigger.after_events - (events - events_at_last))}


class ScheduleStore(ABC):
    @abstractmethod
    def create(self, record: ScheduleRecord) -> bool:
        """Add ``record``; False when a schedule of that name exists."""

    @abstractmethod
    def get(self, name: str) -> ScheduleRecord | None: ...

    @abstractmethod
    def all(self) -> list[ScheduleRecord]: ...

    @abstractmethod
    def delete(self, name: str) -> bool: ...

    @abstractmethod
    def claim(self, name: str, expected: str | None, slot: str, **fields: Any) -> bool:
        """Set the last slot to ``slot`` (and ``fields``) only if it is still ``expected``: one claim a slot."""

    @abstractmethod
    def patch(self, name: str, **fields: Any) -> None: ...


class SQLiteScheduleStore(SQLiteFile, ScheduleStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, "CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, slot TEXT, doc TEXT)")

    def create(self, record: ScheduleRecord) -> bool:
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO schedules VALUES (?, ?, ?)",
                (record.spec.name, record.last_slot, record.model_dump_json()),
            )
            return cursor.rowcount == 1

    def get(self, name: str) -> ScheduleRecord | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT doc FROM schedules WHERE name = ?", (name,)).fetchone()
        return None if row is None else ScheduleRecord.model_validate_json(row[0])

    def all(self) -> list[ScheduleRecord]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT doc FROM schedules ORDER BY name").fetchall()
        return [ScheduleRecord.model_validate_json(doc) for (doc,) in rows]

    def delete(self, name: str) -> bool:
        with closing(self._connect()) as db, db:
            return db.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount == 1

    def claim(self, name: str, expected: str | None, slot: str, **fields: Any) -> bool:
        with closing(self._connect()) as db, db:
            row = db.execute("SELECT slot, doc FROM schedules WHERE name = ?", (name,)).fetchone()
            if row is None or row[0] != expected:
                return False
            doc = {**json.loads(row[1]), **fields, "last_slot": slot}
            db.execute("UPDATE schedules SET slot = ?, doc = ? WHERE name = ?", (slot, json.dumps(doc), name))
            return True

    def patch(self, name: str, **fields: Any) -> None:
        with closing(self._connect()) as db, db:
            row = db.execute("SELECT doc FROM schedules WHERE name = ?", (name,)).fetchone()
            if row is not None:
                doc = {**json.loads(row[0]), **fields}
                db.execute("UPDATE schedules SET doc = ? WHERE name = ?", (json.dumps(doc), name))


class RedisScheduleStore(ScheduleStore):
    PREFIX = "steadyrec:schedule:"
    INDEX = "steadyrec:schedules"

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, decode_responses=True)

    def create(self, record: ScheduleRecord) -> bool:
        key = self.PREFIX + record.spec.name
        if not self.redis.hsetnx(key, "doc", record.model_dump_json()):
            return False
        self.redis.sadd(self.INDEX, record.spec.name)
        return True

    def get(self, name: str) -> ScheduleRecord | None:
        doc = self.redis.hget(self.PREFIX + name, "doc")
        return None if doc is None else ScheduleRecord.model_validate_json(str(doc))

    def all(self) -> list[ScheduleRecord]:
        records = [self.get(str(name)) for name in sorted(self.redis.smembers(self.INDEX))]
        return [r for r in records if r is not None]

    def delete(self, name: str) -> bool:
        self.redis.srem(self.INDEX, name)
        return bool(self.redis.delete(self.PREFIX + name))

    def _update(self, name: str, change: Any) -> bool:
        import redis

        key = self.PREFIX + name
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    doc = pipe.hget(key, "doc")
                    updated = None if doc is None else change(json.loads(str(doc)))
                    if updated is None:
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(key, "doc", json.dumps(updated))
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def claim(self, name: str, expected: str | None, slot: str, **fields: Any) -> bool:
        def change(doc: dict[str, Any]) -> dict[str, Any] | None:
            return {**doc, **fields, "last_slot": slot} if doc.get("last_slot") == expected else None

        return self._update(name, change)

    def patch(self, name: str, **fields: Any) -> None:
        self._update(name, lambda doc: {**doc, **fields})


def open_schedule_store(settings: SharedSettings) -> ScheduleStore:
    if settings.redis_url:
        return RedisScheduleStore(settings.redis_url)
    return SQLiteScheduleStore(settings.state_dir / "schedules.sqlite")
