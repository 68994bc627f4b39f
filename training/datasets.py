"""Named data sources for the CLI, the worker and benchmarks: a file path or ``synthetic``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from training.data.formats import LogFormat, read_log
from training.data.log import InteractionLog
from training.data.splits import Split, leave_one_out, temporal_split
from training.data.synthetic import SyntheticConfig, synthetic_log

__all__ = ["SYNTHETIC", "LoadedData", "SplitKind", "load_data", "make_split"]

SYNTHETIC = "synthetic"
SplitKind = Literal["leave-one-out", "temporal"]


@dataclass(frozen=True)
class LoadedData:
    log: InteractionLog
    source: str  # what a manifest records: the path, or the synthetic generator's parameters
    fmt: str | None
    min_interactions: int


def load_data(source: str | Path, fmt: LogFormat | None = None, min_interactions: int = 1) -> LoadedData:
    """Read ``source`` (a dataset file, or ``synthetic`` for the built-in generator)."""
    if str(source) == SYNTHETIC:
        cfg = SyntheticConfig()
        log = synthetic_log(cfg)
        return LoadedData(log.filter_users(min_interactions), cfg.describe(), None, min_interactions)
    path = Path(source).resolve()
    return LoadedData(read_log(path, fmt, min_interactions), str(path), fmt, min_interactions)


def make_split(log: InteractionLog, kind: SplitKind) -> Split:
    if kind == "leave-one-out":
        return leave_one_out(log)
    if kind == "temporal":
        return temporal_split(log)
    raise ValueError(f"unknown split {kind!r}; expected leave-one-out or temporal")
