"""Faults, each injected for real on loopback: what was sent, what survived, what was lost (must be 0).

    .venv/bin/python -m benchmarks.reliability.faults

1. worker-sigkill: the worker's pool process is SIGKILLed mid fine-tune; the job must be retried (or
   failed with a reason), leave no partial artifact, and leave the live model serving.
2. redis-restart: Redis is stopped and started again while events are being ingested; every
   acknowledged event must be in the durable event log (events do not depend on Redis).
3. service-restart: the service is stopped and started again; the live alias, the registry and the
   ingested events must be restored from disk.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common.results_io import results_dir, write_results
from benchmarks.common.world import ADMIN, build_world
from steadyrec.core.event_log import open_event_log
from steadyrec.testing.harness import TOKEN, RedisServer, server_process, start_worker, stop_worker

RESULTS = results_dir(__file__)

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait(client: httpx.Client, job_id: str, done, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}", headers=AUTH).json()
        if done(job):
            return job
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id}: {job}")


def worker_sigkill(root: Path, redis: RedisServer) -> dict[str, object]:
    settings = build_world(root).model_copy(update={"redis_url": redis.url})
    worker = start_worker(root, redis.url)
    try:
        with server_process(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
            body = {"method": "finest", "params": {"epochs": 500, "top_k": 10}}  # the longest a job may ask for
            job = client.post("/jobs/finetune", json=body, headers=AUTH).json()
            running = wait(client, job["id"], lambda j: j["progress"]["epoch"] >= 1 and j.get("worker_pid"))
            os.kill(running["worker_pid"], signal.SIGKILL)
            retried = wait(client, job["id"], lambda j: j["attempts"] == 2 and j["state"] == "running")
            client.delete(f"/jobs/{job['id']}", headers=AUTH)
            final = wait(client, job["id"], lambda j: j["finished_at"] is not None)
            live = client.get("/readyz").json().get("live")
            serving = client.post("/recommend", json={"user_id": "u1"}).status_code
    finally:
        stop_worker(worker)
    leftovers = [p.name for p in (root / "models" / "versions").iterdir() if p.name not in ("v1", "v2")]
    print(
        f"  worker-sigkill: killed pid {running['worker_pid']} at epoch {running['progress']['epoch']}; retried "
        f"by pid {retried['worker_pid']} (attempt {retried['attempts']}); then cancelled -> {final['state']}; "
        f"partial artifacts {leftovers}; live {live}, /recommend {serving}",
        flush=True,
    )
    ok = retried["attempts"] == 2 and not leftovers and live == "v1" and serving == 200
    return {
        "fault": "worker-sigkill",
        "sent": 1,
        "survived": 1 if ok else 0,
        "lost": 0 if ok else 1,
        "detail": f"retried as attempt 2, then cancelled; partial artifacts {len(leftovers)}; live {live}",
    }


def redis_restart(root: Path, redis: RedisServer) -> dict[str, object]:
    settings = build_world(root).model_copy(update={"redis_url": redis.url})
    acknowledged: list[tuple[str, str, float]] = []
    failed = 0
    with server_process(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        for batch in range(60):
            if batch == 20:
                redis.stop()
            if batch == 35:
                redis.start()
            events = [{"user": f"r{batch}", "item": f"i{j}", "timestamp": batch * 1000.0 + j} for j in range(100)]
            response = client.post("/events", json={"events": events}, headers=AUTH)
            if response.status_code == 200:
                acknowledged += [(e["user"], e["item"], e["timestamp"]) for e in events]
            else:
                failed += len(events)
    stored = {(e.user, e.item, e.timestamp) for e in open_event_log(settings).read()}
    lost = sum(1 for e in acknowledged if e not in stored)
    print(
        f"  redis-restart: sent 6000 events in 60 batches, Redis down for batches 20-34; acknowledged "
        f"{len(acknowledged)}, refused {failed}, in the durable log {len(stored)}, lost {lost}",
        flush=True,
    )
    return {
        "fault": "redis-restart",
        "sent": 6000,
        "survived": len(acknowledged) - lost,
        "lost": lost,
        "detail": f"acknowledged {len(acknowledged)}, refused {failed}",
    }


def service_restart(root: Path) -> dict[str, object]:
    settings = build_world(root).model_copy(update={"redis_url": None})
    events = [{"user": "restart-user", "item": f"i{j}", "timestamp": float(j)} for j in range(50)]
    with server_process(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.post("/events", json={"events": events}, headers=AUTH)
        client.put("/models/aliases/candidate", json={"version": "v2"}, headers=AUTH)
        promoted = client.post(
            "/models/v2/promote",
            json={"force": True, "reason": "fault benchmark"},
            headers={**AUTH, "X-Admin-Token": ADMIN},
        ).status_code
        before = client.get("/models").json()
    with server_process(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        after = client.get("/models").json()
        ready = client.get("/readyz").json()
        answer = client.post("/recommend", json={"user_id": "restart-user", "exclude_seen": False})
    checks = {
        "live alias": ready.get("live") == "v2" and after["aliases"] == before["aliases"],
        "registry": [m["version"] for m in after["models"]] == [m["version"] for m in before["models"]],
        "events": answer.status_code == 200,
    }
    lost = sum(not ok for ok in checks.values())
    print(f"  service-restart: promoted v2 ({promoted}), 50 events, restarted; restored {checks}", flush=True)
    return {
        "fault": "service-restart",
        "sent": len(checks),
        "survived": len(checks) - lost,
        "lost": lost,
        "detail": f"aliases {after['aliases']}; user with 50 ingested events answered {answer.status_code}",
    }


def main() -> None:
    rows = []
    redis = RedisServer(appendonly=True)
    redis.start()
    try:
        rows.append(worker_sigkill(Path(tempfile.mkdtemp(prefix="fault-worker-")), redis))
        rows.append(redis_restart(Path(tempfile.mkdtemp(prefix="fault-redis-")), redis))
    finally:
        redis.stop()
    rows.append(service_restart(Path(tempfile.mkdtemp(prefix="fault-service-"))))
    write_results(
        "faults",
        rows,
        notes="Every fault is real: SIGKILL of the worker's pool process, redis-server "
        "stopped and started, the service process stopped and started.",
        folder=RESULTS,
    )
    if any(r["lost"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
