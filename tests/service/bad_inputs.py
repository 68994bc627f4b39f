"""A corpus of hand-written bad requests: each must get a 4xx with a message that says what was wrong.

Used by tests/service/test_bad_inputs.py (through the app) and benchmarks/bad_inputs.py (over HTTP).
``auth`` True sends the right bearer token, so the request fails for its own reason, not the token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

NOW = time.time()
HUGE_HISTORY = [f"i{i % 40}" for i in range(100_000)]
LONG_ID = "x" * 10_000
UNICODE_ID = "用户-🙂-\u202e-ñ"


@dataclass(frozen=True)
class BadRequest:
    name: str
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    auth: bool = True
    headers: dict[str, str] = field(default_factory=dict)


def ev(user: str = "u1", item: str = "i1", timestamp: Any = 1.0) -> dict[str, Any]:
    return {"user": user, "item": item, "timestamp": timestamp}


CASES: list[BadRequest] = [
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
