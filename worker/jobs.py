"""Running one fine-tune job: plain functions, called by the Celery task (worker.tasks) and testable alone.

A job is idempotent by its id: its candidate version is ``cand-<job id>``, a finished job is never run
again, and an attempt that finds its version already registered records it instead of training again.

The candidate is built in a staging folder beside the registry (``<models>/.staging/``), invisible to the
service. Only then does the job move from ``running`` to ``publishing``, a conditional change that fails
when the job was cancelled meanwhile (during the last epoch, the evaluation or the export): a cancelled
job discards its staging folder and leaves no version and no alias. From ``publishing`` on, a cancel is
refused: the candidate is verified, renamed into the registry and set as ``candidate``; with
``run_canary`` the gate of ``POST /models/{version}/canary`` judges it against the model live at that
moment, on a replay of the job's recent users or on live requests the service mirrors to the candidate
(``canary_source: shadow``: the job waits for them), and the verdict is stored with the version. The
live alias changes only with ``promote_if_passed``, when that verdict passed against the model still live.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from steadyrec.core.canary import CanaryPolicy, canary_verdict
from steadyrec.core.event_log import open_event_log
from steadyrec.core.history import History
from steadyrec.core.interactions import RawInteraction
from steadyrec.core.job_spec import ShadowGate
from steadyrec.core.jobs import FINAL_STATES, JobRecord, JobStore
from steadyrec.core.manifest import utc_now
from steadyrec.core.methods import make_method_config
from steadyrec.core.onnx_model import load_version
from steadyrec.core.registry import RegistryStore
from steadyrec.core.replay import histories_by_recency, most_recent
from steadyrec.core.settings import SharedSettings
from steadyrec.core.shadow_pairs import PairLog
from steadyrec.core.sources import dataset_path, resolve_recorded_source
from training.datasets import raw_interactions
from training.finetune import FinetuneRequest, run_finetune
from training.methods.finest import FinestEpoch

__all__ = ["JobCancelled", "candidate_version", "fresh_events", "run_job", "staging_dir"]

log = logging.getLogger(__name__)

STAGING = ".staging"
SHADOW_POLL_S = 1.0  # how often a shadow gate counts the mirrored requests


class JobCancelled(Exception):
    """Raised from the progress callback when the job was cancelled through the API."""


def candidate_version(job_id: str) -> str:
    return f"cand-{job_id}"


def staging_dir(settings: SharedSettings, version: str) -> Path:
    """Where a job builds its candidate: beside the registry's versions, on the same file system."""
    return Path(settings.models_dir) / STAGING / version


def fresh_events(settings: SharedSettings, data: dict[str, Any]) -> list[RawInteraction]:
    """Events of the service's durable log within the job's time window (all of them by default)."""
    if not data.get("include_events", True):
        return []
    events = open_event_log(settings)
    try:
        return [(e.user, e.item, e.timestamp) for e in events.read(data.get("events_since"), data.get("events_until"))]
    finally:
        events.close()


def _data_source(settings: SharedSettings, data: dict[str, Any], registry: RegistryStore, base: str) -> str:
    """The file the job trains on: its dataset under the data dir, or the base's own training data."""
    if data.get("source", "base") == "dataset":
        return str(dataset_path(settings.data_dir, data["path"]))
    return resolve_recorded_source(registry.manifest(base).data.source, settings.data_dir)


