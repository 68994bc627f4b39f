"""A real redis-server, a real Celery worker process, and the real app, sharing one on-disk world."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from service.main import create_app
from service.settings import Settings
from training.data.synthetic import SyntheticConfig, synthetic_interactions, write_tsv
from training.pipeline import TrainRequest, run_training
from training.registry import RegistryStore

TOKEN = "worker-test-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server on 127.0.0.1 (scripts/test.sh installs the Debian package)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/test.sh installs it with apt-get)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


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


def worker_env(world: Path, redis: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "STEADYREC_REDIS_URL")}
    env.update(
        {
            "STEADYREC_MODELS_DIR": str(world / "models"),
            "STEADYREC_EVENTS_PATH": str(world / "events.jsonl"),
            "STEADYREC_STATE_DIR": str(world / "state"),
            "STEADYREC_DATA_DIR": str(world / "data"),
            "PYTHONPATH": str(ROOT),
        }
    )
    if redis is not None:
        env["REDIS_URL"] = redis
    return env


def start_worker(world: Path, redis: str | None) -> subprocess.Popen[bytes]:
    (world / "state").mkdir(exist_ok=True)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.celery_app",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        env=worker_env(world, redis),
        cwd=ROOT,
        stdout=open(world / "worker.log", "wb"),
        stderr=subprocess.STDOUT,
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def settings_for(world: Path, redis: str | None) -> Settings:
    return Settings(
        models_dir=world / "models",
        token=TOKEN,
        events_path=world / "events.jsonl",
        state_dir=world / "state",
        data_dir=world / "data",
        redis_url=redis,
        seed_log=world / "data" / "base.tsv",
    )


async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
