"""POST /events: validated, durable, visible to /recommend at once, replayed after a restart."""

from __future__ import annotations

import time

import httpx
import pytest

from service.event_store import MemoryEventStore
from service.main import create_app
from steadyrec.core.event_log import open_event_log
from steadyrec.core.history import History
from steadyrec.core.settings import SharedSettings
from tests.service.conftest import auth

pytestmark = pytest.mark.anyio


def app_event_count(settings) -> int:
    events = open_event_log(settings)
    try:
        return events.count()
    finally:
        events.close()


async def test_events_are_visible_to_recommend_at_once(client) -> None:
    assert (await client.post("/recommend", json={"user_id": "newcomer"})).status_code == 404
    events = [{"user": "newcomer", "item": f"i{i}", "timestamp": 1000.0 + i} for i in (3, 4, 5)]
    response = await client.post("/events", json={"events": events}, headers=auth())
    assert response.status_code == 200 and response.json() == {"accepted": 3, "users": 1}
    body = (await client.post("/recommend", json={"user_id": "newcomer", "k": 5})).json()
    assert body["fallback"] is False
    assert not {"i3", "i4", "i5"} & {r["item"] for r in body["items"]}  # seen items excluded


async def test_unknown_items_are_kept_and_reported(client) -> None:
    events = [{"user": "n2", "item": "brand-new-item", "timestamp": 5.0}]
    assert (await client.post("/events", json={"events": events}, headers=auth())).status_code == 200
    body = (await client.post("/recommend", json={"user_id": "n2"})).json()
    assert body["fallback"] is True and body["unknown_items"] == ["brand-new-item"]


async def test_acknowledged_events_survive_a_restart(settings) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        events = [{"user": "durable", "item": "i7", "timestamp": 1.0}]
        assert (await c.post("/events", json={"events": events}, headers=auth())).status_code == 200
    restarted = create_app(settings)
    transport = httpx.ASGITransport(app=restarted)
    async with (
        restarted.router.lifespan_context(restarted),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        body = (await c.post("/recommend", json={"user_id": "durable", "exclude_seen": False, "k": 1})).json()
        assert body["model_version"] == "v1" and body["fallback"] is False


async def test_an_earlier_versions_json_lines_log_is_imported_and_served(settings) -> None:
    settings.events_path.write_text('{"user": "a", "item": "i1", "timestamp": 1.0}\n{"user": "b", "ite')  # torn
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert await app.state.steadyrec.events.history("a") == History(["i1"], [1.0])
        assert await app.state.steadyrec.events.history("b") is None
    assert settings.events_path.with_name("events.jsonl.imported").exists()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"events": []}, id="empty-batch"),
        pytest.param({}, id="missing-events"),
        pytest.param({"events": [{"user": "u", "item": "i1"}]}, id="missing-timestamp"),
        pytest.param({"events": [{"user": "u", "item": "i1", "timestamp": -1}]}, id="negative-timestamp"),
        pytest.param({"events": [{"user": "u", "item": "i1", "timestamp": time.time() + 10 * 86400}]}, id="future"),
        pytest.param({"events": [{"user": "", "item": "i1", "timestamp": 1}]}, id="empty-user"),
        pytest.param({"events": [{"user": "u", "item": "x" * 300, "timestamp": 1}]}, id="long-item"),
        pytest.param({"events": [{"user": "u", "item": "i1", "timestamp": 1, "rating": 5}]}, id="unknown-field"),
        pytest.param({"events": [{"user": "u", "item": "i1", "timestamp": 1}] * 2}, id="duplicate-in-batch"),
        pytest.param({"events": [{"user": "u", "item": "i1", "timestamp": "noon"}]}, id="timestamp-not-number"),
    ],
)
async def test_bad_event_batches_are_422_and_write_nothing(client, settings, body) -> None:
    response = await client.post("/events", json=body, headers=auth())
    assert response.status_code == 422 and response.json()["detail"]
    assert app_event_count(settings) == 0


async def test_events_need_the_token(client) -> None:
    events = [{"user": "u", "item": "i1", "timestamp": 1.0}]
    assert (await client.post("/events", json={"events": events})).status_code == 401


async def test_the_event_store_replays_what_the_builder_replays(tmp_path) -> None:
    log = tmp_path / "log.tsv"
    log.write_text("u1\ti1\t30\nu2\ti2\t10\nu1\ti3\t5\nu3\ti4\t20\nu2\ti5\t40\n")
    store = MemoryEventStore(cap=100)
    events = open_event_log(SharedSettings(events_path=tmp_path / "events.jsonl", state_dir=tmp_path / "state"))
    await store.load(log, "tsv", events)
    assert await store.recent(3) == [
        ("u2", History(["i2", "i5"], [10.0, 40.0])),
        ("u1", History(["i3", "i1"], [5.0, 30.0])),
        ("u3", History(["i4"], [20.0])),
    ]
    events.close()
