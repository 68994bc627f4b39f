"""Security properties that are easy to lose: secrets and payloads stay out of logs, CORS off by default."""

from __future__ import annotations

import logging

import pytest

from tests.service.conftest import TOKEN, auth

pytestmark = pytest.mark.anyio


async def test_tokens_and_event_payloads_never_reach_the_logs(client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret_item = "payload-item-7f3a9c"
    events = [{"user": "log-user-51e2", "item": secret_item, "timestamp": 1.0}]
    assert (await client.post("/events", json={"events": events}, headers=auth())).status_code == 200
    await client.post("/events", json={"events": events}, headers={"Authorization": "Bearer wrong-token-123456"})
    await client.put("/models/aliases/live", json={"version": "v2"}, headers=auth())
    await client.post("/recommend", json={"user_id": "log-user-51e2"})
    for secret in (TOKEN, "wrong-token-123456", secret_item, "log-user-51e2"):
        assert secret not in caplog.text


async def test_cors_is_off_by_default(client) -> None:
    response = await client.options(
        "/recommend", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in response.headers


async def test_error_for_a_bad_token_says_bearer(client) -> None:
    response = await client.put("/models/aliases/live", json={"version": "v2"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


async def test_allowed_origins_get_cors_headers_on_recommend(settings) -> None:
    from tests.service.conftest import serving

    settings = settings.model_copy(update={"cors_origins": ["https://shop.example"]})
    async with serving(settings) as client:
        response = await client.post("/recommend", json={"user_id": "u1"}, headers={"Origin": "https://shop.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
