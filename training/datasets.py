"""Named data sources for the CLI, the worker and benchmarks: a file path or ``synthetic``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from steadyrec.core.formats import LogFormat, read_interactions
from steadyrec.core.interactions import InteractionLog, RawInteraction, build_log
from steadyrec.core.sources import SYNTHETIC
from training.data.splits import Split, leave_one_out, temporal_split
from training.data.synthetic import SyntheticConfig, synthetic_interactions

__all__ = ["SYNTHETIC", "LoadedData", "SplitKind", "load_data", "make_split", "raw_interactions"]

SplitKind = Literal["leave-one-out", "temporal"]


@dataclass(frozen=True)
class LoadedData:
    log: InteractionLog
    source: str  # what a manifest records: the path, or the synthetic generator's parameters
    fmt: str | None
    min_interactions: int


def raw_interactions(source: str | Path, fmt: LogFormat | None = None) -> tuple[Iterable[RawInteraction], str]:
    """Interactions of ``source`` (a dataset file, ``synthetic``, or a manifest's ``synthetic:...``
    description) and the description a manifest records for it."""
    if str(source) == SYNTHETIC or str(source).startswith(f"{SYNTHETIC}:"):
        cfg = SyntheticConfig()
        return synthetic_interactions(cfg), cfg.describe()
    path = Path(source).resolve()
    return read_interactions(path, fmt), str(path)


def load_data(
    source: str | Path,
    fmt: LogFormat | None = None,
    min_interactions: int = 1,
    extra: Iterable[RawInteraction] = (),
) -> LoadedData:
    """Read ``source`` (plus ``extra`` interactions after it, e.g. fresh events) into one log."""
    rows, described = raw_interactions(source, fmt)
    log = build_log([*rows, *extra], min_interactions=min_interactions)
    if log.n_users == 0:
        raise ValueError(f"{described}: no user has at least {min_interactions} interactions")
    return LoadedData(log, described, fmt, min_interactions)


def make_split(log: InteractionLog, kind: SplitKind) -> Split:
    if kind == "leave-one-out":
        return leave_one_out(log)
    if kind == "temporal":
        return temporal_split(log)
    raise ValueError(f"unknown split {kind!r}; expected leave-one-out or temporal")
