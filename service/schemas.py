"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator, model_validator

from service.responses import OnlineHitRate, VerdictSummary

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


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Identifier | None = Field(None, description="answer from this user's stored history")
    items: list[Identifier] | None = Field(
        None, max_length=MAX_LIST, description="explicit history, oldest first, in the dataset's own item ids"
    )
    k: int = Field(10, ge=1, le=MAX_K, description="number of items to return")
    exclude_seen: StrictBool = Field(True, description="never recommend items of the history")
    candidates: list[Identifier] | None = Field(None, max_length=MAX_LIST, description="rank only these items")
    exclude: list[Identifier] | None = Field(None, max_length=MAX_LIST, description="never return these items")

    @model_validator(mode="after")
    def _one_source(self) -> RecommendRequest:
        if (self.user_id is None) == (self.items is None):
            raise ValueError("give exactly one of 'user_id' or 'items'")
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
MAX_TIMESTAMP = 1e11  # bounds a job's event window (seconds since the epoch, year 5138)


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


class JobData(BaseModel):
    """What a fine-tune job trains on."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["base", "dataset"] = Field(
        "base", description="'base': the base model's own training log; 'dataset': a file under the data dir"
    )
    path: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        None, description="with source 'dataset': path relative to STEADYREC_DATA_DIR"
    )
    format: Literal["pairs", "sequences", "tsv", "recbole"] | None = None
    include_events: StrictBool = Field(True, description="append the fresh events of POST /events")
    min_item_interactions: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="items the base model does not know join it when they have at least this many "
        "interactions in the data (new ids after the old ones); null: the catalog stays the base's",
    )
    events_since: float | None = Field(
        None, ge=0.0, le=MAX_TIMESTAMP, description="only events at or after this timestamp"
    )
    events_until: float | None = Field(
        None, ge=0.0, le=MAX_TIMESTAMP, description="only events at or before this timestamp"
    )

    @model_validator(mode="after")
    def _consistent(self) -> JobData:
        if self.source == "dataset" and self.path is None:
            raise ValueError("source 'dataset' needs a 'path'")
        if self.source == "base" and self.path is not None:
            raise ValueError("'path' is only for source 'dataset'")
        if self.events_since is not None and self.events_until is not None and self.events_since > self.events_until:
            raise ValueError("events_since is after events_until")
        return self


class WatchPolicy(BaseModel):
    """The thresholds of the watch after an automatic promotion, declared in the job body."""

    model_config = ConfigDict(extra="forbid")

    window_s: float = Field(600.0, ge=1.0, le=7 * 86_400.0, description="how long the new live model is watched")
    min_requests: int = Field(100, ge=1, le=10_000_000, description="fewer served requests: not judged")
    max_error_rate: float = Field(0.01, ge=0.0, le=1.0, description="error-rate increase over the previous model")
    max_p99_ratio: float = Field(1.5, ge=1.0, le=100.0, description="p99 scoring latency over the previous model's")
    max_hit_rate_drop: float = Field(0.05, ge=0.0, le=1.0, description="online hit-rate drop below the previous's")
    min_judged: int = Field(100, ge=1, le=10_000_000, description="judged lists needed to compare hit rates")


class FinetuneJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="finest | random-ft | continue | cascade | sao | rlarm"
    )
    base: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        "live", description="a model version, or 'live' / 'candidate' (resolved when the job is submitted)"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="method parameters; unknown keys are refused")
    data: JobData = Field(default_factory=JobData)
    run_canary: StrictBool = Field(
        False,
        description="after registering the candidate, run the stability canary against the model live then "
        "(the gate of POST /models/{version}/canary) and store its verdict; replays the job's own data",
    )
    canary_policy: dict[str, Any] = Field(
        default_factory=dict, description="CanaryPolicy fields for run_canary; the default policy otherwise"
    )
    canary_samples: int = Field(1000, ge=1, le=50_000, description="users replayed by run_canary (most recent)")
    promote_if_passed: StrictBool = Field(
        False,
        description="make the candidate live when its canary passes (needs run_canary); a failed gate never "
        "promotes, and the decision with its reasons is recorded in the result and with the version",
    )
    watch: WatchPolicy | None = Field(
        None,
        description="after an automatic promotion, watch the new live model against the previous one and roll "
        "it back on its own past these thresholds (needs promote_if_passed); null: no watch",
    )
    time_limit_s: float | None = Field(
        None,
        gt=0,
        description="end the job as failed after this many seconds; at most (and by default) the "
        "server's STEADYREC_JOB_TIME_LIMIT_S",
    )

    @model_validator(mode="after")
    def _promotion_needs_a_stored_verdict(self) -> FinetuneJobRequest:
        if self.watch is not None and not self.promote_if_passed:
            raise ValueError("watch needs promote_if_passed: only an automatic promotion is watched")
        if self.promote_if_passed and not self.run_canary:
            raise ValueError("promote_if_passed needs run_canary: the canary decides the promotion")
        if self.promote_if_passed and self.canary_policy.get("dry_run") is True:
            raise ValueError("promote_if_passed needs a stored verdict; a dry_run canary stores none")
        return self


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
    promote_if_passed: bool
    watch: dict[str, Any] | None = Field(None, description="the watch policy after an automatic promotion")
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

    @model_validator(mode="after")
    def _one_source(self) -> ShadowItem:
        if (self.user_id is None) == (self.items is None):
            raise ValueError("give exactly one of 'user_id' or 'items'")
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
