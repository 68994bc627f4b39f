"""A job's shadow gate: the real service mirrors live /recommend requests to the job's candidate, and the
job judges (and promotes) on those requests."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from service.settings import Settings
from steadyrec.core.jobs import JobRecord, SQLiteJobStore
from steadyrec.core.registry import RegistryStore
from steadyrec.core.shadow_pairs import PairLog
from tests.service.conftest import serving
from worker.jobs import run_job

pytestmark = pytest.mark.anyio

FAST = {"epochs": 1, "top_k": 5, "batch_size": 32}
PASSING = {"min_mean_rbo": 0.0, "min_mean_jaccard": 0.0, "min_p10_rbo": 0.0, "ndcg_delta": 1.0, "bootstrap": 0}


def _settings(world: Path) -> Settings:
    return Settings(
        models_dir=world / "models",
        events_path=world / "events.jsonl",
        state_dir=world / "state",
        data_dir=world / "data",
        redis_url=None,
        demo_mode=True,
        seed_log=world / "data" / "base.tsv",
        shadow_sample_rate=1.0,
        alias_poll_s=0.05,
    )


def _shadow_job(world: Path, requests: int, max_minutes: float, min_samples: int) -> tuple[SQLiteJobStore, str]:
    store = SQLiteJobStore(world / "state" / "jobs.sqlite")
    record = JobRecord(
        id=f"job{time.monotonic_ns()}",
        method="finest",
        base_version="v1",
        params=FAST,
        run_canary=True,
        promote_if_passed=True,
        canary_policy={**PASSING, "min_samples": min_samples},
        canary_source="shadow",
        shadow={"requests": requests, "max_minutes": max_minutes},
    )
    store.create(record)
    return store, record.id


async def test_a_shadow_gated_job_is_judged_on_mirrored_live_requests_and_promoted(world) -> None:
    settings = _settings(world)
    store, job_id = _shadow_job(world, requests=20, max_minutes=2.0, min_samples=20)
    users = sorted({line.split("\t")[0] for line in (world / "data" / "base.tsv").read_text().splitlines()})
    async with serving(settings) as client:
        job = asyncio.ensure_future(asyncio.to_thread(run_job, job_id, settings, store))
        sent = 0
        while not job.done():
            answer = await client.post("/recommend", json={"user_id": users[sent % len(users)], "k": 10})
            assert answer.status_code == 200
            sent += 1
            await asyncio.sleep(0.02)
        result = await job
    assert result is not None, store.get(job_id)
    version = f"cand-{job_id}"
    canary = result["canary"]
    assert canary["source"]["kind"] == "shadow" and canary["source"]["mirrored"] == 20
    assert canary["samples"] == 20 and canary["passed"] is True
    assert result["promotion"]["promoted"] is True
    registry = RegistryStore(settings.models_dir)
    assert registry.aliases()["live"] == version
    verdict = registry.verdict(version)
    assert verdict is not None and verdict["source"]["kind"] == "shadow" and verdict["samples"] == 20
    mirrored = PairLog(None, settings.state_dir).read(version)
    # the judged histories are the first 20 requests mirrored while v1 was live
    assert len([p for p in mirrored if p["live"] == "v1"]) >= 20


async def test_a_shadow_gate_without_enough_traffic_fails_and_never_promotes(world) -> None:
    settings = _settings(world)
    store, job_id = _shadow_job(world, requests=20, max_minutes=0.02, min_samples=20)  # 1.2 s, no requests
    async with serving(settings):
        result = await asyncio.to_thread(run_job, job_id, settings, store)
    assert result is not None
    canary = result["canary"]
    assert canary["passed"] is False
    assert canary["failures"] == [
        "only 0 requests compared; the policy needs at least 20",
        "no held-out replay users (histories of 2+ items) to check accuracy on",
    ]
    assert canary["source"]["note"] == "0 of 20 requests mirrored in 0.02 minutes"
    assert result["promotion"]["promoted"] is False
    assert RegistryStore(settings.models_dir).aliases() == {"live": "v1", "candidate": f"cand-{job_id}"}
