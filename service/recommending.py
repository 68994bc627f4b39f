"""Turning a /recommend request into a ranked list: history lookup, id mapping, scoring, filters, top-K.

A model whose graph has its own top-K (``LoadedModel.has_top_k``) answers requests without ``candidates``
or ``exclude`` from it, the seen items left out inside the graph; the others score every item and are
cut here (``top_k``). Both give the same list, ties to the lower id.

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
from service.schemas import RecommendRequest, RecommendResponse, ScoredItem
from service.settings import Settings
from steadyrec.core.history import History
from steadyrec.core.onnx_model import LoadedModel, ModelInput, TimestampsMissing, top_k

__all__ = ["recommend", "request_history"]


def _disallow(scores: np.ndarray, model: LoadedModel, request: RecommendRequest, history: np.ndarray) -> None:
    """Set the scores of the items that may not be returned to -inf, in place: (n_items,); ``history`` (n,)
    the internal ids of the known history items."""
    if request.candidates is not None:
        allowed = np.zeros(model.n_items, dtype=bool)
        allowed[np.asarray(model.internal_ids(request.candidates)[0], dtype=np.int64) - 1] = True
        scores[~allowed] = -np.inf
    if request.exclude:
        scores[np.asarray(model.internal_ids(request.exclude)[0], dtype=np.int64) - 1] = -np.inf
    if request.exclude_seen:
        scores[history - 1] = -np.inf


def _check_limits(request: RecommendRequest, settings: Settings) -> None:
    if request.k > settings.max_k:
        raise InvalidRequest(f"k={request.k} is above this service's maximum of {settings.max_k}")
    if request.items is not None and len(request.items) > settings.max_history:
        raise InvalidRequest(f"history of {len(request.items)} items is above the maximum of {settings.max_history}")
    for name in ("candidates", "exclude"):
        values = getattr(request, name)
        if values is not None and len(values) > settings.max_list:
            raise InvalidRequest(f"'{name}' has {len(values)} items, above the maximum of {settings.max_list}")


async def request_history(request: RecommendRequest, events: EventStore, settings: Settings) -> History:
    """The request's history, oldest first: its ``items`` (and ``timestamps``), or the stored history of its
    ``user_id`` (read once per request, after the limits are checked)."""
    _check_limits(request, settings)
    if request.user_id is None:
        return History(request.items or [], request.timestamps)
    stored = await events.history(request.user_id)
    if stored is None:
        raise NotFound(f"unknown user {request.user_id[:80]!r}: no stored history; send 'items' instead")
    return stored


def _model_input(model: LoadedModel, request: RecommendRequest, raw: History) -> ModelInput:
    """The history as the model reads it; a time-aware model without the history's times is a 422."""
    try:
        return model.model_input(raw)
    except TimestampsMissing:
        name = f"model {model.version} ({model.manifest.model_kind})"
        if request.user_id is None:
            raise InvalidRequest(
                f"{name} reads the time of every history item: send 'timestamps', one per item of 'items'"
            ) from None
        raise InvalidRequest(
            f"{name} reads the time of every history item, and the stored history of user "
            f"{request.user_id[:80]!r} has none (its seed log had no timestamps): send 'items' with 'timestamps'"
        ) from None


async def recommend(
    request: RecommendRequest, model: LoadedModel, batcher: MicroBatcher, raw: History
) -> RecommendResponse:
    """Top-k of ``model`` for ``raw`` (``request_history``), with the request's filters."""
    given = _model_input(model, request, raw)
    history, unknown = given.known, given.unknown  # (n,) internal ids, oldest first
    if not len(history):
        reason = "empty history" if not len(raw) else "no history item is known to the model"
        popularity = np.zeros(model.n_items, dtype=np.float32)
        _disallow(popularity, model, request, history)
        allowed = [i for i in model.popular.tolist() if popularity[i - 1] == 0.0][: request.k]
        items = [ScoredItem(item=model.item_ids[i - 1], score=-float(r + 1)) for r, i in enumerate(allowed)]
        return RecommendResponse(
            items=items, model_version=model.version, fallback=True, fallback_reason=reason, unknown_items=unknown
        )
    if model.has_top_k and request.candidates is None and not request.exclude:
        exclude = history if request.exclude_seen else np.zeros(0, np.int64)
        ids, best_scores = await batcher.top(model, given.ids, given.times, min(request.k, model.n_items), exclude)
        finite = np.isfinite(best_scores)  # -inf where fewer than k were left (NaN: a broken model)
        ranked = zip((ids[finite] - 1).tolist(), best_scores[finite].tolist(), strict=True)
    else:
        scores = await batcher.score(model, given.ids, given.times)  # (n_items,), ours to modify
        _disallow(scores, model, request, history)
        best = top_k(scores, request.k)
        ranked = zip(best.tolist(), scores[best].tolist(), strict=True)
    return RecommendResponse.model_validate(  # from plain dicts: one validation pass in pydantic-core
        {
            "items": [{"item": model.item_ids[j], "score": s} for j, s in ranked],
            "model_version": model.version,
            "fallback": False,
            "unknown_items": unknown,
        }
    )
