"""Readers for the interaction-log formats in ``../shared/data`` (see its README).

| format      | layout                                               | example dataset      |
|-------------|------------------------------------------------------|----------------------|
| `pairs`     | `user item` per line, a user's lines in time order   | ml-1m (`ml-1m.txt`)  |
| `sequences` | `user item1 item2 ...`, one user per line, in order  | beauty, video-games  |
| `tsv`       | `user<TAB>item<TAB>timestamp`, no header             | foursquare           |
| `recbole`   | RecBole atomic `.inter`: TSV with typed header       | ml-100k              |

Every reader fails on the first malformed line with :class:`DataFormatError` naming the file, the line
number and what was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from steadyrec.core.interactions import InteractionLog, RawInteraction, build_log

__all__ = ["FORMATS", "DataFormatError", "LogFormat", "detect_format", "read_interactions", "read_log"]

LogFormat = Literal["pairs", "sequences", "tsv", "recbole"]
FORMATS: tuple[LogFormat, ...] = ("pairs", "sequences", "tsv", "recbole")


class DataFormatError(ValueError):
    """A dataset file could not be parsed; the message says file, line and reason."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


def detect_format(path: Path) -> LogFormat:
    """`.inter` -> recbole, `.tsv` -> tsv; other files: `pairs` when a user id repeats in the first
    lines (one line per interaction), `sequences` otherwise (one line per user; a file where every
    user has one interaction reads the same either way)."""
    if path.suffix == ".inter":
        return "recbole"
    if path.suffix == ".tsv":
        return "tsv"
    with path.open(encoding="utf-8") as handle:
        users = [line.split()[0] for _, line in zip(range(200), handle, strict=False) if line.strip()]
    return "pairs" if len(set(users)) < len(users) else "sequences"


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding="utf-8") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line.split()
        except UnicodeDecodeError as err:
            raise DataFormatError(path, number + 1, f"not UTF-8 text ({err.reason})") from err


def _timestamp(path: Path, number: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(path, number, f"timestamp {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataFormatError(path, number, f"timestamp {text!r} is not finite")
    return value


def _read_pairs(path: Path) -> Iterator[RawInteraction]:
    for number, fields in _lines(path):
        if len(fields) != 2:
            raise DataFormatError(path, number, f"expected 2 fields 'user item', got {len(fields)}")
        yield fields[0], fields[1], None


def _read_sequences(path: Path) -> Iterator[RawInteraction]:
    seen: set[str] = set()
    for number, fields in _lines(path):
        if len(fields) < 2:
            raise DataFormatError(path, number, "expected 'user item1 item2 ...', got a user with no items")
        if fields[0] in seen:
            raise DataFormatError(path, number, f"user {fields[0]!r} appears on more than one line")
        seen.add(fields[0])
        for item in fields[1:]:
            yield fields[0], item, None


def _read_tsv(path: Path) -> Iterator[RawInteraction]:
    for number, fields in _lines(path):
        if len(fields) != 3:
            raise DataFormatError(path, number, f"expected 3 fields 'user item timestamp', got {len(fields)}")
        yield fields[0], fields[1], _timestamp(path, number, fields[2])


def _read_recbole(path: Path) -> Iterator[RawInteraction]:
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
    names = [column.split(":", 1)[0] for column in header]
    for required in ("user_id", "item_id"):
        if required not in names:
            raise DataFormatError(path, 1, f"header has no '{required}:token' column (got {header})")
    user_col, item_col = names.index("user_id"), names.index("item_id")
    time_col = names.index("timestamp") if "timestamp" in names else None
    for number, fields in _lines(path):
        if number == 1:
            continue
        if len(fields) != len(header):
            raise DataFormatError(path, number, f"expected {len(header)} fields as the header, got {len(fields)}")
        stamp = _timestamp(path, number, fields[time_col]) if time_col is not None else None
        yield fields[user_col], fields[item_col], stamp


_READERS = {"pairs": _read_pairs, "sequences": _read_sequences, "tsv": _read_tsv, "recbole": _read_recbole}


def read_interactions(path: Path, fmt: LogFormat | None = None) -> Iterator[RawInteraction]:
    """Stream ``(user, item, timestamp)`` from a file of one of :data:`FORMATS` (detected when None)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no interaction file at {path}")
    chosen = fmt or detect_format(path)
    if chosen not in _READERS:
        raise ValueError(f"unknown format {chosen!r}; expected one of {', '.join(FORMATS)}")
    return _READERS[chosen](path)


def read_log(path: Path | str, fmt: LogFormat | None = None, min_interactions: int = 1) -> InteractionLog:
    """Read a dataset file into an :class:`InteractionLog`, dropping users below ``min_interactions``."""
    path = Path(path)
    log = build_log(read_interactions(path, fmt), min_interactions=min_interactions)
    if log.n_users == 0:
        raise DataFormatError(path, 0, f"no user has at least {min_interactions} interactions")
    return log
