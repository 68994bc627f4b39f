from training.data.splits import temporal_split
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.perturbation import PerturbationConfig
from training.rls import RLSConfig, run_rls
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
        assert timings["train_s"] > 0
    assert rbo["independent-stream"] > rbo["shared-stream"] > rbo["different-seed"]
