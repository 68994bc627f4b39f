"""The operator's dashboard (``/ui``): models, the loop, trends over time and the canary reports, rendered
on the server from the same handlers the JSON API uses. Reading needs a sign-in unless
``STEADYREC_DASHBOARD_OPEN`` is set; promoting and rolling back always do, and ask for confirmation."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.dashboard import auth
from service.dashboard.charts import line_chart
from service.dashboard.report import report_context
from service.dashboard.templating import render
from service.dependencies import AppState, StateDep
from service.errors import ServiceError
from service.routers.models import model_info, promote, rollback
from service.routers.schedules import list_schedules
from service.schemas import PromoteRequest
from steadyrec.core.registry import validate_version

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

MODELS_PER_PAGE = 25  # a screenful of versions; older ones on later pages
JOBS_PER_PAGE = 50  # the loop page stays under 300 ms with 1,000 jobs stored
VERSIONS_CHARTED = 100  # the per-version charts show the newest this many
REFRESH_S = 5  # the loop page reloads itself this often while a job is in progress
IN_PROGRESS = {"queued", "running", "publishing"}
Page = Query(1, ge=1, le=100_000, description="page number, from 1")


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _redirect(path: str, flash: str | None = None, error: bool = False) -> RedirectResponse:
    query = {"flash": flash[:300]} if flash else {}
    if flash and error:
        query["error"] = "1"
    return RedirectResponse(path + ("?" + urlencode(query) if query else ""), status_code=303)


def _common(request: Request, state: AppState, page: str, title: str) -> dict[str, Any]:
    return {
        "page": page,
        "title": title,
        "static": "/ui/static",
        "signed_in": auth.signed_in(request, state.settings),
        "csrf": auth.csrf_token(state.settings),
        "flash": request.query_params.get("flash"),
        "flash_error": request.query_params.get("error") == "1",
        "refresh": None,
    }


def _may_read(request: Request, state: AppState) -> bool:
    return state.settings.dashboard_open or auth.signed_in(request, state.settings)


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse("/ui/login?" + urlencode({"next": request.url.path}), status_code=303)


def _pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/models", status_code=303)


@router.get("/login")
async def login_page(request: Request, state: StateDep, next: str = Query("/ui/models", max_length=200)) -> Response:
    context = _common(request, state, "login", "Sign in")
    return _html(render("login.html", next=next if next.startswith("/ui/") else "/ui/models", **context))


@router.post("/login")
async def login(request: Request, state: StateDep) -> Response:
    try:
        form = await auth.parse_form(request)
    except ValueError as err:
        return _html(
            render(
                "login.html",
                next="/ui/models",
                **{**_common(request, state, "login", "Sign in"), "flash": str(err), "flash_error": True},
            ),
            422,
        )
    target = form.get("next", "/ui/models")
    target = target if target.startswith("/ui/") and "//" not in target else "/ui/models"
    if not auth.token_matches(state.settings, form.get("token", "")):
        context = {**_common(request, state, "login", "Sign in"), "flash": "wrong token", "flash_error": True}
        return _html(render("login.html", next=target, **context), 401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.COOKIE,
        auth.session_token(state.settings),
        max_age=auth.SESSION_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def _checked_form(request: Request, state: AppState) -> dict[str, str] | Response:
    """An action's form, once the sign-in and the CSRF token are checked."""
    if not auth.signed_in(request, state.settings):
        return _to_login(request)
    try:
        form = await auth.parse_form(request)
    except ValueError as err:
        return _redirect("/ui/models", str(err), error=True)
    if form.get("csrf") != auth.csrf_token(state.settings):
        return _redirect("/ui/models", "the form is stale or not from this dashboard: reload the page", error=True)
    return form


@router.post("/logout")
async def logout(request: Request, state: StateDep) -> Response:
    form = await _checked_form(request, state)
    if isinstance(form, Response):
        return form
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/ui")
    return response


@router.get("/models")
async def models_page(request: Request, state: StateDep, page: int = Page) -> Response:
    if not _may_read(request, state):
        return _to_login(request)
    store = state.registry.store
    aliases = store.aliases()
    versions = sorted(store.versions(), key=lambda v: (_created(state, v), v), reverse=True)
    pages = _pages(len(versions), MODELS_PER_PAGE)
    chosen = versions[(min(page, pages) - 1) * MODELS_PER_PAGE : min(page, pages) * MODELS_PER_PAGE]
    infos = [await model_info(state, version, aliases) for version in chosen]
    history = list(reversed(store.history()))[:20]
    return _html(
        render(
            "models.html",
            models=[i for i in infos if i is not None],
            aliases=aliases,
            previous_live=store.previous_live(),
            total=len(versions),
            pages=pages,
            current=min(page, pages),
            history=history,
            **_common(request, state, "models", "Models"),
        )
    )


def _created(state: AppState, version: str) -> str:
    try:
        return state.registry.store.manifest(version).created_at
    except Exception:  # a broken version sorts last; model_info logs why
        return ""


@router.post("/models/{version}/promote")
async def promote_from_ui(version: str, request: Request, state: StateDep) -> Response:
    form = await _checked_form(request, state)
    if isinstance(form, Response):
        return form
    try:
        answer = await promote(version, PromoteRequest(reason="from the dashboard"), request, state)
    except ServiceError as err:
        return _redirect("/ui/models", f"not promoted: {err.message}", error=True)
    return _redirect("/ui/models", f"{answer.live} is live (it was {answer.previous})")


