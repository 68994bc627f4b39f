"""Per-user histories: in memory (embedded) and in a real Redis shared by replicas, filled once, rebuilt
when Redis loses them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from service.event_store import EventStore, MemoryEventStore
from service.redis_histories import SEEDED, RedisEventStore
from steadyrec.core.event_log import Event, EventLog, open_event_log
from steadyrec.core.history import History
from steadyrec.core.settings import SharedSettings

pytestmark = pytest.mark.anyio


def numbered(*pairs: tuple[int, str, str]) -> list[tuple[int, Event]]:
    return [(i, Event(user, item, float(i))) for i, user, item in pairs]


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest):
    if request.param == "memory":
        made: EventStore = MemoryEventStore(cap=3)
    else:
        made = RedisEventStore(request.getfixturevalue("empty_redis"), cap=3)
    yield made
    await made.close()


async def test_histories_keep_the_newest_items_in_order_and_rank_users_by_recency(store) -> None:
    await store.add(numbered((1, "u", "a"), (2, "v", "x"), (3, "u", "b")))
    await store.add(numbered((4, "u", "c"), (5, "u", "d")))
    u = History(["b", "c", "d"], [3.0, 4.0, 5.0])  # capped at 3, each item with its event's time
    assert await store.history("u") == u
    assert await store.history("v") == History(["x"], [2.0]) and await store.history("w") is None
    assert await store.recent(5) == [("u", u), ("v", History(["x"], [2.0]))]
    await store.add(numbered((6, "v", "y")))
    assert [user for user, _ in await store.recent(1)] == ["v"]


async def test_the_redis_store_places_events_by_id_and_skips_repeats(empty_redis) -> None:
    store = RedisEventStore(empty_redis, cap=10)
    await store.add(numbered((5, "u", "a"), (3, "u", "b")))
    await store.add(numbered((4, "u", "c"), (3, "u", "b"), (6, "u", "d")))  # a late batch, a repeat
    await asyncio.gather(store.add(numbered((8, "u", "f"))), store.add(numbered((7, "u", "e"))))
    assert await store.history("u") == History(["b", "c", "a", "d", "e", "f"], [3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    await store.close()


def _seed(tmp_path: Path) -> Path:
    path = tmp_path / "seed.tsv"
    path.write_text("s1\ti1\t1\ns2\ti2\t2\ns1\ti3\t3\n")
    return path


def _event_log(tmp_path: Path, events: list[Event]) -> EventLog:
    log = open_event_log(SharedSettings(events_path=tmp_path / "events.jsonl", state_dir=tmp_path / "state"))
    log.append(events)
    return log


async def test_the_first_replica_fills_redis_once_with_what_memory_would_hold(tmp_path, empty_redis) -> None:
    event_log = _event_log(tmp_path, [Event("s2", "i4", 10.0), Event("n", "i5", 11.0)])
    memory, first, second = MemoryEventStore(100), RedisEventStore(empty_redis, 100), RedisEventStore(empty_redis, 100)
    await memory.load(_seed(tmp_path), None, event_log)
    await first.load(_seed(tmp_path), None, event_log)
    expected = [
        ("n", History(["i5"], [11.0])),
        ("s2", History(["i2", "i4"], [2.0, 10.0])),
        ("s1", History(["i1", "i3"], [1.0, 3.0])),
    ]
    assert await memory.recent(10) == expected and await first.recent(10) == expected
    marker_before = redis.Redis.from_url(empty_redis).get(SEEDED)
    await second.load(_seed(tmp_path), None, event_log)  # a second replica starting: filled already
    assert redis.Redis.from_url(empty_redis).get(SEEDED) == marker_before
    assert await second.recent(10) == expected
    await first.close(), await second.close()
    event_log.close()


async def test_histories_redis_lost_are_rebuilt_identical(tmp_path, empty_redis) -> None:
    event_log = _event_log(tmp_path, [Event(f"u{i % 7}", f"i{i}", float(i)) for i in range(50)])
    store = RedisEventStore(empty_redis, 100)
    await store.load(_seed(tmp_path), None, event_log)
    before = await store.recent(100)
    redis.Redis.from_url(empty_redis).flushall()
    assert await store.history("u1") is None
    await store.check()  # what the service runs every ALIAS_POLL_S
    assert store._filling is not None
    await store._filling
    assert await store.recent(100) == before
    await store.close()
    event_log.close()


async def test_a_user_seeded_without_times_has_none_and_item_ids_may_hold_colons(tmp_path, empty_redis) -> None:
    seed = tmp_path / "seed.txt"
    seed.write_text("s1 i1 i2\n")  # a sequence file: no timestamps
    event_log = _event_log(tmp_path, [Event("s1", "a:b", 5.0), Event("n", "c:d:e", 6.0)])
    memory, shared = MemoryEventStore(100), RedisEventStore(empty_redis, 100)
    for store in (memory, shared):
        await store.load(seed, "sequences", event_log)
        assert await store.history("s1") == History(["i1", "i2", "a:b"])  # older items have no time: none
        assert await store.history("n") == History(["c:d:e"], [6.0])
    await shared.close()
    event_log.close()
