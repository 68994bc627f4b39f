"""Celery tasks: thin wrappers that pass ids in and ids out and call worker.jobs."""

from __future__ import annotations

import logging
from typing import Any

from worker.celery_app import FINETUNE_TASK, app, ensure_state_dir
from worker.jobs import run_job
from worker.jobstore import open_job_store
from worker.settings import get_job_settings

__all__ = ["finetune"]

log = logging.getLogger(__name__)


@app.task(name=FINETUNE_TASK, acks_late=True, reject_on_worker_lost=True)
def finetune(job_id: str) -> dict[str, Any] | None:
    """Fine-tune job ``job_id`` (its spec is in the job store); returns the candidate version and metrics."""
    settings = get_job_settings()
    ensure_state_dir(settings)
    return run_job(job_id, settings, open_job_store(settings))
