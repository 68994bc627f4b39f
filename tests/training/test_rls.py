import pytest
import torch

from training.data.splits import temporal_split
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.methods.finest import FinestConfig
from training.models import build_model
from training.perturbation import PerturbationConfig
from training.rls import RLSConfig, _jitter, run_rls, train_theta
from training.trainer import TrainConfig


def test_regimes_order_as_expected_isolated_then_shared_then_noise_floor() -> None:
    split = temporal_split(synthetic_log(SyntheticConfig(n_users=120, n_items=50, min_len=10, max_len=25)))
    base = RLSConfig(
        model="sasrec",
        model_config={"hidden": 16, "blocks": 1, "max_len": 20},
        train=TrainConfig(epochs=4, batch_size=32, lr=3e-3),
        perturbation=PerturbationConfig(ratio=0.01),
        methods=("original",),
    )
    rbo = {}
    for regime in ("independent-stream", "shared-stream", "different-seed"):
        result, timings = run_rls(split, RLSConfig(**{**base.__dict__, "regime": regime}))["original"]
        rbo[regime] = result.summary()["rbo"]
        assert timings["theta_s"] > 0 and timings["model_s"] > 0
    assert rbo["independent-stream"] > rbo["shared-stream"] > rbo["different-seed"]


def _tiny_config(**overrides) -> RLSConfig:
    values = {
        "model": "sasrec",
        "model_config": {"hidden": 16, "blocks": 1, "max_len": 20},
        "train": TrainConfig(epochs=3, batch_size=32, lr=3e-3),
        "perturbation": PerturbationConfig(ratio=0.01),
        "regime": "shared-stream",
    }
    return RLSConfig(**{**values, **overrides})


def test_fine_tuning_rows_fine_tune_a_copy_of_theta_on_the_perturbed_data() -> None:
    split = temporal_split(synthetic_log(SyntheticConfig(n_users=60, n_items=40, min_len=8, max_len=20)))
    # a fine-tune that cannot move: its row must be Θ itself (the official protocol), not Θ'
    frozen = FinestConfig(epochs=1, top_k=5, batch_size=32, lr=1e-12)
    results = run_rls(split, _tiny_config(methods=("original", "finest"), finest=frozen))
    assert results["finest"][0].summary()["rbo"] == pytest.approx(1.0)
    assert results["original"][0].summary()["rbo"] < 0.99


def test_the_noise_floor_regime_refuses_fine_tuning_rows() -> None:
    split = temporal_split(synthetic_log(SyntheticConfig(n_users=20, n_items=20, min_len=5, max_len=8)))
    with pytest.raises(ValueError, match="different-seed"):
        run_rls(split, _tiny_config(regime="different-seed", methods=("original", "finest")))


def test_the_noise_floor_shares_theta_with_the_shared_stream_regime() -> None:
    split = temporal_split(synthetic_log(SyntheticConfig(n_users=30, n_items=20, min_len=5, max_len=10)))
    shared = train_theta(split, _tiny_config(train=TrainConfig(epochs=1, batch_size=8)))
    floor = train_theta(split, _tiny_config(train=TrainConfig(epochs=1, batch_size=8), regime="different-seed"))
    for a, b in zip(shared.parameters(), floor.parameters(), strict=True):
        assert torch.equal(a, b)


def test_init_jitter_nudges_theta_primes_initial_weights_only_and_leaves_the_global_stream_alone() -> None:
    model = build_model("sasrec", 30, {"hidden": 16, "blocks": 1, "max_len": 10})
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(5)
    state = torch.get_rng_state()
    _jitter(model, 1e-7, seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    moved = [
        ((p - b).abs() / b.abs().clamp_min(1e-12)).max().item() for p, b in zip(model.parameters(), before, strict=True)
    ]
    assert 0.0 < max(moved) < 1e-5

    split = temporal_split(synthetic_log(SyntheticConfig(n_users=60, n_items=40, min_len=8, max_len=20)))
    steady = run_rls(split, _tiny_config(methods=("original",)))["original"][0].summary()["rbo"]
    jittered = run_rls(split, _tiny_config(methods=("original",), init_jitter=1e-3))["original"][0].summary()["rbo"]
    assert jittered != steady
