"""Submitting, reading and cancelling fine-tune jobs (the logic behind the /jobs routes).

The service validates a job completely before it reaches the broker: the method and its parameters
(with the worker's own, torch-free config classes), the canary policy, the time limit, the base version,
and the data (a dataset under the data dir, or the base's recorded training data, found as recorded or
by name in the data dir). It then records the job as ``queued`` and sends only its id to the worker,
with Celery's soft and hard time limits.
"""

from __future__ import annotations

import asyncio
import uuid

from celery import Celery

from service.errors import Conflict, InvalidRequest, NotFound
from service.schemas import FinetuneJobRequest
from service.settings import Settings
from service.shadow import policy_from
from steadyrec.core.job_queue import send_finetune
from steadyrec.core.jobs import FINAL_STATES, JobRecord, JobStore
from steadyrec.core.manifest import ArtifactError, read_manifest
from steadyrec.core.methods import make_method_config
from steadyrec.core.registry import ALIASES, RegistryStore, validate_version
from steadyrec.core.sources import dataset_path, resolve_recorded_source

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


def _check_data(settings: Settings, store: RegistryStore, base_version: str, body: FinetuneJobRequest) -> None:
    """The job's data must be readable by the worker: a dataset under the data dir, or the base's own."""
    try:
        if body.data.source == "dataset" and body.data.path is not None:
            dataset_path(settings.data_dir, body.data.path)
        else:
            resolve_recorded_source(read_manifest(store.path(base_version)).data.source, settings.data_dir)
    except (ValueError, FileNotFoundError) as err:
        raise InvalidRequest(str(err)) from err
    except ArtifactError as err:
        raise Conflict(f"model version {base_version!r} failed verification: {err}") from err


def _time_limit(settings: Settings, asked: float | None) -> float:
    if asked is None:
        return settings.job_time_limit_s
    if asked > settings.job_time_limit_s:
        raise InvalidRequest(
            f"time_limit_s {asked:g} is above this server's limit of {settings.job_time_limit_s:g} seconds"
        )
    return asked


async def submit_job(body: FinetuneJobRequest, settings: Settings, jobs: JobStore, celery: Celery) -> JobRecord:
    try:
        config = make_method_config(body.method, body.params)
    except ValueError as err:
        raise InvalidRequest(str(err)) from err
    policy_from(body.canary_policy)  # refused here, not after the training
    time_limit = _time_limit(settings, body.time_limit_s)
    store = RegistryStore(settings.models_dir)
    base_version = _base_version(store, body.base)
    await asyncio.to_thread(_check_data, settings, store, base_version, body)
    record = JobRecord(
        id=uuid.uuid4().hex,
        method=body.method,
        params=body.params,
        base_version=base_version,
        data=body.data.model_dump(),
        run_canary=body.run_canary,
        canary_policy=body.canary_policy,
        canary_samples=body.canary_samples,
        promote_if_passed=body.promote_if_passed,
        watch=body.watch.model_dump() if body.watch is not None else None,
        time_limit_s=time_limit,
        progress={"epoch": 0, "epochs": config.epochs},
    )
    await asyncio.to_thread(jobs.create, record)
    await asyncio.to_thread(send_finetune, celery, record.id, time_limit, settings.job_time_limit_grace_s)
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
