"""The bad-input corpus: every request must get a 4xx (never a 5xx, never a 2xx) whose answer says
what was wrong.

Used by tests/service/test_bad_inputs.py (through the app) and benchmarks/reliability/bad_inputs.py (over HTTP).
Two parts:

- ``HAND_WRITTEN``: single cases of semantic rules (unknown users, versions, future timestamps, ...);
- ``GENERATED``: classes of input built for every POST / PUT / DELETE endpoint of ``ENDPOINTS``.
  The fields come from each request model's JSON schema (nested models and lists of models
  included), so a new field is covered without touching this file: for each field, every JSON type
  the model refuses there, ``NaN`` / ``Infinity`` / ``-Infinity`` literals, ``1e400`` in numeric
  fields, a 10,000-deep nested list, a 200,000-character string, an unpaired surrogate escape, a
  control character in identifiers, and an unknown key beside it; for each endpoint, invalid
  UTF-8, duplicate keys, wrong or missing Content-Type, an empty, truncated, non-object, too deep
  or too large body, missing / wrong / malformed tokens and bad path parameters.

``auth`` True sends the right bearer token, so the request fails for its own reason, not the token.
``expect``, when set, is a word the answer must contain (case-insensitive): the field, or the rule.
``endpoint`` groups the cases (the benchmark's rows).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from service.schemas import (
    IDENTIFIER_PATTERN,
    AliasRequest,
    CanaryRequest,
    EventsRequest,
    FinetuneJobRequest,
    PromoteRequest,
    RecommendRequest,
    ShadowRequest,
)
from steadyrec.core.schedules import ScheduleSpec

NOW = time.time()
HUGE_HISTORY = [f"i{i % 40}" for i in range(100_000)]
LONG_ID = "x" * 10_000
UNICODE_ID = "用户-🙂-\u202e-ñ"
MAX_BODY_BYTES = 1_000_000  # the settings' default, which the tests and the benchmark keep

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class BadRequest:
    name: str
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    auth: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    expect: str = ""
    endpoint: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A route that changes state, its request model (None: no body) and a body it accepts."""

    method: str
    template: str
    path: str  # the template filled in with a value that exists where the route needs one
    model: type[BaseModel] | None = None
    base: dict[str, Any] | None = None
    auth: bool = True
    param: str | None = None  # the path parameter, if any: what a bad one's answer names

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def slug(self) -> str:
        parts = [p for p in self.template.strip("/").split("/") if not p.startswith("{")]
        return "-".join([self.method.lower(), *parts])

    def body(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.base or {}))  # a deep copy


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/recommend", "/recommend", RecommendRequest, {"items": ["i1", "i2"], "k": 5}, auth=False),
    Endpoint("POST", "/events", "/events", EventsRequest, {"events": [{"user": "u1", "item": "i1", "timestamp": 1.0}]}),
    Endpoint(
        "POST",
        "/jobs/finetune",
        "/jobs/finetune",
        FinetuneJobRequest,
        # a valid body that uses every section, so each field's own refusal is what a case meets
        {
            "method": "finest",
            "data": {"source": "base", "include_events": True},
            "run_canary": True,
            "promote_if_passed": True,
            "watch": {"window_s": 60.0},
        },
    ),
    Endpoint("DELETE", "/jobs/{id}", "/jobs/does-not-exist", param="job"),
    Endpoint(
        "POST",
        "/schedules",
        "/schedules",
        ScheduleSpec,
        {
            "name": "nightly",
            "job": {"method": "finest", "run_canary": True, "promote_if_passed": True, "watch": {"window_s": 60.0}},
            "trigger": {"daily_at": "03:00"},
        },
    ),
    Endpoint("DELETE", "/schedules/{name}", "/schedules/does-not-exist", param="schedule"),
    Endpoint("POST", "/shadow/compare", "/shadow/compare", ShadowRequest, {"requests": [{"items": ["i1"]}], "k": 5}),
    Endpoint("POST", "/models/{version}/canary", "/models/v2/canary", CanaryRequest, {"samples": 10}, param="version"),
    Endpoint(
        "POST", "/models/{version}/promote", "/models/v2/promote", PromoteRequest, {"reason": "a test"}, param="version"
    ),
    Endpoint("POST", "/models/rollback", "/models/rollback"),
    Endpoint(
        "PUT", "/models/aliases/{alias}", "/models/aliases/candidate", AliasRequest, {"version": "v2"}, param="alias"
    ),
]

