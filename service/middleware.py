"""Request body limits and per-route metrics as a plain ASGI middleware (no per-request task or
stream wrapping, unlike Starlette's BaseHTTPMiddleware, which costs a large share of a fast request)."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics

__all__ = ["LimitsAndMetrics", "record_response"]


def record_response(metrics: Metrics, route: str, status: int, started: float) -> None:
    """Count one response and observe its latency under its route's label."""
    metrics.latency.labels(route).observe(time.perf_counter() - started)
    metrics.responses.labels(route, str(status)).inc()


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

        received = {"bytes": 0}

        async def receive_limited() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
                if received["bytes"] > self.max_body_bytes:  # chunked bodies without a length
                    raise _TooLarge
            return message

        try:
            await self.app(scope, receive_limited, send_with_status)
        except _TooLarge:
            await self._reject(send, f"request body larger than {self.max_body_bytes} bytes")
            status["code"] = 413
        finally:  # a bug's exception passes on to the outer 500 handler, counted as a 500 here
            route = getattr(scope.get("route"), "path", "unmatched")
            state: Any = getattr(scope["app"].state, "steadyrec", None)
            if state is not None:
                record_response(state.metrics, route, status["code"], started)

    @staticmethod
    async def _reject(send: Send, message: str) -> None:
        body = json.dumps({"detail": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
