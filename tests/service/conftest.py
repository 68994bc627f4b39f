"""A real app over a real on-disk registry with two tiny exported SASRec versions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from service.main import create_app
from service.settings import Settings
from steadyrec.core.interactions import build_log
from steadyrec.core.registry import RegistryStore
from steadyrec.testing.builders import tiny_artifact
from training.data.synthetic import SyntheticConfig, synthetic_interactions, write_tsv

TOKEN = "test-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> dict[str, Path]:
    """Models dir with v1 (live) and v2 registered, and the seed log the event store reads."""
    root = tmp_path_factory.mktemp("world")
    rows = synthetic_interactions(SyntheticConfig(n_users=60, n_items=40, min_len=5, max_len=15))
    write_tsv(rows, root / "events.tsv")
    log = build_log(rows)
    store = RegistryStore(root / "models")
    for version, seed in (("v1", 1), ("v2", 2)):
        tiny_artifact(root / "build" / version, log, seed=seed, epochs=1)
        store.register(root / "build" / version, version)
    store.set_alias("live", "v1")
    return {"root": root, "models": root / "models", "events": root / "events.tsv", "build": root / "build"}


def settings_in(world: dict[str, Path], root: Path) -> Settings:
    """Settings over a private copy of the world's registry under ``root`` (tests may change aliases or
    corrupt files), with the embedded job store."""
    import shutil

    shutil.copytree(world["models"], root / "models")
    return Settings(
        models_dir=root / "models",
        token=TOKEN,
        admin_token=ADMIN_TOKEN,
        seed_log=world["events"],
        events_path=root / "events.jsonl",
        state_dir=root / "state",
        data_dir=root / "data",
        redis_url=None,
        max_k=50,
    )


@pytest.fixture
def settings(world, tmp_path) -> Settings:
    return settings_in(world, tmp_path)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (lifespan run) behind an httpx client."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def client(settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings) as c:
        yield c


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
