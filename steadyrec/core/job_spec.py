"""What a fine-tune job asks for: the body of ``POST /jobs/finetune`` and of a schedule's job, validated
the same way wherever a job is made (the service, the scheduler in the worker)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

__all__ = ["MAX_TIMESTAMP", "FinetuneJobRequest", "JobData", "WatchPolicy"]

MAX_TIMESTAMP = 1e11  # bounds a job's event window (seconds since the epoch, year 5138)


# a new item joins a fine-tuned model once it has this many interactions: fewer are mostly one-off visits
# and typos, and on the daily replays three kept the lists steady while new items entered them
MIN_ITEM_INTERACTIONS = 3


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
        MIN_ITEM_INTERACTIONS,
        ge=1,
        le=1_000_000,
        description="items the base model does not know join it when they have at least this many "
        "interactions in the data (new ids after the old ones, rows fitted to their contexts); null: the "
        "catalog stays the base's and their interactions are left out",
    )
    holdout: Literal["split", "test", "none"] = Field(
        "test",
        description="what stays out of training: 'test' each user's newest interaction (the one the manifest's "
        "metrics and the canary's held-out check rank); 'split' the base's validation item too; 'none' nothing "
        "(the manifest's metrics and the canary's held-out check are then in-sample)",
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


class ShadowGate(BaseModel):
    """How long a shadow gate mirrors live traffic to the candidate before it judges."""

    model_config = ConfigDict(extra="forbid")

    requests: int = Field(
        500, ge=1, le=100_000, description="judge once this many live requests were mirrored to the candidate"
    )
    max_minutes: float = Field(
        60.0,
        gt=0.0,
        le=24 * 60.0,
        description="judge after this long even with fewer (the policy's min_samples then decides); counts "
        "against the job's time limit",
    )


class FinetuneJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="finest | random-ft | continue | cascade | sao | rlarm | apt | acae"
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
    canary_source: Literal["replay", "shadow"] = Field(
        "replay",
        description="what the gate judges: 'replay' the canary_samples most recent users of the job's data; "
        "'shadow' live /recommend requests mirrored to the candidate (needs STEADYREC_SHADOW_SAMPLE_RATE > 0) "
        "until the 'shadow' counts are met",
    )
    shadow: ShadowGate = Field(default_factory=ShadowGate, description="with canary_source 'shadow'")
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
        if self.canary_source == "shadow" and not self.run_canary:
            raise ValueError("canary_source 'shadow' needs run_canary")
        if self.promote_if_passed and not self.run_canary:
            raise ValueError("promote_if_passed needs run_canary: the canary decides the promotion")
        if self.promote_if_passed and self.canary_policy.get("dry_run") is True:
            raise ValueError("promote_if_passed needs a stored verdict; a dry_run canary stores none")
        return self
