"""Per-user histories in Redis, shared by every API replica (``REDIS_URL`` set).

Each user has a capped list ``steadyrec:hist2:u:<user>`` of ``<event id>:<time>:<item>`` entries in id
order (``<time>`` empty where the seed log had none), and a sorted set ``steadyrec:hist2:recent`` scores
each user by the id of their newest event (the canary's and ``/shadow/compare``'s "most recently active
users"). ``/recommend`` reads a history in one round trip
(``LRANGE``); ``POST /events`` adds its committed batch in one round trip (a pipeline of one script call
per user). The script puts each entry at its place by id and skips an id already there, so adding is
idempotent and order-independent: two replicas adding events of one user at once, or a rebuild running
beside live ingestion, leave the same list as one ordered pass would.

Filling: once per deployment, not per replica. The first replica to start takes a lock and adds the seed
log (the training log; its rows get negative ids, in time order, so they sort before every event) and
every event of the event log, then sets ``steadyrec:hist:seeded``. Every replica checks for that key
periodically; when Redis lost it (a flush, a restart without persistence) one of them fills Redis again
from the seed log and the database, while the others keep serving (a history being refilled may be short
for those seconds). Redis for histories must not evict keys (``maxmemory-policy noeviction``). The ``hist2``
prefix came with the times: a deployment that kept ``<event id>:<item>`` lists under ``steadyrec:hist:``
fills the new keys once, as after a flush (the old keys can be deleted).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import defaultdict
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.errors import Unavailable
from service.event_store import EventStore, NumberedEvent
from steadyrec.core.event_log import EventLog
from steadyrec.core.formats import read_interactions
from steadyrec.core.history import History
from steadyrec.core.replay import histories_by_recency

__all__ = ["PREFIX", "RedisEventStore"]

log = logging.getLogger(__name__)

PREFIX = "steadyrec:hist2:"
USER = PREFIX + "u:"
RECENT = PREFIX + "recent"
SEEDED = PREFIX + "seeded"
LOCK = PREFIX + "filling"
LOCK_TTL_S = 3600  # a filler that died releases the lock after this long
CHUNK = 20_000  # events per round of a fill
REDIS_TIMEOUT_S = 2.0  # longest wait for Redis on a request
FILL_TIMEOUT_S = 120.0  # longest wait for one round of a fill
RETRIES = 8  # attempts to add a batch while Redis is away (1, 2, 4, ... 30 s apart)
Entry = tuple[int, str, str, float | None]  # (event id, user, item, time or None)

# KEYS: the user's list, the recency set. ARGV: cap, user, then (id, "time:item") pairs in ascending id order.
ADD_SCRIPT = """
local key, recent = KEYS[1], KEYS[2]
local cap = tonumber(ARGV[1])
local newest = nil
for i = 3, #ARGV, 2 do
  local id = tonumber(ARGV[i])
  local entry = ARGV[i] .. ':' .. ARGV[i + 1]
  local pos = -1
  while true do
    local cur = redis.call('LINDEX', key, pos)
    if not cur then
      if redis.call('LLEN', key) < cap then redis.call('LPUSH', key, entry) end
      break
    end
    local cur_id = tonumber(string.match(cur, '^(-?%d+):'))
    if cur_id == id then break end
    if cur_id < id then
      if pos == -1 then redis.call('RPUSH', key, entry) else redis.call('LINSERT', key, 'AFTER', cur, entry) end
      break
    end
    pos = pos - 1
  end
  if newest == nil or id > newest then newest = id end
end
redis.call('LTRIM', key, -cap, -1)
if newest ~= nil then redis.call('ZADD', recent, 'GT', newest, ARGV[2]) end
return 1
"""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _history(entries: list[bytes | str]) -> History:
    """``<id>:<time>:<item>`` entries -> the history; its times only when every entry has one."""
    items: list[str] = []
    times: list[float] = []
    for entry in entries:
        _, stamp, item = _text(entry).split(":", 2)
        items.append(item)
        if stamp:
            times.append(float(stamp))
    return History(items, times if len(times) == len(items) else None)


def _entry(stamp: float | None, item: str) -> str:
    """An entry's ``<time>:<item>`` (the script puts the id in front)."""
    return f"{'' if stamp is None else repr(float(stamp))}:{item}"


