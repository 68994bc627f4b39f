from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.dependencies import StateDep
from service.responses import HealthResponse, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """The process is up."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    response_model_exclude_none=True,
    responses={503: {"model": ReadyResponse, "description": "no live model loaded yet"}},
)
async def readyz(state: StateDep) -> ReadyResponse | JSONResponse:
    """Ready when a live model is loaded (503 otherwise)."""
    live = state.registry.get("live")
    if live is None:
        body = ReadyResponse(status="not ready", detail="no live model loaded")
        return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
    return ReadyResponse(status="ready", live=live.version)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics: batch size, queue wait, inference time, request latency, responses."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
