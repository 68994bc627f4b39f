"""The service's own errors, each mapped to one HTTP status by a single exception handler.

ServiceError
├── NotFound (404): unknown user, unknown model version or alias target
├── Conflict (409): the current state forbids it (a version that exists, no passed canary, too late to cancel)
├── InvalidRequest (422): a well-formed body that still cannot be served
├── Unauthorized (401): missing or wrong bearer token
├── NotReady (503): no live model loaded yet
└── Unavailable (503, Retry-After): a store the request needs (the event log's database, Redis) is away

A body that fails validation gets FastAPI's 422 shape (``{"detail": [{"type", "loc", "msg", "ctx"}]}``)
without the ``input`` FastAPI echoes: the input may be a value JSON cannot carry (NaN, infinity, a
lone surrogate, bytes), which made rendering the 422 itself fail with a 500, and echoing a megabyte
of a client's body back helps no one. ``loc`` names the field; ``ctx`` keeps JSON-safe values only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.schemas import IDENTIFIER_PATTERN

__all__ = [
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "NotReady",
    "ServiceError",
    "Unauthorized",
    "error_response",
    "install_handlers",
    "invalid_body",
    "safe_text",
    "validation_detail",
]

IDENTIFIER_MESSAGE = "must not contain control characters (U+0000-U+001F, U+007F-U+009F)"


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class InvalidRequest(ServiceError):
    status = 422


class Unauthorized(ServiceError):
    status = 401


class NotReady(ServiceError):
    status = 503


class Unavailable(ServiceError):
    status = 503
    retry_after_s = 1


def error_response(err: ServiceError) -> JSONResponse:
    """The response of a service error: its status and ``{"detail": ...}``."""
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(err, Unauthorized) else None
    if isinstance(err, Unavailable):
        headers = {"Retry-After": str(err.retry_after_s)}
    detail: object = safe_text(err.message)
    if isinstance(err, InvalidRequest):  # the same shape as FastAPI's own 422 (pydantic's error list)
        detail = [{"type": "value_error", "loc": ["body"], "msg": detail}]
    return JSONResponse({"detail": detail}, status_code=err.status, headers=headers)


def safe_text(text: str) -> str:
    """``text`` as JSON can carry it: lone surrogates written as backslash escapes."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _safe_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return safe_text(str(value))


def _safe_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """One pydantic error without its input, every part JSON-safe, the identifier rule in words."""
    ctx = error.get("ctx") or {}
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "string_pattern_mismatch" and ctx.get("pattern") == IDENTIFIER_PATTERN:
        message = f"String {IDENTIFIER_MESSAGE}"
    out: dict[str, Any] = {
        "type": str(error.get("type", "value_error")),
        "loc": [part if isinstance(part, int) else safe_text(str(part)) for part in error.get("loc", ())],
        "msg": safe_text(message),
    }
    if ctx:
        out["ctx"] = {str(key): _safe_value(value) for key, value in ctx.items()}
    return out


def validation_detail(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A 422's ``detail``: pydantic's (or FastAPI's) errors without their echoed input."""
    return [_safe_error(error) for error in errors]


def invalid_body(loc: Sequence[str | int], message: str) -> JSONResponse:
    """A 422 for a body that is not acceptable JSON, in FastAPI's shape; ``loc`` is inside the body."""
    detail = validation_detail([{"type": "json_invalid", "loc": ["body", *loc], "msg": message}])
    return JSONResponse({"detail": detail}, status_code=422)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, err: ServiceError) -> JSONResponse:
        return error_response(err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(err.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def _bug(_: Request, err: Exception) -> JSONResponse:  # Starlette logs it and re-raises after
        return JSONResponse({"detail": "internal error"}, status_code=500)