@router.post("/rollback")
async def rollback_from_ui(request: Request, state: StateDep) -> Response:
    form = await _checked_form(request, state)
    if isinstance(form, Response):
        return form
    try:
        answer = await rollback(state)
    except ServiceError as err:
        return _redirect("/ui/models", f"not rolled back: {err.message}", error=True)
    return _redirect("/ui/models", f"rolled back: {answer.live} is live (it was {answer.previous})")


@router.get("/loop")
async def loop_page(request: Request, state: StateDep, page: int = Page) -> Response:
    if not _may_read(request, state):
        return _to_login(request)
    total = await asyncio.to_thread(state.jobs.count)
    pages = _pages(total, JOBS_PER_PAGE)
    current = min(page, pages)
    jobs = await asyncio.to_thread(state.jobs.recent, JOBS_PER_PAGE, (current - 1) * JOBS_PER_PAGE)
    schedules = (await list_schedules(state)).schedules
    store = state.registry.store
    candidates = {}
    for job in jobs:
        version = (job.result or {}).get("candidate_version") or f"cand-{job.id}"
        if store.exists(version):
            candidates[job.id] = {"version": version, "verdict": store.verdict(version)}
    context = _common(request, state, "loop", "The loop")
    if any(job.state in IN_PROGRESS for job in jobs):
        context["refresh"] = REFRESH_S
    return _html(
        render(
            "loop.html",
            jobs=jobs,
            schedules=schedules,
            candidates=candidates,
            total=total,
            pages=pages,
            current=current,
            **context,
        )
    )


@router.get("/trends")
async def trends_page(request: Request, state: StateDep) -> Response:
    if not _may_read(request, state):
        return _to_login(request)
    store = state.registry.store
    versions = sorted(store.versions(), key=lambda v: (_created(state, v), v))
    shown = versions[-VERSIONS_CHARTED:]
    hit_rates: list[float | None] = []
    rbo: list[float | None] = []
    jaccard: list[float | None] = []
    for version in shown:
        counts = await state.hits.counts(version)
        hit_rates.append(counts.hit_rate if counts.judged else None)
        overall = ((store.verdict(version) or {}).get("figures") or {}).get("groups", {}).get("all", {})
        rbo.append((overall.get("rbo") or {}).get("mean"))
        jaccard.append((overall.get("jaccard") or {}).get("mean"))
    replay_dir = state.settings.replay_results
    return _html(
        render(
            "trends.html",
            versions_hit_rate=line_chart("online hit rate", {"hit rate": hit_rates}, shown, y_range=(0.0, 1.0)),
            versions_gate=line_chart(
                "canary gate against the live model of its day",
                {"mean RBO": rbo, "mean Jaccard": jaccard},
                shown,
                y_range=(0.0, 1.0),
            ),
            shown=len(shown),
            total=len(versions),
            replays=await asyncio.to_thread(_replays, replay_dir) if replay_dir is not None else [],
            replay_dir=replay_dir,
            **_common(request, state, "trends", "Over time"),
        )
    )


def _replays(folder: Path) -> list[dict[str, Any]]:
    """The daily-replay results in ``folder``: NDCG@10 and RBO per policy over the days."""
    charts = []
    for path in sorted(folder.glob("daily-replay-*.json")):
        try:
            result = json.loads(path.read_text())
            rows = [r for r in result["rows"] if isinstance(r.get("day"), int)]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a replay result
        days = sorted({r["day"] for r in rows})
        for dataset in sorted({r["dataset"] for r in rows}):
            policies = sorted({r["policy"] for r in rows if r["dataset"] == dataset})

            labels = [f"day {d}" for d in days]
            charts.append(
                {
                    "name": f"{dataset} ({path.name})",
                    "command": result.get("command", ""),
                    "date": result.get("date"),
                    "ndcg": line_chart(
                        "NDCG@10", {p: _curve(rows, days, dataset, p, "ndcg@10") for p in policies}, labels
                    ),
                    "rbo": line_chart(
                        "RBO against the day before",
                        {p: _curve(rows, days, dataset, p, "rbo") for p in policies},
                        labels,
                        y_range=(0, 1),
                    ),
                }
            )
    return charts


def _curve(rows: list[dict[str, Any]], days: list[int], dataset: str, policy: str, metric: str) -> list[float | None]:
    by_day = {r["day"]: r.get(metric) for r in rows if r["dataset"] == dataset and r["policy"] == policy}
    return [by_day.get(day) for day in days]


@router.get("/models/{version}/report")
async def report_page(version: str, request: Request, state: StateDep) -> Response:
    if not _may_read(request, state):
        return _to_login(request)
    try:
        version = validate_version(version)
    except ValueError as err:
        return _redirect("/ui/models", str(err), error=True)
    verdict = state.registry.store.verdict(version)
    if verdict is None:
        return _redirect("/ui/models", f"no canary verdict for {version!r}", error=True)
    context = _common(request, state, "models", f"Canary of {version}")
    return _html(render("report_page.html", **report_context(verdict), **context))
