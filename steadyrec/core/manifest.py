"""The self-describing model artifact: ``manifest.json`` and the files it names.

A directory holds ``manifest.json``, ``items.json`` (dataset item ids; entry ``i`` is internal id
``i + 1``), ``weights.safetensors`` (trained weights, for fine-tuning) and, once exported,
``model.onnx`` (what the service runs). Nothing is pickled. This module needs neither torch nor onnx,
so the service reads artifacts with it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MANIFEST",
    "ArtifactError",
    "DataInfo",
    "ExportOptions",
    "GraphInfo",
    "Manifest",
    "file_sha256",
    "listed_files",
    "read_items",
    "read_manifest",
    "utc_now",
    "verify_artifact",
]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
TOP_K_GRAPH = True  # the graph returns its own top-K: level at 100k items, faster at 1M over HTTP (serve-catalog)


class ArtifactError(ValueError):
    """An artifact directory is missing a file, has a bad manifest, or fails its checksums."""


class DataInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str  # dataset path or "synthetic:<params>"
    format: str | None = None
    fingerprint: str  # sha256 of the whole loaded log; with `split` it pins the training data
    split: str
    min_interactions: int = 1
    n_users: int
    n_items: int
    n_interactions: int


class GraphInfo(BaseModel):
    """How ``model.onnx`` was built for serving (``training.onnx_export.ExportOptions``) and what int8 cost."""

    model_config = ConfigDict(extra="forbid")

    top_k: bool = False  # outputs top_items / top_scores beside scores (inputs k and exclude)
    int8: bool = False  # the item-scoring matrix is int8
    int8_check: dict[str, float] = Field(default_factory=dict)  # test metric of the float and the int8 graph


@dataclass(frozen=True)
class ExportOptions:
    """What the exported graph computes beyond the scores (``training.onnx_export``); a fine-tune keeps its
    base's (``of(manifest.graph)``)."""

    top_k: bool = TOP_K_GRAPH
    int8: bool = False  # int8 item-scoring matrix: a quarter of the bytes read per call; needs the test split

    @classmethod
    def of(cls, graph: GraphInfo) -> ExportOptions:
        """The options an existing artifact's graph was exported with."""
        return cls(top_k=graph.top_k, int8=graph.int8)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format_version: int = FORMAT_VERSION
    model_kind: str
    config: dict[str, Any]  # the model's typed config as a dict: rebuilds the model
    max_len: int
    n_items: int
    items_file: str = "items.json"
    items_sha256: str
    popular_items: list[str]  # most frequent training items, best first: the documented fallback
    data: DataInfo
    training: dict[str, Any] = Field(default_factory=dict)  # train config, epochs, wall time
    metrics: dict[str, float] = Field(default_factory=dict)
    metrics_protocol: str = ""
    metrics_exclude_history: bool = True  # whether the test metrics ranked with the user's history excluded
    weights_file: str = "weights.safetensors"
    weights_sha256: str
    onnx_file: str | None = None
    onnx_sha256: str | None = None
    onnx_io: dict[str, str] = Field(default_factory=dict)  # input / output tensor names
    graph: GraphInfo = Field(default_factory=GraphInfo)
    parent: str | None = None  # artifact this one was fine-tuned from
    created_at: str
    steadyrec_version: str = "0.1.0"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> Manifest:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{directory}: no {MANIFEST}")
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValueError) as err:
        raise ArtifactError(f"{path}: invalid manifest: {err}") from err


def read_items(directory: Path, manifest: Manifest) -> list[str]:
    items = json.loads((Path(directory) / manifest.items_file).read_text(encoding="utf-8"))
    if not isinstance(items, list) or len(items) != manifest.n_items:
        raise ArtifactError(f"{directory}: {manifest.items_file} does not list {manifest.n_items} items")
    return [str(i) for i in items]


def verify_artifact(directory: Path, *, need_onnx: bool) -> Manifest:
    """Read the manifest and check every file it names against its sha256; raise ArtifactError.

    ``need_onnx`` also requires the ONNX file (what the service runs); the items and weights are checked
    either way, and so is the ONNX file whenever the manifest names one.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    if need_onnx and (manifest.onnx_file is None or manifest.onnx_sha256 is None):
        raise ArtifactError(f"{directory}: not exported to ONNX (run `steadyrec export`)")
    for name, expected in listed_files(manifest):
        if Path(name).name != name or name in (".", ".."):
            raise ArtifactError(f"{directory}: the manifest names {name!r}, which is not a file of the artifact")
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{directory}: missing {name}")
        actual = file_sha256(path)
        if actual != expected:
            raise ArtifactError(f"{directory}: sha256 of {name} is {actual[:12]}..., manifest says {expected[:12]}...")
    return manifest


def listed_files(manifest: Manifest) -> list[tuple[str, str]]:
    """Every file the manifest names, with its sha256: items, weights and, once exported, the ONNX graph."""
    files = [(manifest.items_file, manifest.items_sha256), (manifest.weights_file, manifest.weights_sha256)]
    if manifest.onnx_file is not None and manifest.onnx_sha256 is not None:
        files.append((manifest.onnx_file, manifest.onnx_sha256))
    return files
