"""The one settings base: what the service, the worker and the CLI all read (environment, prefix
``STEADYREC_``, or a ``.env`` file). The service's own settings extend it (``service.settings``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SharedSettings", "get_shared_settings"]


class SharedSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STEADYREC_",
        env_file=".env",
        extra="ignore",
        env_ignore_empty=True,  # VAR="" means unset
    )

    models_dir: Path = Path("var/models")  # registry root: versions/<version>/, aliases.json, verdicts/
    # the event log's database (fresh logs for jobs): PostgreSQL shared by every replica; unset: SQLite beside
    # events_path (no server)
    database_url: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL", "STEADYREC_DATABASE_URL"))
    # where the embedded SQLite event log lies (events.sqlite beside it); a JSON-lines log of an earlier
    # version at this path is imported once
    events_path: Path = Path("var/events/events.jsonl")
    redis_url: str | None = Field(  # broker, result backend and job store; unset: embedded SQLite files
        None, validation_alias=AliasChoices("REDIS_URL", "STEADYREC_REDIS_URL")
    )
    state_dir: Path = Path("var/state")  # embedded broker, results and job store when there is no Redis
    data_dir: Path = Path("var/data")  # job datasets lie under it; a base's recorded data is looked for here
    max_attempts: int = Field(2, ge=1)  # a job whose worker died this many times is marked failed
    # the longest a job may run (Celery's soft limit; a job body may ask for less): a daily fine-tune of a
    # catalogue-sized model ends well inside it, a typo such as 10^8 epochs ends the same day, as failed
    job_time_limit_s: float = Field(6 * 3600.0, gt=0)
    job_time_limit_grace_s: float = Field(60.0, gt=0)  # then Celery's hard limit ends the process
    # share of /recommend also scored by the candidate (service.mirror); a job's shadow gate needs it > 0
    shadow_sample_rate: float = Field(0.0, ge=0.0, le=1.0)
    schedule_tick_s: float = Field(30.0, ge=0.5, le=3600.0)  # how often the beat looks for due schedules

    @field_validator("redis_url", "database_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


@lru_cache
def get_shared_settings() -> SharedSettings:
    return SharedSettings()
