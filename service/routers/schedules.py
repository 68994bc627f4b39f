from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter

from service.dependencies import AppState, Authorized, StateDep
from service.errors import Conflict, InvalidRequest, NotFound, ServiceError
from service.responses import LastRun, NextRun, ScheduleResponse, SchedulesResponse
from steadyrec.core.schedules import ScheduleRecord, ScheduleSpec, next_run
from steadyrec.core.submission import JobRefused, prepare_job

router = APIRouter(prefix="/schedules", tags=["schedules"], dependencies=[Authorized])

_ERRORS: dict[str, type[ServiceError]] = {"invalid": InvalidRequest, "not_found": NotFound, "conflict": Conflict}


def _answer(record: ScheduleRecord, state: AppState, events: int) -> ScheduleResponse:
    trigger = record.spec.trigger
    due = next_run(
        trigger, now=time.time(), created_at=record.created_at, events=events, events_at_last=record.events_at_last
    )
    job = state.jobs.get(record.last_job) if record.last_job else None
    return ScheduleResponse(
        name=record.spec.name,
        job=record.spec.job,
        trigger=trigger,
        created_at=record.created_at,
        next_run=NextRun(**due),
        last=LastRun(
            slot=record.last_slot,
            job_id=record.last_job,
            at=record.last_at,
            state=job.state if job is not None else None,
            error=record.last_error,
        ),
    )


@router.post("", status_code=201, response_model=ScheduleResponse)
async def post_schedule(body: ScheduleSpec, state: StateDep) -> ScheduleResponse:
    """Declare a fine-tune that runs on its own: every N hours, daily at HH:MM (UTC), or after N fresh events.
    Its job is checked now as POST /jobs/finetune checks one (and again at every run)."""
    try:
        await asyncio.to_thread(prepare_job, body.job, state.settings)
    except JobRefused as err:
        raise _ERRORS[err.kind](f"job: {err.message}") from err
    events = await asyncio.to_thread(state.event_log.count)
    record = ScheduleRecord(spec=body, events_at_last=events)
    if not await asyncio.to_thread(state.schedules.create, record):
        raise Conflict(f"a schedule named {body.name!r} exists; DELETE /schedules/{body.name} first")
    return await asyncio.to_thread(_answer, record, state, events)


@router.get("", response_model=SchedulesResponse)
async def list_schedules(state: StateDep) -> SchedulesResponse:
    """Every schedule with its next run and its last outcome (the state of the job it last started)."""

    def build() -> SchedulesResponse:
        events = state.event_log.count()
        return SchedulesResponse(schedules=[_answer(r, state, events) for r in state.schedules.all()])

    return await asyncio.to_thread(build)


@router.delete("/{name}", response_model=ScheduleResponse)
async def delete_schedule(name: str, state: StateDep) -> ScheduleResponse:
    """Stop a schedule (a job it already started runs on)."""
    record = await asyncio.to_thread(state.schedules.get, name[:64])
    if record is None or not await asyncio.to_thread(state.schedules.delete, record.spec.name):
        raise NotFound(f"no schedule {name[:64]!r}")
    return await asyncio.to_thread(_answer, record, state, record.events_at_last)
