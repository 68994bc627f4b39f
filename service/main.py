"""The FastAPI app: built by ``create_app``; the lifespan loads the live model once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from service import dashboard
from service.batcher import MicroBatcher
from service.dependencies import AppState
from service.errors import install_handlers
from service.event_store import EventStore, MemoryEventStore
from service.fast_path import RecommendFastPath
from service.hit_rate import HitRate, RedisHitRate
from service.metrics import Metrics
from service.middleware import LimitsAndMetrics
from service.mirror import ShadowMirror
from service.registry import ModelRegistry
from service.routers import events, health, jobs, models, recommend, schedules, shadow
from service.schemas import ERROR_RESPONSES
from service.settings import Settings, get_settings
from service.watch import PromotionWatch, ServingStats
from steadyrec.core.event_log import open_event_log
from steadyrec.core.job_queue import ensure_state_dir, make_celery
from steadyrec.core.jobs import open_job_store
from steadyrec.core.onnx_model import SessionConfig
from steadyrec.core.registry import ALIAS_CHANNEL
from steadyrec.core.schedules import open_schedule_store
from steadyrec.core.shadow_pairs import PairLog

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def _watch_aliases(registry: ModelRegistry, watch: PromotionWatch, events: EventStore, every_s: float) -> None:
    """Pick up alias changes made by other processes (a worker's candidate or promotion, another replica's
    promotion), watch a model a job promoted, and notice shared histories Redis lost."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await registry.refresh()
            await watch.check()
        except Exception:  # a bad file on disk must not stop the watcher
            log.exception("could not refresh model aliases")
        try:
            await events.check()
        except Exception:  # Redis away for a moment: the next round tries again
            log.exception("could not check the shared histories")


async def _listen_for_aliases(url: str, registry: ModelRegistry) -> None:
    """Load an alias change as soon as any process announces it on Redis (reconnecting when Redis is away)."""
    import redis.asyncio as aioredis

    while True:
        try:
            client = aioredis.Redis.from_url(url)
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(ALIAS_CHANNEL)
                await registry.refresh(force=True)  # what changed while we were not subscribed
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await registry.refresh(force=True)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # Redis restarting: the file poll covers the gap
            log.warning("alias announcements unavailable (%s); retrying in 1 s", err)
            await asyncio.sleep(1.0)


def open_event_store(settings: Settings) -> EventStore:
    """Histories in Redis (shared by every replica) when REDIS_URL is set, else in this process's memory."""
    if settings.redis_url:
        from service.redis_histories import RedisEventStore

        return RedisEventStore(settings.redis_url, settings.max_history)
    return MemoryEventStore(settings.max_history)


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
        registry = ModelRegistry(
            settings.models_dir, SessionConfig(settings.intra_op_threads, settings.ort_spinning), settings.redis_url
        )
        registry.aliases_changed()
        registry.load_aliases()
        event_log = await asyncio.to_thread(open_event_log, settings)
        events = open_event_store(settings)
        await events.load(settings.seed_log, settings.seed_log_format, event_log)
        batcher = MicroBatcher(metrics, settings.max_batch_size, settings.max_wait_ms)
        batcher.start()
        ensure_state_dir(settings)
        job_store, celery = open_job_store(settings), make_celery(settings)
        pairs = PairLog(settings.redis_url, settings.state_dir)
        mirror = ShadowMirror(registry, metrics, pairs, settings.shadow_sample_rate, settings.shadow_queue_size)
        mirror.start()
        hit_settings: dict[str, Any] = {
            "sample_rate": settings.hit_rate_sample_rate,
            "horizon_s": settings.hit_rate_horizon_s,
            "capacity": settings.hit_rate_capacity,
        }
        hits = (
            RedisHitRate(metrics.registry, settings.redis_url, **hit_settings)
            if settings.redis_url
            else HitRate(metrics.registry, **hit_settings)
        )
        hits.start()
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
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(_watch_aliases(registry, watch, events, settings.alias_poll_s))
        listener = loop.create_task(_listen_for_aliases(settings.redis_url, registry)) if settings.redis_url else None
        try:
            yield
        finally:
            watcher.cancel()
            if listener is not None:
                listener.cancel()
            await mirror.stop()
            await batcher.stop()
            await hits.stop()
            await events.close()
            event_log.close()

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
    app.include_router(dashboard.router)
    app.mount("/ui/static", StaticFiles(directory=dashboard.STATIC), name="dashboard-static")
    return app
