"""The job queue's client: the Celery configuration and the fine-tune task's name, which the service
submits jobs with and the worker's app (``worker.celery_app``) is built from. Importing it opens no
connection and loads no torch; the tasks live in ``worker.tasks``.

Broker and result backend: Redis when ``REDIS_URL`` is set; otherwise kombu's SQLAlchemy transport and
Celery's database backend on SQLite files under ``STEADYREC_STATE_DIR`` (a real transport, no server).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from steadyrec.core.settings import SharedSettings

__all__ = ["FINETUNE_TASK", "SCHEDULES_TASK", "celery_config", "ensure_state_dir", "make_celery", "send_finetune"]

FINETUNE_TASK = "steadyrec.finetune"
SCHEDULES_TASK = "steadyrec.schedules.tick"


def celery_config(settings: SharedSettings) -> dict[str, Any]:
    if settings.redis_url:
        broker = backend = settings.redis_url
    else:
        state = settings.state_dir.resolve()
        broker, backend = f"sqla+sqlite:///{state}/broker.sqlite", f"db+sqlite:///{state}/results.sqlite"
    return {
        "broker_url": broker,
        "result_backend": backend,
        "task_acks_late": True,  # a job is acknowledged when it ends, so a killed worker's job comes back
        "task_reject_on_worker_lost": True,  # ... at once, when the pool process dies mid-job
        "worker_prefetch_multiplier": 1,  # one long job at a time per process
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],  # ids and paths in, ids out: never pickles
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "include": ["worker.tasks"],
        # the scheduler's tick, when a beat runs (steadyrec worker --beat, or celery beat)
        "beat_schedule": {"steadyrec-schedules": {"task": SCHEDULES_TASK, "schedule": settings.schedule_tick_s}},
        "beat_schedule_filename": str(settings.state_dir.resolve() / "celerybeat-schedule"),
    }


def ensure_state_dir(settings: SharedSettings) -> None:
    """The embedded SQLite files need their folder before the first connection."""
    if not settings.redis_url:
        settings.state_dir.mkdir(parents=True, exist_ok=True)


def make_celery(settings: SharedSettings) -> Celery:
    celery = Celery("steadyrec")
    celery.conf.update(celery_config(settings))
    return celery


def send_finetune(celery: Celery, job_id: str, time_limit_s: float, grace_s: float) -> None:
    """Queue job ``job_id`` (recorded in the job store first) with Celery's soft and hard time limits."""
    celery.send_task(
        FINETUNE_TASK, args=[job_id], task_id=job_id, soft_time_limit=time_limit_s, time_limit=time_limit_s + grace_s
    )
