"""Every request of the bad-input corpus gets a 4xx whose answer says what was wrong, never a 5xx or
a 2xx; and the rules behind it: strict JSON bodies, validation errors without echoed input, one
identifier rule on every endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from service.middleware import json_body_problem
from service.schemas import RecommendRequest
from steadyrec.testing.bad_inputs import CASES, ENDPOINTS, GENERATED, BadRequest, field_paths
from tests.service.conftest import auth, serving

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}


def test_the_corpus_covers_every_endpoint_with_hundreds_of_uniquely_named_cases() -> None:
    assert len(CASES) >= 300 and len({c.name for c in CASES}) == len(CASES)
    assert {c.endpoint for c in GENERATED} == {ep.label for ep in ENDPOINTS}
    from service.main import create_app
    from service.settings import Settings

    paths = create_app(Settings(token="t" * 20)).openapi()["paths"]
    changing = {f"{m.upper()} {p}" for p, ops in paths.items() for m in ops if m in ("post", "put", "delete", "patch")}
    assert {ep.label.replace("{id}", "{job_id}") for ep in ENDPOINTS} == changing  # every route that changes state


def test_each_base_body_is_valid_so_each_generated_case_has_one_defect() -> None:
    for ep in ENDPOINTS:
        if ep.model is not None:
            ep.model.model_validate(ep.base)


def test_every_field_of_every_request_model_gets_wrong_types_and_non_finite_numbers() -> None:
    names = {c.name for c in GENERATED}
    for ep in ENDPOINTS:
        if ep.model is None:
            continue
        for path, _ in field_paths(ep.model, ep.base or {}):
            where = ".".join(map(str, path))
            assert f"{ep.slug}-{where}-nan" in names and f"{ep.slug}-{where}-infinity" in names
            assert any(n.startswith(f"{ep.slug}-{where}-type-") for n in names), where


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_request_is_a_clear_4xx(client, case: BadRequest) -> None:
    headers = {**(auth() if case.auth else {}), **case.headers}
    kwargs: dict[str, Any] = {"content": case.content} if case.content is not None else {"json": case.json}
    response = await client.request(case.method, case.path, headers=headers, **kwargs)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    detail = response.json().get("detail")
    assert detail, response.text[:300]
    assert case.expect.lower() in response.text.lower(), (case.expect, response.text[:300])


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "fastapi"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_a_non_finite_number_on_recommend_is_a_422_naming_the_field(settings, fast_path, literal) -> None:
    async with serving(settings.model_copy(update={"fast_path": fast_path})) as client:
        body = b'{"items": ["1"], "k": ' + literal.encode() + b"}"
        response = await client.post("/recommend", content=body, headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "k"]


async def test_nan_inside_free_form_job_parameters_is_refused_not_queued(client) -> None:
    body = b'{"method": "finest", "params": {"lr": NaN}}'
    response = await client.post("/jobs/finetune", content=body, headers={**auth(), **JSON})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "params", "lr"]


async def test_a_validation_error_does_not_echo_the_input(client) -> None:
    response = await client.post("/recommend", json={"items": ["i1"], "k": "x" * 5000})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "k"] and "input" not in error and len(response.text) < 1000


async def test_an_unpaired_surrogate_is_a_422_not_a_500(client) -> None:
    response = await client.post("/events", content=b'{"events": [{"user": "\\ud800"}]}', headers={**auth(), **JSON})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "events", 0, "user"]


async def test_an_escaped_emoji_is_a_valid_identifier(client) -> None:
    body = b'{"items": ["i1"], "candidates": ["\\ud83d\\ude00"], "k": 3}'
    response = await client.post("/recommend", content=body, headers=JSON)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/recommend", {"user_id": "u\n1"}),
        ("/recommend", {"items": ["i1", "a\x00b"]}),
        ("/recommend", {"items": ["i1"], "exclude": ["a\x7fb"]}),
        ("/events", {"events": [{"user": "u\n1", "item": "i1", "timestamp": 1.0}]}),
        ("/events", {"events": [{"user": "u1", "item": "i\u00851", "timestamp": 1.0}]}),
        ("/shadow/compare", {"requests": [{"user_id": "u\t1"}]}),
        ("/shadow/compare", {"requests": [{"items": ["i\r1"]}]}),
    ],
)
async def test_an_identifier_with_a_control_character_is_refused_on_every_endpoint(client, path, body) -> None:
    response = await client.post(path, json=body, headers=auth())
    assert response.status_code == 422
    assert "control characters" in response.text


async def test_a_duplicate_key_on_recommend_is_refused_even_when_the_body_validates(client) -> None:
    for body in (b'{"items": ["i1"], "k": 3, "k": 4}', b'{"items": ["i1"], "k": 3, "\\u006b": 4}'):
        response = await client.post("/recommend", content=body, headers=JSON)
        assert response.status_code == 422 and "duplicate key 'k'" in response.text, body


async def test_an_item_named_like_a_field_is_served(client) -> None:
    response = await client.post("/recommend", content=b'{"items": ["k", "items"], "k": 3}', headers=JSON)
    assert response.status_code == 200


async def test_a_body_without_a_json_content_type_is_refused_by_name(client) -> None:
    response = await client.post("/events", content=b'{"events": []}', headers={**auth(), "Content-Type": "text/plain"})
    assert response.status_code == 422 and "Content-Type: application/json" in response.text


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        (b'{"a": NaN}', ["a"], "NaN"),
        (b'{"a": [1, {"b": -Infinity}]}', ["a", 1, "b"], "-Infinity"),
        (b'{"a": 1e400}', ["a"], "too large"),
        (b'{"a": {"b": 1, "b": 2}}', ["a", "b"], "duplicate key"),
        (b'{"a": "\\udc00"}', ["a"], "surrogate"),
        (b'{"a": "\xff"}', [], "UTF-8"),
        (b"[" * 5000 + b"]" * 5000, [], "nested"),
        (b'{"a": ', [], "not valid JSON"),
    ],
)
def test_json_body_problem_names_where_and_why(body: bytes, loc: list[Any], words: str) -> None:
    problem = json_body_problem(body)
    assert problem is not None and problem[0] == loc and words in problem[1]


def test_strict_json_accepts_what_rfc_8259_allows() -> None:
    body = b'{"a": [1, -2.5e10, 1e-400, true, null, "\\ud83d\\ude00 \\u00e9", {"NaN": "Infinity"}]}'
    assert json_body_problem(body) is None


def test_recommend_request_keys_match_the_fast_paths_duplicate_check() -> None:
    from service.fast_path import may_repeat_a_key

    for name in RecommendRequest.model_fields:
        assert may_repeat_a_key(f'{{"{name}": 1, "{name}": 2}}'.encode())
