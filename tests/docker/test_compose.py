"""docker/: the compose files and Dockerfiles say what the deployment needs (parsed when no Docker engine)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def compose(name: str) -> dict:
    return yaml.safe_load((DOCKER / name).read_text())


def test_compose_has_redis_api_worker_and_shared_volumes() -> None:
    spec = compose("docker-compose.yml")
    services = spec["services"]
    assert set(services) == {"redis", "api", "worker"}
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"]) and "healthcheck" in redis
    for name in ("api", "worker"):
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "models:/data/models" in services[name]["volumes"]
        assert "events:/data/events" in services[name]["volumes"]
    assert set(spec["volumes"]) >= {"redis-data", "models", "events"}
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]


def test_gpu_override_reserves_a_gpu_for_the_worker() -> None:
    worker = compose("docker-compose.gpu.yml")["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
    assert worker["build"]["args"]["ORT"] == "onnxruntime-gpu"


@pytest.mark.parametrize("name", ["api.Dockerfile", "worker.Dockerfile"])
def test_images_run_as_a_non_root_user(name: str) -> None:
    text = (DOCKER / name).read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")


def test_api_image_has_no_torch() -> None:
    text = (DOCKER / "api.Dockerfile").read_text()
    installs = " ".join(re.findall(r"pip install[^\n]*", text))
    assert "torch" not in installs and "[train]" not in installs


def test_docker_compose_config_validates_when_an_engine_is_available() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True).returncode != 0:
        pytest.skip("no Docker engine on this machine; the files are parsed by the tests above")
    result = subprocess.run(
        [
            docker,
            "compose",
            "-f",
            str(DOCKER / "docker-compose.yml"),
            "-f",
            str(DOCKER / "docker-compose.gpu.yml"),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env={"STEADYREC_TOKEN": "x" * 20, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
