"""Registry, aliases, token, readiness and atomic swaps."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from service.main import create_app
from service.settings import Settings
from steadyrec.core.settings import SharedSettings
from tests.service.conftest import auth

pytestmark = pytest.mark.anyio


async def test_health_and_readiness(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready", "live": "v1"}


async def test_models_lists_versions_and_aliases(client) -> None:
    body = (await client.get("/models")).json()
    assert [m["version"] for m in body["models"]] == ["v1", "v2"]
    assert body["aliases"] == {"live": "v1"} and body["models"][0]["aliases"] == ["live"]


@pytest.mark.parametrize(
    "headers",
    [pytest.param({}, id="no-token"), pytest.param({"Authorization": "Bearer wrong-token-xxxxxxxx"}, id="wrong-token")],
)
async def test_management_needs_the_token(client, headers) -> None:
    response = await client.put("/models/aliases/live", json={"version": "v2"}, headers=headers)
    assert response.status_code == 401
    assert (await client.get("/readyz")).json()["live"] == "v1"


async def test_setting_live_swaps_the_answering_model(client) -> None:
    response = await client.put("/models/aliases/live", json={"version": "v2", "reason": "test"}, headers=auth())
    assert response.status_code == 200, response.text
    assert (await client.post("/recommend", json={"user_id": "u1"})).json()["model_version"] == "v2"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        pytest.param("/models/aliases/live", {"version": "v9"}, 404, id="unknown-version"),
        pytest.param("/models/aliases/live", {"version": "../v1"}, 422, id="traversal-name"),
        pytest.param("/models/aliases/boss", {"version": "v1"}, 404, id="unknown-alias"),
        pytest.param("/models/aliases/live", {}, 422, id="missing-version"),
    ],
)
async def test_bad_alias_requests_are_4xx(client, path, body, status) -> None:
    response = await client.put(path, json=body, headers=auth())
    assert response.status_code == status
    assert response.json()["detail"]


async def test_corrupt_artifact_is_refused_and_live_keeps_serving(client, settings) -> None:
    onnx_file = settings.models_dir / "versions" / "v2" / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:-10] + b"0123456789")
    response = await client.put("/models/aliases/live", json={"version": "v2"}, headers=auth())
    assert response.status_code == 409 and "sha256" in response.json()["detail"]
    assert (await client.post("/recommend", json={"user_id": "u1"})).json()["model_version"] == "v1"


async def test_corrupt_live_model_is_never_served_at_startup(settings, caplog) -> None:
    import httpx

    (settings.models_dir / "versions" / "v1" / "items.json").write_text('["tampered"]')
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.get("/readyz")).status_code == 503
        response = await c.post("/recommend", json={"user_id": "u1"})
        assert response.status_code == 503 and "no live model" in response.json()["detail"]
    assert "refusing to serve live model v1" in caplog.text


async def test_swapping_under_concurrent_load_fails_no_request(client) -> None:
    async def one(i: int) -> tuple[int, str]:
        r = await client.post("/recommend", json={"items": ["i1", f"i{i % 30 + 2}"], "k": 5})
        return r.status_code, r.json().get("model_version", "")

    async def swapper() -> None:
        for version in ["v2", "v1", "v2", "v1", "v2"]:
            await asyncio.sleep(0.005)
            r = await client.put("/models/aliases/live", json={"version": version}, headers=auth())
            assert r.status_code == 200

    results, _ = await asyncio.gather(asyncio.gather(*(one(i) for i in range(300))), swapper())
    assert {status for status, _ in results} == {200}
    assert {version for _, version in results} <= {"v1", "v2"}


def test_token_is_required_outside_demo_mode(tmp_path) -> None:
    with pytest.raises(ValueError, match="STEADYREC_TOKEN must be set"):
        Settings(models_dir=tmp_path, token=None, demo_mode=False)
    Settings(models_dir=tmp_path, token=None, demo_mode=True)


def test_importing_and_serving_the_app_leaves_torch_unloaded(world) -> None:
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service.main import create_app\n"
        "from service.settings import Settings\n"
        f"s = Settings(models_dir=r'{world['models']}', token='x' * 20, seed_log=r'{world['events']}')\n"
        "with TestClient(create_app(s)) as c:\n"
        "    assert c.post('/recommend', json={'user_id': 'u1'}).status_code == 200\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("value", "mode"), [("true", "always"), ("false", "off"), ("during-call", "during-call")])
def test_ort_spinning_accepts_the_old_booleans(tmp_path, monkeypatch, value: str, mode: str) -> None:
    monkeypatch.setenv("STEADYREC_ORT_SPINNING", value)
    assert Settings(models_dir=tmp_path, token="t" * 20).ort_spinning == mode


def test_empty_environment_variables_mean_unset(tmp_path, monkeypatch) -> None:
    for name in ("SEED_LOG", "SEED_LOG_FORMAT", "ADMIN_TOKEN", "REDIS_URL", "MODELS_DIR"):
        monkeypatch.setenv(f"STEADYREC_{name}", "")
    monkeypatch.setenv("STEADYREC_TOKEN", "t" * 20)
    settings = Settings()
    assert settings.seed_log is None and settings.seed_log_format is None
    assert settings.admin_token is None and settings.redis_url is None
    assert settings.models_dir == Path("var/models")
    assert SharedSettings().models_dir == Path("var/models") and SharedSettings().redis_url is None


async def test_alias_changes_write_aliases_json_off_the_event_loop(client, monkeypatch) -> None:
    import threading

    from steadyrec.core.registry import RegistryStore

    threads: list[threading.Thread] = []
    original = RegistryStore.set_alias

    def recording(self, alias, version, reason=""):
        threads.append(threading.current_thread())
        return original(self, alias, version, reason)

    monkeypatch.setattr(RegistryStore, "set_alias", recording)
    assert (await client.put("/models/aliases/candidate", json={"version": "v2"}, headers=auth())).status_code == 200
    assert (await client.post("/models/v2/promote", json={}, headers=auth())).status_code in (200, 409)
    assert threads and threading.main_thread() not in threads
