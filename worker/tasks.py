"""Celery tasks: thin wrappers that pass ids in and ids out and call worker.jobs."""

from __future__ import annotations

import time
from typing import Any

from celery import Task
from celery.exceptions import TimeLimitExceeded

from steadyrec.core.job_queue import FINETUNE_TASK, SCHEDULES_TASK, ensure_state_dir
from steadyrec.core.jobs import FINAL_STATES, open_job_store
from steadyrec.core.schedules import open_schedule_store
from steadyrec.core.settings import get_shared_settings
from worker.celery_app import app
from worker.jobs import run_job
from worker.scheduler import run_due_schedules

__all__ = ["finetune", "schedules_tick"]


class JobTask(Task):
    """Records a failure the job itself could not record (Celery's hard time limit killed its process)."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        store = open_job_store(get_shared_settings())
        state = store.state(task_id)
        if state is None or state in FINAL_STATES:
            return
        if isinstance(exc, TimeLimitExceeded):
            error = f"ran past its hard time limit ({exc.args[0] if exc.args else '?'} s); its process was ended"
        else:
            error = f"stopped by the worker: {type(exc).__name__}: {exc}"
        store.patch(task_id, error=error, finished_at=time.time())
        store.transition(task_id, "failed", {"queued", "running", "publishing"})


@app.task(name=FINETUNE_TASK, base=JobTask, acks_late=True, reject_on_worker_lost=True)
def finetune(job_id: str) -> dict[str, Any] | None:
    """Fine-tune job ``job_id`` (its spec is in the job store); returns the candidate version and metrics."""
    settings = get_shared_settings()
    ensure_state_dir(settings)
    return run_job(job_id, settings, open_job_store(settings))


@app.task(name=SCHEDULES_TASK, ignore_result=True)
def schedules_tick() -> list[str]:
    """Start the jobs of the schedules that are due (worker.scheduler); returns their ids."""
    settings = get_shared_settings()
    ensure_state_dir(settings)
    return run_due_schedules(settings, open_schedule_store(settings), open_job_store(settings), app)
