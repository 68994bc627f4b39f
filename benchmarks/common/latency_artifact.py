"""An exported artifact trained for one epoch, for latency studies (latency does not depend on accuracy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def latency_artifact(
    target: Path,
    data: Path,
    kind: str,
    config: dict[str, Any],
    split: str,
    min_interactions: int = 1,
    top_k: bool = False,
) -> None:
    """Read ``data``, split it (``leave-one-out`` or ``temporal``), train ``kind`` with ``config`` for one
    epoch from seed 0 and write the artifact, ONNX included (with the graph's top-K when ``top_k``), to
    ``target``."""
    from functools import partial

    from steadyrec.core.formats import read_log
    from steadyrec.core.manifest import ExportOptions
    from training.artifact import data_info, popular_items, write_artifact
    from training.datasets import make_split
    from training.models import build_model
    from training.onnx_export import export_onnx
    from training.trainer import TrainConfig, seed_everything, train

    log = read_log(data, min_interactions=min_interactions)
    parts = make_split(log, split)  # type: ignore[arg-type]
    seed_everything(0)
    model = build_model(kind, log.n_items, config)
    train(model, parts.train, TrainConfig(epochs=1))
    write_artifact(
        target,
        model,
        item_ids=log.item_ids,
        popular=popular_items(parts.train),
        data=data_info(log, source=str(data), fmt=None, split=parts.name, min_interactions=min_interactions),
        training={"note": "1 epoch, for latency only"},
        export_onnx=partial(export_onnx, options=ExportOptions(top_k=top_k)),
    )
