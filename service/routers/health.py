from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.dependencies import StateDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    """Ready when a live model is loaded (503 otherwise)."""
    live = state.registry.get("live")
    if live is None:
        return JSONResponse({"status": "not ready", "detail": "no live model loaded"}, status_code=503)
    return JSONResponse({"status": "ready", "live": live.version})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics: batch size, queue wait, inference time, request latency, responses."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
