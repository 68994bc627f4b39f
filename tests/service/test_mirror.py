"""Shadow mirroring of live /recommend requests to the candidate, off the request path."""

from __future__ import annotations

import asyncio
import re

import pytest

from steadyrec.core.shadow_pairs import PairLog
from tests.service.conftest import auth, serving

pytestmark = pytest.mark.anyio


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_mirrored_pairs_are_scored_logged_and_measured(settings) -> None:
    settings = settings.model_copy(update={"shadow_sample_rate": 1.0})
    async with serving(settings) as client:
        assert (
            await client.put("/models/aliases/candidate", json={"version": "v2"}, headers=auth())
        ).status_code == 200
        for user in ("u1", "u2", "u3"):
            assert (await client.post("/recommend", json={"user_id": user, "k": 5})).status_code == 200
        for _ in range(100):
            text = (await client.get("/metrics")).text
            if metric(text, "steadyrec_shadow_mirrored_total") >= 3:
                break
            await asyncio.sleep(0.05)
        assert metric(text, "steadyrec_shadow_mirrored_total") == 3
        assert 0.0 <= metric(text, "steadyrec_shadow_rbo") <= 1.0
    pairs = PairLog(None, settings.state_dir).read("v2")
    assert len(pairs) == 3 and {p["candidate"] for p in pairs} == {"v2"} and len(pairs[0]["live_items"]) == 5


async def test_a_full_mirror_queue_drops_samples_and_never_blocks_recommend(settings) -> None:
    settings = settings.model_copy(update={"shadow_sample_rate": 1.0, "shadow_queue_size": 1})
    async with serving(settings) as client:
        assert (
            await client.put("/models/aliases/candidate", json={"version": "v2"}, headers=auth())
        ).status_code == 200
        statuses = await asyncio.gather(
            *(client.post("/recommend", json={"items": ["i1", f"i{i % 30 + 2}"]}) for i in range(200))
        )
        assert {r.status_code for r in statuses} == {200}
        text = (await client.get("/metrics")).text
        assert metric(text, "steadyrec_shadow_dropped_total") > 0


async def test_no_mirroring_by_default(client) -> None:
    await client.put("/models/aliases/candidate", json={"version": "v2"}, headers=auth())
    await client.post("/recommend", json={"user_id": "u1"})
    text = (await client.get("/metrics")).text
    assert metric(text, "steadyrec_shadow_mirrored_total") == 0 and metric(text, "steadyrec_shadow_dropped_total") == 0