# One value of each JSON type: a field gets those its model refuses there.
JSON_KINDS: dict[str, Any] = {
    "string": "not-a-valid-value",
    "number": 2.5,
    "boolean": True,
    "null": None,
    "array": ["x"],
    "object": {"x": 1},
}
NON_FINITE = {"nan": float("nan"), "infinity": float("inf"), "minus-infinity": float("-inf")}
DEEP = 10_000
LONG_STRING = "x" * 200_000
# Markers for what json.dumps cannot write, replaced by their literal text in the serialised body.
_OVERFLOW, _SURROGATE, _DEEP = "__steadyrec_overflow__", "__steadyrec_surrogate__", "__steadyrec_deep__"
LITERALS = {_OVERFLOW: "1e400", _SURROGATE: '"\\ud800"', _DEEP: "[" * DEEP + "]" * DEEP}


def serialise(body: Any) -> bytes:
    """JSON as a client could write it: NaN / Infinity literals kept, the markers' literals spliced in."""
    text = json.dumps(body, allow_nan=True)
    for marker, literal in LITERALS.items():
        text = text.replace(f'"{marker}"', literal)
    return text.encode()


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with its ``$ref`` (or the model of an optional ``anyOf``) followed."""
    if "$ref" in schema:
        return dict(defs[schema["$ref"].rsplit("/", 1)[-1]])
    for option in schema.get("anyOf", []):
        if "$ref" in option or "properties" in option:
            return _resolve(option, defs)
    return schema


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return list(schema.get("anyOf", [schema]))


def field_paths(model: type[BaseModel], base: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every field of ``model`` and of its nested models (a list of models: through its first item
    in ``base``), with its JSON schema."""
    schema = model.model_json_schema()
    yield from _walk(schema, schema.get("$defs", {}), base, ())


def _walk(schema: dict[str, Any], defs: dict[str, Any], base: Any, path: Path) -> Iterator[tuple[Path, dict]]:
    for name, prop in schema.get("properties", {}).items():
        here = (*path, name)
        yield here, prop
        sub = _resolve(prop, defs)
        value = base.get(name) if isinstance(base, dict) else None
        if "properties" in sub:
            yield from _walk(sub, defs, value if isinstance(value, dict) else {}, here)
        items = next((_resolve(o["items"], defs) for o in _options(sub) if "items" in o), {})
        if "properties" in items and isinstance(value, list) and value and isinstance(value[0], dict):
            yield from _walk(items, defs, value[0], (*here, 0))


def object_paths(model: type[BaseModel], base: dict[str, Any]) -> list[Path]:
    """The paths of the objects in ``base`` that a model describes (the body itself included)."""
    paths: list[Path] = [()]
    for path, _ in field_paths(model, base):
        value = _get(base, path)
        if isinstance(value, dict):
            paths.append(path)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            paths.append((*path, 0))
    return paths


def _get(body: Any, path: Path) -> Any:
    for part in path:
        if isinstance(body, dict):
            body = body.get(part)
        elif isinstance(body, list) and isinstance(part, int) and part < len(body):
            body = body[part]
        else:
            return None
    return body


