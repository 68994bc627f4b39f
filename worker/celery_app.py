"""The worker process's Celery app (``celery -A worker.celery_app worker``, or ``steadyrec worker``):
the client's configuration read from the shared settings; its tasks are in ``worker.tasks``."""

from __future__ import annotations

from steadyrec.core.job_queue import make_celery
from steadyrec.core.settings import get_shared_settings

__all__ = ["app"]

app = make_celery(get_shared_settings())
