"""Submitting, reading and cancelling fine-tune jobs (the logic behind the /jobs routes).

The service validates a job completely before it reaches the broker: the method and its parameters
(with the worker's own, torch-free config classes), the base version, and the dataset path (which must
lie under the data dir). It then records the job as ``queued`` and sends only its id to the worker.
"""

from __future__ import annotations

import asyncio
import uuid

from celery import Celery

from service.errors import Conflict, InvalidRequest, NotFound
from service.schemas import FinetuneJobRequest
from service.settings import Settings
from training.methods.configs import make_method_config
from training.registry import ALIASES, RegistryStore, validate_version
from worker.celery_app import FINETUNE_TASK
from worker.jobstore import FINAL_STATES, JobRecord, JobStore

__all__ = ["cancel_job", "get_job", "submit_job"]


def _base_version(store: RegistryStore, base: str) -> str:
    if base in ALIASES:
        version = store.aliases().get(base)
        if version is None:
            raise NotFound(f"no model has the alias {base!r}")
        return version
    try:
        validate_version(base)
    except ValueError as err:
        raise InvalidRequest(str(err)) from err
    if not store.exists(base):
        raise NotFound(f"no model version {base!r}")
    return base


def _dataset_path(settings: Settings, path: str) -> None:
    root = settings.data_dir.resolve()
    full = (root / path).resolve()
    if not full.is_relative_to(root):
        raise InvalidRequest(f"dataset path {path[:80]!r} leaves the data directory")
    if not full.is_file():
        raise InvalidRequest(f"no dataset file {path[:80]!r} under the data directory")


async def submit_job(body: FinetuneJobRequest, settings: Settings, jobs: JobStore, celery: Celery) -> JobRecord:
    try:
        config = make_method_config(body.method, body.params)
    except ValueError as err:
        raise InvalidRequest(str(err)) from err
    base_version = _base_version(RegistryStore(settings.models_dir), body.base)
    if body.data.source == "dataset" and body.data.path is not None:
        _dataset_path(settings, body.data.path)
    record = JobRecord(
        id=uuid.uuid4().hex,
        method=body.method,
        params=body.params,
        base_version=base_version,
        data=body.data.model_dump(),
        run_canary=body.run_canary,
        progress={"epoch": 0, "epochs": config.epochs},
    )
    await asyncio.to_thread(jobs.create, record)
    await asyncio.to_thread(celery.send_task, FINETUNE_TASK, args=[record.id], task_id=record.id)
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
        raise Conflict(f"job {job_id!r} finished before it could be cancelled")
    return await get_job(job_id, jobs)
