"""Service settings, read once from the environment (prefix ``STEADYREC_``) or a ``.env`` file; the shared
ones (registry, events, jobs) come from ``steadyrec.core.settings``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from steadyrec.core.settings import SharedSettings

_BOOLEAN = {"true": "always", "1": "always", "yes": "always", "false": "off", "0": "off", "no": "off"}

__all__ = ["Settings", "get_settings"]


class Settings(SharedSettings):
    """The service's settings: the shared ones (registry, events, jobs) and its own."""

    token: SecretStr | None = None  # bearer token for every non-read endpoint
    admin_token: SecretStr | None = None  # forced promotions (no passed canary); unset: never allowed
    demo_mode: bool = False  # allows running without a token (management endpoints then open, with a warning)
    seed_log: Path | None = None  # interaction file that seeds the event store (the training log)
    seed_log_format: str | None = None  # its format (pairs | sequences | tsv | recbole), detected when unset
    max_k: int = Field(100, ge=1)  # largest k a client may ask for
    max_history: int = Field(10_000, ge=1)  # longest explicit history accepted (only the last max_len are used)
    max_list: int = Field(10_000, ge=1)  # longest candidates / exclude list accepted
    max_body_bytes: int = Field(1_000_000, ge=1024)  # larger request bodies get 413
    max_batch_size: int = Field(32, ge=1)  # most requests gathered into one ONNX Runtime call
    max_wait_ms: float = Field(0.0, ge=0.0)  # extra wait for a fuller batch; 0 = take what is queued (no idle delay)
    intra_op_threads: int = Field(0, ge=0)  # ONNX Runtime threads per session; 0 = its default (all cores)
    # ONNX Runtime's pool threads spin-wait for work during a call (no futex wake-up per parallel op) and
    # stop when the call returns, so they never take the HTTP layer's cores between calls.
    ort_spinning: Literal["off", "during-call", "always"] = "during-call"
    fast_path: bool = True  # serve valid JSON POST /recommend before FastAPI (untraced by its OpenTelemetry)
    cors_origins: list[str] = Field(default_factory=list)  # CORS off unless origins are listed
    shadow_queue_size: int = Field(1000, ge=1)  # mirror backlog; beyond it samples are dropped and counted
    alias_poll_s: float = Field(2.0, gt=0)  # how often aliases.json is checked for changes by other processes
    hit_rate_sample_rate: float = Field(1.0, ge=0.0, le=1.0)  # share of user_id answers remembered for the hit rate
    hit_rate_horizon_s: float = Field(86_400.0, gt=0)  # a later event judges a served list within this time
    hit_rate_capacity: int = Field(100_000, ge=1)  # users whose latest served list is remembered (LRU)
    dashboard_open: bool = False  # the dashboard's pages readable without signing in (actions still need it)
    replay_results: Path | None = None  # folder of daily-replay-*.json results the dashboard plots

    @field_validator("ort_spinning", mode="before")
    @classmethod
    def _spinning_from_bool(cls, value: object) -> object:
        """The setting was once a boolean: true meant "always", false "off"."""
        if isinstance(value, bool):
            return "always" if value else "off"
        if isinstance(value, str) and value.strip().lower() in _BOOLEAN:
            return _BOOLEAN[value.strip().lower()]
        return value

    @field_validator("token", "admin_token", "seed_log", "seed_log_format", "replay_results", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty or blank value means unset, however it arrives (env, .env file, keyword)."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    @model_validator(mode="after")
    def _token_outside_demo(self) -> Settings:
        if self.token is None and not self.demo_mode:
            raise ValueError("STEADYREC_TOKEN must be set (or STEADYREC_DEMO_MODE=1 for a local demo)")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError("STEADYREC_TOKEN must be at least 16 characters")
        if self.admin_token is not None and len(self.admin_token.get_secret_value()) < 16:
            raise ValueError("STEADYREC_ADMIN_TOKEN must be at least 16 characters (or unset: no forced promotion)")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
