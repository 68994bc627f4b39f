"""ARM / R-LARM / R-LARM(NN) (R-LARM paper Alg. 1-2, Eq. 9-12): adversary weights, losses, zero diagonal."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from steadyrec.core.interactions import InteractionLog
from training.data.strong_generalisation import strong_generalisation
from training.methods.adversary import adversary_step, build_adversary, normalised_weights
from training.methods.larm import ItemItem, LarmConfig, fit_larm, learner_loss, rank_loss, user_weights
from training.models.ease import fit_ease


@pytest.mark.parametrize("kind", ["linear", "nn"])
def test_adversary_weights_sum_to_one_per_batch(kind: str) -> None:
    torch.manual_seed(0)
    adversary = build_adversary(12, kind, 4)  # type: ignore[arg-type]
    x = (torch.rand(7, 12) < 0.4).float()
    p = normalised_weights(adversary(x))
    assert p.shape == (7,)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.all(p > 0)


def test_adversary_scores_follow_eq_9_and_eq_12() -> None:
    linear, nn_adv = build_adversary(3, "linear", 2), build_adversary(3, "nn", 2)
    x = torch.tensor([[1.0, 0.0, 1.0]])
    a = linear.layers[0]
    assert linear(x).item() == pytest.approx((a[0] + a[2]).item(), abs=1e-6)  # X_i a picks watched items
    a0, a1 = nn_adv.layers
    assert nn_adv(x).item() == pytest.approx((torch.tanh(x @ a0) @ a1).item(), abs=1e-6)


def test_adversary_ascent_moves_weight_towards_high_loss_users() -> None:
    torch.manual_seed(0)
    adversary = build_adversary(4, "linear", 1)
    x = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    loss = torch.tensor([1.0, 0.0])  # user 0 is badly served
    optimiser = torch.optim.Adam(adversary.parameters(), lr=0.05)
    before = normalised_weights(adversary(x))[0].item()
    for _ in range(20):
        adversary_step(adversary, optimiser, x, loss, b=0.0)
    assert normalised_weights(adversary(x))[0].item() > before + 0.1


def test_rank_loss_is_one_minus_ndcg_at_100_on_a_hand_made_case() -> None:
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]])  # own items are the relevant ones
    scores = torch.tensor([[0.1, 0.9, 0.8, 0.0], [0.0, 1.0, 0.5, 0.2]])
    # user 0 ranks items 1, 2, 0, 3: hits at ranks 2 and 3; user 1 ranks its item first
    ndcg0 = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    np.testing.assert_allclose(rank_loss(scores, x, 100).numpy(), [1 - ndcg0, 0.0], atol=1e-6)


def test_learner_loss_with_equal_weights_is_eq_7_on_the_batch() -> None:
    torch.manual_seed(0)
    x = (torch.rand(5, 6) < 0.5).float()
    w = torch.randn(6, 6)
    p = torch.full((5,), 1 / 5)
    expected = ((x - x @ w) ** 2).sum() / (5 * 6) + 0.5 * 0.3 * (w**2).sum()
    assert learner_loss(x, x @ w, p, w, 0.3).item() == pytest.approx(expected.item(), rel=1e-5)


def test_learner_keeps_an_exactly_zero_diagonal_through_training() -> None:
    x = sp.csr_matrix((np.random.default_rng(0).random((40, 10)) < 0.3).astype(np.float32))
    result = fit_larm(x, LarmConfig(variant="r-larm", epochs=3, batch_size=16, lr=1e-2, device="cpu", k=5))
    assert np.all(np.diag(result.weights) == 0.0)
    assert ItemItem(5).masked().diagonal().abs().sum().item() == 0.0


def small_split():
    rng = np.random.default_rng(0)
    blocks = [np.arange(1, 11), np.arange(11, 21)]  # two tastes: items 1-10 and 11-20
    seqs = tuple(rng.choice(blocks[u % 2], size=6, replace=False) for u in range(120))
    log = InteractionLog(tuple(str(u) for u in range(120)), tuple(str(i) for i in range(20)), seqs)
    return strong_generalisation(log, 15, 15, seed=0)


@pytest.mark.parametrize("variant", ["arm", "r-larm", "r-larm-nn"])
def test_each_variant_learns_from_glorot_init(variant: str) -> None:
    split = small_split()
    config = LarmConfig(variant=variant, c=1e-4, b=1e-2, hidden=4, lr=1e-2, batch_size=32, epochs=8, k=10, device="cpu")  # type: ignore[arg-type]
    result = fit_larm(split.train, config, valid=split.valid)
    assert result.epochs[-1].adversary_objective is not None  # the adversary moved after warm-up
    assert result.epochs[0].adversary_objective is None  # ... and not during it (K = 1)
    # the target is one of the 5 unseen items of the user's block: the block model's NDCG is about 0.59,
    # a random ranking of the 15 unseen items about 0.3
    assert result.best_valid is not None and result.best_valid > 0.5


def test_ease_warm_start_needs_weights() -> None:
    split = small_split()
    with pytest.raises(ValueError, match="init='ease'"):
        fit_larm(split.train, LarmConfig(init="ease", epochs=1, device="cpu"))
    w0 = fit_ease(split.train, 1e-3)
    result = fit_larm(split.train, LarmConfig(init="ease", c=1e-3, epochs=1, device="cpu"), init_weights=w0)
    assert result.weights.shape == (20, 20)


def test_closed_form_learner_is_the_weighted_ease_of_its_adversary() -> None:
    split = small_split()
    config = LarmConfig(variant="r-larm", c=1e-3, b=1e-2, lr=1e-2, batch_size=32, epochs=3, k=10, learner="closed-form")
    result = fit_larm(split.train, config)  # no validation: the last epoch's W is kept
    assert result.epochs[-1].adversary_objective is not None
    theta = user_weights(result.adversary, split.train, 32, torch.device("cpu"))
    assert theta.mean() == pytest.approx(1.0) and theta.std() > 0  # the adversary moved the weights apart
    np.testing.assert_allclose(result.weights, fit_ease(split.train, 1e-3, theta), atol=1e-5)
    assert np.all(np.diag(result.weights) == 0.0)


def test_closed_form_learner_is_plain_ease_during_warm_up_and_takes_no_init() -> None:
    split = small_split()
    config = LarmConfig(c=1e-3, epochs=1, warmup=1, k=10, batch_size=32, learner="closed-form")
    result = fit_larm(split.train, config)
    np.testing.assert_allclose(result.weights, fit_ease(split.train, 1e-3), atol=1e-6)
    assert result.theta is not None and np.all(result.theta == 1.0)  # uniform: the adversary has not moved
    with pytest.raises(ValueError, match="closed-form"):
        fit_larm(split.train, config, init_weights=fit_ease(split.train, 1e-3))


def test_result_keeps_the_best_epochs_adversary_with_its_weights() -> None:
    split = small_split()
    config = LarmConfig(
        variant="r-larm", c=1e-3, b=0.0, lr=0.3, batch_size=32, epochs=8, patience=8, k=10, learner="closed-form"
    )
    result = fit_larm(split.train, config, valid=split.valid)
    assert result.best_epoch < len(result.epochs)  # the adversary kept moving after the kept epoch
    theta = user_weights(result.adversary, split.train, 32, torch.device("cpu"))
    np.testing.assert_allclose(result.weights, fit_ease(split.train, 1e-3, theta), atol=1e-5)
    assert result.theta is not None
    np.testing.assert_allclose(result.theta, theta)  # the weighting reported is the one W was fitted with
