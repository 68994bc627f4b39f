"""The service a latency study loads: one artifact live in its own registry, state under a work folder."""

from __future__ import annotations

from pathlib import Path

from service.settings import Settings


def live_settings(artifact: Path, work: Path, name: str, seed_log: Path) -> Settings:
    """Register ``artifact`` as ``live`` in ``work/models-<name>`` (once: later rounds reuse it) and return
    the settings of a service over it, its events and state under ``work`` too, with no Redis."""
    from steadyrec.core.registry import RegistryStore

    models = work / f"models-{name}"
    store = RegistryStore(models)
    if not store.exists("bench"):
        store.register(artifact, "bench")
        store.set_alias("live", "bench")
    return Settings(
        models_dir=models,
        token="b" * 32,
        seed_log=seed_log,
        events_path=work / f"events-{name}.jsonl",
        state_dir=work / f"state-{name}",
        data_dir=work,
        redis_url=None,
    )
