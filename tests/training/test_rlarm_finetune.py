"""R-LARM adversarial user reweighting as a fine-tuning method for the sequential models (`--method rlarm`)."""

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from steadyrec.cli import app
from steadyrec.core.methods import FinestConfig, RlarmConfig, make_method_config
from training.artifact import data_info, popular_items, write_artifact
from training.data.batches import Batch
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.methods.rlarm import AdversarialWeights, next_item_rank_loss, rlarm_finetune
from training.models import build_model

runner = CliRunner()
TINY = {"hidden": 16, "blocks": 1, "max_len": 10, "dropout": 0.0}


def test_method_config_is_validated_without_torch_types() -> None:
    config = make_method_config("rlarm", {"epochs": 3, "adversary": "nn", "finest": True})
    assert isinstance(config, RlarmConfig) and config.epochs == 3 and config.finest
    with pytest.raises(ValueError, match="unknown rlarm parameters"):
        make_method_config("rlarm", {"lam": 1.0})
    with pytest.raises(ValueError, match="invalid rlarm parameters"):
        make_method_config("rlarm", {"adversary": "deep"})


def test_finest_switch_selects_the_fine_tuning_loop() -> None:
    assert RlarmConfig(finest=True).finest_config() == FinestConfig(epochs=10, lr=1e-3, batch_size=128)
    plain = RlarmConfig(epochs=2).finest_config()
    assert not plain.regularize and not plain.simulate and plain.epochs == 2


def test_rank_loss_of_the_next_item_on_a_hand_made_case() -> None:
    model = build_model("ease", 5, {"max_len": 3})
    with torch.no_grad():
        model.weight.zero_()
        model.weight[0] = torch.tensor([0.0, 0.9, 0.5, 0.8, 0.1])  # item 1 in history scores items 2..5
    history = torch.tensor([[0, 0, 1], [0, 1, 2]])
    target = torch.tensor([3, 3])
    loss = next_item_rank_loss(model, history, target, k=10)
    # user 0: item 3 (0.5) ranks after items 2 (0.9) and 4 (0.8): rank 3; user 1: item 2 is history, rank 2
    torch.testing.assert_close(loss, torch.tensor([1 - 1 / math.log2(4), 1 - 1 / math.log2(3)]))


def test_weights_have_mean_one_and_the_adversary_moves_only_after_warm_up() -> None:
    log = synthetic_log(SyntheticConfig(n_users=16, n_items=30))
    model = build_model("sasrec", log.n_items, TINY)
    hook = AdversarialWeights(log.n_items, RlarmConfig(warmup=1, lr=0.05), torch.device("cpu"))
    items = torch.randint(1, 31, (8, 11))
    batch = Batch(items, torch.arange(8), torch.Generator())
    before = copy.deepcopy(hook.adversary.state_dict())
    w = hook(model, batch, epoch=1)
    assert w.shape == (8,) and w.mean().item() == pytest.approx(1.0, abs=1e-5)
    assert all(torch.equal(before[k], v) for k, v in hook.adversary.state_dict().items())  # warm-up: still
    hook(model, batch, epoch=2)
    assert not all(torch.equal(before[k], v) for k, v in hook.adversary.state_dict().items())
    assert len(hook.objectives) == 1


@pytest.mark.parametrize("finest", [False, True], ids=["rlarm", "rlarm+finest"])
def test_fine_tuning_runs_with_adversarial_weights(finest: bool) -> None:
    log = synthetic_log(SyntheticConfig(n_users=30, n_items=25))
    torch.manual_seed(0)
    model = build_model("sasrec", log.n_items, TINY)
    reference = copy.deepcopy(model)
    config = RlarmConfig(epochs=2, batch_size=16, finest=finest, device="cpu")
    result, hook = rlarm_finetune(model, log, reference, config)
    assert len(result.epochs) == 2 and len(hook.objectives) == 2  # 30 users / 16 = 2 batches in epoch 2
    assert (result.epochs[-1].regulariser > 0) == finest
    assert any(
        not torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True)
    )


def test_cli_finetune_method_rlarm_writes_an_artifact(tmp_path: Path) -> None:
    log = synthetic_log(SyntheticConfig(n_users=40, n_items=30, min_len=5, max_len=12))
    source = tmp_path / "log.txt"  # `user item` lines in order, as ml-1m.txt
    source.write_text(
        "".join(f"{u} {log.item_ids[i - 1]}\n" for u, seq in zip(log.user_ids, log.sequences, strict=True) for i in seq)
    )
    torch.manual_seed(0)
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    data = data_info(log, source=str(source), fmt=None, split="temporal", min_interactions=1)
    model = build_model("sasrec", log.n_items, TINY)
    write_artifact(base, model, item_ids=log.item_ids, popular=popular_items(log), data=data)
    args = ["finetune", str(base), "--out", str(tuned), "--method", "rlarm", "--no-export"]
    result = runner.invoke(app, [*args, "--set", "epochs=2", "--set", "finest=true", "--set", "batch_size=16"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tuned / "manifest.json").read_text())
    assert manifest["training"]["method"] == "rlarm" and manifest["training"]["method_config"]["finest"] is True
    assert len(manifest["training"]["loss_curve"]) == 2
