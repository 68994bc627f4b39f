"""Running one fine-tune job: plain functions, called by the Celery task (worker.tasks) and testable alone.

A job is idempotent by its id: its candidate version is ``cand-<job id>``, a finished job is never run
again, and an attempt that finds its version already written records it instead of training again.
The artifact is written straight into the registry through a temporary directory and a rename, so a
killed job never leaves a visible half-written model; the live alias is never touched.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any

from training.data.event_log import EventLog
from training.data.log import RawInteraction
from training.finetune import FinetuneRequest, run_finetune
from training.methods.configs import make_method_config
from training.methods.finest import FinestEpoch
from training.registry import RegistryStore
from worker.jobstore import FINAL_STATES, JobStore
from worker.settings import JobSettings

__all__ = ["JobCancelled", "candidate_version", "fresh_events", "run_job"]

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised from the progress callback when the job was cancelled through the API."""


def candidate_version(job_id: str) -> str:
    return f"cand-{job_id}"


def fresh_events(settings: JobSettings, data: dict[str, Any]) -> list[RawInteraction]:
    """Events of the service's durable log within the job's time window (all of them by default)."""
    if not data.get("include_events", True):
        return []
    events = EventLog(settings.events_path).read(data.get("events_since"), data.get("events_until"))
    return [(e.user, e.item, e.timestamp) for e in events]


def _dataset(settings: JobSettings, data: dict[str, Any]) -> str | None:
    if data.get("source", "base") != "dataset":
        return None
    return str((settings.data_dir / data["path"]).resolve())


def run_job(job_id: str, settings: JobSettings, store: JobStore) -> dict[str, Any] | None:
    """Run (or resume, or skip) job ``job_id``; returns its result, or None when it did not succeed."""
    record = store.get(job_id)
    if record is None:
        log.error("job %s is unknown to the job store; nothing to do", job_id)
        return None
    if record.state in FINAL_STATES:
        log.info("job %s is already %s", job_id, record.state)
        return record.result
    attempt = record.attempts + 1
    if attempt > settings.max_attempts:
        store.patch(
            job_id, error=f"the worker was lost during each of {record.attempts} attempts", finished_at=time.time()
        )
        store.transition(job_id, "failed", {"queued", "running"})
        return None
    if not store.transition(job_id, "running", {"queued", "running"}):
        return None  # cancelled before it started
    now = time.time()
    store.patch(job_id, attempts=attempt, started_at=now, heartbeat_at=now, worker_pid=os.getpid(), error=None)
    registry = RegistryStore(settings.models_dir)
    version = candidate_version(job_id)
    try:
        if registry.exists(version):  # an earlier attempt wrote it and died before recording it
            manifest = registry.manifest(version)
            result: dict[str, Any] = {"candidate_version": version, "metrics": manifest.metrics, "recovered": True}
            timings: dict[str, float] = {}
        else:
            result, timings = _fine_tune(
                job_id,
                record.method,
                record.params,
                record.base_version,
                record.data,
                settings,
                store,
                registry,
                version,
            )
        registry.set_alias("candidate", version, reason=f"fine-tune job {job_id}")
        t = time.perf_counter()
        result["canary"] = "not run: the stability canary gate is not available yet" if record.run_canary else None
        timings["register"] = round(time.perf_counter() - t, 3)
        store.patch(job_id, result=result, timings=timings, finished_at=time.time())
        store.transition(job_id, "succeeded", {"running"})
        return result
    except JobCancelled:
        store.patch(job_id, error="cancelled by request", finished_at=time.time())
        return None
    except Exception as err:
        log.error("job %s failed: %s", job_id, traceback.format_exc())
        store.patch(job_id, error=f"{type(err).__name__}: {err}", finished_at=time.time())
        store.transition(job_id, "failed", {"running"})
        return None


def _fine_tune(
    job_id: str,
    method: str,
    params: dict[str, Any],
    base_version: str,
    data: dict[str, Any],
    settings: JobSettings,
    store: JobStore,
    registry: RegistryStore,
    version: str,
) -> tuple[dict[str, Any], dict[str, float]]:
    epochs = make_method_config(method, params).epochs
    t0 = time.perf_counter()
    events = fresh_events(settings, data)
    read_events_s = time.perf_counter() - t0
    request = FinetuneRequest(
        base=registry.path(base_version),
        method=method,
        params=params,
        data=_dataset(settings, data),
        fmt=data.get("format"),
        events=events,
        parent=base_version,
    )

    def on_epoch(report: FinestEpoch) -> None:
        if store.state(job_id) == "cancelled":
            raise JobCancelled(job_id)
        store.patch(
            job_id,
            heartbeat_at=time.time(),
            progress={
                "epoch": report.epoch,
                "epochs": epochs,
                "next_item_loss": report.next_item_loss,
                "regulariser": report.regulariser,
                "perturbed": report.perturbed,
                "seconds": report.seconds,
            },
        )

    outcome = run_finetune(request, Path(registry.path(version)), on_epoch=on_epoch)
    stages = {"read_events": round(read_events_s, 3), **outcome.stages}
    result = {
        "candidate_version": version,
        "metrics": outcome.manifest.metrics,
        "metrics_protocol": outcome.manifest.metrics_protocol,
        "fresh_events": len(events),
        "dropped_unknown_interactions": outcome.dropped_interactions,
    }
    return result, stages
