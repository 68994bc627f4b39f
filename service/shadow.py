"""Shadow comparison and the canary run: which histories to compare, and running the comparison off
the event loop. The gate's arithmetic is in steadyrec.core.canary."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from service.errors import Conflict, InvalidRequest, NotFound
from service.event_store import EventStore
from service.registry import ModelRegistry
from service.schemas import ShadowRequest
from steadyrec.core.canary import CanaryPolicy, canary_verdict, compare, summarise
from steadyrec.core.canary import policy_from as canary_policy
from steadyrec.core.history import History
from steadyrec.core.manifest import ArtifactError
from steadyrec.core.onnx_model import LoadedModel, TimestampsMissing, load_version

__all__ = ["policy_from", "run_canary", "shadow_compare"]

log = logging.getLogger(__name__)

DEFAULT_REPLAY = 500  # users compared when a shadow request names neither requests nor replay


def policy_from(values: dict[str, Any]) -> CanaryPolicy:
    try:
        return canary_policy(values)
    except ValueError as err:
        raise InvalidRequest(str(err)) from None


async def _histories(body: ShadowRequest, events: EventStore) -> list[History]:
    if body.requests is None:
        return [history for _, history in await events.recent(body.replay or DEFAULT_REPLAY)]
    out = []
    for i, item in enumerate(body.requests):
        if item.user_id is not None:
            history = await events.history(item.user_id)
            if history is None:
                raise NotFound(f"requests[{i}]: unknown user {item.user_id[:80]!r}")
            out.append(history)
        else:
            out.append(History(list(item.items or []), item.timestamps))
    return out


def _candidate(registry: ModelRegistry, version: str | None) -> LoadedModel:
    """The loaded candidate, or ``version`` loaded (and verified) for this comparison."""
    current = registry.get("candidate")
    if version is None or (current is not None and current.version == version):
        if current is None:
            raise Conflict("no candidate model is loaded; register one or run a fine-tune job first")
        return current
    if not registry.store.exists(version):
        raise NotFound(f"no model version {version!r}")
    try:
        return load_version(version, registry.store.path(version), registry.session)
    except ArtifactError as err:
        raise Conflict(f"model version {version!r} failed verification: {err}") from err


async def shadow_compare(body: ShadowRequest, registry: ModelRegistry, events: EventStore) -> dict[str, Any]:
    live = registry.live()
    candidate = _candidate(registry, None)
    histories = await _histories(body, events)
    try:
        result = await asyncio.to_thread(compare, live, candidate, histories, body.k, body.p)
    except TimestampsMissing as err:
        raise InvalidRequest(f"{err}: send 'timestamps' with each request's 'items'") from None
    return {
        "live": live.version,
        "candidate": candidate.version,
        "k": body.k,
        "p": body.p,
        "per_request": [
            {"rbo": float(r), "jaccard": float(j), "history_length": int(n)}
            for r, j, n in zip(result.rbo, result.jaccard, result.history_lengths, strict=True)
        ],
        "groups": summarise(result, body.long_history),
    }


async def run_canary(
    version: str, policy: CanaryPolicy, samples: int, registry: ModelRegistry, events: EventStore
) -> dict[str, Any]:
    """Compare ``version`` with live on a replay of recent users and apply the gate; store the verdict."""
    live = registry.live()
    candidate = await asyncio.to_thread(_candidate, registry, version)
    if candidate.version == live.version:
        log.info("canary of %s against itself (it is live)", version)
    replay = [history for _, history in await events.recent(samples)]
    floor_model = None
    if policy.noise_floor_version is not None:
        floor_model = await asyncio.to_thread(_candidate, registry, policy.noise_floor_version)
    try:
        verdict = await asyncio.to_thread(canary_verdict, live, candidate, replay, policy, floor_model)
    except TimestampsMissing as err:
        raise Conflict(f"{err}: the replayed users' stored histories have no times (a seed log without them)") from None
    if not policy.dry_run:
        await asyncio.to_thread(registry.store.write_verdict, candidate.version, verdict)
    log.info("canary %s vs live %s: %s", candidate.version, live.version, "pass" if verdict["passed"] else "fail")
    return verdict
