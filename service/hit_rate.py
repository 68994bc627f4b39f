"""Online hit rate per model version: did the user's next interaction land in the list we served them?

For a sample of ``/recommend`` answers to a stored user (``user_id``; explicit histories name nobody), the
service remembers the list, the model version and when it was served: the latest answer per user, at
most ``capacity`` users (the least recently served forgotten first). The user's next event that arrives
through ``POST /events`` within ``horizon_s`` of the answer judges that list once: a hit when its item
was in it. Counts per version (served, judged, hits) are in ``/metrics`` and ``GET /models``. Clocks are
the server's own (arrival time), not the events' timestamps.

``HitRate`` keeps the lists in this process (the embedded setup). With ``REDIS_URL`` set,
``RedisHitRate`` keeps them in Redis (``steadyrec:served:<user>``, expiring after the horizon) and the
counts per version in ``steadyrec:online:<version>``, so a list served by one replica is judged by an
event sent to another and ``GET /models`` shows the deployment's counts; ``/metrics`` counts what each
replica did (sum them). The request path only queues the list; a background task writes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter

__all__ = ["HitRate", "RedisHitRate", "VersionCounts"]

log = logging.getLogger(__name__)


@dataclass
class VersionCounts:
    served: int = 0  # lists remembered
    judged: int = 0  # lists a later event judged
    hits: int = 0  # judged lists that held the event's item

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.judged if self.judged else None


@dataclass(frozen=True)
class _Served:
    version: str
    items: frozenset[str]
    at: float


class HitRate:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        sample_rate: float = 1.0,
        horizon_s: float = 86_400.0,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.sample_rate, self.horizon_s, self.capacity = sample_rate, horizon_s, capacity
        self._clock, self._draw = clock, draw
        self._pending: OrderedDict[str, _Served] = OrderedDict()  # user -> their latest sampled list
        self._counts: dict[str, VersionCounts] = {}
        labels = ["version"]
        self._served = Counter("steadyrec_online_served_total", "Served lists remembered", labels, registry=registry)
        self._judged = Counter(
            "steadyrec_online_judged_total", "Served lists judged by a later event", labels, registry=registry
        )
        self._hits = Counter(
            "steadyrec_online_hits_total", "Judged lists holding the event's item", labels, registry=registry
        )

    def served(self, user: str, items: Iterable[str], version: str) -> None:
        """Remember the list ``version`` served ``user`` (when sampled); it replaces the user's earlier one."""
        if self.sample_rate < 1.0 and self._draw() >= self.sample_rate:
            return
        self._pending.pop(user, None)
        self._pending[user] = _Served(version, frozenset(items), self._clock())
        while len(self._pending) > self.capacity:
            self._pending.popitem(last=False)
        self._counts.setdefault(version, VersionCounts()).served += 1
        self._served.labels(version).inc()

    def interacted(self, user: str, item: str) -> None:
        """A new event of ``user``: it judges the list served to them, if one is pending within the horizon."""
        served = self._pending.pop(user, None)
        if served is None or self._clock() - served.at > self.horizon_s:
            return
        counts = self._counts.setdefault(served.version, VersionCounts())
        counts.judged += 1
        self._judged.labels(served.version).inc()
        if item in served.items:
            counts.hits += 1
            self._hits.labels(served.version).inc()

    async def record_events(self, events: Iterable[tuple[str, str]]) -> None:
        """(user, item) of ingested events, in time order: each judges its user's pending list."""
        for user, item in events:
            self.interacted(user, item)

    async def counts(self, version: str) -> VersionCounts:
        return self._counts.get(version, VersionCounts())

    def start(self) -> None:
        """Start background work, if any."""

    async def stop(self) -> None:
        """Stop background work, if any."""


SERVED = "steadyrec:served:"
ONLINE = "steadyrec:online:"
QUEUE = 10_000  # served lists waiting to be written; beyond it a list is not remembered


class RedisHitRate(HitRate):
    """The same counts over Redis: every replica remembers and judges in one place."""

    def __init__(self, registry: CollectorRegistry, url: str, **kwargs: Any) -> None:
        super().__init__(registry, **kwargs)
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._queue: asyncio.Queue[tuple[str, list[str], str, float]] = asyncio.Queue(maxsize=QUEUE)
        self._writer: asyncio.Task[None] | None = None

    def served(self, user: str, items: Iterable[str], version: str) -> None:
        if self.sample_rate < 1.0 and self._draw() >= self.sample_rate:
            return
        try:
            self._queue.put_nowait((user, list(items), version, time.time()))
        except asyncio.QueueFull:
            return
        self._served.labels(version).inc()

    async def _write(self) -> None:
        ttl = max(1, math.ceil(self.horizon_s))
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for user, items, version, at in batch:
                        pipe.set(SERVED + user, json.dumps({"version": version, "items": items, "at": at}), ex=ttl)
                        pipe.hincrby(ONLINE + version, "served", 1)
                    await pipe.execute()
            except Exception as err:  # Redis away: these lists are not remembered
                log.warning("could not remember %d served lists: %s", len(batch), err)

    async def record_events(self, events: Iterable[tuple[str, str]]) -> None:
        try:
            await self._judge(list(events))
        except Exception as err:  # the hit rate is a measurement: Redis away must not fail the ingest
            log.warning("could not judge served lists: %s", err)

    async def _judge(self, events: list[tuple[str, str]]) -> None:
        if not events:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, _ in events:
                pipe.getdel(SERVED + user)
            pending = await pipe.execute()
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for (_, item), raw in zip(events, pending, strict=True):
                if raw is None:
                    continue
                served = json.loads(raw)
                if now - float(served["at"]) > self.horizon_s:
                    continue
                hit = item in served["items"]
                pipe.hincrby(ONLINE + served["version"], "judged", 1)
                self._judged.labels(served["version"]).inc()
                if hit:
                    pipe.hincrby(ONLINE + served["version"], "hits", 1)
                    self._hits.labels(served["version"]).inc()
            await pipe.execute()

    async def counts(self, version: str) -> VersionCounts:
        raw = await self.redis.hgetall(ONLINE + version)
        values = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
        return VersionCounts(values.get("served", 0), values.get("judged", 0), values.get("hits", 0))

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write(), name="hit-rate-writer")

    async def stop(self) -> None:
        # redis-py can swallow a cancellation that lands inside a failing command, and the writer then waits
        # on its queue as if never cancelled: cancel again until it has ended
        while self._writer is not None and not self._writer.done():
            self._writer.cancel()
            await asyncio.wait({self._writer}, timeout=1.0)
        await self.redis.aclose()
