"""`steadyrec canary`: the same gate offline, with an exit code."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from steadyrec.cli import app

runner = CliRunner()


def test_canary_cli_passes_identical_models_and_fails_another(world, tmp_path) -> None:
    v1, v2 = str(world["build"] / "v1"), str(world["build"] / "v2")
    common = ["--data", str(world["events"]), "--set", "min_samples=30", "--set", "bootstrap=100"]
    same = runner.invoke(app, ["canary", v1, v1, *common, "--report", str(tmp_path / "r.html")])
    assert same.exit_code == 0, same.output
    verdict = json.loads(same.stdout[same.stdout.index("{") :])
    assert verdict["passed"] is True and verdict["figures"]["groups"]["all"]["rbo"]["mean"] == 1.0
    assert "PASSES" in (tmp_path / "r.html").read_text()
    other = runner.invoke(app, ["canary", v1, v2, *common, "--set", "min_mean_rbo=0.99"])
    assert other.exit_code == 1
    assert "mean RBO" in " ".join(json.loads(other.stdout[other.stdout.index("{") :])["failures"])


def test_canary_cli_refuses_a_bad_policy(world) -> None:
    v1 = str(world["build"] / "v1")
    result = runner.invoke(app, ["canary", v1, v1, "--data", str(world["events"]), "--set", "p=1"])
    assert result.exit_code == 2 and "p" in result.output
