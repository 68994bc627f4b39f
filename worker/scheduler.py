"""The scheduler's tick (Celery beat runs it every STEADYREC_SCHEDULE_TICK_S): start the due schedules' jobs.

Each due slot is claimed with a compare-and-set before its job is made, and the job id is derived from the
schedule and the slot, so a second beat or a repeated tick never starts a job twice for one slot. The job
is made by the same function as ``POST /jobs/finetune`` (steadyrec.core.submission); a job that cannot be
made (its base version gone, its data missing) is recorded on the schedule as ``last_error``.
"""

from __future__ import annotations

import logging
import time
import uuid

from celery import Celery

from steadyrec.core.event_log import open_event_log
from steadyrec.core.jobs import JobStore
from steadyrec.core.schedules import ScheduleStore, due_slot
from steadyrec.core.settings import SharedSettings
from steadyrec.core.submission import JobRefused, prepare_job, queue_job

__all__ = ["run_due_schedules", "slot_job_id"]

log = logging.getLogger(__name__)


def slot_job_id(name: str, slot: str) -> str:
    """The one job id of a schedule's slot."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"steadyrec:schedule:{name}:{slot}").hex


def run_due_schedules(
    settings: SharedSettings, schedules: ScheduleStore, jobs: JobStore, celery: Celery, now: float | None = None
) -> list[str]:
    """Start the job of every schedule with a due, unclaimed slot; returns the started job ids."""
    now = time.time() if now is None else now
    records = schedules.all()
    events = 0
    if any(r.spec.trigger.after_events for r in records):
        log_ = open_event_log(settings)
        try:
            events = log_.count()
        finally:
            log_.close()
    started = []
    for record in records:
        name = record.spec.name
        slot = due_slot(
            record.spec.trigger,
            now=now,
            created_at=record.created_at,
            events=events,
            events_at_last=record.events_at_last,
        )
        if slot is None or slot == record.last_slot:
            continue
        job_id = slot_job_id(name, slot)
        if not schedules.claim(name, record.last_slot, slot, last_job=job_id, last_at=now, events_at_last=events):
            continue  # another tick took this slot
        try:
            queue_job(prepare_job(record.spec.job, settings, job_id=job_id, schedule=name), jobs, celery, settings)
        except JobRefused as err:
            schedules.patch(name, last_job=None, last_error=err.message)
            log.warning("schedule %s, slot %s: no job: %s", name, slot, err.message)
            continue
        schedules.patch(name, last_error=None)
        log.info("schedule %s, slot %s: job %s", name, slot, job_id)
        started.append(job_id)
    return started
