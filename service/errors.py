"""The service's own errors, each mapped to one HTTP status by a single exception handler.

ServiceError
├── NotFound (404): unknown user, unknown model version or alias target
├── Conflict (409): a version that already exists
├── InvalidRequest (400): a well-formed body that still cannot be served
├── Unauthorized (401): missing or wrong bearer token
└── NotReady (503): no live model loaded yet
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

__all__ = [
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "NotReady",
    "ServiceError",
    "Unauthorized",
    "error_response",
    "install_handlers",
]


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


def error_response(err: ServiceError) -> JSONResponse:
    """The response of a service error: its status and ``{"detail": ...}``."""
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(err, Unauthorized) else None
    detail: object = err.message
    if isinstance(err, InvalidRequest):  # the same shape as FastAPI's own 422 (pydantic's error list)
        detail = [{"type": "value_error", "loc": ["body"], "msg": err.message}]
    return JSONResponse({"detail": detail}, status_code=err.status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, err: ServiceError) -> JSONResponse:
        return error_response(err)

    @app.exception_handler(Exception)
    async def _bug(_: Request, err: Exception) -> JSONResponse:  # Starlette logs it and re-raises after
        return JSONResponse({"detail": "internal error"}, status_code=500)
