import pytest
import torch

from training.data.splits import leave_one_out
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.evaluation.ranking import evaluate
from training.models import build_model, make_config
from training.trainer import TrainConfig, seed_everything, train

TINY = {"hidden": 32, "blocks": 1, "max_len": 20}


@pytest.fixture(scope="module")
def split():
    return leave_one_out(synthetic_log(SyntheticConfig(n_users=200, n_items=80)))


def test_only_the_last_max_len_items_count() -> None:
    model = build_model("sasrec", 50, TINY).eval()
    tail = torch.randint(1, 51, (2, 20))  # (2, 20)
    longer = torch.cat([torch.randint(1, 51, (2, 15)), tail], dim=1)  # (2, 35)
    torch.testing.assert_close(model.scores(longer), model.scores(tail))


def test_unknown_config_key_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="hiden"):
        make_config("sasrec", {"hiden": 3})
    with pytest.raises(ValueError, match="divisible"):
        make_config("sasrec", {"hidden": 10, "heads": 3})


def test_both_losses_train(split) -> None:
    for loss in ("ce", "bce"):
        seed_everything(0)
        model = build_model("sasrec", split.train.n_items, {**TINY, "loss": loss})
        before = evaluate(model, split.test, exclude_history=False).metrics["hr@10"]
        result = train(model, split.train, TrainConfig(epochs=8, eval_every=4, batch_size=64, lr=5e-3))
        assert result.epochs[-1].loss < result.epochs[0].loss * 0.9
        assert evaluate(model, split.test, exclude_history=False).metrics["hr@10"] > before + 0.1


def test_training_is_deterministic_under_a_seed(split) -> None:
    def run() -> torch.Tensor:
        seed_everything(3)
        model = build_model("sasrec", split.train.n_items, TINY)
        train(model, split.train, TrainConfig(epochs=1, seed=3, batch_size=64))
        return model.eval().scores(torch.tensor([[0] * 18 + [1, 2]]))

    torch.testing.assert_close(run(), run(), atol=0, rtol=0)
