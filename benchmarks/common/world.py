"""A small serving world for the HTTP benchmarks: a synthetic log, two exported SASRec versions
(v1 live, v2 registered) and the service settings that point at them. Built in seconds."""

from __future__ import annotations

from pathlib import Path

from service.settings import Settings
from steadyrec.core.interactions import build_log
from steadyrec.core.registry import RegistryStore
from steadyrec.testing.builders import tiny_artifact
from steadyrec.testing.harness import TOKEN
from training.data.synthetic import SyntheticConfig, synthetic_interactions, write_tsv

ADMIN = "admin-token-benchmarks-0123"


def build_world(root: Path, users: int = 600, items: int = 300) -> Settings:
    rows = synthetic_interactions(SyntheticConfig(n_users=users, n_items=items))
    write_tsv(rows, root / "data" / "events.tsv")
    log = build_log(rows)
    store = RegistryStore(root / "models")
    for version, seed in (("v1", 1), ("v2", 2)):
        tiny_artifact(
            root / "build" / version, log, seed=seed, epochs=2, config={"hidden": 32, "blocks": 1, "max_len": 50}
        )
        store.register(root / "build" / version, version)
    store.set_alias("live", "v1")
    return Settings(
        models_dir=root / "models",
        token=TOKEN,
        admin_token=ADMIN,
        seed_log=root / "data" / "events.tsv",
        events_path=root / "events.jsonl",
        state_dir=root / "state",
        data_dir=root / "data",
        redis_url=None,
    )
