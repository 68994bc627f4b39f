"""Serving a time-aware model (TiSASRec): timestamps from requests and from the stored histories, the 422s
when they are missing, and the canary and shadow comparisons on timed histories."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings
from steadyrec.core.interactions import build_log
from steadyrec.core.registry import RegistryStore
from steadyrec.core.replay import histories_by_recency
from steadyrec.testing.builders import tiny_artifact
from training.data.synthetic import SyntheticConfig, synthetic_interactions, write_tsv

from .conftest import auth, serving, settings_in

pytestmark = pytest.mark.anyio

TINY = {"hidden": 16, "blocks": 1, "heads": 2, "max_len": 12, "time_span": 32}


@pytest.fixture(scope="module")
def timed_world(tmp_path_factory) -> dict[str, Path]:
    """Two tiny TiSASRec versions (v1 live) and the timestamped seed log the event store reads."""
    root = tmp_path_factory.mktemp("timed")
    rows = synthetic_interactions(SyntheticConfig(n_users=40, n_items=30, min_len=5, max_len=15))
    write_tsv(rows, root / "events.tsv")
    log = build_log(rows)
    store = RegistryStore(root / "models")
    for version, seed in (("v1", 1), ("v2", 2)):
        tiny_artifact(root / "build" / version, log, seed=seed, epochs=1, config=TINY, kind="tisasrec")
        store.register(root / "build" / version, version)
    store.set_alias("live", "v1")
    return {"models": root / "models", "events": root / "events.tsv"}


@pytest.fixture
def settings(timed_world, tmp_path) -> Settings:
    return settings_in(timed_world, tmp_path)


def _stored(path: Path, user: str) -> tuple[list[str], list[float]]:
    from steadyrec.core.formats import read_interactions

    history = histories_by_recency(read_interactions(path, None))[user]
    assert history.times is not None
    return history.items, history.times


async def test_a_user_is_answered_from_the_stored_times_as_the_same_history_sent_with_timestamps(
    settings, timed_world
) -> None:
    items, times = _stored(timed_world["events"], "u3")
    async with serving(settings) as c:
        by_user = await c.post("/recommend", json={"user_id": "u3", "k": 5})
        sent = await c.post("/recommend", json={"items": items, "timestamps": times, "k": 5})
        moved = await c.post(
            "/recommend", json={"items": items, "timestamps": [t * 3 for t in times[:-1]] + [times[-1] + 9e5], "k": 5}
        )
    assert by_user.status_code == 200 and by_user.json()["fallback"] is False
    assert by_user.json()["items"] == sent.json()["items"]
    assert moved.json()["items"] != sent.json()["items"]  # other intervals, other answer: time is read


async def test_a_new_event_joins_the_stored_history_with_its_time(settings, timed_world) -> None:
    items, times = _stored(timed_world["events"], "u5")
    when = times[-1] + 3600.0
    async with serving(settings) as c:
        events = [{"user": "u5", "item": items[0], "timestamp": when}]
        assert (await c.post("/events", json={"events": events}, headers=auth())).status_code == 200
        by_user = await c.post("/recommend", json={"user_id": "u5", "k": 5})
        sent = await c.post("/recommend", json={"items": [*items, items[0]], "timestamps": [*times, when], "k": 5})
    assert by_user.json()["items"] == sent.json()["items"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"items": ["i1", "i2"]}, "send 'timestamps', one per item of 'items'"),
        ({"items": ["i1", "i2"], "timestamps": [1.0]}, "'timestamps' has 1 values for 2 items"),
        ({"user_id": "u3", "timestamps": [1.0]}, "'timestamps' go with 'items'"),
        ({"items": ["i1"], "timestamps": [-5.0]}, "timestamps[0] must be a finite number of seconds"),
    ],
)
async def test_a_time_aware_model_without_usable_timestamps_is_a_422_naming_them(settings, body, says) -> None:
    async with serving(settings) as c:
        response = await c.post("/recommend", json={**body, "k": 3})
    assert response.status_code == 422
    assert says in response.text


async def test_canary_and_shadow_compare_a_time_aware_candidate_on_timed_histories(settings, timed_world) -> None:
    items, times = _stored(timed_world["events"], "u3")
    async with serving(settings) as c:
        verdict = await c.post("/models/v2/canary", json={"samples": 30, "policy": {"min_samples": 1}}, headers=auth())
        loaded = await c.put("/models/aliases/candidate", json={"version": "v2"}, headers=auth())
        shadow = await c.post(
            "/shadow/compare", json={"requests": [{"items": items, "timestamps": times}]}, headers=auth()
        )
        untimed = await c.post("/shadow/compare", json={"requests": [{"items": items}]}, headers=auth())
    assert verdict.status_code == 200 and verdict.json()["samples"] == 30
    assert verdict.json()["figures"]["groups"]["all"]["rbo"]["n"] == 30
    assert loaded.status_code == 200
    assert shadow.status_code == 200 and len(shadow.json()["per_request"]) == 1
    assert untimed.status_code == 422 and "timestamps" in untimed.text


async def test_a_history_the_model_cannot_read_gets_the_fallback_without_timestamps(settings) -> None:
    async with serving(settings) as c:
        empty = await c.post("/recommend", json={"items": [], "k": 3})
        unknown = await c.post("/recommend", json={"items": ["never-seen"], "k": 3})
    assert empty.status_code == 200 and empty.json()["fallback_reason"] == "empty history"
    assert unknown.status_code == 200 and unknown.json()["fallback"] is True
