"""The Celery app. Importing it opens no connection and loads no torch: the service imports it to
submit jobs by task name; the worker process (``celery -A worker.celery_app worker``) also imports
``worker.tasks``, where the tasks and torch live.

Broker and result backend: Redis when ``REDIS_URL`` is set; otherwise kombu's SQLAlchemy transport and
Celery's database backend on SQLite files under ``STEADYREC_STATE_DIR`` (a real transport, no server).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from worker.settings import JobSettings, get_job_settings

__all__ = ["FINETUNE_TASK", "app", "celery_config", "ensure_state_dir", "make_celery"]

FINETUNE_TASK = "steadyrec.finetune"


def celery_config(settings: JobSettings) -> dict[str, Any]:
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
    }


def ensure_state_dir(settings: JobSettings) -> None:
    """The embedded SQLite files need their folder before the first connection."""
    if not settings.redis_url:
        settings.state_dir.mkdir(parents=True, exist_ok=True)


def make_celery(settings: JobSettings) -> Celery:
    celery = Celery("steadyrec")
    celery.conf.update(celery_config(settings))
    return celery


app = make_celery(get_job_settings())
