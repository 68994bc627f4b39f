from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query

from service.dependencies import Authorized, StateDep
from service.jobs import cancel_job, get_job, submit_job
from service.schemas import FinetuneJobRequest, JobResponse, JobsResponse

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Authorized])


@router.post("/finetune", status_code=202, response_model=JobResponse)
async def post_finetune(body: FinetuneJobRequest, state: StateDep) -> JobResponse:
    """Queue a fine-tune of a base model (a version, or `live`) with a hardening method; answers at once."""
    record = await submit_job(body, state.settings, state.jobs, state.celery)
    return JobResponse.model_validate(record.model_dump())


@router.get("", response_model=JobsResponse)
async def list_jobs(state: StateDep, limit: int = Query(50, ge=1, le=500)) -> JobsResponse:
    """The most recent jobs, newest first."""
    records = await asyncio.to_thread(state.jobs.recent, limit)
    return JobsResponse(jobs=[JobResponse.model_validate(r.model_dump()) for r in records])


@router.get("/{job_id}", response_model=JobResponse)
async def read_job(job_id: str, state: StateDep) -> JobResponse:
    """State, progress (epoch, losses), timings per stage, and the result or the failure reason."""
    return JobResponse.model_validate((await get_job(job_id, state.jobs)).model_dump())


@router.delete("/{job_id}", response_model=JobResponse)
async def delete_job(job_id: str, state: StateDep) -> JobResponse:
    """Cancel a queued or running job (a running one stops at its next epoch and writes no model)."""
    return JobResponse.model_validate((await cancel_job(job_id, state.jobs)).model_dump())
