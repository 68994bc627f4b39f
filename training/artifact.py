"""Writing and loading model artifacts (torch side); the manifest schema lives in steadyrec.core.manifest.

Artifacts are written atomically: everything goes to a hidden temporary directory beside the target,
which is renamed into place only when complete, so a reader never sees a half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors.torch import load_file, save_file

from steadyrec.core.interactions import InteractionLog
from steadyrec.core.manifest import (
    ArtifactError,
    DataInfo,
    Manifest,
    file_sha256,
    read_items,
    utc_now,
    verify_artifact,
)
from training.models import SequentialModel, build_model, config_dict

if TYPE_CHECKING:
    from training.onnx_export import Exported

__all__ = ["atomic_directory", "data_info", "load_model", "popular_items", "write_artifact"]

POPULAR_KEPT = 100  # enough for a fallback list of any k the service allows


@contextmanager
def atomic_directory(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``target`` on success and vanishes on failure."""
    target = Path(target)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def popular_items(log: InteractionLog, top: int = POPULAR_KEPT) -> list[str]:
    counts = log.item_counts()[1:]  # (N,)
    order = np.argsort(-counts, kind="stable")[:top]
    return [log.item_ids[i] for i in order if counts[i] > 0]


def data_info(log: InteractionLog, *, source: str, fmt: str | None, split: str, min_interactions: int) -> DataInfo:
    return DataInfo(
        source=source,
        format=fmt,
        fingerprint=log.fingerprint(),
        split=split,
        min_interactions=min_interactions,
        n_users=log.n_users,
        n_items=log.n_items,
        n_interactions=log.n_interactions,
    )


def write_artifact(
    target: Path,
    model: SequentialModel,
    *,
    item_ids: list[str] | tuple[str, ...],
    popular: list[str],
    data: DataInfo,
    training: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    metrics_protocol: str = "",
    metrics_exclude_history: bool = True,
    parent: str | None = None,
    export_onnx: Callable[[SequentialModel, Path], Exported] | None = None,
    overwrite: bool = False,
) -> Manifest:
    """Write weights, items, manifest and (with ``export_onnx``) model.onnx into ``target`` atomically.

    ``export_onnx(model, path)`` writes and checks the ONNX file and returns its tensor names and how it
    was built (``training.onnx_export.export_onnx``, its options bound with ``functools.partial``).
    """
    if len(item_ids) != model.n_items:
        raise ValueError(f"model has {model.n_items} items but {len(item_ids)} item ids were given")
    with atomic_directory(target, overwrite=overwrite) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "weights.safetensors"))
        (tmp / "items.json").write_text(json.dumps(list(item_ids)), encoding="utf-8")
        onnx_fields: dict[str, Any] = {}
        if export_onnx is not None:
            exported = export_onnx(model, tmp / "model.onnx")
            onnx_fields = {
                "onnx_file": "model.onnx",
                "onnx_sha256": file_sha256(tmp / "model.onnx"),
                "onnx_io": exported.io,
                "graph": exported.graph,
            }
        manifest = Manifest(
            model_kind=model.kind,
            config=config_dict(model),
            max_len=model.max_len,
            n_items=model.n_items,
            items_sha256=file_sha256(tmp / "items.json"),
            popular_items=popular,
            data=data,
            training=training or {},
            metrics=metrics or {},
            metrics_protocol=metrics_protocol,
            metrics_exclude_history=metrics_exclude_history,
            weights_sha256=file_sha256(tmp / "weights.safetensors"),
            parent=parent,
            created_at=utc_now(),
            **onnx_fields,
        )
        (tmp / "manifest.json").write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        _readable_by_all(tmp)
    return manifest


def _readable_by_all(directory: Path) -> None:
    """Files 0644 and the folder 0755 (safetensors writes 0600): a copied artifact stays readable by the
    service's own user, whoever owns the copy."""
    for path in directory.iterdir():
        path.chmod(0o644)
    directory.chmod(0o755)


def load_model(directory: Path) -> tuple[SequentialModel, Manifest, list[str]]:
    """Rebuild the trained model of an artifact (checksums verified) with its manifest and item ids."""
    directory = Path(directory)
    manifest = verify_artifact(directory, need_onnx=False)
    model = build_model(manifest.model_kind, manifest.n_items, manifest.config)
    state = load_file(str(directory / manifest.weights_file))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ArtifactError(f"{directory}: weights do not fit the model (missing {missing}, unexpected {unexpected})")
    model.eval()
    return model, manifest, read_items(directory, manifest)
