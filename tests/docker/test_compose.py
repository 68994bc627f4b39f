"""docker/: the compose files and Dockerfiles say what the deployment needs (parsed when no Docker engine)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def compose(name: str) -> dict:
    return yaml.safe_load((DOCKER / name).read_text())


def compose_walk_through() -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    start = text.index("## Deployment with docker compose")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_compose_has_redis_postgres_api_worker_and_shared_volumes() -> None:
    spec = compose("docker-compose.yml")
    services = spec["services"]
    assert set(services) == {"redis", "postgres", "proxy", "api", "worker"}
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"]) and "healthcheck" in redis
    postgres = services["postgres"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${STEADYREC_DB_PASSWORD:?")
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL"] == "postgresql://steadyrec:${STEADYREC_DB_PASSWORD}@postgres:5432/steadyrec"
        for dependency in ("redis", "postgres"):
            assert services[name]["depends_on"][dependency]["condition"] == "service_healthy"
        for volume in ("models", "events", "datasets", "state"):
            assert f"{volume}:/data/{volume}" in services[name]["volumes"]
        assert "network_mode" not in services[name]  # the user-facing file never needs host networking
    assert set(spec["volumes"]) >= {"redis-data", "postgres-data", "models", "events", "datasets", "state"}


def test_api_replicas_publish_no_port_and_the_proxy_is_the_one_entry_point() -> None:
    """`--scale api=2` needs replicas without a host port; nginx spreads requests over every replica."""
    services = compose("docker-compose.yml")["services"]
    assert "ports" not in services["api"] and "container_name" not in services["api"]
    proxy = services["proxy"]
    assert proxy["ports"] == ["127.0.0.1:${STEADYREC_PORT:-8000}:8000"]
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    conf = (DOCKER / "nginx.conf").read_text()
    assert "resolver 127.0.0.11" in conf  # Docker's DNS, asked again so that new replicas are seen
    assert "set $api http://api:8000;" in conf and "proxy_pass $api;" in conf and "listen 8000;" in conf


def test_optional_settings_are_passed_only_when_set() -> None:
    """An empty STEADYREC_SEED_LOG / STEADYREC_ADMIN_TOKEN is not passed to the API for an unset one."""
    env = compose("docker-compose.yml")["services"]["api"]["environment"]
    for name in ("STEADYREC_ADMIN_TOKEN", "STEADYREC_SEED_LOG", "STEADYREC_SEED_LOG_FORMAT"):
        assert name in env and env[name] is None  # `NAME:` with no value: taken from the shell when set there
    assert env["STEADYREC_TOKEN"].startswith("${STEADYREC_TOKEN:?")


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.gpu.yml"])
def test_compose_files_say_they_need_compose_v2(name: str) -> None:
    header = (DOCKER / name).read_text().split("\nservices:")[0]
    assert "Compose v2" in header and "docker compose -f" in header and "docker-compose -f" not in header


def test_gpu_override_reserves_a_gpu_and_takes_torch_from_a_cuda_index() -> None:
    worker = compose("docker-compose.gpu.yml")["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
    args = worker["build"]["args"]
    assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu\d{3}", args["TORCH_INDEX"])
    # PyTorch's CUDA wheels carry their CUDA runtime: the base image keeps Python 3.11 (python:3.11-slim).
    assert "BASE_IMAGE" not in args
    # Only one ONNX Runtime package may end up in the image: the override keeps the default one.
    assert args.get("ORT", "onnxruntime") == "onnxruntime"


def test_worker_image_installs_exactly_one_onnx_runtime() -> None:
    text = (DOCKER / "worker.Dockerfile").read_text()
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text
    assert re.search(r'--index-url "\$\{TORCH_INDEX\}" torch==2\.13\.0', text)
    # a different ORT build replaces the project's onnxruntime dependency, and the build checks the count
    assert re.search(r'if \[ "\$\{ORT\}" != "onnxruntime" \]; then\s*\\\s*python -m pip uninstall -y onnxruntime', text)
    assert "grep -ci '^onnxruntime'" in text and '"${n_ort}" != 1' in text


@pytest.mark.parametrize("name", ["api.Dockerfile", "worker.Dockerfile"])
def test_images_run_as_a_non_root_user_with_a_health_check(name: str) -> None:
    text = (DOCKER / name).read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK ", text, re.M)


def test_worker_health_check_pings_its_own_celery_node() -> None:
    text = (DOCKER / "worker.Dockerfile").read_text()
    check = re.search(r"^HEALTHCHECK .*$", text, re.M)
    assert check is not None
    assert "app.control.ping" in check.group(0) and "socket.gethostname()" in check.group(0)


def test_api_image_has_no_torch() -> None:
    text = (DOCKER / "api.Dockerfile").read_text()
    installs = " ".join(re.findall(r"pip install[^\n]*", text))
    assert "torch" not in installs and "[train]" not in installs


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule for .dockerignore: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        plain = pattern.removeprefix("**/")
        if any(fnmatch.fnmatchcase(p, pattern) for p in prefixes) or (
            pattern.startswith("**/") and any(fnmatch.fnmatchcase(part, plain) for part in parts)
        ):
            ignored = not negate
    return ignored


def test_dockerignore_sends_only_what_the_images_copy() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    for secret_or_bulk in (
        ".venv/bin/python",
        "var/token",
        "var/models/aliases.json",
        "runs/v1/weights.safetensors",
        "artifacts/x",
        ".git/config",
        "benchmarks/cascade/results/x.md",
        "tests/conftest.py",
        "training/__pycache__/x.pyc",
        "steadyrec.egg-info/PKG-INFO",
        ".env",
    ):
        assert _ignored(secret_or_bulk, patterns), secret_or_bulk
    for name in ("api.Dockerfile", "worker.Dockerfile"):
        for source in re.findall(r"^COPY (.+) \S+$", (DOCKER / name).read_text(), re.M):
            for path in source.split():
                probe = f"{path}/__init__.py" if (ROOT / path).is_dir() else path
                assert not _ignored(probe, patterns), f"{name} copies {path}, which .dockerignore leaves out"


def test_smoke_script_skips_cleanly_without_a_docker_engine(tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "compose-smoke.sh")], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "skipped: no docker engine" in result.stdout


def test_the_deploy_walk_through_uses_compose_v2_and_the_gate_s_own_settings() -> None:
    section = compose_walk_through()
    assert "Compose v2" in section and "docker-compose " not in section
    assert "docker compose -f docker/docker-compose.yml" in section
    assert '"epochs": 20' not in section  # 20 epochs builds a candidate the default gate rejects
    assert "STEADYREC_SEED_LOG=/data/datasets/" in section  # the canary's 200 replayed users
    assert "runs/ml1m-v1" not in section and "artifacts/ml1m-v1" not in section


def _docker_compose() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine; the files are parsed by the tests above")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if version.returncode != 0:
        pytest.skip(f"no Docker Compose v2 plugin (`docker compose version`: {version.stderr.strip()[:200]})")
    return docker


def test_docker_compose_config_validates_when_compose_v2_is_available() -> None:
    docker = _docker_compose()
    # The caller's environment (HOME, DOCKER_CONFIG, DOCKER_HOST, ...) plus the one variable the file needs.
    env = {**os.environ, "STEADYREC_TOKEN": "x" * 20}
    for extra in ([], ["docker-compose.gpu.yml"], ["docker-compose.smoke.yml"]):
        files = [arg for name in ["docker-compose.yml", *extra] for arg in ("-f", str(DOCKER / name))]
        result = subprocess.run(
            [docker, "compose", *files, "config", "--quiet"], capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, (extra, result.stderr)


def test_docker_compose_config_refuses_a_missing_token() -> None:
    docker = _docker_compose()
    env = {k: v for k, v in os.environ.items() if k != "STEADYREC_TOKEN"}
    result = subprocess.run(
        [docker, "compose", "-f", str(DOCKER / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode != 0 and "STEADYREC_TOKEN" in result.stderr