def with_value(base: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of ``base`` with ``value`` at ``path`` (objects on the way are created)."""
    body = json.loads(json.dumps(base))
    node = body
    for part in path[:-1]:
        if isinstance(node, dict) and not isinstance(node.get(part), dict | list):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    return body


def _numeric(schema: dict[str, Any]) -> bool:
    return any(o.get("type") in ("number", "integer") for o in _options(schema))


def _identifier(schema: dict[str, Any]) -> str | None:
    """``"string"`` or ``"array"`` for an identifier field (or a list of them), else None."""
    for option in _options(schema):
        if option.get("pattern") == IDENTIFIER_PATTERN:
            return "string"
        if option.get("items", {}).get("pattern") == IDENTIFIER_PATTERN:
            return "array"
    return None


def _refused(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate_json(json.dumps(body))
    except ValidationError:
        return True
    return False


def _label(path: Path) -> str:
    return ".".join(map(str, path))


def _field_cases(ep: Endpoint, path: Path, schema: dict[str, Any]) -> Iterator[BadRequest]:
    assert ep.model is not None
    base, where = ep.body(), _label(path)
    name = str(next(p for p in reversed(path) if isinstance(p, str)))

    def case(kind: str, value: Any, expect: str = name) -> BadRequest:
        content = serialise(with_value(base, path, value))
        return BadRequest(
            f"{ep.slug}-{where}-{kind}",
            ep.method,
            ep.path,
            content=content,
            auth=True,
            expect=expect,
            headers={"Content-Type": "application/json"},
            endpoint=ep.label,
        )

    for kind, value in JSON_KINDS.items():
        if _refused(ep.model, with_value(base, path, value)):
            yield case(f"type-{kind}", value)
    for kind, value in NON_FINITE.items():
        yield case(kind, value)
    if _numeric(schema):
        yield case("overflow-1e400", _OVERFLOW)
    yield case("nested-10000-deep", _DEEP, expect="nested")
    yield case("string-200k", LONG_STRING)
    yield case("unpaired-surrogate", _SURROGATE)
    shape = _identifier(schema)
    if shape is not None:
        yield case("control-character", "u\n1" if shape == "string" else ["i1", "i\x002"], "control characters")


def _model_cases(ep: Endpoint) -> Iterator[BadRequest]:
    assert ep.model is not None and ep.base is not None
    for path, schema in field_paths(ep.model, ep.base):
        yield from _field_cases(ep, path, schema)
    for path in object_paths(ep.model, ep.base):
        body = with_value(ep.body(), (*path, "unexpected_field"), 1) if path else {**ep.body(), "unexpected_field": 1}
        yield _raw(ep, f"unknown-key-in-{_label(path) or 'body'}", serialise(body), "unexpected_field")
        duplicated = _duplicate_first_key(serialise(_get(ep.body(), path)))
        yield _raw(ep, f"duplicate-key-in-{_label(path) or 'body'}", _replace(ep, path, duplicated), "duplicate")
    yield _raw(ep, "empty-body", b"", "required")
    for kind, text in (("null", b"null"), ("array", b"[]"), ("string", b'"a body"'), ("number", b"5")):
        yield _raw(ep, f"body-{kind}", text, "body")


def _duplicate_first_key(obj: bytes) -> bytes:
    """``{"a": 1, ...}`` as ``{"a": 1, "a": 1, ...}`` (``{}`` as ``{"a": 1, "a": 1}``)."""
    text = obj.decode()
    key, value = next(iter(json.loads(text).items()), ("a", 1))
    pair = f"{json.dumps(key)}: {json.dumps(value)}"
    return ("{" + pair + ", " + (pair + "}" if text.strip() == "{}" else text.strip()[1:])).encode()


def _replace(ep: Endpoint, path: Path, fragment: bytes) -> bytes:
    """The base body serialised with the object at ``path`` written as ``fragment``."""
    if not path:
        return fragment
    return serialise(with_value(ep.body(), path, _SPLICE)).replace(f'"{_SPLICE}"'.encode(), fragment)


_SPLICE = "__steadyrec_splice__"


def _raw(ep: Endpoint, kind: str, content: bytes, expect: str, headers: dict[str, str] | None = None) -> BadRequest:
    sent = {"Content-Type": "application/json"} if headers is None else headers
    return BadRequest(
        f"{ep.slug}-{kind}", ep.method, ep.path, content=content, headers=sent, expect=expect, endpoint=ep.label
    )


def _body_cases(ep: Endpoint) -> Iterator[BadRequest]:
    """Bodies no route may take, whatever its model: bad bytes, bad JSON, bad Content-Type, too big."""
    body = serialise(ep.base) if ep.base is not None else b'{"a": 1}'
    yield _raw(ep, "invalid-utf8-byte", b'{"a": "\xff\xfe"}', "UTF-8")
    yield _raw(ep, "overlong-utf8", b'{"a": "\xc0\xaf"}', "UTF-8")
    yield _raw(ep, "utf8-encoded-surrogate", b'{"a": "\xed\xa0\x80"}', "UTF-8")
    yield _raw(ep, "latin1-body", '{"a": "ñ"}'.encode("latin-1"), "UTF-8")
    yield _raw(ep, "truncated-json", body[:-1], "JSON")
    yield _raw(ep, "single-quoted-json", body.replace(b'"', b"'") or b"{'a': 1}", "JSON")
    yield _raw(ep, "nan-body", b"NaN", "NaN")
    yield _raw(ep, "nested-10000-deep-body", b"[" * DEEP + b"]" * DEEP, "nested")
    yield _raw(ep, "duplicate-keys-body", b'{"a": 1, "a": 2}', "duplicate")
    yield _raw(ep, "content-type-text-plain", body, "Content-Type", {"Content-Type": "text/plain"})
    yield _raw(
        ep, "content-type-form", b"k=5&items=i1", "Content-Type", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    yield _raw(ep, "content-type-missing", body, "Content-Type", {})
    yield _raw(ep, "content-type-xml", b"<k>5</k>", "Content-Type", {"Content-Type": "application/xml"})
    yield _raw(ep, "too-large-body", b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}', "larger")


def _token_cases(ep: Endpoint) -> Iterator[BadRequest]:
    body = serialise(ep.base) if ep.base is not None else b""
    for kind, header in (
        ("token-missing", None),
        ("token-wrong", "Bearer not-the-token-000000"),
        ("token-empty", "Bearer"),
        ("token-basic-scheme", "Basic dXNlcjpwYXNzd29yZA=="),
        ("token-no-scheme", "test-token-0123456789abcdef"),
    ):
        headers = {"Content-Type": "application/json", **({"Authorization": header} if header else {})}
        yield BadRequest(
            f"{ep.slug}-{kind}",
            ep.method,
            ep.path,
            content=body,
            auth=False,
            headers=headers,
            expect="token",
            endpoint=ep.label,
        )


def _path_cases(ep: Endpoint) -> Iterator[BadRequest]:
    assert ep.param is not None
    body = serialise(ep.base) if ep.base is not None else b""
    head, _, tail = ep.template.partition("{")
    tail = tail.partition("}")[2]
    for kind, value, expect in (
        ("unknown", "zz-unknown", ep.param),
        ("traversal", "..%2F..%2Fetc", "not found"),  # %2F decodes to '/': no route matches
        ("newline", "a%0Ab", ep.param),
        ("invalid-utf8", "%FF%FE", ep.param),
        ("very-long", "v" * 2000, ep.param),
    ):
        yield BadRequest(
            f"{ep.slug}-{ep.param}-{kind}",
            ep.method,
            head + value + tail,
            content=body,
            headers={"Content-Type": "application/json"},
            expect=expect,
            endpoint=ep.label,
        )


def generated_cases(ep: Endpoint) -> list[BadRequest]:
    cases = list(_body_cases(ep))
    if ep.model is not None:
        cases += _model_cases(ep)
    if ep.auth:
        cases += _token_cases(ep)
    if ep.param is not None:
        cases += _path_cases(ep)
    return cases


def endpoint_label(case: BadRequest) -> str:
    """``METHOD /template`` of a case: its own, or the template its path fits (hand-written cases)."""
    if case.endpoint:
        return case.endpoint
    for ep in ENDPOINTS:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", ep.template), case.path.split("?")[0]):
            return f"{case.method} {ep.template}"
    return f"{case.method} {case.path}"


def ev(user: str = "u1", item: str = "i1", timestamp: Any = 1.0) -> dict[str, Any]:
    return {"user": user, "item": item, "timestamp": timestamp}


HAND_WRITTEN: list[BadRequest] = [
    # /recommend: types, missing fields, ranges, sizes, ids
    BadRequest("recommend-empty-body", "POST", "/recommend", json={}),
    BadRequest("recommend-both-sources", "POST", "/recommend", json={"user_id": "u1", "items": ["i1"]}),
    BadRequest("recommend-k-zero", "POST", "/recommend", json={"user_id": "u1", "k": 0}),
    BadRequest("recommend-k-negative", "POST", "/recommend", json={"user_id": "u1", "k": -5}),
    BadRequest("recommend-k-huge", "POST", "/recommend", json={"user_id": "u1", "k": 10**12}),
    BadRequest("recommend-k-above-service-max", "POST", "/recommend", json={"user_id": "u1", "k": 101}),
    BadRequest("recommend-k-string", "POST", "/recommend", json={"user_id": "u1", "k": "ten"}),
    BadRequest("recommend-k-float", "POST", "/recommend", json={"user_id": "u1", "k": 2.5}),
    BadRequest("recommend-k-null", "POST", "/recommend", json={"user_id": "u1", "k": None}),
    BadRequest("recommend-items-not-list", "POST", "/recommend", json={"items": "i1"}),
    BadRequest("recommend-items-numbers", "POST", "/recommend", json={"items": [1, 2, 3]}),
    BadRequest("recommend-items-nested", "POST", "/recommend", json={"items": [["i1"]]}),
    BadRequest("recommend-history-100k", "POST", "/recommend", json={"items": HUGE_HISTORY}),
    BadRequest("recommend-empty-item-id", "POST", "/recommend", json={"items": [""]}),
    BadRequest("recommend-very-long-user-id", "POST", "/recommend", json={"user_id": LONG_ID}),
    BadRequest("recommend-very-long-item-id", "POST", "/recommend", json={"items": [LONG_ID]}),
    BadRequest("recommend-unknown-unicode-user", "POST", "/recommend", json={"user_id": UNICODE_ID}),
    BadRequest("recommend-unknown-user", "POST", "/recommend", json={"user_id": "nobody-here"}),
    BadRequest("recommend-unknown-field", "POST", "/recommend", json={"user_id": "u1", "colour": "red"}),
    BadRequest("recommend-exclude-seen-string", "POST", "/recommend", json={"user_id": "u1", "exclude_seen": "no"}),
    BadRequest("recommend-candidates-not-list", "POST", "/recommend", json={"user_id": "u1", "candidates": "i1"}),
    BadRequest("recommend-exclude-numbers", "POST", "/recommend", json={"user_id": "u1", "exclude": [1]}),
    BadRequest("recommend-json-array", "POST", "/recommend", json=[{"user_id": "u1"}]),
    BadRequest(
        "recommend-json-null",
        "POST",
        "/recommend",
        json=None,
        content=b"null",
        headers={"Content-Type": "application/json"},
    ),
    BadRequest(
        "recommend-not-json",
        "POST",
        "/recommend",
        content=b"{user_id: u1",
        headers={"Content-Type": "application/json"},
    ),
    BadRequest(
        "recommend-oversized-body",
        "POST",
        "/recommend",
        content=b'{"items": [' + b'"i1",' * 400_000 + b'"i1"]}',
        headers={"Content-Type": "application/json"},
    ),
    BadRequest("recommend-wrong-method", "GET", "/recommend"),
    # /events: timestamps, duplicates, sizes, fields, token
    BadRequest("events-empty", "POST", "/events", json={"events": []}),
    BadRequest("events-missing", "POST", "/events", json={}),
    BadRequest("events-negative-timestamp", "POST", "/events", json={"events": [ev(timestamp=-1)]}),
    BadRequest("events-future-timestamp", "POST", "/events", json={"events": [ev(timestamp=NOW + 30 * 86400)]}),
    BadRequest("events-timestamp-string", "POST", "/events", json={"events": [ev(timestamp="yesterday")]}),
    BadRequest("events-timestamp-missing", "POST", "/events", json={"events": [{"user": "u1", "item": "i1"}]}),
    BadRequest("events-duplicate", "POST", "/events", json={"events": [ev(), ev()]}),
    BadRequest("events-empty-user", "POST", "/events", json={"events": [ev(user="")]}),
    BadRequest("events-long-item", "POST", "/events", json={"events": [ev(item=LONG_ID)]}),
    BadRequest("events-too-many", "POST", "/events", json={"events": [ev(item=f"i{i}") for i in range(10_001)]}),
    BadRequest("events-unknown-field", "POST", "/events", json={"events": [{**ev(), "rating": 5}]}),
    BadRequest("events-not-a-list", "POST", "/events", json={"events": ev()}),
    BadRequest("events-no-token", "POST", "/events", json={"events": [ev()]}, auth=False),
    # models: unknown versions, traversal names, aliases, token
    BadRequest("alias-unknown-version", "PUT", "/models/aliases/live", json={"version": "v999"}),
    BadRequest("alias-traversal-version", "PUT", "/models/aliases/live", json={"version": "../../etc"}),
    BadRequest("alias-slash-version", "PUT", "/models/aliases/live", json={"version": "a/b"}),
    BadRequest("alias-unknown-alias", "PUT", "/models/aliases/boss", json={"version": "v1"}),
    BadRequest("alias-no-token", "PUT", "/models/aliases/live", json={"version": "v2"}, auth=False),
    BadRequest(
        "alias-wrong-token",
        "PUT",
        "/models/aliases/live",
        json={"version": "v2"},
        auth=False,
        headers={"Authorization": "Bearer not-the-token-000000"},
    ),
    BadRequest("promote-unknown-version", "POST", "/models/v999/promote", json={}),
    BadRequest("promote-traversal-name", "POST", "/models/..%2F..%2Fetc/promote", json={}),
    BadRequest("promote-without-canary", "POST", "/models/v2/promote", json={}),
    BadRequest("promote-force-without-admin", "POST", "/models/v2/promote", json={"force": True}),
    BadRequest("canary-unknown-version", "POST", "/models/v999/canary", json={}),
    BadRequest("canary-bad-policy", "POST", "/models/v2/canary", json={"policy": {"p": 1.5}}),
    BadRequest("canary-unknown-policy-key", "POST", "/models/v2/canary", json={"policy": {"treshold": 1}}),
    BadRequest("verdict-missing", "GET", "/models/v2/canary"),
    BadRequest("shadow-without-candidate", "POST", "/shadow/compare", json={}),
    BadRequest("shadow-both-sources", "POST", "/shadow/compare", json={"requests": [{"user_id": "u1"}], "replay": 5}),
    # jobs
    BadRequest("job-unknown-method", "POST", "/jobs/finetune", json={"method": "magic"}),
    BadRequest("job-unknown-param", "POST", "/jobs/finetune", json={"method": "finest", "params": {"lamda": 1}}),
    BadRequest("job-unknown-base", "POST", "/jobs/finetune", json={"method": "finest", "base": "v999"}),
    BadRequest(
        "job-traversal-dataset",
        "POST",
        "/jobs/finetune",
        json={"method": "finest", "data": {"source": "dataset", "path": "../../../etc/passwd"}},
    ),
    BadRequest("job-unknown", "GET", "/jobs/does-not-exist"),
    BadRequest("job-cancel-unknown", "DELETE", "/jobs/does-not-exist"),
    BadRequest("job-no-token", "POST", "/jobs/finetune", json={"method": "finest"}, auth=False),
]


GENERATED: list[BadRequest] = [case for ep in ENDPOINTS for case in generated_cases(ep)]
CASES: list[BadRequest] = HAND_WRITTEN + GENERATED
