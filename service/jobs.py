"""Submitting, reading and cancelling fine-tune jobs (the logic behind the /jobs routes). What a job is
checked for before it is queued is in steadyrec.core.submission, which the scheduler shares."""

from __future__ import annotations

import asyncio

from celery import Celery

from service.errors import Conflict, InvalidRequest, NotFound, ServiceError
from service.schemas import FinetuneJobRequest
from service.settings import Settings
from steadyrec.core.jobs import FINAL_STATES, JobRecord, JobStore
from steadyrec.core.submission import JobRefused, prepare_job, queue_job

__all__ = ["cancel_job", "get_job", "submit_job"]


_ERRORS: dict[str, type[ServiceError]] = {"invalid": InvalidRequest, "not_found": NotFound, "conflict": Conflict}


async def submit_job(body: FinetuneJobRequest, settings: Settings, jobs: JobStore, celery: Celery) -> JobRecord:
    """Check, record and queue a job (steadyrec.core.submission); a refusal is the matching 4xx."""
    try:
        record = await asyncio.to_thread(prepare_job, body, settings)
    except JobRefused as err:
        raise _ERRORS[err.kind](err.message) from err
    await asyncio.to_thread(queue_job, record, jobs, celery, settings)
    return record


async def get_job(job_id: str, jobs: JobStore) -> JobRecord:
    record = await asyncio.to_thread(jobs.get, job_id[:64])
    if record is None:
        raise NotFound(f"no job {job_id[:64]!r}")
    return record


async def cancel_job(job_id: str, jobs: JobStore) -> JobRecord:
    record = await get_job(job_id, jobs)
    if record.state in FINAL_STATES:
        raise Conflict(f"job {job_id!r} already {record.state}; nothing to cancel")
    if not await asyncio.to_thread(jobs.transition, job_id, "cancelled", {"queued", "running"}):
        now = await asyncio.to_thread(jobs.state, job_id)
        if now == "publishing":
            raise Conflict(f"job {job_id!r} has built its candidate and is publishing it; too late to cancel")
        raise Conflict(f"job {job_id!r} finished before it could be cancelled")
    return await get_job(job_id, jobs)
