"""`POST /recommend` without FastAPI's per-request machinery, for the requests that are plainly valid.

FastAPI resolves dependencies, parses the body with ``json.loads`` and validates the resulting dict on
every request, which is most of the service's own cost on a ~1 ms request. This ASGI middleware
serves a JSON ``POST /recommend`` directly: it reads the body, validates it with pydantic's JSON
validator (one pass in Rust) and answers through the route's own function (`serve_recommend`).
Anything else, and every body that does not validate, goes to FastAPI unchanged (the body is replayed),
so error responses, the OpenAPI schema and every other route are FastAPI's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ServiceError, error_response
from service.routers.recommend import serve_recommend
from service.schemas import RecommendRequest

__all__ = ["RecommendFastPath"]

_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class _Route:
    path: str


_ROUTE = _Route("/recommend")


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


class RecommendFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/recommend" or scope["method"] != "POST" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
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
            await self.app(scope, _replay(body), send)  # FastAPI's own 422 for this body
            return
        scope["route"] = _ROUTE  # the per-route metrics label (LimitsAndMetrics reads its path)
        state = scope["app"].state.steadyrec
        try:
            payload, status, headers = await serve_recommend(request, state), 200, _JSON_HEADERS
        except ServiceError as err:
            response = error_response(err)
            payload, status, headers = bytes(response.body), response.status_code, response.raw_headers
        else:
            headers = [*headers, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
