from __future__ import annotations

import time

from fastapi import APIRouter, Response

from service.dependencies import AppState, StateDep
from service.errors import ServiceError
from service.recommending import recommend, request_history
from service.schemas import RecommendRequest, RecommendResponse

router = APIRouter(tags=["recommend"])


async def serve_recommend(body: RecommendRequest, state: AppState) -> bytes:
    """A validated request's JSON answer; offers it to the shadow mirror when sampled."""
    model = state.registry.live()  # one reference for the whole request: a swap never mixes models
    started = time.perf_counter()
    history = await request_history(body, state.events, state.settings)
    try:
        response = await recommend(body, model, state.batcher, history)
    except ServiceError:
        raise  # the client's doing (unknown user, limits), not the model's
    except Exception:
        state.serving.observe(model.version, time.perf_counter() - started, error=True)
        raise
    state.serving.observe(model.version, time.perf_counter() - started, error=False)
    if body.user_id is not None:  # a stored user: their next event can judge this list (online hit rate)
        state.hits.served(body.user_id, [r.item for r in response.items], model.version)
    if response.fallback:
        state.metrics.fallbacks.inc()
    elif body.exclude_seen and body.candidates is None and body.exclude is None and state.mirror.wants_sample():
        state.mirror.offer(history, [r.item for r in response.items], model.version, body.k)
    # Serialised once by pydantic's own encoder (the model is already validated): no generic response
    # validation or jsonable_encoder on the hot path.
    return response.model_dump_json().encode()


@router.post("/recommend", response_model=RecommendResponse)
async def post_recommend(body: RecommendRequest, state: StateDep) -> Response:
    """Top-k items for a stored user (`user_id`) or an explicit history (`items`), from the live model."""
    return Response(await serve_recommend(body, state), media_type="application/json")
