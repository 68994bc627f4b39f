"""ONNX export of a trained model, checked twice: ``onnx.checker`` and ONNX Runtime parity with PyTorch.

The graph takes ``history`` (int64, (batch, max_len), left-padded with 0; the batch axis is dynamic)
and returns ``scores`` (float32, (batch, n_items); column j is internal item j + 1). A time-aware model
(``uses_time``) takes a second input, ``timestamps`` (int64 whole seconds, the history's shape, 0 at
padding); its intervals are computed inside the graph.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from training.models import SequentialModel

__all__ = ["INPUT", "OUTPUT", "PARITY_TOLERANCE", "TIMES", "ExportError", "export_onnx", "parity_check"]

log = logging.getLogger(__name__)

INPUT, OUTPUT, TIMES = "history", "scores", "timestamps"
PARITY_TOLERANCE = 1e-4  # max abs difference allowed between ONNX Runtime and PyTorch scores
OPSET = 17


class ExportError(RuntimeError):
    """The exported graph failed the checker or disagreed with PyTorch."""


def _sample_histories(model: SequentialModel, batch: int, seed: int) -> torch.Tensor:
    """Histories of varied lengths (including one fully padded row) to trace and test with."""
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(1, model.n_items + 1, (batch, model.max_len), generator=g)  # (B, L)
    lengths = torch.randint(0, model.max_len + 1, (batch,), generator=g)
    lengths[0], lengths[-1] = model.max_len, 0
    keep = torch.arange(model.max_len)[None, :] >= (model.max_len - lengths)[:, None]
    return items * keep


def _sample_times(histories: torch.Tensor, seed: int) -> torch.Tensor:
    """Increasing timestamps (seconds, from 2020 on, gaps of 0 s to 3 days) at the real positions, 0 at padding."""
    g = torch.Generator().manual_seed(seed)
    gaps = torch.randint(0, 3 * 86_400, histories.shape, generator=g)  # (B, L)
    gaps[gaps < 86_400 // 2] = 0  # a sixth of the steps at the same second: zero intervals occur
    return (1_577_836_800 + gaps.cumsum(dim=1)) * (histories > 0)


def _inputs(model: SequentialModel, histories: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """The graph's inputs by name: the histories, and their timestamps for a time-aware model."""
    if model.uses_time:
        return {INPUT: histories, TIMES: _sample_times(histories, seed)}
    return {INPUT: histories}


def export_onnx(model: SequentialModel, path: Path) -> dict[str, str]:
    """Export ``model`` to ``path``, run the checker and the parity check; return the tensor names."""
    model = model.cpu().eval()
    example = _inputs(model, _sample_histories(model, batch=2, seed=0), seed=0)  # batch >= 2: no axis fixed to 1
    names = list(example)
    # attention runs through training.models.attention (plain SDPA), so no fused MHA kernel needs turning off
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation on every call
        torch.onnx.export(
            model,
            tuple(example.values()),
            str(path),
            input_names=names,
            output_names=[OUTPUT],
            dynamic_axes={**{name: {0: "batch"} for name in names}, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as err:
        raise ExportError(f"onnx.checker rejected {path}: {err}") from err
    diff = parity_check(model, path)
    log.info("exported %s (parity max abs diff %.2e)", path, diff)
    return {"input": INPUT, "output": OUTPUT, **({"times": TIMES} if model.uses_time else {})}


def parity_check(model: SequentialModel, path: Path, batch: int = 16, seed: int = 1) -> float:
    """Max abs difference of ONNX Runtime against PyTorch on random histories; raise above tolerance."""
    inputs = _inputs(model, _sample_histories(model, batch, seed), seed)
    with torch.no_grad():
        expected = model.cpu().eval().scores(inputs[INPUT], inputs.get(TIMES)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = session.run([OUTPUT], {name: value.numpy() for name, value in inputs.items()})
    diff = float(np.max(np.abs(actual - expected)))
    if not diff <= PARITY_TOLERANCE:
        raise ExportError(f"ONNX Runtime differs from PyTorch by {diff:.3e} (> {PARITY_TOLERANCE})")
    return diff
