"""The FastAPI app: built by ``create_app``; the lifespan loads the live model once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from service.batcher import MicroBatcher
from service.dependencies import AppState
from service.errors import install_handlers
from service.event_store import EventStore
from service.fast_path import RecommendFastPath
from service.hit_rate import HitRate
from service.metrics import Metrics
from service.middleware import LimitsAndMetrics
from service.mirror import ShadowMirror
from service.registry import ModelRegistry
from service.routers import events, health, jobs, models, recommend, schedules, shadow
from service.schemas import ERROR_RESPONSES
from service.settings import Settings, get_settings
from service.watch import PromotionWatch, ServingStats
from steadyrec.core.event_log import EventLog
from steadyrec.core.job_queue import ensure_state_dir, make_celery
from steadyrec.core.jobs import open_job_store
from steadyrec.core.onnx_model import SessionConfig
from steadyrec.core.schedules import open_schedule_store
from steadyrec.core.shadow_pairs import PairLog

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def _watch_aliases(registry: ModelRegistry, watch: PromotionWatch, every_s: float) -> None:
    """Pick up alias changes made by other processes (a worker's candidate or promotion, another replica's
    promotion), and watch a model a job promoted."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await registry.refresh()
            await watch.check()
        except Exception:  # a bad file on disk must not stop the watcher
            log.exception("could not refresh model aliases")


class _ServiceApp(FastAPI):
    """FastAPI with the ``POST /recommend`` fast path in front of it (see service.fast_path)."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fast_path = (
            RecommendFastPath(super().__call__, self, settings.max_body_bytes, cors=bool(settings.cors_origins))
            if settings.fast_path
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is not None and self.fast_path.takes(scope):
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.token is None:
            log.warning("demo mode without a token: model management endpoints are open to anyone")
        metrics = Metrics()
        registry = ModelRegistry(settings.models_dir, SessionConfig(settings.intra_op_threads, settings.ort_spinning))
        registry.aliases_changed()
        registry.load_aliases()
        events = EventStore()
        if settings.seed_log is not None:
            events.seed_from_file(settings.seed_log, settings.seed_log_format)
        event_log = EventLog(settings.events_path)
        events.add(list(event_log.read()))  # everything acknowledged before a restart
        batcher = MicroBatcher(metrics, settings.max_batch_size, settings.max_wait_ms)
        batcher.start()
        ensure_state_dir(settings)
        job_store, celery = open_job_store(settings), make_celery(settings)
        pairs = PairLog(settings.redis_url, settings.state_dir)
        mirror = ShadowMirror(registry, metrics, pairs, settings.shadow_sample_rate, settings.shadow_queue_size)
        mirror.start()
        hits = HitRate(
            metrics.registry,
            sample_rate=settings.hit_rate_sample_rate,
            horizon_s=settings.hit_rate_horizon_s,
            capacity=settings.hit_rate_capacity,
        )
        serving = ServingStats()
        app.state.steadyrec = AppState(
            settings,
            registry,
            events,
            batcher,
            metrics,
            event_log,
            job_store,
            celery,
            mirror,
            hits,
            serving,
            open_schedule_store(settings),
        )
        watch = PromotionWatch(registry, serving, hits)
        await watch.check()  # the live version at start-up: what a later promotion is compared with
        watcher = asyncio.get_running_loop().create_task(_watch_aliases(registry, watch, settings.alias_poll_s))
        try:
            yield
        finally:
            watcher.cancel()
            await mirror.stop()
            await batcher.stop()

    app = _ServiceApp(
        settings,
        title="steadyrec",
        version="0.1.0",
        summary="Top-K recommendations from a rank-stable sequential model served with ONNX Runtime.",
        lifespan=lifespan,
    )
    install_handlers(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"])

    app.add_middleware(LimitsAndMetrics, max_body_bytes=settings.max_body_bytes)

    for router in (
        recommend.router,
        events.router,
        jobs.router,
        schedules.router,
        shadow.router,
        models.router,
        health.router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    return app
