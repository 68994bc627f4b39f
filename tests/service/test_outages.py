"""The database or Redis away: clear 503s with Retry-After, never a 200 for what was not stored, and the
service whole again when they return."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from steadyrec.core.event_log import open_event_log
from steadyrec.testing.harness import PostgresServer, RedisServer, postgres_bindir
from tests.service.conftest import auth, serving

pytestmark = pytest.mark.anyio


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    if postgres_bindir() is None:
        pytest.skip("PostgreSQL is not installed (scripts/test.sh installs it with apt-get)")
    server = PostgresServer()
    server.start()
    yield server
    try:
        server.stop()
    finally:
        server.remove()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


async def test_events_get_a_503_while_the_database_is_down_and_are_stored_once_it_is_back(settings, postgres) -> None:
    settings = settings.model_copy(update={"database_url": postgres.url})
    batch = [{"user": "u1", "item": "i2", "timestamp": 1.0}]
    async with serving(settings) as client:
        assert (await client.post("/events", json={"events": batch}, headers=auth())).status_code == 200
        postgres.stop()
        refused = await client.post("/events", json={"events": batch}, headers=auth())
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "was not stored" in refused.json()["detail"]
        postgres.start()
        assert (await client.post("/events", json={"events": batch}, headers=auth())).status_code == 200
    stored = open_event_log(settings)
    assert stored.count() == 2  # the two acknowledged batches, nothing of the refused one
    stored.close()


async def test_user_requests_get_a_503_while_redis_is_down_and_histories_return_after(settings, redis_server) -> None:
    settings = settings.model_copy(update={"redis_url": redis_server.url, "alias_poll_s": 0.1})
    async with serving(settings) as client:
        assert (await client.post("/recommend", json={"user_id": "u1"})).status_code == 200
        redis_server.stop()
        refused = await client.post("/recommend", json={"user_id": "u1"})
        assert refused.status_code == 503 and "histories are unavailable" in refused.json()["detail"]
        explicit = await client.post("/recommend", json={"items": ["i1", "i2"]})
        assert explicit.status_code == 200  # an explicit history needs no store
        redis_server.start()  # empty: it kept nothing
        for _ in range(100):  # the replica notices the lost histories and fills them again
            if (await client.post("/recommend", json={"user_id": "u1"})).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await client.post("/recommend", json={"user_id": "u1"})).status_code == 200


async def test_a_refill_check_while_redis_is_down_fails_quietly_and_the_next_one_refills(
    settings, redis_server, caplog
) -> None:
    from service.redis_histories import RedisEventStore

    event_log = open_event_log(settings)
    store = RedisEventStore(redis_server.url, cap=100)
    await store.load(settings.seed_log, None, event_log)
    before = await store.history("u1")
    redis_server.stop()
    await store.check()  # what the service runs every alias_poll_s
    assert store._filling is not None
    await store._filling  # no unretrieved error left behind
    assert "retrying at the next check" in caplog.text
    redis_server.start()  # empty: it kept nothing
    await store.check()
    await store._filling
    assert before is not None and await store.history("u1") == before
    await store.close()
    event_log.close()