class RedisEventStore(EventStore):
    def __init__(self, url: str, cap: int) -> None:
        # a request never waits on Redis for long: past these it is a 503 (service.errors.Unavailable)
        self.redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._bulk = aioredis.Redis.from_url(url, socket_timeout=FILL_TIMEOUT_S)  # a fill's large pipelines
        self.cap = cap
        self._script = self.redis.register_script(ADD_SCRIPT)
        self._source: tuple[Path | None, str | None, EventLog] | None = None
        self._filling: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Future[None]] = set()

    async def history(self, user: str) -> History | None:
        try:
            entries = await self.redis.lrange(USER + user, 0, -1)
        except RedisError as err:
            raise Unavailable(f"user histories are unavailable ({err}); retry, or send 'items' instead") from None
        return _history(entries) if entries else None

    async def add(self, events: list[NumberedEvent]) -> None:
        """Committed events into their users' histories; while Redis is away, retried in the background
        (adding is idempotent), so the caller's acknowledgement of the stored events stands."""
        entries: list[Entry] = [(event_id, event.user, event.item, event.timestamp) for event_id, event in events]
        try:
            await self._add(entries)
        except RedisError as err:
            log.warning("could not add %d events to the shared histories (%s); retrying", len(events), err)
            retry = asyncio.ensure_future(self._retry(entries))
            self._retries.add(retry)
            retry.add_done_callback(self._retries.discard)

    async def _retry(self, entries: list[Entry]) -> None:
        for attempt in range(RETRIES):
            await asyncio.sleep(min(2.0**attempt, 30.0))
            try:
                await self._add(entries)
                return
            except RedisError:
                continue
        log.error("gave up adding %d events to the shared histories; a refill restores them", len(entries))

    async def _add(self, entries: list[Entry], client: aioredis.Redis | None = None) -> None:
        by_user: dict[str, list[str | int]] = defaultdict(list)
        for event_id, user, item, stamp in sorted(entries, key=lambda entry: entry[0]):
            by_user[user] += [event_id, _entry(stamp, item)]
        async with (client or self.redis).pipeline(transaction=False) as pipe:
            for user, pairs in by_user.items():
                await self._script(keys=[USER + user, RECENT], args=[self.cap, user, *pairs], client=pipe)
            await pipe.execute()

    async def recent(self, limit: int) -> list[tuple[str, History]]:
        users = [_text(u) for u in await self.redis.zrevrange(RECENT, 0, max(limit, 1) - 1)][:limit]
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.lrange(USER + user, 0, -1)
            lists = await pipe.execute()
        return [(u, _history(entries)) for u, entries in zip(users, lists, strict=True) if entries]

    async def load(self, seed: Path | None, seed_format: str | None, event_log: EventLog) -> None:
        self._source = (seed, seed_format, event_log)
        await self._fill_if_lost()

    async def check(self) -> None:
        if self._source is not None and (self._filling is None or self._filling.done()):
            self._filling = asyncio.ensure_future(self._fill_in_background())

    async def _fill_in_background(self) -> None:
        """``_fill_if_lost`` from ``check``: Redis away is logged and retried at the next check, never left as
        a task's unretrieved error."""
        try:
            await self._fill_if_lost()
        except RedisError as err:
            log.warning("could not check or refill the shared histories (%s); retrying at the next check", err)

    async def _fill_if_lost(self) -> None:
        if self._source is None or await self.redis.exists(SEEDED):
            return
        token = uuid.uuid4().hex
        if not await self.redis.set(LOCK, token, nx=True, ex=LOCK_TTL_S):
            log.info("another replica is filling the shared histories")
            return
        try:
            if await self.redis.exists(SEEDED):  # filled between our check and the lock
                return
            log.warning("shared histories are missing in Redis: filling them from the seed log and the event log")
            started = time.perf_counter()
            seed, seed_format, event_log = self._source
            seeded = await self._add_seed(seed, seed_format) if seed is not None else 0
            added = await self._add_event_log(event_log)
            marker = {"at": time.time(), "seed": str(seed) if seed else None, "seed_rows": seeded, "events": added}
            await self.redis.set(SEEDED, json.dumps(marker))
            log.info(
                "shared histories filled: %d seed rows and %d events in %.1f s",
                seeded,
                added,
                time.perf_counter() - started,
            )
        finally:
            if (await self.redis.get(LOCK)) == token.encode():
                await self.redis.delete(LOCK)

    async def _add_seed(self, path: Path, fmt: str | None) -> int:
        """The seed log with ids -N .. -1: users in order of their last activity, each user's rows in order."""
        rows = await asyncio.to_thread(lambda: list(read_interactions(Path(path), fmt)))  # type: ignore[arg-type]
        histories = histories_by_recency(rows)  # the least recently active user first
        total = sum(len(h) for h in histories.values())
        next_id = -total
        batch: list[Entry] = []
        for user, history in histories.items():
            times: list[float | None] = list(history.times) if history.times is not None else [None] * len(history)
            for item, stamp in zip(history.items, times, strict=True):
                batch.append((next_id, user, item, stamp))
                next_id += 1
            if len(batch) >= CHUNK:
                await self._add(batch, self._bulk)
                batch = []
        await self._add(batch, self._bulk)
        return total

    async def _add_event_log(self, event_log: EventLog) -> int:
        after, added = 0, 0
        while True:
            chunk = await asyncio.to_thread(_read_chunk, event_log, after)
            if not chunk:
                return added
            await self._add(chunk, self._bulk)
            after, added = chunk[-1][0], added + len(chunk)

    async def close(self) -> None:
        if self._filling is not None:
            self._filling.cancel()
        for retry in self._retries:
            retry.cancel()
        await self.redis.aclose()
        await self._bulk.aclose()


def _read_chunk(event_log: EventLog, after: int) -> list[Entry]:
    return [(i, e.user, e.item, e.timestamp) for i, e in event_log.read_numbered(after_id=after, limit=CHUNK)]
