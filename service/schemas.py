"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator, model_validator

from service.responses import OnlineHitRate, VerdictSummary
from steadyrec.core.job_spec import FinetuneJobRequest, JobData, WatchPolicy

__all__ = [
    "ERROR_RESPONSES",
    "AliasRequest",
    "CanaryRequest",
    "ErrorResponse",
    "EventIn",
    "EventsRequest",
    "EventsResponse",
    "FinetuneJobRequest",
    "Identifier",
    "JobData",
    "JobResponse",
    "JobsResponse",
    "ModelInfo",
    "ModelsResponse",
    "PromoteRequest",
    "RecommendRequest",
    "RecommendResponse",
    "ScoredItem",
    "ShadowItem",
    "ShadowRequest",
    "WatchPolicy",
]

MAX_K = 1000  # hard cap in the schema; the settings' max_k (default 100) is the working limit
MAX_LIST = 100_000  # hard cap on list lengths in the schema; settings narrow it

# Control characters: C0 (U+0000-U+001F), DEL and C1 (U+007F-U+009F), i.e. Unicode category Cc.
IDENTIFIER_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=IDENTIFIER_PATTERN)]
"""A user or item id, the one rule of every endpoint: 1-256 characters, no control characters (a tab,
newline or NUL in an id would break the TSV and sequence files that training reads and writes, and
log lines). Checked by pydantic-core's regex, about 50 ns an id; service.errors words the refusal."""


def _check_timestamps(items: list[str] | None, timestamps: list[float] | None) -> None:
    """``timestamps`` go with ``items``, one finite, non-negative number per item."""
    if timestamps is None:
        return
    if items is None:
        raise ValueError("'timestamps' go with 'items' (a user_id's stored history has its own)")
    if len(timestamps) != len(items):
        raise ValueError(f"'timestamps' has {len(timestamps)} values for {len(items)} items: give one per item")
    for i, value in enumerate(timestamps):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"timestamps[{i}] must be a finite number of seconds, not below 0")


TIMESTAMPS_DESCRIPTION = (
    "the time of each item of 'items' (seconds since the epoch, or the dataset's own clock), in the same order; "
    "required by time-aware models (TiSASRec), which read the intervals between items; the others read items only"
)


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Identifier | None = Field(None, description="answer from this user's stored history")
    items: list[Identifier] | None = Field(
        None, max_length=MAX_LIST, description="explicit history, oldest first, in the dataset's own item ids"
    )
    timestamps: list[float] | None = Field(None, max_length=MAX_LIST, description=TIMESTAMPS_DESCRIPTION)
    k: int = Field(10, ge=1, le=MAX_K, description="number of items to return")
    exclude_seen: StrictBool = Field(True, description="never recommend items of the history")
    candidates: list[Identifier] | None = Field(None, max_length=MAX_LIST, description="rank only these items")
    exclude: list[Identifier] | None = Field(None, max_length=MAX_LIST, description="never return these items")

    @model_validator(mode="after")
    def _one_source(self) -> RecommendRequest:
        if (self.user_id is None) == (self.items is None):
            raise ValueError("give exactly one of 'user_id' or 'items'")
        _check_timestamps(self.items, self.timestamps)
        return self


class ScoredItem(BaseModel):
    item: str
    score: float


class RecommendResponse(BaseModel):
    items: list[ScoredItem]
    model_version: str
    fallback: bool = Field(description="true when the popularity fallback answered (empty or all-unknown history)")
    fallback_reason: str | None = None
    unknown_items: list[str] = Field(description="history items the model does not know (ignored)")


class ModelInfo(BaseModel):
    version: str
    model_kind: str
    n_items: int
    max_len: int
    created_at: str
    parent: str | None
    data_fingerprint: str
    metrics: dict[str, float]
    aliases: list[str]
    verdict: VerdictSummary | None = None
    online: OnlineHitRate = Field(description="what this replica served with it and how often users took it")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    aliases: dict[str, str]
    loaded: dict[str, str]


class AliasRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


