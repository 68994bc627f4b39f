"""worker.jobs.run_job in process (what the Celery task calls): publishing, cancellation, timings, data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import training.finetune
from steadyrec.core.jobs import JobRecord, SQLiteJobStore
from steadyrec.core.registry import RegistryStore
from steadyrec.core.settings import SharedSettings
from worker.jobs import run_job, staging_dir

FAST = {"epochs": 1, "top_k": 5, "batch_size": 32}


def _settings(world: Path) -> SharedSettings:
    return SharedSettings(
        models_dir=world / "models",
        events_path=world / "events.jsonl",
        state_dir=world / "state",
        data_dir=world / "data",
        redis_url=None,
    )


def _job(world: Path, **fields) -> tuple[SharedSettings, SQLiteJobStore, JobRecord]:
    settings = _settings(world)
    store = SQLiteJobStore(world / "state" / "jobs.sqlite")
    record = JobRecord(id=f"job{time.monotonic_ns()}", method="finest", base_version="v1", **fields)
    store.create(record)
    return settings, store, record


def test_a_cancel_during_export_publishes_nothing(world, monkeypatch) -> None:
    settings, store, record = _job(world, params=FAST)
    real_export = training.finetune.export_onnx

    def export_while_cancelled(model, path, **options):
        assert store.transition(record.id, "cancelled", {"queued", "running"})  # DELETE /jobs/{id} now
        return real_export(model, path, **options)

    monkeypatch.setattr(training.finetune, "export_onnx", export_while_cancelled)
    assert run_job(record.id, settings, store) is None
    final = store.get(record.id)
    assert final is not None and final.state == "cancelled" and final.error == "cancelled by request"
    registry = RegistryStore(settings.models_dir)
    assert registry.versions() == ["v1"] and registry.aliases() == {"live": "v1"}
    assert not staging_dir(settings, f"cand-{record.id}").exists()


def test_register_timing_measures_the_registration(world, monkeypatch) -> None:
    settings, store, record = _job(world, params=FAST)
    real_adopt = RegistryStore.adopt

    def slow_adopt(self, built, version):
        time.sleep(0.3)
        return real_adopt(self, built, version)

    monkeypatch.setattr(RegistryStore, "adopt", slow_adopt)
    result = run_job(record.id, settings, store)
    assert result is not None
    final = store.get(record.id)
    assert final is not None and final.state == "succeeded"
    assert final.timings["register"] >= 0.3
    assert RegistryStore(settings.models_dir).aliases()["candidate"] == f"cand-{record.id}"


def _record_source(world: Path, source: str) -> None:
    """Make v1's manifest name another training file, as one trained on another machine does."""
    path = world / "models" / "versions" / "v1" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["data"]["source"] = source
    path.write_text(json.dumps(manifest))


def test_the_base_models_training_data_is_found_by_name_in_the_data_dir(world) -> None:
    _record_source(world, "/home/someone/datasets/base.tsv")  # a host path; data/base.tsv is in the data dir
    settings, store, record = _job(world, params=FAST)
    result = run_job(record.id, settings, store)
    assert result is not None, store.get(record.id)


def test_a_job_whose_data_is_gone_fails_naming_the_missing_file(world) -> None:
    _record_source(world, "/home/someone/datasets/missing.tsv")
    settings, store, record = _job(world, params=FAST)
    assert run_job(record.id, settings, store) is None
    final = store.get(record.id)
    assert final is not None and final.state == "failed" and "missing.tsv" in (final.error or "")


def test_a_job_resumed_while_publishing_finishes_its_candidate(world) -> None:
    settings, store, record = _job(world, params=FAST)
    assert store.transition(record.id, "publishing", {"queued"})  # an attempt died after building it
    assert run_job(record.id, settings, store) is not None
    final = store.get(record.id)
    assert final is not None and final.state == "succeeded" and final.attempts == 1
    assert RegistryStore(settings.models_dir).aliases()["candidate"] == f"cand-{record.id}"


def test_a_job_killed_at_the_hard_time_limit_is_recorded_as_failed(world, monkeypatch) -> None:
    from celery.exceptions import TimeLimitExceeded

    import worker.tasks

    settings, store, record = _job(world, params=FAST)
    assert store.transition(record.id, "running", {"queued"})
    monkeypatch.setattr(worker.tasks, "get_shared_settings", lambda: settings)
    # what Celery's main process calls after killing the pool process at the hard limit
    worker.tasks.finetune.on_failure(TimeLimitExceeded(63.0), record.id, (record.id,), {}, None)
    final = store.get(record.id)
    assert final is not None and final.state == "failed"
    assert final.error == "ran past its hard time limit (63.0 s); its process was ended"


def test_a_job_learns_the_new_items_of_its_fresh_events(world) -> None:
    from steadyrec.core.event_log import Event, open_event_log
    from steadyrec.core.manifest import read_items, read_manifest

    settings, store, record = _job(world, params=FAST, data={"min_item_interactions": 2})
    open_event_log(settings).append([Event(f"u{u}", "new-item", 1e9 + u) for u in range(3)])
    result = run_job(record.id, settings, store)
    assert result is not None and result["added_items"] == 1 and result["added_items_sample"] == ["new-item"]
    version = RegistryStore(settings.models_dir).path(f"cand-{record.id}")
    assert read_items(version, read_manifest(version))[-1] == "new-item"


PASSING = {"min_samples": 1, "min_mean_rbo": 0.0, "min_mean_jaccard": 0.0, "min_p10_rbo": 0.0, "ndcg_delta": 1.0}


def test_a_job_promotes_a_candidate_whose_canary_passes(world) -> None:
    watch = {"window_s": 600.0, "min_requests": 100}
    settings, store, record = _job(
        world,
        params=FAST,
        run_canary=True,
        promote_if_passed=True,
        canary_policy={**PASSING, "bootstrap": 0},
        watch=watch,
    )
    result = run_job(record.id, settings, store)
    assert result is not None and result["canary"]["passed"] is True
    assert result["promotion"]["watch"] == watch  # what the service's watch reads from the verdict
    assert result["promotion"]["promoted"] is True and result["promotion"]["previous"] == "v1"
    registry = RegistryStore(settings.models_dir)
    assert registry.aliases() == {"live": f"cand-{record.id}"}  # promoted, and no longer a candidate
    verdict = registry.verdict(f"cand-{record.id}")
    assert verdict is not None and verdict["promotion"]["reason"] == "the canary passed"
    assert registry.history()[-2]["reason"] == f"promoted by job {record.id}: its canary passed"


def test_a_job_never_promotes_a_candidate_whose_canary_fails(world) -> None:
    settings, store, record = _job(
        world, params=FAST, run_canary=True, promote_if_passed=True, canary_policy={"min_samples": 50_000}
    )
    result = run_job(record.id, settings, store)
    assert result is not None and result["canary"]["passed"] is False
    decision = result["promotion"]
    assert decision["promoted"] is False and decision["reason"].startswith("the canary failed: only ")
    registry = RegistryStore(settings.models_dir)
    assert registry.aliases() == {"live": "v1", "candidate": f"cand-{record.id}"}
    assert registry.verdict(f"cand-{record.id}")["promotion"]["promoted"] is False  # type: ignore[index]
