"""FastAPI dependencies as Annotated aliases: settings, app state, and the bearer-token check."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.batcher import MicroBatcher
from service.errors import Unauthorized
from service.event_store import EventStore
from service.hit_rate import HitRate
from service.metrics import Metrics
from service.mirror import ShadowMirror
from service.registry import ModelRegistry
from service.settings import Settings, get_settings
from service.watch import ServingStats
from steadyrec.core.event_log import EventLog
from steadyrec.core.jobs import JobStore
from steadyrec.core.schedules import ScheduleStore

__all__ = ["AppState", "Authorized", "SettingsDep", "StateDep", "require_token"]

log = logging.getLogger(__name__)


@dataclass
class AppState:
    settings: Settings
    registry: ModelRegistry
    events: EventStore
    batcher: MicroBatcher
    metrics: Metrics
    event_log: EventLog
    jobs: JobStore
    celery: Celery
    mirror: ShadowMirror
    hits: HitRate
    serving: ServingStats
    schedules: ScheduleStore
    events_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one durable append at a time


async def get_state(request: Request) -> AppState:
    # async on purpose: FastAPI runs a sync dependency in its thread pool, a thread hop per request
    state: AppState = request.app.state.steadyrec
    return state


SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[AppState, Depends(get_state)]
_bearer = HTTPBearer(auto_error=False)


async def require_token(
    state: StateDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Every non-read endpoint: the bearer token, compared in constant time."""
    expected = state.settings.token
    if expected is None:  # demo mode only (Settings refuses a missing token otherwise)
        return
    if credentials is None:
        raise Unauthorized("this endpoint needs 'Authorization: Bearer <token>'")
    if not secrets.compare_digest(credentials.credentials.encode(), expected.get_secret_value().encode()):
        raise Unauthorized("invalid bearer token")


Authorized = Depends(require_token)
