"""Request body limits, strict JSON bodies and per-route metrics as a plain ASGI middleware (no
per-request task or stream wrapping, unlike Starlette's BaseHTTPMiddleware, which costs a large share
of a fast request).

Every body of a POST, PUT, PATCH or DELETE is read here (at most ``max_body_bytes``, else 413) and
checked before any route sees it, so that each route gets the same rules:

- a non-empty body must be declared ``application/json`` (or ``application/*+json``), except the
  dashboard's HTML forms (``application/x-www-form-urlencoded`` under ``/ui/``, parsed and checked by
  service.dashboard.auth); any other Content-Type, or none, gets a 422 that says so (FastAPI's own 422
  for it, "Input should be a valid dictionary", hands the bytes to the body model and never names the
  Content-Type; the status stays 422, the one FastAPI gives, which clients and tests rely on);
- it must be UTF-8 JSON as RFC 8259 defines it: no ``NaN`` / ``Infinity`` / ``-Infinity`` literals,
  no number too large for a double (``1e400``), no duplicate key in an object, no unpaired surrogate
  escape (``"\\ud800"``), and not nested past Python's parser's depth. Each refusal is a 422 in FastAPI's
  shape whose ``loc`` names the field where the problem is.

Python's ``json.loads`` (which FastAPI uses) accepts all of these: a NaN became ``nan`` in a dict of
parameters, a 500 when echoed in a 422, or a duplicate key silently took the last value. The check
parses the body once more with hooks (a few microseconds for a small body, a few milliseconds for a
10,000-event batch); the fast path of ``POST /recommend`` skips it for bodies that validate (see
service.fast_path). Refusals are counted under the route label ``unmatched`` (routing comes later).
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import invalid_body
from service.metrics import Metrics

__all__ = ["LimitsAndMetrics", "json_body_problem", "record_response", "replay"]

Loc = list[str | int]
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def record_response(metrics: Metrics, route: str, status: int, started: float) -> None:
    """Count one response and observe its latency under its route's label."""
    metrics.latency.labels(route).observe(time.perf_counter() - started)
    metrics.responses.labels(route, str(status)).inc()


def replay(body: bytes) -> Receive:
    """A ``receive`` that hands over ``body`` (already read) once, then a disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class _Flag:
    """What the parser's hooks put in place of a value the body may not contain."""

    def __init__(self, why: str, key: str | None = None) -> None:
        self.why = why
        self.key = key  # for a duplicate key: the key, inside the flagged object


def _parse_flagged(text: str) -> tuple[Any, bool]:
    """``text`` parsed with every non-finite number and object with a duplicate key replaced by a
    ``_Flag``; also whether there was any."""
    flagged = False

    def flag(why: str, key: str | None = None) -> _Flag:
        nonlocal flagged
        flagged = True
        return _Flag(why, key)

    def constant(name: str) -> _Flag:
        return flag(f"{name} is not a JSON number: numbers must be finite")

    def number(literal: str) -> float | _Flag:
        value = float(literal)
        return value if math.isfinite(value) else flag(f"{literal[:40]} is too large for a 64-bit float")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Flag:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        return flag(f"duplicate key {duplicate[:80]!r} in one object", duplicate)

    value = json.loads(text, parse_constant=constant, parse_float=number, object_pairs_hook=unique)
    return value, flagged


def _unpaired_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_problem(value: Any, strings: bool) -> tuple[Loc, str] | None:
    """The first flagged value (or, with ``strings``, string with an unpaired surrogate) in document
    order, with its path; iterative, so any depth the parser took is fine."""
    surrogate = "has an unpaired surrogate escape: not a Unicode string"
    stack: list[tuple[Loc, Any]] = [([], value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _Flag):
            return (path if node.key is None else [*path, node.key]), node.why
        if strings and isinstance(node, str) and _unpaired_surrogate(node):
            return path, surrogate
        if isinstance(node, dict):
            bad_key = next((key for key in node if strings and _unpaired_surrogate(key)), None)
            if bad_key is not None:
                return [*path, bad_key], f"key {surrogate}"
            stack.extend(reversed([([*path, key], child) for key, child in node.items()]))
        elif isinstance(node, list):
            stack.extend(reversed([([*path, i], child) for i, child in enumerate(node)]))
    return None


def json_body_problem(body: bytes) -> tuple[Loc, str] | None:
    """Where and why ``body`` is not strict UTF-8 JSON (RFC 8259), or None when it is."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        return [], f"the body is not valid UTF-8: byte 0x{body[err.start]:02x} at offset {err.start}"
    try:
        value, flagged = _parse_flagged(text)
    except json.JSONDecodeError as err:
        return [], f"the body is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
    except RecursionError:
        return [], "the body's JSON is nested too deeply"
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        return [], f"the body is not acceptable JSON: {err}"
    if not flagged and _ESCAPED_SURROGATE.search(body) is None:
        return None
    return _first_problem(value, strings=True)


def _content_type(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"content-type":  # the first one counts, as in Starlette
            return bytes(value.split(b";", 1)[0].strip().lower())
    return None


def _is_json(content_type: bytes) -> bool:
    main, _, sub = content_type.partition(b"/")
    return main == b"application" and (sub == b"json" or sub.endswith(b"+json"))


def _is_dashboard_form(scope: Scope, content_type: bytes) -> bool:
    return str(scope.get("path", "")).startswith("/ui/") and content_type.split(b";")[0].strip() == (
        b"application/x-www-form-urlencoded"
    )


def body_refusal(scope: Scope, body: bytes) -> JSONResponse | None:
    """The answer (a 422) to a body no route should see, or None to let the request through."""
    if not body:
        return None
    content_type = _content_type(scope)
    if content_type is not None and _is_dashboard_form(scope, content_type):
        return None
    if content_type is None or not _is_json(content_type):
        given = "no Content-Type" if content_type is None else f"Content-Type {content_type.decode('latin-1')!r}"
        return invalid_body([], f"send the body as JSON with 'Content-Type: application/json' ({given} given)")
    problem = json_body_problem(body)
    return None if problem is None else invalid_body(*problem)


class LimitsAndMetrics:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._reject(send, f"request body larger than {self.max_body_bytes} bytes")
            return
        status = {"code": 500}

        async def send_with_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if scope["method"] in _WITH_BODY:
                body = await self._read_body(receive)
                if body is None:  # the client went away
                    return
                refusal = body_refusal(scope, body)
                if refusal is not None:
                    await refusal(scope, receive, send_with_status)
                    return
                receive = replay(body)
            await self.app(scope, self._limited(receive), send_with_status)
        except _TooLarge:
            await self._reject(send, f"request body larger than {self.max_body_bytes} bytes")
            status["code"] = 413
        finally:  # a bug's exception passes on to the outer 500 handler, counted as a 500 here
            route = getattr(scope.get("route"), "path", "unmatched")
            state: Any = getattr(scope["app"].state, "steadyrec", None)
            if state is not None:
                record_response(state.metrics, route, status["code"], started)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body (at most max_body_bytes, else ``_TooLarge``), or None on a disconnect."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:  # chunked bodies without a length
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _limited(self, receive: Receive) -> Receive:
        received = {"bytes": 0}

        async def receive_limited() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
                if received["bytes"] > self.max_body_bytes:  # chunked bodies without a length
                    raise _TooLarge
            return message

        return receive_limited

    @staticmethod
    async def _reject(send: Send, message: str) -> None:
        body = json.dumps({"detail": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
