"""FINEST's two baselines as its Sec. 6.1 adapts them: APT (fake-profile perturbations) and ACAE (fast-gradient
noise on the input sequence embeddings)."""

import numpy as np
import pytest
import torch

from steadyrec.core.interactions import build_log
from steadyrec.core.methods import AcaeConfig, AptConfig, make_method_config
from steadyrec.testing.builders import trained_sasrec
from training.data.batches import Batch, TrainingWindows
from training.data.splits import temporal_split
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.methods.acae import AcaeLoss, acae_finetune
from training.methods.apt import apt_finetune, apt_simulation, fake_profiles, nearest_users
from training.rls import run_rls
from training.trainer import TrainConfig

from .test_rls import _tiny_config

TINY = {"hidden": 16, "blocks": 1, "max_len": 12, "dropout": 0.1}


@pytest.fixture(scope="module")
def trained():
    log = synthetic_log(SyntheticConfig(n_users=50, n_items=30, min_len=4, max_len=12))
    return log, trained_sasrec(log, TINY)


def test_acae_noise_has_norm_eps_on_real_history_items_only_and_follows_the_loss_gradient(trained) -> None:
    log, model = trained
    windows = TrainingWindows(log, model.max_len)
    batch = Batch(windows.items[:16], windows.users[:16], torch.Generator().manual_seed(0))
    deltas: list[torch.Tensor | None] = []
    original = model.encode

    def spy(history, input_delta=None, times=None):
        deltas.append(input_delta.detach() if input_delta is not None else None)
        return original(history, input_delta=input_delta, times=times)

    model.encode = spy
    model.eval()  # no dropout: the clean loss at the noise is comparable
    try:
        terms = AcaeLoss(AcaeConfig(eps=0.5, lam=1.0)).parts(model, batch)
    finally:
        del model.encode
        model.train()
    assert set(terms) == {"clean", "adv"}
    zero, applied = deltas
    assert zero is not None and applied is not None and (zero == 0).all()
    real = batch.items[:, :-1] > 0
    norms = torch.linalg.vector_norm(applied, dim=-1)
    torch.testing.assert_close(norms[real], torch.full((int(real.sum()),), 0.5))
    assert (norms[~real] == 0).all()
    assert float(terms["adv"].detach()) > float(terms["clean"].detach())  # the ascent direction raises the loss


def test_acae_without_weight_is_plain_fine_tuning_and_runs_from_the_method_name(trained) -> None:
    log, model = trained
    windows = TrainingWindows(log, model.max_len)
    batch = Batch(windows.items[:8], windows.users[:8], torch.Generator().manual_seed(0))
    assert set(AcaeLoss(AcaeConfig(lam=0.0)).parts(model, batch)) == {"clean"}
    config = make_method_config("acae", {"epochs": 1})
    assert isinstance(config, AcaeConfig)
    _, epochs = acae_finetune(model, log, config)
    assert len(epochs) == 1 and set(epochs[0].parts) == {"clean", "adv"}


def test_nearest_users_are_the_most_jaccard_similar() -> None:
    log = build_log([("a", "1", None), ("a", "2", None), ("b", "3", None), ("b", "4", None), ("b", "5", None)])
    # internal ids: items "1".."5" -> 1..5; profile {3, 4} is b's (2/3), {1, 5} a's (1/3 against b's 1/4)
    assert nearest_users(np.array([[3, 4], [1, 5]]), log).tolist() == [1, 0]


def test_fake_profiles_draw_each_item_from_the_models_top_k_for_the_profile_so_far(trained) -> None:
    _, model = trained
    profiles = fake_profiles(model, 6, 5, 3, np.random.default_rng(0))
    assert profiles.shape == (6, 5)
    assert all(len(set(p)) == 5 for p in profiles.tolist())  # no item twice
    model.eval()
    with torch.no_grad():
        for row in profiles:
            for step in range(1, 5):
                history = torch.zeros((1, model.max_len), dtype=torch.long)
                history[0, -step:] = torch.from_numpy(row[:step])
                scores = model.scores(history)[0]
                scores[torch.from_numpy(row[:step] - 1)] = float("-inf")
                assert int(row[step]) in (torch.topk(scores, 3).indices + 1).tolist()
    model.train()


def test_apt_perturbs_about_the_ratio_of_interactions_in_the_profiles_nearest_users_with_profile_items() -> None:
    log = synthetic_log(SyntheticConfig(n_users=80, n_items=40, min_len=8, max_len=20))
    model = trained_sasrec(log, TINY, epochs=1)
    config = AptConfig(edits=3, profile_length=6)
    perturbed, origins, n = apt_simulation(model, config)(log, 0.01, np.random.default_rng(1))
    assert n == pytest.approx(0.01 * log.n_interactions, abs=config.edits)
    changed = [u for u in range(log.n_users) if not np.array_equal(perturbed.sequences[u], log.sequences[u])]
    assert 0 < len(changed) <= -(-n // config.edits)  # one nearest user per profile at most
    assert perturbed.timestamps is not None
    for u in changed:
        assert len(perturbed.timestamps[u]) == len(perturbed.sequences[u])
        kept = origins[u] >= 0
        assert np.array_equal(perturbed.sequences[u][kept], log.sequences[u][origins[u][kept]])


def test_apt_and_acae_rows_run_in_the_rls_harness() -> None:
    split = temporal_split(synthetic_log(SyntheticConfig(n_users=60, n_items=40, min_len=8, max_len=20)))
    from training.methods.finest import FinestConfig

    results = run_rls(split, _tiny_config(methods=("apt", "acae"), finest=FinestConfig(epochs=1, batch_size=32)))
    for method in ("apt", "acae"):
        assert 0.0 < results[method][0].summary()["rbo"] <= 1.0


def test_apt_fine_tunes_a_time_aware_model() -> None:
    log = synthetic_log(SyntheticConfig(n_users=40, n_items=30, min_len=6, max_len=14))
    from training.models import build_model
    from training.trainer import seed_everything, train

    seed_everything(0)
    model = build_model("tisasrec", log.n_items, {"hidden": 16, "blocks": 1, "max_len": 10, "time_span": 8})
    train(model, log, TrainConfig(epochs=1, batch_size=32))
    result = apt_finetune(model, log, AptConfig(epochs=1, edits=2, profile_length=4))
    assert len(result.epochs) == 1 and result.epochs[0].perturbed > 0
