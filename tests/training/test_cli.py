import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steadyrec.cli import app

runner = CliRunner()


def test_train_evaluate_export_round_trip(tmp_path: Path) -> None:
    ckpt, art = tmp_path / "ckpt", tmp_path / "art"
    args = [
        "train",
        "--data",
        "synthetic",
        "--out",
        str(ckpt),
        "--epochs",
        "2",
        "--set",
        "hidden=32",
        "--set",
        "max_len=20",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((ckpt / "manifest.json").read_text())
    assert manifest["onnx_file"] is None and manifest["metrics"]["ndcg@10"] > 0
    assert manifest["training"]["epochs_run"] == 2

    result = runner.invoke(app, ["evaluate", str(ckpt), "--data", "synthetic", "--k", "5", "--k", "10"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout[result.stdout.index("{") :])
    assert metrics["same_data_as_training"] is True
    assert metrics["ndcg@10"] == manifest["metrics"]["ndcg@10"]

    result = runner.invoke(app, ["export", str(ckpt), "--out", str(art)])
    assert result.exit_code == 0, result.output
    assert (art / "model.onnx").is_file()


def test_graph_options_reach_the_manifest_and_a_fine_tune_keeps_its_base_graph(tmp_path: Path, monkeypatch) -> None:
    import training.onnx_export

    # the plumbing, not the bound (tests/training/test_onnx_graph.py): a one-epoch model's NDCG@10 moves by noise
    monkeypatch.setattr(training.onnx_export, "INT8_MAX_RELATIVE_DROP", 1.0)
    ckpt, base, tuned = tmp_path / "ckpt", tmp_path / "base", tmp_path / "tuned"
    small = ["--set", "hidden=16", "--set", "max_len=20"]
    assert (
        runner.invoke(app, ["train", "--data", "synthetic", "--out", str(ckpt), "--epochs", "1", *small]).exit_code == 0
    )
    result = runner.invoke(app, ["export", str(ckpt), "--out", str(base), "--top-k-graph", "--int8"])
    assert result.exit_code == 0, result.output
    graph = json.loads((base / "manifest.json").read_text())["graph"]
    assert graph["top_k"] and graph["int8"] and graph["int8_check"]["users"] > 0  # measured on the manifest's data
    result = runner.invoke(
        app, ["finetune", str(base), "--out", str(tuned), "--method", "random-ft", "--set", "epochs=1"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tuned / "manifest.json").read_text())
    assert manifest["graph"]["top_k"] and manifest["graph"]["int8"] and "top_items" in manifest["onnx_io"]


def test_bad_config_key_fails_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", "synthetic", "--out", str(tmp_path / "x"), "--set", "hiden=3"])
    assert result.exit_code == 2
    assert "hiden" in result.output
    assert not (tmp_path / "x").exists()


def test_missing_dataset_fails_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "nope.tsv"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "no interaction file" in result.output


def test_finetune_and_stability_commands(tmp_path: Path) -> None:
    base = tmp_path / "base"
    train_args = ["train", "--data", "synthetic", "--out", str(base), "--epochs", "2", "--split", "temporal"]
    assert runner.invoke(app, [*train_args, "--set", "hidden=16", "--set", "max_len=20"]).exit_code == 0
    tuned = tmp_path / "tuned"
    result = runner.invoke(
        app, ["finetune", str(base), "--out", str(tuned), "--method", "finest", "--set", "epochs=2", "--set", "top_k=5"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tuned / "manifest.json").read_text())
    assert manifest["parent"] == str(base) and manifest["training"]["method"] == "finest"
    assert manifest["onnx_sha256"] and len(manifest["training"]["regulariser_curve"]) == 2

    result = runner.invoke(app, ["stability", str(base), str(tuned), "--data", "synthetic"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert 0.0 < report["all"]["rbo"] < 1.0 and set(report) == {"instances", "all", "bottom20_mrr", "rest"}

    result = runner.invoke(app, ["stability", str(base), str(base), "--data", "synthetic"])
    same = json.loads(result.stdout[result.stdout.index("{") :])["all"]
    assert same["rbo"] == same["jaccard@10"] == same["ao_full"] == 1.0


def test_finetune_refuses_unknown_method_parameters(tmp_path: Path) -> None:
    result = runner.invoke(app, ["finetune", str(tmp_path), "--out", str(tmp_path / "o"), "--set", "lamda=2"])
    assert result.exit_code == 2 and "lamda" in result.output


@pytest.mark.parametrize(
    ("method", "settings"),
    [
        pytest.param("cascade", ["variant=adv_cas", "epochs=1"], id="cascade"),
        pytest.param("sao", ["epochs=1"], id="sao"),
    ],
)
def test_finetune_runs_the_adversarial_methods(tmp_path: Path, method: str, settings: list[str]) -> None:
    base = tmp_path / "base"
    train_args = ["train", "--data", "synthetic", "--out", str(base), "--epochs", "1"]
    assert runner.invoke(app, [*train_args, "--set", "hidden=16", "--set", "max_len=20"]).exit_code == 0
    tuned = tmp_path / "tuned"
    sets = [arg for s in settings for arg in ("--set", s)]
    result = runner.invoke(app, ["finetune", str(base), "--out", str(tuned), "--method", method, *sets])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tuned / "manifest.json").read_text())
    assert manifest["training"]["method"] == method and manifest["onnx_sha256"]
    assert manifest["training"]["epochs_run"] == 1 and len(manifest["training"]["adversarial_curve"]) == 1


def test_methods_prints_the_documented_parameter_table() -> None:
    result = runner.invoke(app, ["methods"])
    assert result.exit_code == 0
    doc = (Path(__file__).resolve().parents[2] / "docs" / "method-parameters.md").read_text(encoding="utf-8")
    assert doc.endswith(result.output)  # the doc's table is the command's output, unedited
    assert "| cascade | `eps` | 0.003 | [0.0, 100.0] |" in result.output


def test_every_numeric_method_parameter_has_a_bounded_range() -> None:
    from pydantic import TypeAdapter

    from steadyrec.core.methods import CONFIGS, FinestConfig

    for cls in {*CONFIGS.values(), FinestConfig}:
        for name, schema in TypeAdapter(cls).json_schema()["properties"].items():
            for option in schema.get("anyOf", [schema]):
                if option.get("type") in ("integer", "number"):
                    assert "maximum" in option or "exclusiveMaximum" in option, (cls.__name__, name)
                    assert "minimum" in option or "exclusiveMinimum" in option, (cls.__name__, name)


@pytest.mark.parametrize(
    ("method", "params", "named"),
    [
        ("finest", {"epochs": 100_000_000}, "epochs"),
        ("cascade", {"eps": float("inf")}, "eps"),
        ("sao", {"batch_size": 0}, "batch_size"),
        ("rlarm", {"k": 10**9}, "k"),
        ("finest", {"device": "cuda; rm -rf /"}, "device"),
    ],
)
def test_out_of_range_method_parameters_are_refused_naming_the_parameter(method, params, named) -> None:
    from steadyrec.core.methods import make_method_config

    with pytest.raises(ValueError, match=rf"invalid {method} parameters: {named}:"):
        make_method_config(method, params)


def test_train_fits_ease_in_closed_form_with_c_picked_on_validation(tmp_path: Path) -> None:
    from steadyrec.core.manifest import read_manifest
    from training.pipeline import EASE_C_GRID

    assert (
        runner.invoke(app, ["synth", "--out", str(tmp_path / "log.tsv"), "--users", "80", "--items", "40"]).exit_code
        == 0
    )
    out = tmp_path / "ease"
    result = runner.invoke(
        app, ["train", "--data", str(tmp_path / "log.tsv"), "--model", "ease", "--out", str(out), "--export"]
    )
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest.model_kind == "ease" and manifest.onnx_file == "model.onnx"
    assert manifest.training["c"] in EASE_C_GRID and manifest.config["c"] == manifest.training["c"]
    assert manifest.metrics["ndcg@10"] > 0.1


def test_finetuning_an_ease_model_is_refused_with_a_message(tmp_path: Path) -> None:
    runner.invoke(app, ["synth", "--out", str(tmp_path / "log.tsv"), "--users", "40", "--items", "30"])
    runner.invoke(app, ["train", "--data", str(tmp_path / "log.tsv"), "--model", "ease", "--out", str(tmp_path / "e")])
    result = runner.invoke(app, ["finetune", str(tmp_path / "e"), "--out", str(tmp_path / "f"), "--method", "finest"])
    assert result.exit_code == 2 and "closed form" in result.output
