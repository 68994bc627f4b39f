"""Every model keeps the shared contract: scores for all items, a trainable loss, exact ONNX export."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from steadyrec.core.manifest import ExportOptions
from training.data.batches import TrainingWindows
from training.data.splits import leave_one_out
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.evaluation.ranking import evaluate
from training.models import MODELS, build_model
from training.onnx_export import export_onnx
from training.trainer import TrainConfig, seed_everything, train

TINY = {
    "sasrec": {"hidden": 32, "blocks": 1, "max_len": 20},
    "gru4rec": {"hidden": 32, "embedding": 32, "max_len": 20},
    "lstm": {"hidden": 32, "embedding": 32, "max_len": 20},
    "bert4rec": {"hidden": 32, "blocks": 1, "heads": 2, "max_len": 20, "mask_prob": 0.4},
    "ease": {"max_len": 20},
    "tisasrec": {"hidden": 32, "blocks": 1, "heads": 2, "max_len": 20, "time_span": 16},
}
KINDS = sorted(MODELS)
GRADIENT_KINDS = [k for k in KINDS if k != "ease"]  # EASE is fitted in closed form: tests/training/test_ease.py


def stamps(history: torch.Tensor) -> torch.Tensor:
    """Increasing timestamps (seconds) at the real positions of ``history``, 0 at padding; every model takes
    them (the time-aware ones read them)."""
    gaps = torch.randint(0, 500, history.shape, generator=torch.Generator().manual_seed(3))
    return (1_600_000_000 + gaps.cumsum(1)) * (history > 0)


def test_every_registered_model_has_a_tiny_config() -> None:
    assert set(TINY) == set(MODELS)


@pytest.fixture(scope="module")
def split():
    return leave_one_out(synthetic_log(SyntheticConfig(n_users=200, n_items=80)))


@pytest.mark.parametrize("kind", KINDS)
def test_scores_have_one_column_per_item(kind: str) -> None:
    model = build_model(kind, 50, TINY[kind]).eval()
    history = torch.tensor([[0] * 17 + [3, 4, 5], [0] * 20])
    assert model.scores(history, stamps(history)).shape == (2, 50)


@pytest.mark.parametrize("kind", GRADIENT_KINDS)
def test_training_beats_the_untrained_model(split, kind: str) -> None:
    seed_everything(0)
    model = build_model(kind, split.train.n_items, TINY[kind])
    before = evaluate(model, split.test, exclude_history=False).metrics["hr@10"]
    epochs = 30 if kind == "bert4rec" else 8  # a masked model sees ~40% of the targets per epoch; 8 left it +0.035-0.06
    result = train(model, split.train, TrainConfig(epochs=epochs, eval_every=epochs, batch_size=64, lr=5e-3))
    assert result.epochs[-1].loss < result.epochs[0].loss
    assert evaluate(model, split.test, exclude_history=False).metrics["hr@10"] > before + 0.05


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_export_matches_pytorch(kind: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(kind, 40, TINY[kind]).eval()
    export_onnx(model, tmp_path / "m.onnx", ExportOptions(top_k=False))  # the scores alone; raises above 1e-4
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    history = torch.randint(0, 41, (5, 20))
    feed = {"history": history.numpy(), **({"timestamps": stamps(history).numpy()} if model.uses_time else {})}
    assert sorted(i.name for i in session.get_inputs()) == sorted(feed)
    (scores,) = session.run(["scores"], feed)
    with torch.no_grad():
        assert np.max(np.abs(scores - model.scores(history, stamps(history)).numpy())) <= 1e-4


def test_untied_gru4rec_reads_histories_from_its_own_table_and_exports_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("gru4rec", 40, {**TINY["gru4rec"], "tied": False}).eval()
    assert model.input_emb is not model.item_emb
    assert not model.input_emb.weight[0].any()  # its padding row starts at zero too
    history = torch.randint(0, 41, (5, 20))
    with torch.no_grad():
        states = model.encode(history)
        model.item_emb.weight.zero_()  # the output table: scores change, the states do not
        torch.testing.assert_close(model.encode(history), states)
        assert not model.scores(history).any()
        model.item_emb.weight.normal_()
    export_onnx(model, tmp_path / "m.onnx")  # raises above 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_scores_of_chosen_items_equal_the_full_scores_at_those_items(kind: str) -> None:
    torch.manual_seed(0)
    model = build_model(kind, 50, TINY[kind]).eval()
    history = torch.randint(0, 51, (4, 20))
    items = torch.randint(1, 51, (4, 7))
    with torch.no_grad():
        expected = model.scores(history, stamps(history)).gather(1, items - 1)
        torch.testing.assert_close(model.scores_of(history, items, stamps(history)), expected, atol=1e-5, rtol=1e-5)


CAUSAL_KINDS = ["gru4rec", "lstm", "sasrec", "tisasrec"]


@pytest.mark.parametrize("kind", CAUSAL_KINDS)
def test_causal_last_only_encoding_is_the_last_row_of_the_full_encoding(kind: str) -> None:
    torch.manual_seed(0)
    model = build_model(kind, 50, {**TINY[kind], **({"blocks": 2} if "blocks" in TINY[kind] else {})}).eval()
    history = torch.tensor([[0] * 12 + [7, 8, 9, 3, 4, 5, 6, 50], [5] * 20, [0] * 19 + [9], [0] * 20])  # (4, 20)
    with torch.no_grad():
        last = model.encode(history, times=stamps(history), last_only=True)  # (4, D)
        full = model.encode(history, times=stamps(history))  # (4, 20, D)
    assert last.shape == (4, full.shape[-1])
    torch.testing.assert_close(last, full[:, -1], atol=1e-5, rtol=1e-5)


def test_bert4rec_last_only_encoding_is_the_last_row_of_the_full_encoding() -> None:
    torch.manual_seed(0)
    model = build_model("bert4rec", 50, {**TINY["bert4rec"], "blocks": 2}).eval()
    tokens = torch.tensor([[0] * 12 + [7, 8, 9, 3, 4, 5, 6, 51], [5] * 19 + [51]])  # 51: the [mask] token
    with torch.no_grad():
        torch.testing.assert_close(
            model.encode(tokens, last_only=True), model.encode(tokens)[:, -1], atol=1e-5, rtol=1e-5
        )


def test_bert4rec_packed_training_encoding_equals_the_dense_encoding_at_every_real_cell_and_the_last() -> None:
    torch.manual_seed(0)
    model = build_model("bert4rec", 50, {**TINY["bert4rec"], "blocks": 2}).eval()
    tokens = torch.tensor([[0] * 12 + [7, 8, 51, 3, 4, 5, 6, 2], [5] * 19 + [51], [0] * 19 + [9]])  # (3, 20)
    dense = model.encode(tokens)  # (3, 20, D)
    packed, cells = model.encode_packed(tokens)  # (T, D)
    torch.testing.assert_close(cells, (tokens.reshape(-1) != 0).nonzero().squeeze(1))
    torch.testing.assert_close(packed, dense[tokens != 0], atol=1e-5, rtol=1e-5)
    (packed_grad,) = torch.autograd.grad(packed.square().sum(), model.item_emb.weight)
    (dense_grad,) = torch.autograd.grad(dense[tokens != 0].square().sum(), model.item_emb.weight)
    torch.testing.assert_close(packed_grad, dense_grad, atol=1e-4, rtol=1e-4)
    last, _ = model.encode_packed(tokens, last_only=True)  # (3, D): every row ends in a real cell
    torch.testing.assert_close(last, model.encode(tokens, last_only=True), atol=1e-5, rtol=1e-5)


def test_bert4rec_ignores_left_padding() -> None:
    model = build_model("bert4rec", 50, TINY["bert4rec"]).eval()
    short = torch.tensor([[0] * 5 + [7, 8, 9]])  # (1, 8)
    long = torch.tensor([[0] * 17 + [7, 8, 9]])  # (1, 20)
    torch.testing.assert_close(model.scores(short), model.scores(long), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", GRADIENT_KINDS)
def test_per_user_weights_scale_the_loss(kind: str) -> None:
    log = synthetic_log(SyntheticConfig(n_users=20, n_items=30))
    model = build_model(kind, log.n_items, {**TINY[kind], "dropout": 0.0}).eval()

    def loss(weights: torch.Tensor | None) -> torch.Tensor:
        batch = next(TrainingWindows(log, 20).batches(8, torch.Generator(), torch.Generator().manual_seed(1)))
        batch.weights = weights
        return model.loss(batch)

    torch.testing.assert_close(loss(torch.ones(8)), loss(None))
    one_user = torch.zeros(8)
    one_user[0] = 1.0
    assert not torch.isclose(loss(one_user), loss(None))
