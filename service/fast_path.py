"""`POST /recommend` without FastAPI's per-request machinery, for the requests that are plainly valid.

FastAPI checks its native OpenTelemetry providers, resolves dependencies, parses the body with
``json.loads``, validates the resulting dict and passes the request through every middleware layer:
most of the service's own cost on a ~1 ms request. The fast path is the entry of the app (before
FastAPI and any middleware) and serves a JSON ``POST /recommend`` directly: it reads the body,
validates it with pydantic's JSON validator (one pass in Rust) and answers through the route's own
function (``serve_recommend``), recording the same Prometheus metrics as every other route. FastAPI's
native OpenTelemetry instrumentation does not see these requests; ``STEADYREC_FAST_PATH=false`` sends
every request through FastAPI.

Everything else goes to the full app unchanged: other routes and methods, bodies without a
Content-Length or above the size limit (the full app answers 413), browser requests with an
``Origin`` when CORS is on (CORS headers come from the full app), requests before the live state
exists, and every body that does not validate (replayed, so each 422 is FastAPI's own).

pydantic's JSON parser takes the last of duplicate keys, where the full app refuses them
(service.middleware), so a body that validates is also replayed when a field's key may occur twice:
a quoted field name seen twice (even as an item id) or an escape ``\\u0041``-``\\u007f`` that could spell one.
This costs a few ``bytes.count`` scans (about 1 µs on a small body); a false alarm is only slower.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import ServiceError, error_response
from service.middleware import record_response, replay
from service.routers.recommend import serve_recommend
from service.schemas import RecommendRequest

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["RecommendFastPath"]

log = logging.getLogger(__name__)

ROUTE = "/recommend"
_JSON = b"application/json"
_INTERNAL_ERROR = b'{"detail":"internal error"}'
_KEYS = tuple(f'"{name}"'.encode() for name in RecommendRequest.model_fields)
_ESCAPED_ASCII_LETTER = re.compile(rb"\\u00[4-7]")


def may_repeat_a_key(body: bytes) -> bool:
    """Whether a field of ``RecommendRequest`` may be given twice in ``body`` (no false negatives)."""
    return _ESCAPED_ASCII_LETTER.search(body) is not None or any(body.count(key) > 1 for key in _KEYS)


class RecommendFastPath:
    """Serves valid JSON ``POST /recommend`` in front of ``app`` (the full FastAPI app)."""

    def __init__(self, app: ASGIApp, owner: FastAPI, max_body_bytes: int, cors: bool) -> None:
        self.app = app
        self.owner = owner  # its state holds the live AppState once the lifespan has run
        self.max_body_bytes = max_body_bytes
        self.cors = cors

    def takes(self, scope: Scope) -> bool:
        """Whether this request is one for the fast path (cheap: path, method and three headers)."""
        if scope["type"] != "http" or scope["path"] != ROUTE or scope["method"] != "POST":
            return False
        json = length = False
        typed = False
        for name, value in scope["headers"]:
            if name == b"content-type" and not typed:  # the first one counts, as in Starlette
                json, typed = value.split(b";", 1)[0].strip().lower() == _JSON, True
            elif name == b"content-length":
                length = value.isdigit() and int(value) <= self.max_body_bytes
            elif name == b"origin" and self.cors:
                return False
        return json and length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request that ``takes`` accepted (anything unfit is still handed to the full app)."""
        state = getattr(self.owner.state, "steadyrec", None)
        if state is None:  # before the lifespan has run
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            request = RecommendRequest.model_validate_json(body)
        except ValidationError:
            await self.app(scope, replay(body), send)  # FastAPI's own 422 for this body
            return
        if may_repeat_a_key(body):
            await self.app(scope, replay(body), send)  # the full app refuses duplicate keys
            return
        try:
            payload, status, headers = await serve_recommend(request, state), 200, [(b"content-type", _JSON)]
        except ServiceError as err:
            response = error_response(err)
            payload, status = bytes(response.body), response.status_code
            headers = [h for h in response.raw_headers if h[0] != b"content-length"]
        except Exception:  # a bug, not the client's doing: logged, answered as the full app's handler does
            log.exception("POST /recommend failed")
            payload, status, headers = _INTERNAL_ERROR, 500, [(b"content-type", _JSON)]
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        record_response(state.metrics, ROUTE, status, started)
