"""Settings shared by the worker and the parts of the service that talk to it (no torch here)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["JobSettings", "get_job_settings"]


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STEADYREC_",
        env_file=".env",
        extra="ignore",
        env_ignore_empty=True,  # VAR="" means unset
    )

    redis_url: str | None = Field(  # broker, result backend and job store; unset: embedded SQLite files
        None, validation_alias=AliasChoices("REDIS_URL", "STEADYREC_REDIS_URL")
    )
    state_dir: Path = Path("var/state")  # embedded broker, results and job store when there is no Redis
    models_dir: Path = Path("var/models")  # the registry both the service and the worker use
    events_path: Path = Path("var/events/events.jsonl")  # fresh logs written by POST /events
    data_dir: Path = Path("var/data")  # dataset paths in job requests must lie under it
    max_attempts: int = Field(2, ge=1)  # a job whose worker died this many times is marked failed
    # the longest a job may run (Celery's soft limit; a job body may ask for less): a daily fine-tune of a
    # catalogue-sized model ends well inside it, a typo such as 10^8 epochs ends the same day, as failed
    job_time_limit_s: float = Field(6 * 3600.0, gt=0)
    job_time_limit_grace_s: float = Field(60.0, gt=0)  # then Celery's hard limit ends the process


@lru_cache
def get_job_settings() -> JobSettings:
    return JobSettings()
