"""Starting the real parts for tests and benchmarks: redis-server, a Celery worker process, the app."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.main import create_app
from service.settings import Settings

TOKEN = "worker-test-token-0123456789"
# a test or benchmark names its own servers; the caller's environment must not point it at others
_SERVER_VARIABLES = ("REDIS_URL", "STEADYREC_REDIS_URL", "DATABASE_URL", "STEADYREC_DATABASE_URL")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_port() -> int:
    """A free port below the kernel's ephemeral range, for a server a test stops and starts again: while it
    is down, clients retrying a port inside that range can be given it as their own source port and
    connect to themselves (TCP simultaneous open), then wait forever for an answer."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for port in random.sample(range(max(1024, low - 12000), low), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


class RedisServer:
    """A private redis-server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (scripts/test.sh installs it with apt-get)")
        self.binary, self.port, self.appendonly = binary, server_port(), appendonly
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        aof = ["--appendonly", "yes", "--dir", tempfile.mkdtemp()] if self.appendonly else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *aof],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def running_redis() -> Iterator[str]:
    """A private redis-server on 127.0.0.1 and a free port; yields its URL."""
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: ``pg_config --bindir``, else Debian's newest /usr/lib/postgresql/N/bin."""
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (found / "initdb").exists():
            return found
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return debian[-1].parent if debian else None


class PostgresServer:
    """A private PostgreSQL cluster on 127.0.0.1 and a free port, in a temporary folder (initdb, pg_ctl from
    ``pg_config --bindir``; run as the ``postgres`` user when we are root, as PostgreSQL refuses root)."""

    def __init__(self) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL is not installed (scripts/test.sh installs it with apt-get)")
        self.bindir: Path = bindir
        self.port = server_port()
        self.root = Path(tempfile.mkdtemp(prefix="steadyrec-pg-"))
        self.data = self.root / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            [*self.as_postgres, str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._ctl("-o", options, "-l", str(self.root / "log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[str]:
    """A private PostgreSQL server on 127.0.0.1 and a free port; yields its URL."""
    server = PostgresServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        server.remove()


def worker_env(world: Path, redis: str | None, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_VARIABLES}
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
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def start_worker(
    world: Path,
    redis: str | None,
    beat_every_s: float | None = None,
    database_url: str | None = None,
    name: str = "test",
) -> subprocess.Popen[bytes]:
    """A real Celery worker over ``world``, logging to ``world/<name>.log`` (``worker.log`` for the default
    name); with ``beat_every_s``, running the scheduler's beat too."""
    (world / "state").mkdir(exist_ok=True)
    env = worker_env(world, redis, database_url)
    beat = []
    if beat_every_s is not None:
        env["STEADYREC_SCHEDULE_TICK_S"] = str(beat_every_s)
        beat = ["--beat"]
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
            f"{name}-{os.getpid()}@%h",
            *beat,
        ],
        env=env,
        cwd=ROOT,
        stdout=open(world / ("worker.log" if name == "test" else f"{name}.log"), "wb"),
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


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """The real app under uvicorn on 127.0.0.1 in a background thread; yields its base URL."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class ServiceProcess:
    """``steadyrec serve`` as its own process on one port, which can be killed and started again there."""

    def __init__(self, settings: Settings, extra_env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = server_port() if port is None else port
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in _SERVER_VARIABLES}
        env.update(
            {
                "STEADYREC_MODELS_DIR": str(settings.models_dir),
                "STEADYREC_EVENTS_PATH": str(settings.events_path),
                "STEADYREC_STATE_DIR": str(settings.state_dir),
                "STEADYREC_DATA_DIR": str(settings.data_dir),
                "STEADYREC_TOKEN": TOKEN,
                "PYTHONPATH": str(ROOT),
            }
        )
        if settings.seed_log is not None:
            env["STEADYREC_SEED_LOG"] = str(settings.seed_log)
        if settings.admin_token is not None:
            env["STEADYREC_ADMIN_TOKEN"] = settings.admin_token.get_secret_value()
        if settings.redis_url:
            env["REDIS_URL"] = settings.redis_url
        if settings.database_url:
            env["DATABASE_URL"] = settings.database_url
        env.update(extra_env or {})
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Starts the process and returns once ``/healthz`` answers."""
        import urllib.request

        command = [sys.executable, "-m", "steadyrec.cli", "serve", "--port", str(self.port), "--log-level", "warning"]
        self.process = subprocess.Popen(command, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1)
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the service exited at start-up") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the service on {self.url} did not answer /healthz") from None
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextmanager
def server_process(settings: Settings, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """``steadyrec serve`` as its own process (so a load generator does not share its GIL); yields the URL."""
    service = ServiceProcess(settings, extra_env)
    try:
        service.start()
        yield service.url
    finally:
        service.stop()
