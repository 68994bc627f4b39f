"""After a job promotes a model, the service watches it and rolls it back on its own when it serves worse."""

from __future__ import annotations

import asyncio
import time

import pytest

from steadyrec.core.onnx_model import LoadedModel
from steadyrec.core.registry import RegistryStore
from tests.service.conftest import serving

pytestmark = pytest.mark.anyio

POLICY = {"window_s": 3.0, "min_requests": 5, "max_error_rate": 0.1, "max_p99_ratio": 20.0}


async def _until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("fault", ["errors", "latency", "none"])
async def test_an_automatically_promoted_model_that_serves_worse_is_rolled_back(settings, monkeypatch, fault) -> None:
    settings = settings.model_copy(update={"alias_poll_s": 0.05})
    store = RegistryStore(settings.models_dir)
    real_score, real_top = LoadedModel.score, LoadedModel.top

    def faulty(self, histories, times=None):
        if self.version == "v2" and fault == "errors":
            raise RuntimeError("injected fault")
        return real_score(self, histories, times)

    def faulty_top(self, histories, times, k, exclude):  # the graph's own top-K: most requests take it
        if self.version == "v2" and fault == "errors":
            raise RuntimeError("injected fault")
        return real_top(self, histories, times, k, exclude)

    monkeypatch.setattr(LoadedModel, "score", faulty)
    monkeypatch.setattr(LoadedModel, "top", faulty_top)
    async with serving(settings) as client:
        for i in range(30):  # what the previous model served: the baseline
            assert (await client.post("/recommend", json={"items": [f"i{i % 20}"]})).status_code == 200
        # what a job with promote_if_passed and a watch policy leaves behind
        store.write_verdict("v2", {"passed": True, "live": "v1", "promotion": {"promoted": True, "watch": POLICY}})
        store.set_alias("live", "v2", reason="promoted by job j1: its canary passed")

        async def live_is(version: str) -> bool:
            return (await client.get("/readyz")).json().get("live") == version

        await _until(lambda: live_is("v2"))
        serving_stats = client._transport.app.state.steadyrec.serving  # type: ignore[attr-defined]
        if fault == "errors":  # real requests that fail in the model
            for i in range(20):
                await client.post("/recommend", json={"items": [f"i{i % 20}"]})
        else:  # what v2 served, recorded as the route records it: v1's own latencies, or 100x them
            _, _, baseline = serving_stats.snapshot("v1")
            for seconds in baseline[:20]:
                serving_stats.observe("v2", seconds * (100.0 if fault == "latency" else 1.0), error=False)
        await asyncio.sleep(3.2)  # past the watch window

        async def judged() -> bool:
            return "watch_outcome" in (store.verdict("v2") or {}).get("promotion", {})

        await _until(judged)
    outcome = store.verdict("v2")["promotion"]["watch_outcome"]  # type: ignore[index]
    if fault == "none":
        assert outcome["rolled_back"] is False and outcome["reason"] == "served as well as the previous model"
        assert store.aliases()["live"] == "v2"
        return
    assert outcome["rolled_back"] is True and store.aliases()["live"] == "v1"
    reason = store.history()[-1]["reason"]
    expected = "error rate 1.0000" if fault == "errors" else "p99 latency"
    assert reason.startswith(f"automatic rollback of v2: {expected}"), reason
    assert outcome["figures"]["requests"] >= POLICY["min_requests"]  # errors end the watch early


async def test_a_promotion_by_hand_is_not_watched(settings) -> None:
    settings = settings.model_copy(update={"alias_poll_s": 0.05})
    store = RegistryStore(settings.models_dir)
    async with serving(settings) as client:
        store.write_verdict("v2", {"passed": True, "live": "v1", "promotion": {"promoted": True, "watch": POLICY}})
        store.set_alias("live", "v2", reason="canary passed")  # POST /models/v2/promote's words
        await asyncio.sleep(3.5)  # past the window a watch would have had
        assert (await client.get("/readyz")).json()["live"] == "v2"
    assert "watch_outcome" not in store.verdict("v2")["promotion"]  # type: ignore[index]


async def test_models_lists_a_versions_promotion_decision_and_watch_outcome(client, settings) -> None:
    store = RegistryStore(settings.models_dir)
    decision = {"promoted": True, "reason": "the canary passed", "previous": "v1", "watch": POLICY}
    outcome = {"rolled_back": False, "reason": "served as well as the previous model"}
    store.write_verdict(
        "v2",
        {"passed": True, "live": "v1", "failures": [], "promotion": {**decision, "watch_outcome": outcome}},
    )
    models = {m["version"]: m for m in (await client.get("/models")).json()["models"]}
    promotion = models["v2"]["verdict"]["promotion"]
    assert promotion["promoted"] is True and promotion["watch"]["window_s"] == 3.0
    assert promotion["watch_outcome"]["reason"] == "served as well as the previous model"
