"""Two API replicas on one Redis and one event log: what one is told, the other serves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from service.main import create_app
from service.settings import Settings
from tests.service.conftest import auth

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def two_replicas(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    apps = [create_app(settings), create_app(settings)]
    async with (
        apps[0].router.lifespan_context(apps[0]),
        apps[1].router.lifespan_context(apps[1]),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://a") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://b") as b,
    ):
        yield a, b


async def test_an_event_posted_to_one_replica_is_served_by_another(settings, empty_redis) -> None:
    async with two_replicas(settings.model_copy(update={"redis_url": empty_redis})) as (a, b):
        assert (await b.post("/recommend", json={"user_id": "traveller"})).status_code == 404
        events = [{"user": "traveller", "item": "i3", "timestamp": 5.0}]
        assert (await a.post("/events", json={"events": events}, headers=auth())).status_code == 200
        answer = await b.post("/recommend", json={"user_id": "traveller", "k": 5})
        assert answer.status_code == 200 and "i3" not in {r["item"] for r in answer.json()["items"]}
        seeded = (await b.post("/recommend", json={"user_id": "u1", "k": 5})).status_code
        assert seeded == 200  # the seed log, filled into Redis once, serves every replica


async def test_a_promotion_on_one_replica_reaches_the_other_within_a_second(settings, empty_redis) -> None:
    shared = settings.model_copy(update={"redis_url": empty_redis, "alias_poll_s": 60.0})  # no poll helps
    async with two_replicas(shared) as (a, b):
        await asyncio.sleep(0.2)  # B subscribed
        assert (await b.post("/recommend", json={"items": ["i1"]})).json()["model_version"] == "v1"
        changed = await a.put("/models/aliases/live", json={"version": "v2", "reason": "test"}, headers=auth())
        assert changed.status_code == 200, changed.text
        started = time.perf_counter()
        while (await b.post("/recommend", json={"items": ["i1"]})).json()["model_version"] != "v2":
            assert time.perf_counter() - started < 1.0, "replica B still serves v1 after 1 s"
            await asyncio.sleep(0.01)


async def test_a_list_served_by_one_replica_is_judged_by_an_event_sent_to_the_other(settings, empty_redis) -> None:
    async with two_replicas(settings.model_copy(update={"redis_url": empty_redis})) as (a, b):
        answer = (await b.post("/recommend", json={"user_id": "u1", "k": 5})).json()
        taken = answer["items"][0]["item"]
        await asyncio.sleep(0.2)  # B's writer remembers the list off the request path
        event = [{"user": "u1", "item": taken, "timestamp": 1e9}]
        assert (await a.post("/events", json={"events": event}, headers=auth())).status_code == 200
        for client in (a, b):
            models = (await client.get("/models", headers=auth())).json()["models"]
            online = next(m["online"] for m in models if m["version"] == "v1")
            assert online == {"served": 1, "judged": 1, "hits": 1, "hit_rate": 1.0}
