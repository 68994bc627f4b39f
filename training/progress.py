"""The progress bar every long command shows (rich only: importing it does not load torch)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["progress_bar"]


def progress_bar(console: Console | None) -> Progress:
    """Description, bar, done/total, elapsed and a free ``info`` field; silent when ``console`` is None."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=console is None,
    )
