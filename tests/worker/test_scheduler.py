"""Scheduled fine-tunes: the tick starts one job per due slot, and a real worker's embedded beat runs them."""

from __future__ import annotations

import time

import pytest

from steadyrec.core.job_queue import make_celery
from steadyrec.core.job_spec import FinetuneJobRequest
from steadyrec.core.jobs import SQLiteJobStore
from steadyrec.core.schedules import ScheduleRecord, ScheduleSpec, SQLiteScheduleStore, Trigger
from steadyrec.core.settings import SharedSettings
from steadyrec.testing.harness import app_client, auth, settings_for, start_worker, stop_worker
from tests.worker.test_finetune_jobs import wait_for
from worker.scheduler import run_due_schedules, slot_job_id

FAST = {"epochs": 1, "top_k": 5, "batch_size": 32}


def _stores(world):
    settings = SharedSettings(
        models_dir=world / "models",
        events_path=world / "events.jsonl",
        state_dir=world / "state",
        data_dir=world / "data",
        redis_url=None,
    )
    (world / "state").mkdir(exist_ok=True)
    return (
        settings,
        SQLiteScheduleStore(world / "state" / "schedules.sqlite"),
        SQLiteJobStore(world / "state" / "j.sqlite"),
    )


def test_a_due_slot_starts_one_job_however_many_ticks_see_it(world) -> None:
    settings, schedules, jobs = _stores(world)
    celery = make_celery(settings)  # the embedded broker: the message waits for a worker
    spec = ScheduleSpec(
        name="hourly", job=FinetuneJobRequest(method="finest", params=FAST), trigger=Trigger(every_hours=1)
    )
    schedules.create(ScheduleRecord(spec=spec, created_at=1_000_000.0))
    assert run_due_schedules(settings, schedules, jobs, celery, now=1_000_000.0 + 1800) == []
    started = run_due_schedules(settings, schedules, jobs, celery, now=1_003_600.0)
    assert started == [slot_job_id("hourly", "every:1")]
    second_beat = SQLiteScheduleStore(world / "state" / "schedules.sqlite")
    assert run_due_schedules(settings, second_beat, jobs, celery, now=1_003_600.0) == []
    assert run_due_schedules(settings, schedules, jobs, celery, now=1_005_000.0) == []  # the same slot
    record = jobs.get(started[0])
    assert record is not None and record.schedule == "hourly" and record.state == "queued"
    assert record.base_version == "v1"  # 'live' resolved at the run
    assert len(run_due_schedules(settings, schedules, jobs, celery, now=1_007_200.0)) == 1  # the next slot


def test_a_run_whose_job_cannot_be_made_is_recorded_on_the_schedule(world) -> None:
    settings, schedules, jobs = _stores(world)
    spec = ScheduleSpec(name="gone", job=FinetuneJobRequest(method="finest", base="v9"), trigger=Trigger(every_hours=1))
    schedules.create(ScheduleRecord(spec=spec, created_at=0.0))
    assert run_due_schedules(settings, schedules, jobs, make_celery(settings), now=3600.0) == []
    record = schedules.get("gone")
    assert record is not None and record.last_error == "no model version 'v9'" and record.last_job is None


@pytest.mark.anyio
async def test_a_schedule_runs_on_a_real_worker_with_an_embedded_beat(world) -> None:
    worker = start_worker(world, None, beat_every_s=1.0)
    try:
        async for client in app_client(settings_for(world, None)):
            body = {
                "name": "every-3s",
                "job": {"method": "finest", "params": FAST},
                "trigger": {"every_hours": 3 / 3600},
            }
            response = await client.post("/schedules", json=body, headers=auth())
            assert response.status_code == 201, response.text
            deadline = time.monotonic() + 120
            while True:
                listed = (await client.get("/schedules", headers=auth())).json()["schedules"][0]
                if listed["last"]["state"] is not None:  # the slot is claimed first, then its job recorded
                    break
                assert time.monotonic() < deadline, (world / "worker.log").read_text()[-3000:]
                time.sleep(0.2)
            job = await wait_for(client, listed["last"]["job_id"], lambda j: j["state"] in ("succeeded", "failed"))
            assert job["state"] == "succeeded" and job["schedule"] == "every-3s", job
            assert listed["last"]["slot"].startswith("every:")
    finally:
        stop_worker(worker)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
