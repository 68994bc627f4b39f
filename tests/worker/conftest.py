"""Fixtures: a real redis-server, and a tiny trained model in an on-disk world per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from steadyrec.core.registry import RegistryStore
from steadyrec.testing.harness import running_redis
from training.data.synthetic import SyntheticConfig, synthetic_interactions, write_tsv
from training.pipeline import TrainRequest, run_training


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server on 127.0.0.1 (scripts/test.sh installs the Debian package)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/test.sh installs it with apt-get)")
    with running_redis() as url:
        yield url


@pytest.fixture(scope="session")
def base_world(tmp_path_factory) -> Path:
    """data/base.tsv and a tiny SASRec trained on it, exported: copied into every test's world."""
    root = tmp_path_factory.mktemp("base")
    write_tsv(
        synthetic_interactions(SyntheticConfig(n_users=150, n_items=60, min_len=8, max_len=25)),
        root / "data" / "base.tsv",
    )
    run_training(
        TrainRequest(
            data=str(root / "data" / "base.tsv"), epochs=1, model_config={"hidden": 16, "max_len": 20}, export=True
        ),
        root / "build" / "v1",
    )
    store = RegistryStore(root / "models")
    store.register(root / "build" / "v1", "v1")
    store.set_alias("live", "v1")
    return root


@pytest.fixture
def world(base_world, tmp_path) -> Path:
    for name in ("data", "models"):
        shutil.copytree(base_world / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
