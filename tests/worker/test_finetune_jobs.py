"""Fine-tune jobs end to end: POST /jobs/finetune -> broker -> a real worker process -> a candidate."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from steadyrec.core.registry import RegistryStore
from steadyrec.testing.harness import app_client, auth, settings_for, start_worker, stop_worker

pytestmark = pytest.mark.anyio

TIMEOUT_S = 180


async def wait_for(client, job_id: str, done, seen: list[dict] | None = None, timeout: float = TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = (await client.get(f"/jobs/{job_id}", headers=auth())).json()
        if seen is not None:
            seen.append(job)
        if done(job):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not get there in {timeout}s: {job}")


async def run_scenario(world, redis) -> None:
    worker = start_worker(world, redis)
    try:
        async for client in app_client(settings_for(world, redis)):
            events = [{"user": "fresh-user", "item": f"i{i}", "timestamp": 10_000.0 + i} for i in range(5)]
            assert (await client.post("/events", json={"events": events}, headers=auth())).status_code == 200
            body = {
                "method": "finest",
                "params": {"epochs": 8, "top_k": 5, "batch_size": 32},
                "run_canary": True,
                "canary_policy": {"min_samples": 100, "bootstrap": 100},
                "canary_samples": 120,
            }
            response = await client.post("/jobs/finetune", json=body, headers=auth())
            assert response.status_code == 202
            seen: list[dict] = []
            job = await wait_for(client, response.json()["id"], lambda j: j["state"] in ("succeeded", "failed"), seen)
            assert job["state"] == "succeeded", (job, (world / "worker.log").read_text()[-3000:])
            assert any(j["state"] == "running" and 0 < j["progress"]["epoch"] < 8 for j in seen), "no progress seen"
            version = job["result"]["candidate_version"]
            assert job["result"]["fresh_events"] == 5
            stages = {"load", "reference_lists", "finetune", "evaluate", "export", "register", "canary"}
            assert stages <= set(job["timings"])
            store = RegistryStore(world / "models")
            verdict = store.verdict(version)  # the gate of POST /models/{version}/canary, stored with the version
            assert verdict is not None and verdict["live"] == "v1" and verdict["candidate"] == version
            assert verdict["samples"] == 120 and verdict["policy"]["min_samples"] == 100
            canary = job["result"]["canary"]
            assert canary["passed"] == verdict["passed"] and canary["failures"] == verdict["failures"]
            assert canary["mean_rbo"] == verdict["figures"]["groups"]["all"]["rbo"]["mean"]
            assert canary["stored"] is True and 0.0 <= canary["mean_rbo"] <= 1.0
            assert store.aliases() == {"live": "v1", "candidate": version}
            assert store.manifest(version).parent == "v1"  # checksums verified too
            models = (await client.get("/models")).json()
            assert {m["version"] for m in models["models"]} == {"v1", version}
            assert (await client.post("/recommend", json={"user_id": "fresh-user"})).json()["model_version"] == "v1"
    finally:
        stop_worker(worker)


async def test_finest_job_with_redis_reaches_a_registered_candidate(world, redis_url) -> None:
    await run_scenario(world, redis_url)


async def test_finest_job_with_the_embedded_broker(world) -> None:
    await run_scenario(world, None)


async def test_worker_killed_mid_job_is_retried_and_leaves_nothing_half_written(world, redis_url) -> None:
    worker = start_worker(world, redis_url)
    try:
        async for client in app_client(settings_for(world, redis_url)):
            body = {"method": "finest", "params": {"epochs": 500, "top_k": 5, "batch_size": 16}}
            job_id = (await client.post("/jobs/finetune", json=body, headers=auth())).json()["id"]
            job = await wait_for(client, job_id, lambda j: j["progress"]["epoch"] >= 1 and j["worker_pid"])
            os.kill(job["worker_pid"], signal.SIGKILL)  # the pool process running the job dies
            retried = await wait_for(client, job_id, lambda j: j["attempts"] == 2 and j["state"] == "running")
            assert retried["worker_pid"] != job["worker_pid"]
            response = await client.delete(f"/jobs/{job_id}", headers=auth())
            assert response.status_code == 200
            final = await wait_for(client, job_id, lambda j: j["finished_at"] is not None)
            assert final["state"] == "cancelled" and final["error"] == "cancelled by request"
            versions_dir = world / "models" / "versions"
            assert sorted(p.name for p in versions_dir.iterdir()) == ["v1"]  # no candidate, no temporary dir
            assert RegistryStore(world / "models").aliases() == {"live": "v1"}
            assert (await client.get("/readyz")).json()["live"] == "v1"
    finally:
        stop_worker(worker)


async def test_a_job_past_its_time_limit_ends_failed_with_the_reason(world) -> None:
    worker = start_worker(world, None)
    try:
        async for client in app_client(settings_for(world, None)):
            body = {"method": "finest", "params": {"epochs": 500, "top_k": 5, "batch_size": 16}, "time_limit_s": 3}
            response = await client.post("/jobs/finetune", json=body, headers=auth())
            assert response.status_code == 202 and response.json()["time_limit_s"] == 3
            job = await wait_for(client, response.json()["id"], lambda j: j["state"] in ("succeeded", "failed"))
            assert job["state"] == "failed", job
            assert job["error"] == "ran past its time limit of 3 s and was stopped"
            assert 0 < job["progress"]["epoch"] < 500
            assert sorted(p.name for p in (world / "models" / "versions").iterdir()) == ["v1"]
            assert not any((world / "models" / ".staging").glob("*"))
    finally:
        stop_worker(worker)
