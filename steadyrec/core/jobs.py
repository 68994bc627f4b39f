"""Job records shared by the service (creates, reads, cancels) and the worker (progress, results).

A record is a JSON document plus a separately stored ``state`` whose changes are conditional
(``transition(id, to, allowed_from)``), so a cancellation and a worker's progress never overwrite each
other. Backends: Redis (a hash per job and a sorted index) or, with no Redis, a SQLite file.

States: queued -> running -> publishing -> succeeded | failed; queued and running -> cancelled. A job in
``publishing`` has built its candidate and is registering it (and running its canary): too late to cancel.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from contextlib import closing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from steadyrec.core.settings import SharedSettings
from steadyrec.core.sqlite_file import SQLiteFile

__all__ = ["FINAL_STATES", "JobRecord", "JobState", "JobStore", "open_job_store"]

JobState = Literal["queued", "running", "publishing", "succeeded", "failed", "cancelled"]
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class JobRecord(BaseModel):
    id: str
    state: JobState = "queued"
    kind: str = "finetune"
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    base_version: str
    data: dict[str, Any] = Field(default_factory=dict)
    run_canary: bool = False
    canary_policy: dict[str, Any] = Field(default_factory=dict)  # CanaryPolicy fields; defaults otherwise
    canary_samples: int = 1000  # replayed users
    canary_source: str = "replay"  # or "shadow": mirrored live requests (job_spec.FinetuneJobRequest)
    shadow: dict[str, Any] = Field(default_factory=dict)  # job_spec.ShadowGate fields
    promote_if_passed: bool = False  # make the candidate live when its canary passes
    watch: dict[str, Any] | None = None  # the service's watch policy after an automatic promotion
    schedule: str | None = None  # the schedule that made the job, if one did
    time_limit_s: float | None = None  # None: the worker's job_time_limit_s
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat_at: float | None = None
    attempts: int = 0
    worker_pid: int | None = None
    progress: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None


class JobStore(ABC):
    @abstractmethod
    def create(self, record: JobRecord) -> None: ...

    @abstractmethod
    def get(self, job_id: str) -> JobRecord | None: ...

    @abstractmethod
    def state(self, job_id: str) -> str | None: ...

    @abstractmethod
    def patch(self, job_id: str, **fields: Any) -> None:
        """Merge fields (not ``state``) into the record."""

    @abstractmethod
    def transition(self, job_id: str, to: JobState, allowed_from: set[str]) -> bool:
        """Set the state if the current one is in ``allowed_from``; True when it changed."""

    @abstractmethod
    def recent(self, limit: int = 100, offset: int = 0) -> list[JobRecord]:
        """The jobs newest first: ``limit`` of them after skipping the ``offset`` newest."""

    @abstractmethod
    def count(self) -> int: ...


def _document(record: JobRecord) -> str:
    return record.model_dump_json(exclude={"state"})


class SQLiteJobStore(SQLiteFile, JobStore):
    def __init__(self, path: Path) -> None:
        super().__init__(
            path, "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state TEXT, doc TEXT, created REAL)"
        )

    def create(self, record: JobRecord) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?)", (record.id, record.state, _document(record), record.created_at)
            )

    def get(self, job_id: str) -> JobRecord | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT state, doc FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else JobRecord.model_validate({**json.loads(row[1]), "state": row[0]})

    def state(self, job_id: str) -> str | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else str(row[0])

    def patch(self, job_id: str, **fields: Any) -> None:
        with closing(self._connect()) as db, db:
            row = db.execute("SELECT doc FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            doc = {**json.loads(row[0]), **fields}
            db.execute("UPDATE jobs SET doc = ? WHERE id = ?", (json.dumps(doc), job_id))

    def transition(self, job_id: str, to: JobState, allowed_from: set[str]) -> bool:
        marks = ",".join("?" * len(allowed_from))
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                f"UPDATE jobs SET state = ? WHERE id = ? AND state IN ({marks})", (to, job_id, *sorted(allowed_from))
            )
            return cursor.rowcount == 1

    def recent(self, limit: int = 100, offset: int = 0) -> list[JobRecord]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT state, doc FROM jobs ORDER BY created DESC LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [JobRecord.model_validate({**json.loads(doc), "state": state}) for state, doc in rows]

    def count(self) -> int:
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


class RedisJobStore(JobStore):
    PREFIX = "steadyrec:job:"
    INDEX = "steadyrec:jobs"

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, decode_responses=True)

    def create(self, record: JobRecord) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(self.PREFIX + record.id, mapping={"state": record.state, "doc": _document(record)})
        pipe.zadd(self.INDEX, {record.id: record.created_at})
        pipe.execute()

    def get(self, job_id: str) -> JobRecord | None:
        values = self.redis.hgetall(self.PREFIX + job_id)
        if not values:
            return None
        return JobRecord.model_validate({**json.loads(values["doc"]), "state": values["state"]})

    def state(self, job_id: str) -> str | None:
        value = self.redis.hget(self.PREFIX + job_id, "state")
        return None if value is None else str(value)

    def _update(self, job_id: str, change: Any) -> Any:
        import redis

        key = self.PREFIX + job_id
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    values = pipe.hgetall(key)
                    if not values:
                        raise KeyError(job_id)
                    outcome, mapping = change(values)
                    if mapping:
                        pipe.multi()
                        pipe.hset(key, mapping=mapping)
                        pipe.execute()
                    else:
                        pipe.unwatch()
                    return outcome
                except redis.WatchError:
                    continue

    def patch(self, job_id: str, **fields: Any) -> None:
        self._update(job_id, lambda v: (None, {"doc": json.dumps({**json.loads(v["doc"]), **fields})}))

    def transition(self, job_id: str, to: JobState, allowed_from: set[str]) -> bool:
        return bool(
            self._update(job_id, lambda v: (True, {"state": to}) if v["state"] in allowed_from else (False, {}))
        )

    def recent(self, limit: int = 100, offset: int = 0) -> list[JobRecord]:
        ids = self.redis.zrevrange(self.INDEX, offset, offset + limit - 1)
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self.PREFIX + str(job_id))
        return [
            JobRecord.model_validate({**json.loads(values["doc"]), "state": values["state"]})
            for values in pipe.execute()
            if values
        ]

    def count(self) -> int:
        return int(self.redis.zcard(self.INDEX))


def open_job_store(settings: SharedSettings) -> JobStore:
    if settings.redis_url:
        return RedisJobStore(settings.redis_url)
    return SQLiteJobStore(settings.state_dir / "jobs.sqlite")
