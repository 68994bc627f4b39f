"""The serving graph's options: top-K inside the graph for every model, int8 item scoring within its bound."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import training.onnx_export as onnx_export
from steadyrec.core.manifest import ExportOptions, read_manifest
from training.artifact import data_info, popular_items, write_artifact
from training.data.splits import leave_one_out
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.models import MODELS, build_model
from training.onnx_export import Int8Refused, export_onnx
from training.onnx_graph import item_scoring_node

TINY = {"max_len": 12}
KINDS = sorted(MODELS)


@pytest.fixture(scope="module")
def log():
    return synthetic_log(SyntheticConfig(n_users=80, n_items=40, min_len=5, max_len=15))


def model_of(kind: str, n_items: int):
    torch.manual_seed(0)
    return build_model(kind, n_items, {**TINY, **({"hidden": 16} if kind != "ease" else {})}).eval()


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_exports_a_top_k_graph_that_agrees_with_its_scores(kind: str, tmp_path: Path) -> None:
    model = model_of(kind, 40)
    exported = export_onnx(model, tmp_path / "m.onnx", ExportOptions(top_k=True))  # checks top-K against scores
    assert exported.graph.top_k and not exported.graph.int8
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    assert inputs == {"history", "k", "exclude", *(["timestamps"] if model.uses_time else [])}
    assert {o.name for o in session.get_outputs()} == {"scores", "top_items", "top_scores"}
    assert exported.io["top_items"] == "top_items" and exported.io.get("times") == (
        "timestamps" if model.uses_time else None
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_item_scoring_matmul_is_found_in_every_model(kind: str, tmp_path: Path) -> None:
    model = model_of(kind, 40)
    export_onnx(model, tmp_path / "m.onnx")
    exported = onnx.load(str(tmp_path / "m.onnx"))
    name = item_scoring_node(exported, 40)
    (node,) = [n for n in exported.graph.node if n.name == name]
    assert node.op_type == "MatMul"


def test_int8_is_measured_on_the_test_split_and_recorded(log, tmp_path: Path) -> None:
    split = leave_one_out(log)
    exported = export_onnx(
        model_of("sasrec", log.n_items), tmp_path / "m.onnx", ExportOptions(int8=True), test=split.test
    )
    check = exported.graph.int8_check
    assert exported.graph.int8 and check["users"] == len(split.test)
    assert check["ndcg@10_int8"] >= check["ndcg@10_float"] * (1 - onnx_export.INT8_MAX_RELATIVE_DROP)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert "MatMulInteger" in ops


def test_int8_above_the_bound_is_refused_and_writes_no_artifact(log, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(onnx_export, "INT8_MAX_RELATIVE_DROP", -1.0)  # any result is "above" a negative bound
    split = leave_one_out(log)
    model = model_of("sasrec", log.n_items)
    data = data_info(log, source="synthetic", fmt=None, split="leave-one-out", min_interactions=1)
    export = partial(export_onnx, options=ExportOptions(int8=True), test=split.test)
    with pytest.raises(Int8Refused, match=r"int8 lowers test ndcg@10 from .* above the bound"):
        write_artifact(
            tmp_path / "a", model, item_ids=log.item_ids, popular=popular_items(log), data=data, export_onnx=export
        )
    assert not (tmp_path / "a").exists()
    assert not list(tmp_path.iterdir())  # no staging directory left either


def test_int8_without_a_test_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Int8Refused, match="test split"):
        export_onnx(model_of("sasrec", 40), tmp_path / "m.onnx", ExportOptions(int8=True))
    assert not (tmp_path / "m.onnx").exists()


def test_the_manifest_records_the_graph_options(log, tmp_path: Path) -> None:
    model = model_of("gru4rec", log.n_items)
    data = data_info(log, source="synthetic", fmt=None, split="leave-one-out", min_interactions=1)
    export = partial(export_onnx, options=ExportOptions(top_k=True, int8=True), test=leave_one_out(log).test)
    write_artifact(
        tmp_path / "a", model, item_ids=log.item_ids, popular=popular_items(log), data=data, export_onnx=export
    )
    manifest = read_manifest(tmp_path / "a")
    assert (
        manifest.graph.top_k
        and manifest.graph.int8
        and set(manifest.graph.int8_check)
        == {
            "ndcg@10_float",
            "ndcg@10_int8",
            "users",
        }
    )
    assert ExportOptions.of(manifest.graph) == ExportOptions(top_k=True, int8=True)
    assert np.isfinite(manifest.graph.int8_check["ndcg@10_int8"])
