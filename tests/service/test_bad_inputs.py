"""Every request of the bad-input corpus gets a 4xx with a message, never a 5xx."""

from __future__ import annotations

import pytest

from tests.service.bad_inputs import CASES, BadRequest
from tests.service.conftest import auth

pytestmark = pytest.mark.anyio


def test_the_corpus_has_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_request_is_a_clear_4xx(client, case: BadRequest) -> None:
    headers = {**(auth() if case.auth else {}), **case.headers}
    kwargs = {"content": case.content} if case.content is not None else {"json": case.json}
    response = await client.request(case.method, case.path, headers=headers, **kwargs)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    detail = response.json().get("detail")
    assert detail, response.text[:300]
