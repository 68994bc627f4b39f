"""Typed answers of the model-management, canary, shadow and health routes (the other routes' bodies are
in service.schemas). Verdicts and comparisons are built as plain data by steadyrec.core.canary; these
models give them their documented shape in OpenAPI and check it on the way out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from steadyrec.core.job_spec import FinetuneJobRequest
from steadyrec.core.schedules import Trigger

__all__ = [
    "AccuracyFigures",
    "AliasResponse",
    "CanaryVerdict",
    "Distribution",
    "GroupFigures",
    "HealthResponse",
    "LastRun",
    "NextRun",
    "NoiseFloorFigures",
    "OnlineHitRate",
    "PromoteResponse",
    "PromotionDecision",
    "ReadyResponse",
    "RollbackResponse",
    "ScheduleResponse",
    "SchedulesResponse",
    "ShadowCompareResponse",
    "ShadowPair",
    "VerdictFigures",
    "VerdictSummary",
]


class HealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="the process is up")


class ReadyResponse(BaseModel):
    status: Literal["ready", "not ready"]
    live: str | None = Field(None, description="the live model's version")
    detail: str | None = Field(None, description="why not ready")


class AliasResponse(BaseModel):
    alias: str = Field(description="'live' or 'candidate'")
    version: str = Field(description="the version the alias now points at")


class PromoteResponse(BaseModel):
    live: str = Field(description="the version now live")
    previous: str | None = Field(description="the version live before (the target of a rollback)")
    forced: bool = Field(description="promoted without a passed canary, with the admin token")


class RollbackResponse(BaseModel):
    live: str = Field(description="the version now live again")
    previous: str | None = Field(description="the version that was live")


class Distribution(BaseModel):
    """One figure over the compared requests; null figures when none were compared."""

    n: int
    mean: float | None
    p10: float | None
    p50: float | None
    histogram: list[int] = Field(description="counts in 10 equal bins over [0, 1]")


class GroupFigures(BaseModel):
    rbo: Distribution = Field(description="RBO_ext of the two top-K lists (Webber et al.)")
    jaccard: Distribution = Field(description="Jaccard@K of the two top-K sets")


class ShadowPair(BaseModel):
    rbo: float
    jaccard: float
    history_length: int


class ShadowCompareResponse(BaseModel):
    live: str
    candidate: str
    k: int
    p: float
    per_request: list[ShadowPair]
    groups: dict[str, GroupFigures] = Field(description="'all', 'short_history', 'long_history'")


class AccuracyFigures(BaseModel):
    """Held-out NDCG@10 of live and candidate on the replayed users' newest items."""

    model_config = ConfigDict(populate_by_name=True)

    heldout_users: int
    ndcg_live: float = Field(alias="ndcg@10_live")
    ndcg_candidate: float = Field(alias="ndcg@10_candidate")
    difference_ci95: tuple[float, float] | None = Field(
        alias="ndcg@10_difference_ci95", description="paired bootstrap 95% interval of candidate - live"
    )
    history_excluded: bool | None = Field(None, description="whether the ranking excluded the user's history")


class NoiseFloorFigures(BaseModel):
    version: str | None
    mean_rbo: float
    mean_jaccard: float


class VerdictFigures(BaseModel):
    groups: dict[str, GroupFigures]
    accuracy: AccuracyFigures | None = None
    rbo_mean_ci95: tuple[float, float] | None = None
    noise_floor: NoiseFloorFigures | None = None


class CanaryVerdict(BaseModel):
    """A canary run: every figure, and every failed condition in words."""

    candidate: str
    live: str
    created_at: str
    samples: int = Field(description="compared histories")
    source: dict[str, Any] | None = Field(
        None, description="where the histories came from: kind 'replay' (recent users) or 'shadow' (mirrored requests)"
    )
    policy: dict[str, Any] = Field(description="the CanaryPolicy it ran with")
    passed: bool
    failures: list[str]
    figures: VerdictFigures
    promotion: PromotionDecision | None = Field(None, description="a job's automatic promotion decision")


class PromotionDecision(BaseModel):
    """What a job with ``promote_if_passed`` decided after its canary, and why."""

    promoted: bool
    reason: str
    previous: str | None = Field(None, description="the version live before, when promoted")
    at: str | None = None
    watch: dict[str, Any] | None = Field(None, description="the watch policy the service applies after it")
    watch_outcome: dict[str, Any] | None = Field(
        None, description="how the watch ended: rolled_back, reason, the figures and their baseline"
    )


class VerdictSummary(BaseModel):
    """The stored verdict of a version, in brief (GET /models)."""

    model_config = ConfigDict(extra="ignore")

    passed: bool | None = None
    live: str | None = None
    created_at: str | None = None
    failures: list[str] = Field(default_factory=list)
    promotion: PromotionDecision | None = Field(None, description="a job's automatic promotion decision")


class OnlineHitRate(BaseModel):
    """Lists this replica served with a version to stored users, and how often the user's next event (within
    the horizon) was one of the listed items."""

    served: int
    judged: int = Field(description="served lists followed by an event of the user within the horizon")
    hits: int = Field(description="judged lists that held the event's item")
    hit_rate: float | None = Field(description="hits / judged; null before any list was judged")


class NextRun(BaseModel):
    at: float | None = Field(None, description="when the next run is due (seconds since the epoch)")
    events_to_go: int | None = Field(None, description="fresh events still to come before the next run")


class LastRun(BaseModel):
    slot: str | None = Field(description="the last slot that ran, e.g. 'daily:2026-12-06'")
    job_id: str | None
    at: float | None
    state: str | None = Field(description="that job's state now")
    error: str | None = Field(description="why the last due run made no job")


class ScheduleResponse(BaseModel):
    name: str
    job: FinetuneJobRequest
    trigger: Trigger
    created_at: float
    next_run: NextRun
    last: LastRun


class SchedulesResponse(BaseModel):
    schedules: list[ScheduleResponse]
