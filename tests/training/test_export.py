import json
from pathlib import Path

import numpy as np
import pytest
import torch

from steadyrec.core.manifest import ArtifactError, verify_artifact
from steadyrec.core.onnx_model import load_version
from steadyrec.testing.builders import tiny_artifact
from training.artifact import atomic_directory, load_model
from training.data.synthetic import SyntheticConfig, synthetic_log


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("art") / "v1"
    tiny_artifact(target, synthetic_log(SyntheticConfig(n_users=30, n_items=40)), config={"hidden": 32, "max_len": 25})
    return target


def test_artifact_is_self_describing(artifact: Path) -> None:
    manifest = json.loads((artifact / "manifest.json").read_text())
    for key in ("model_kind", "config", "max_len", "items_file", "data", "metrics", "onnx_sha256", "created_at"):
        assert key in manifest
    assert manifest["data"]["fingerprint"] and manifest["max_len"] == 25
    assert sorted(p.name for p in artifact.iterdir()) == [
        "items.json",
        "manifest.json",
        "model.onnx",
        "weights.safetensors",
    ]
    assert not list(artifact.parent.glob(".tmp-*"))


def test_onnx_matches_pytorch_for_any_batch_size(artifact: Path) -> None:
    model, manifest, _ = load_model(artifact)
    served = load_version("v1", artifact)
    for batch in (1, 3, 17):
        history = torch.randint(0, manifest.n_items + 1, (batch, manifest.max_len))
        onnx_scores = served.score(history.numpy())
        assert onnx_scores.shape == (batch, manifest.n_items)
        with torch.no_grad():
            expected = model.scores(history).numpy()
        assert np.max(np.abs(onnx_scores - expected)) <= 1e-4


def test_corrupt_onnx_file_fails_verification(artifact: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(artifact, copy)
    verify_artifact(copy, need_onnx=True)
    with (copy / "model.onnx").open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(ArtifactError, match=r"sha256 of model.onnx"):
        verify_artifact(copy, need_onnx=True)


@pytest.mark.parametrize("need_onnx", [True, False])
def test_corrupt_weights_fail_verification_with_or_without_onnx(
    artifact: Path, tmp_path: Path, need_onnx: bool
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(artifact, copy)
    with (copy / "weights.safetensors").open("r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\xff\xfe\xfd\xfc")
    with pytest.raises(ArtifactError, match=r"sha256 of weights.safetensors"):
        verify_artifact(copy, need_onnx=need_onnx)


def test_manifest_naming_a_file_outside_the_artifact_fails_verification(artifact: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(artifact, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["items_file"] = "../items.json"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"not a file of the artifact"):
        verify_artifact(copy, need_onnx=True)


def test_artifact_files_are_readable_by_every_user(artifact: Path) -> None:
    assert artifact.stat().st_mode & 0o777 == 0o755
    assert {p.name: p.stat().st_mode & 0o777 for p in artifact.iterdir()} == {
        "items.json": 0o644,
        "manifest.json": 0o644,
        "model.onnx": 0o644,
        "weights.safetensors": 0o644,
    }


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "v2") as tmp:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("export failed")
    assert list(tmp_path.iterdir()) == []
