"""The dashboard's Jinja2 environment: templates and the stylesheet shipped inside the package."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["STATIC", "render", "stylesheet"]

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"


def _when(value: float | str | None) -> str:
    """A Unix time or an ISO string as 'YYYY-MM-DD HH:MM UTC'."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            seconds = dt.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return value
    else:
        seconds = float(value)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _figure(value: Any, digits: int = 4) -> str:
    """A number rounded for reading; anything else as it is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]), auto_reload=False
    )
    env.filters["when"] = _when
    env.filters["figure"] = _figure
    return env


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The stylesheet's text, inlined into the standalone canary report."""
    return (STATIC / "style.css").read_text()
