"""Where a job's data lives: a dataset path under the data directory, or a base model's recorded source.

A manifest records the path its model was trained from, as seen on the machine that trained it; inside a
container (or on another host) that path does not exist, so a recorded source is looked for as recorded
and then by its file name under the data directory (the datasets volume). Torch-free: the service checks
a job's data with it before queueing the job, and the worker reads the same path.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SYNTHETIC", "dataset_path", "resolve_recorded_source"]

SYNTHETIC = "synthetic"  # the built-in generator (training.data.synthetic), recorded as "synthetic:<params>"


def dataset_path(data_dir: Path, relative: str) -> Path:
    """``relative`` under ``data_dir``; ValueError when it leaves the folder, FileNotFoundError when absent."""
    root = Path(data_dir).resolve()
    full = (root / relative).resolve()
    if not full.is_relative_to(root):
        raise ValueError(f"dataset path {relative[:80]!r} leaves the data directory")
    if not full.is_file():
        raise FileNotFoundError(f"no dataset file {relative[:80]!r} under the data directory")
    return full


def resolve_recorded_source(recorded: str, data_dir: Path) -> str:
    """A manifest's ``data.source`` as a readable path (or the synthetic generator); FileNotFoundError
    naming both places looked at when neither has it."""
    if recorded == SYNTHETIC or recorded.startswith(f"{SYNTHETIC}:"):
        return recorded
    if Path(recorded).is_file():
        return recorded
    name = Path(recorded).name
    candidate = Path(data_dir) / name
    if name and candidate.is_file():
        return str(candidate.resolve())
    raise FileNotFoundError(
        f"the base model's training data {recorded!r} is not on this machine, nor is {name!r} in the data "
        f"directory; copy it there, or give data.source 'dataset' with a path under the data directory"
    )