MAX_EVENTS = 10_000  # events per POST /events batch
FUTURE_SLACK_S = 86_400.0  # timestamps may run ahead of the server clock by at most a day


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: Identifier
    item: Identifier
    timestamp: float = Field(ge=0.0, description="seconds since the epoch (or the dataset's own clock)")

    @field_validator("timestamp")
    @classmethod
    def _sane_time(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("timestamp must be a finite number")
        if value > time.time() + FUTURE_SLACK_S:
            raise ValueError("timestamp is more than a day in the future")
        return value


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)

    @model_validator(mode="after")
    def _no_duplicates(self) -> EventsRequest:
        seen: set[tuple[str, str, float]] = set()
        for i, event in enumerate(self.events):
            key = (event.user, event.item, event.timestamp)
            if key in seen:
                raise ValueError(f"events[{i}] repeats an earlier event of this batch (same user, item, timestamp)")
            seen.add(key)
        return self


class EventsResponse(BaseModel):
    accepted: int
    users: int = Field(description="distinct users in the batch")


class JobResponse(BaseModel):
    id: str
    state: str = Field(description="queued | running | publishing | succeeded | failed | cancelled")
    method: str
    base_version: str
    params: dict[str, Any]
    data: dict[str, Any]
    run_canary: bool
    canary_policy: dict[str, Any]
    canary_samples: int
    canary_source: str = Field("replay", description="replay | shadow: what the job's gate judges")
    shadow: dict[str, Any] = Field(default_factory=dict, description="the shadow gate's counts")
    promote_if_passed: bool
    watch: dict[str, Any] | None = Field(None, description="the watch policy after an automatic promotion")
    schedule: str | None = Field(None, description="the schedule that made the job, if one did")
    time_limit_s: float | None = Field(description="seconds the job may run")
    created_at: float
    started_at: float | None
    finished_at: float | None
    heartbeat_at: float | None
    attempts: int
    worker_pid: int | None = Field(None, description="process running the job (for operators)")
    progress: dict[str, Any]
    timings: dict[str, float]
    result: dict[str, Any] | None
    error: str | None


class JobsResponse(BaseModel):
    jobs: list[JobResponse]


class ShadowItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Identifier | None = None
    items: list[Identifier] | None = Field(None, max_length=MAX_LIST)
    timestamps: list[float] | None = Field(None, max_length=MAX_LIST, description=TIMESTAMPS_DESCRIPTION)

    @model_validator(mode="after")
    def _one_source(self) -> ShadowItem:
        if (self.user_id is None) == (self.items is None):
            raise ValueError("give exactly one of 'user_id' or 'items'")
        _check_timestamps(self.items, self.timestamps)
        return self


class ShadowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: list[ShadowItem] | None = Field(None, min_length=1, max_length=20_000)
    replay: int | None = Field(None, ge=1, le=50_000, description="compare on the N most recently active users")
    k: int = Field(10, ge=1, le=100)
    p: float = Field(0.9, gt=0.0, lt=1.0, description="RBO persistence")
    long_history: int = Field(20, ge=1, description="histories at least this long form the 'long' group")

    @model_validator(mode="after")
    def _one_source(self) -> ShadowRequest:
        if self.requests is not None and self.replay is not None:
            raise ValueError("give 'requests' or 'replay', not both")
        return self


class CanaryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: dict[str, Any] = Field(default_factory=dict, description="CanaryPolicy fields; defaults otherwise")
    samples: int = Field(1000, ge=1, le=50_000, description="replayed users (the most recently active)")


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: StrictBool = Field(False, description="promote without a passed canary (needs the admin token)")
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class ErrorResponse(BaseModel):
    detail: str = Field(description="what was wrong, in words")


# Declared on every route, so the OpenAPI schema lists every status a client can get.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (401, "missing or wrong bearer token"),
        (404, "unknown user, model version, alias or job"),
        (409, "conflict with the current state (e.g. no passed canary, job already finished)"),
        (413, "request body too large"),
        (503, "no live model loaded yet"),
    )
}
