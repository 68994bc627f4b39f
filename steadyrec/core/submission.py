"""Making a fine-tune job: everything checked before it reaches the broker, then recorded and queued.

One path for every job, whoever asks: ``POST /jobs/finetune`` (the service) and a schedule's slot (the
scheduler in the worker). Checked: the method and its parameters (the torch-free configs), the canary
policy and a shadow gate's needs (mirrored traffic, a wait inside the time limit), the time limit, the
base version, and the data (a dataset under the data dir, or the base's recorded training data, found as
recorded or by name in the data dir). The job is recorded as ``queued`` and only its id goes to the
worker, with Celery's soft and hard time limits.
"""

from __future__ import annotations

import uuid
from typing import Literal

from celery import Celery

from steadyrec.core.canary import policy_from
from steadyrec.core.job_queue import send_finetune
from steadyrec.core.job_spec import FinetuneJobRequest
from steadyrec.core.jobs import JobRecord, JobStore
from steadyrec.core.manifest import ArtifactError, read_manifest
from steadyrec.core.methods import make_method_config
from steadyrec.core.registry import ALIASES, RegistryStore, validate_version
from steadyrec.core.settings import SharedSettings
from steadyrec.core.sources import dataset_path, resolve_recorded_source

__all__ = ["JobRefused", "prepare_job", "queue_job"]


class JobRefused(ValueError):
    """A job that cannot be made; ``kind`` says whose fault: a bad request, a missing model, a conflict."""

    def __init__(self, kind: Literal["invalid", "not_found", "conflict"], message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


def _base_version(store: RegistryStore, base: str) -> str:
    if base in ALIASES:
        version = store.aliases().get(base)
        if version is None:
            raise JobRefused("not_found", f"no model has the alias {base!r}")
        return version
    try:
        validate_version(base)
    except ValueError as err:
        raise JobRefused("invalid", str(err)) from err
    if not store.exists(base):
        raise JobRefused("not_found", f"no model version {base!r}")
    return base


def _check_data(settings: SharedSettings, store: RegistryStore, base_version: str, spec: FinetuneJobRequest) -> None:
    """The base must be fine-tunable and the job's data readable by the worker: a dataset under the data
    dir, or the base's own."""
    try:
        manifest = read_manifest(store.path(base_version))
        if manifest.model_kind == "ease":
            raise ValueError(f"{base_version!r} is an EASE model: fitted in closed form, not fine-tuned")
        if spec.data.source == "dataset" and spec.data.path is not None:
            dataset_path(settings.data_dir, spec.data.path)
        else:
            resolve_recorded_source(manifest.data.source, settings.data_dir)
    except ArtifactError as err:
        raise JobRefused("conflict", f"model version {base_version!r} failed verification: {err}") from err
    except (ValueError, FileNotFoundError) as err:
        raise JobRefused("invalid", str(err)) from err


def _time_limit(settings: SharedSettings, asked: float | None) -> float:
    if asked is None:
        return settings.job_time_limit_s
    if asked > settings.job_time_limit_s:
        raise JobRefused(
            "invalid", f"time_limit_s {asked:g} is above this server's limit of {settings.job_time_limit_s:g} seconds"
        )
    return asked


def _check_shadow(settings: SharedSettings, spec: FinetuneJobRequest, time_limit: float) -> None:
    if spec.canary_source != "shadow":
        return
    if settings.shadow_sample_rate <= 0:
        raise JobRefused(
            "invalid",
            "canary_source 'shadow' needs mirrored traffic, and this server mirrors none: set "
            "STEADYREC_SHADOW_SAMPLE_RATE above 0",
        )
    if spec.shadow.max_minutes * 60 >= time_limit:
        raise JobRefused(
            "invalid",
            f"shadow.max_minutes {spec.shadow.max_minutes:g} does not fit in the job's time limit of "
            f"{time_limit:g} s (the fine-tune runs first)",
        )


def prepare_job(
    spec: FinetuneJobRequest, settings: SharedSettings, *, job_id: str | None = None, schedule: str | None = None
) -> JobRecord:
    """The job's record, every part checked (blocking: reads the registry); JobRefused says what is wrong."""
    try:
        config = make_method_config(spec.method, spec.params)
        policy_from(spec.canary_policy)
    except ValueError as err:
        raise JobRefused("invalid", str(err)) from err
    time_limit = _time_limit(settings, spec.time_limit_s)
    _check_shadow(settings, spec, time_limit)
    store = RegistryStore(settings.models_dir)
    base_version = _base_version(store, spec.base)
    _check_data(settings, store, base_version, spec)
    return JobRecord(
        id=job_id or uuid.uuid4().hex,
        method=spec.method,
        params=spec.params,
        base_version=base_version,
        data=spec.data.model_dump(),
        run_canary=spec.run_canary,
        canary_policy=spec.canary_policy,
        canary_samples=spec.canary_samples,
        canary_source=spec.canary_source,
        shadow=spec.shadow.model_dump(),
        promote_if_passed=spec.promote_if_passed,
        watch=spec.watch.model_dump() if spec.watch is not None else None,
        time_limit_s=time_limit,
        schedule=schedule,
        progress={"epoch": 0, "epochs": config.epochs},
    )


def queue_job(record: JobRecord, jobs: JobStore, celery: Celery, settings: SharedSettings) -> None:
    """Record the job as queued, then send its id to the worker (blocking)."""
    jobs.create(record)
    send_finetune(celery, record.id, record.time_limit_s or settings.job_time_limit_s, settings.job_time_limit_grace_s)
