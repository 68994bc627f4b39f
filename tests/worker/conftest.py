"""Fixtures: a tiny trained model in an on-disk world per test (the Redis server is in tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from steadyrec.core.registry import RegistryStore
from training.data.synthetic import SyntheticConfig, synthetic_interactions, write_tsv
from training.pipeline import TrainRequest, run_training


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