def run_job(job_id: str, settings: SharedSettings, store: JobStore) -> dict[str, Any] | None:
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
        store.transition(job_id, "failed", {"queued", "running", "publishing"})
        return None
    resuming = record.state == "publishing"  # an earlier attempt died while publishing: finish it
    if not resuming and not store.transition(job_id, "running", {"queued", "running"}):
        return None  # cancelled before it started
    now = time.time()
    store.patch(job_id, attempts=attempt, started_at=now, heartbeat_at=now, worker_pid=os.getpid(), error=None)
    registry = RegistryStore(settings.models_dir, settings.redis_url)
    version = candidate_version(job_id)
    staging = staging_dir(settings, version)
    try:
        timings: dict[str, float] = {}
        if registry.exists(version):  # an earlier attempt published it and died before recording it
            result: dict[str, Any] = {
                "candidate_version": version,
                "metrics": registry.manifest(version).metrics,
                "recovered": True,
            }
            store.transition(job_id, "publishing", {"running", "publishing"})
        else:
            shutil.rmtree(staging, ignore_errors=True)  # a killed attempt's leftovers
            result, timings = _fine_tune(job_id, record, settings, store, registry, staging)
            # a resumed job is already publishing, and a publishing job cannot have been cancelled
            if not store.transition(job_id, "publishing", {"running", "publishing"} if resuming else {"running"}):
                shutil.rmtree(staging, ignore_errors=True)
                raise JobCancelled(job_id)
            t = time.perf_counter()
            registry.adopt(staging, version)
            timings["register"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        registry.set_alias("candidate", version, reason=f"fine-tune job {job_id}")
        timings["set_alias"] = round(time.perf_counter() - t, 3)
        if record.run_canary:
            t = time.perf_counter()
            result["canary"] = _canary(job_id, record, settings, store, registry, version)
            timings["canary"] = round(time.perf_counter() - t, 3)
            if record.promote_if_passed:
                result["promotion"] = _promote(job_id, registry, version, result["canary"], record.watch)
        store.patch(job_id, result=result, timings=timings, finished_at=time.time())
        store.transition(job_id, "succeeded", {"publishing"})
        return result
    except JobCancelled:
        shutil.rmtree(staging, ignore_errors=True)
        store.patch(job_id, error="cancelled by request", finished_at=time.time())
        return None
    except SoftTimeLimitExceeded:
        shutil.rmtree(staging, ignore_errors=True)
        limit = record.time_limit_s or settings.job_time_limit_s
        store.patch(job_id, error=f"ran past its time limit of {limit:g} s and was stopped", finished_at=time.time())
        store.transition(job_id, "failed", {"running", "publishing"})
        return None
    except Exception as err:
        shutil.rmtree(staging, ignore_errors=True)
        log.error("job %s failed: %s", job_id, traceback.format_exc())
        store.patch(job_id, error=f"{type(err).__name__}: {err}", finished_at=time.time())
        store.transition(job_id, "failed", {"running", "publishing"})
        return None


def _fine_tune(
    job_id: str,
    record: JobRecord,
    settings: SharedSettings,
    store: JobStore,
    registry: RegistryStore,
    out: Path,
) -> tuple[dict[str, Any], dict[str, float]]:
    epochs = make_method_config(record.method, record.params).epochs
    t0 = time.perf_counter()
    events = fresh_events(settings, record.data)
    read_events_s = time.perf_counter() - t0
    request = FinetuneRequest(
        base=registry.path(record.base_version),
        method=record.method,
        params=record.params,
        data=_data_source(settings, record.data, registry, record.base_version),
        fmt=record.data.get("format"),
        events=events,
        parent=record.base_version,
        min_item_interactions=record.data.get("min_item_interactions"),
        holdout=record.data.get("holdout", "split"),
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

    outcome = run_finetune(request, out, on_epoch=on_epoch)
    stages = {"read_events": round(read_events_s, 3), **outcome.stages}
    result = {
        "candidate_version": candidate_version(job_id),
        "metrics": outcome.manifest.metrics,
        "metrics_protocol": outcome.manifest.metrics_protocol,
        "fresh_events": len(events),
        "dropped_unknown_interactions": outcome.dropped_interactions,
        "added_items": len(outcome.added_items),
        "added_items_sample": list(outcome.added_items[:100]),
    }
    return result, stages


def _canary(
    job_id: str, record: JobRecord, settings: SharedSettings, store: JobStore, registry: RegistryStore, version: str
) -> dict[str, Any]:
    """The gate against the model live now, on the job's ``canary_source``: the most recent users of its data
    and fresh events, or live requests mirrored to the candidate. The verdict is stored with the version
    (unless the policy says dry_run) and summarised."""
    policy = CanaryPolicy.model_validate(record.canary_policy)
    live_version = registry.aliases().get("live")
    if live_version is None:
        return {"passed": False, "failures": ["there is no live model to compare the candidate with"]}
    live = load_version(live_version, registry.path(live_version))
    candidate = load_version(version, registry.path(version))
    floor = None
    if policy.noise_floor_version is not None:
        floor = load_version(policy.noise_floor_version, registry.path(policy.noise_floor_version))
    if record.canary_source == "shadow":
        histories, source = _mirrored(job_id, record, settings, store, registry, version, live_version)
    else:
        data = _data_source(settings, record.data, registry, record.base_version)
        rows, _ = raw_interactions(data, record.data.get("format"))
        recent = histories_by_recency([*rows, *fresh_events(settings, record.data)])
        histories = [history for _, history in most_recent(recent, record.canary_samples)]
        source = {"kind": "replay", "users": len(histories)}
    verdict = canary_verdict(live, candidate, histories, policy, floor, source=source)
    if source.get("live_changed"):
        verdict = {**verdict, "passed": False, "failures": [*verdict["failures"], source["live_changed"]]}
    if not policy.dry_run:
        registry.write_verdict(version, verdict)
    overall = verdict["figures"]["groups"]["all"]
    accuracy = verdict["figures"].get("accuracy", {})
    return {
        "passed": verdict["passed"],
        "failures": verdict["failures"],
        "live": live_version,
        "source": source,
        "samples": verdict["samples"],
        "mean_rbo": overall["rbo"]["mean"],
        "mean_jaccard": overall["jaccard"]["mean"],
        "p10_rbo": overall["rbo"]["p10"],
        "ndcg@10_live": accuracy.get("ndcg@10_live"),
        "ndcg@10_candidate": accuracy.get("ndcg@10_candidate"),
        "stored": not policy.dry_run,
    }


def _mirrored(
    job_id: str,
    record: JobRecord,
    settings: SharedSettings,
    store: JobStore,
    registry: RegistryStore,
    version: str,
    live_version: str,
) -> tuple[list[History], dict[str, Any]]:
    """The histories of live requests the service mirrored to ``version`` while ``live_version`` served
    them: waits until ``shadow.requests`` were mirrored or ``shadow.max_minutes`` passed (or live changed),
    reporting the count as the job's progress."""
    gate = ShadowGate.model_validate(record.shadow)
    pairs = PairLog(settings.redis_url, settings.state_dir)
    started = time.time()
    deadline = started + gate.max_minutes * 60
    changed = None
    while True:
        found = [p for p in pairs.read(version) if p.get("live") == live_version]
        now = time.time()
        store.patch(
            job_id,
            heartbeat_at=now,
            progress={"stage": "shadow", "mirrored": len(found), "needed": gate.requests, "until": deadline},
        )
        if len(found) >= gate.requests or now >= deadline:
            break
        current = registry.aliases().get("live")
        if current != live_version:
            changed = f"live changed from {live_version!r} to {current!r} during the shadow gate"
            break
        time.sleep(min(SHADOW_POLL_S, max(deadline - now, 0.0)))
    histories = [History(list(p["history"]), p.get("times")) for p in found[: gate.requests]]
    source: dict[str, Any] = {
        "kind": "shadow",
        "mirrored": len(histories),
        "needed": gate.requests,
        "waited_s": round(time.time() - started, 1),
    }
    if changed:
        source["live_changed"] = changed
    elif len(found) < gate.requests:
        source["note"] = f"{len(found)} of {gate.requests} requests mirrored in {gate.max_minutes:g} minutes"
    return histories, source


def _promote(
    job_id: str, registry: RegistryStore, version: str, canary: dict[str, Any], watch: dict[str, Any] | None
) -> dict[str, Any]:
    """Make ``version`` live when its canary passed against the model that is still live; the decision and
    its reasons go into the job's result and the version's stored verdict, with the ``watch`` policy the
    service then applies (service.watch)."""
    live = registry.aliases().get("live")
    if not canary["passed"]:
        decision = {"promoted": False, "reason": "the canary failed: " + "; ".join(canary["failures"])}
    elif live != canary["live"]:
        decision = {"promoted": False, "reason": f"live changed from {canary['live']!r} to {live!r} during the canary"}
    else:
        registry.set_alias("live", version, reason=f"promoted by job {job_id}: its canary passed")
        registry.set_alias("candidate", None, reason=f"promoted to live by job {job_id}")
        decision = {"promoted": True, "reason": "the canary passed", "previous": live, "watch": watch}
    decision["at"] = utc_now()
    verdict = registry.verdict(version)
    if verdict is not None:  # written before the alias changes, so a watching service finds the policy
        registry.write_verdict(version, {**verdict, "promotion": decision})
    log.info(
        "job %s: %s %s (%s)",
        job_id,
        "promoted" if decision["promoted"] else "did not promote",
        version,
        decision["reason"],
    )
    return decision
