from __future__ import annotations

from fastapi import APIRouter

from service.dependencies import Authorized, StateDep
from service.responses import ShadowCompareResponse
from service.schemas import ShadowRequest
from service.shadow import shadow_compare

router = APIRouter(prefix="/shadow", tags=["canary"])


@router.post("/compare", dependencies=[Authorized], response_model=ShadowCompareResponse)
async def post_compare(body: ShadowRequest, state: StateDep) -> ShadowCompareResponse:
    """Score requests (given, or a replay of recent users) with live and candidate: per-request RBO_ext and
    Jaccard@K of the two top-K lists, with mean / p10 / p50 / histogram overall and by history length."""
    return ShadowCompareResponse.model_validate(await shadow_compare(body, state.registry, state.events))
