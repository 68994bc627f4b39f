"""Turning a /recommend request into a ranked list: history lookup, id mapping, scoring, filters, top-K.

The fallback for an empty or all-unknown history is the live model's most popular training items
(``popular_items`` in its manifest), with the same filters applied, and the answer is marked
``fallback: true``. Scores of fallback items are their popularity rank as a negative number
(-1 for the most popular), so that higher is still better.
"""

from __future__ import annotations

import numpy as np

from service.batcher import MicroBatcher
from service.errors import InvalidRequest, NotFound
from service.event_store import EventStore
from service.inference import LoadedModel, top_k
from service.schemas import RecommendRequest, RecommendResponse, ScoredItem
from service.settings import Settings

__all__ = ["recommend"]


def _mask(model: LoadedModel, request: RecommendRequest, history: list[int]) -> np.ndarray:
    """Boolean (n_items,) of the items that may be returned."""
    allowed = np.ones(model.n_items, dtype=bool)
    if request.candidates is not None:
        allowed[:] = False
        allowed[[i - 1 for i in model.internal_ids(request.candidates)[0]]] = True
    if request.exclude:
        allowed[[i - 1 for i in model.internal_ids(request.exclude)[0]]] = False
    if request.exclude_seen and history:
        allowed[np.asarray(history, dtype=np.int64) - 1] = False
    return allowed


def _check_limits(request: RecommendRequest, settings: Settings) -> None:
    if request.k > settings.max_k:
        raise InvalidRequest(f"k={request.k} is above this service's maximum of {settings.max_k}")
    if request.items is not None and len(request.items) > settings.max_history:
        raise InvalidRequest(f"history of {len(request.items)} items is above the maximum of {settings.max_history}")
    for name in ("candidates", "exclude"):
        values = getattr(request, name)
        if values is not None and len(values) > settings.max_list:
            raise InvalidRequest(f"'{name}' has {len(values)} items, above the maximum of {settings.max_list}")


async def recommend(
    request: RecommendRequest, model: LoadedModel, batcher: MicroBatcher, events: EventStore, settings: Settings
) -> RecommendResponse:
    _check_limits(request, settings)
    if request.user_id is not None:
        stored = events.history(request.user_id)
        if stored is None:
            raise NotFound(f"unknown user {request.user_id[:80]!r}: no stored history; send 'items' instead")
        raw = stored
    else:
        raw = request.items or []
    history, unknown = model.internal_ids(raw)
    allowed = _mask(model, request, history)
    if not history:
        reason = "empty history" if not raw else "no history item is known to the model"
        ranked = [i for i in model.popular if allowed[i - 1]][: request.k]
        items = [ScoredItem(item=model.item_ids[i - 1], score=-float(r + 1)) for r, i in enumerate(ranked)]
        return RecommendResponse(
            items=items, model_version=model.version, fallback=True, fallback_reason=reason, unknown_items=unknown
        )
    scores = await batcher.score(model, model.left_padded([history])[0])  # (n_items,)
    scores = np.where(allowed, scores, -np.inf)
    best = top_k(scores, request.k)
    return RecommendResponse(
        items=[ScoredItem(item=model.item_ids[j], score=float(scores[j])) for j in best],
        model_version=model.version,
        fallback=False,
        unknown_items=unknown,
    )
