from __future__ import annotations

import logging
import secrets
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from service.dashboard.report import render_report
from service.dependencies import AppState, Authorized, StateDep
from service.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from service.hit_rate import VersionCounts
from service.responses import (
    AliasResponse,
    CanaryVerdict,
    OnlineHitRate,
    PromoteResponse,
    RollbackResponse,
    VerdictSummary,
)
from service.schemas import AliasRequest, CanaryRequest, ModelInfo, ModelsResponse, PromoteRequest
from service.shadow import policy_from, run_canary
from steadyrec.core.manifest import ArtifactError
from steadyrec.core.registry import validate_version

router = APIRouter(prefix="/models", tags=["models"])
log = logging.getLogger(__name__)


async def model_info(state: AppState, version: str, aliases: dict[str, str]) -> ModelInfo | None:
    """What ``GET /models`` lists of one version; None for a version failing verification (logged)."""
    store = state.registry.store
    try:
        manifest = store.manifest(version)
    except ArtifactError as err:
        log.warning("model %s is not usable: %s", version, err)
        return None
    return ModelInfo(
        version=version,
        model_kind=manifest.model_kind,
        n_items=manifest.n_items,
        max_len=manifest.max_len,
        created_at=manifest.created_at,
        parent=manifest.parent,
        data_fingerprint=manifest.data.fingerprint,
        metrics=manifest.metrics,
        aliases=[a for a, v in aliases.items() if v == version],
        verdict=_verdict_summary(store.verdict(version)),
        online=_online(await state.hits.counts(version)),
    )


@router.get("", response_model=ModelsResponse)
async def list_models(state: StateDep) -> ModelsResponse:
    """Registered versions with their aliases; versions failing verification are listed as unusable in logs."""
    aliases = state.registry.store.aliases()
    infos = [await model_info(state, version, aliases) for version in state.registry.store.versions()]
    return ModelsResponse(
        models=[info for info in infos if info is not None], aliases=aliases, loaded=state.registry.loaded()
    )


@router.put("/aliases/{alias}", dependencies=[Authorized], response_model=AliasResponse)
async def set_alias(alias: str, body: AliasRequest, state: StateDep) -> AliasResponse:
    """Point `live` or `candidate` at a registered version; loads and verifies it, then swaps atomically."""
    if alias not in ("live", "candidate"):
        raise NotFound(f"unknown alias {alias[:40]!r}; expected 'live' or 'candidate'")
    model = await state.registry.set_alias(alias, body.version, body.reason)
    return AliasResponse(alias=alias, version=model.version)


def _online(counts: VersionCounts) -> OnlineHitRate:
    return OnlineHitRate(served=counts.served, judged=counts.judged, hits=counts.hits, hit_rate=counts.hit_rate)


def _verdict_summary(verdict: dict[str, Any] | None) -> VerdictSummary | None:
    if verdict is None:
        return None
    return VerdictSummary.model_validate(verdict)  # the fields it names; the figures stay in GET .../canary


def _version(version: str) -> str:
    try:
        return validate_version(version)
    except ValueError as err:
        raise InvalidRequest(str(err)) from err


@router.post("/{version}/canary", dependencies=[Authorized], response_model=CanaryVerdict)
async def post_canary(version: str, body: CanaryRequest, state: StateDep) -> CanaryVerdict:
    """Run the stability canary of `version` against live; the verdict (every figure, every failed
    condition in words) is stored with the version unless the policy says `dry_run`."""
    policy = policy_from(body.policy)
    verdict = await run_canary(_version(version), policy, body.samples, state.registry, state.events)
    return CanaryVerdict.model_validate(verdict)


@router.get(
    "/{version}/canary",
    response_model=CanaryVerdict,
    responses={
        200: {
            "description": "the verdict (JSON), or the HTML report",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
async def get_canary(
    version: str,
    request: Request,
    state: StateDep,
    view: Literal["json", "html"] | None = Query(None, alias="format", description="json or html"),
) -> Any:
    """The stored canary verdict of `version`: JSON, or an HTML report with the RBO / Jaccard
    distributions per user group (`?format=html`, or a browser's `Accept: text/html`)."""
    verdict = state.registry.store.verdict(_version(version))
    if verdict is None:
        raise NotFound(f"no canary verdict for {version!r}; POST /models/{version}/canary runs one")
    if view == "html" or (view is None and "text/html" in request.headers.get("accept", "")):
        return HTMLResponse(render_report(verdict))
    return CanaryVerdict.model_validate(verdict)


def _check_admin(request: Request, state: StateDep) -> None:
    """A forced promotion needs the admin token in ``X-Admin-Token`` besides the ordinary bearer token."""
    admin = state.settings.admin_token
    expected = admin.get_secret_value() if admin is not None else ""
    if not expected:  # Settings turns an empty token into None; an empty secret must never match
        raise Unauthorized("forced promotion is disabled: no STEADYREC_ADMIN_TOKEN is set")
    given = request.headers.get("x-admin-token", "")
    if not given or not secrets.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("forced promotion needs the admin token in the X-Admin-Token header")


@router.post("/{version}/promote", dependencies=[Authorized], response_model=PromoteResponse)
async def promote(version: str, body: PromoteRequest, request: Request, state: StateDep) -> PromoteResponse:
    """Make `version` live. It needs a passed canary verdict against the current live model, unless
    `force` is set with the admin token in `X-Admin-Token` (the override is logged)."""
    version = _version(version)
    store = state.registry.store
    if not store.exists(version):
        raise NotFound(f"no model version {version!r}")
    live = store.aliases().get("live")
    if version == live:
        raise Conflict(f"{version!r} is already live")
    verdict = store.verdict(version)
    if body.force:
        _check_admin(request, state)
        log.warning("FORCED promotion of %s over %s without a passed canary: %s", version, live, body.reason)
        reason = f"forced: {body.reason}"
    elif verdict is None or not verdict.get("passed"):
        why = "no canary verdict" if verdict is None else "its canary failed: " + "; ".join(verdict["failures"])
        raise Conflict(f"cannot promote {version!r}: {why}")
    elif verdict.get("live") != live:
        raise Conflict(
            f"the canary of {version!r} compared it with {verdict.get('live')!r}, not the live {live!r}; run it again"
        )
    else:
        reason = body.reason or "canary passed"
    model = await state.registry.set_alias("live", version, reason)
    if store.aliases().get("candidate") == version:
        await state.registry.clear_alias("candidate", f"promoted to live: {reason}")
    return PromoteResponse(live=model.version, previous=live, forced=body.force)


@router.post("/rollback", dependencies=[Authorized], response_model=RollbackResponse)
async def rollback(state: StateDep) -> RollbackResponse:
    """Make the previously live version live again."""
    store = state.registry.store
    previous, current = store.previous_live(), store.aliases().get("live")
    if previous is None:
        raise Conflict("there is no earlier live version to roll back to")
    model = await state.registry.set_alias("live", previous, f"rollback from {current}")
    return RollbackResponse(live=model.version, previous=current)
