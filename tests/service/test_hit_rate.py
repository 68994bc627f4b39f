"""The online hit rate: served lists judged by the user's next event, per model version."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from service.hit_rate import HitRate
from tests.service.conftest import auth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_hand_made_serves_and_events_give_exact_counts_per_version() -> None:
    clock, registry = Clock(), CollectorRegistry()
    hits = HitRate(registry, horizon_s=50.0, clock=clock)
    hits.served("u1", ["a", "b"], "v1")
    hits.served("u2", ["c"], "v1")
    clock.now = 10.0
    hits.interacted("u1", "b")  # within the horizon, in the list: a hit
    hits.interacted("u1", "c")  # u1's list was judged already
    clock.now = 100.0
    hits.interacted("u2", "c")  # 100 s after its list: past the horizon, not judged
    hits.served("u3", ["x"], "v2")
    hits.served("u3", ["y"], "v2")  # replaces u3's earlier list
    hits.interacted("u3", "x")  # judged against ["y"]: a miss
    hits.interacted("nobody", "x")  # nothing was served to them
    v1, v2 = await hits.counts("v1"), await hits.counts("v2")
    assert (v1.served, v1.judged, v1.hits, v1.hit_rate) == (2, 1, 1, 1.0)
    assert (v2.served, v2.judged, v2.hits, v2.hit_rate) == (2, 1, 0, 0.0)
    assert (await hits.counts("v3")).hit_rate is None
    text = generate_latest(registry).decode()
    assert 'steadyrec_online_hits_total{version="v1"} 1.0' in text
    assert 'steadyrec_online_judged_total{version="v2"} 1.0' in text


@pytest.mark.anyio
async def test_memory_is_bounded_and_sampled() -> None:
    hits = HitRate(CollectorRegistry(), capacity=1)
    hits.served("a", ["i"], "v1")
    hits.served("b", ["i"], "v1")  # a, the least recently served, is forgotten
    hits.interacted("a", "i")
    hits.interacted("b", "i")
    counts = await hits.counts("v1")
    assert (counts.judged, counts.hits) == (1, 1)
    draws = iter([0.7, 0.2])
    sampled = HitRate(CollectorRegistry(), sample_rate=0.5, draw=lambda: next(draws))
    sampled.served("a", ["i"], "v1")  # 0.7 >= 0.5: not sampled
    sampled.served("b", ["i"], "v1")  # 0.2 < 0.5: remembered
    assert (await sampled.counts("v1")).served == 1


@pytest.mark.anyio
async def test_a_served_item_the_user_then_takes_counts_as_a_hit_for_the_live_version(client) -> None:
    answer = (await client.post("/recommend", json={"user_id": "u1", "k": 5})).json()
    taken = answer["items"][0]["item"]
    event = {"user": "u1", "item": taken, "timestamp": 1_700_000_000.0}
    assert (await client.post("/events", json={"events": [event]}, headers=auth())).status_code == 200
    models = {m["version"]: m for m in (await client.get("/models")).json()["models"]}
    assert models["v1"]["online"] == {"served": 1, "judged": 1, "hits": 1, "hit_rate": 1.0}
    assert models["v2"]["online"] == {"served": 0, "judged": 0, "hits": 0, "hit_rate": None}
    assert 'steadyrec_online_hits_total{version="v1"} 1.0' in (await client.get("/metrics")).text
