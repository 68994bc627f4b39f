import copy

import numpy as np
import pytest
import torch

from training.data.splits import temporal_split
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.evaluation.stability import compare_models
from training.methods.finest import FinestConfig, finest_finetune, rank_preserving_loss, reference_lists
from training.models import build_model
from training.perturbation import PerturbationConfig, perturb
from training.trainer import TrainConfig, seed_everything, train

TINY = {"hidden": 32, "blocks": 1, "max_len": 20, "dropout": 0.1}


def test_regulariser_on_hand_computed_scores() -> None:
    # reference order i1..i4 (K = 2): scores s = [1.0, 1.05, 0.5, 1.2]
    s = torch.tensor([[1.0, 1.05, 0.5, 1.2]])
    # order term: max(1.05 - 1.0 + 0.1, 0) = 0.15
    # score term: max(0.5 - 1.0 + 0.1, 0) + max(1.2 - 1.05 + 0.1, 0) = 0 + 0.25
    both = rank_preserving_loss(s, 2, 0.1, 0.1, True, True)
    assert both.item() == pytest.approx(0.40)
    assert rank_preserving_loss(s, 2, 0.1, 0.1, True, False).item() == pytest.approx(0.15)
    assert rank_preserving_loss(s, 2, 0.1, 0.1, False, True).item() == pytest.approx(0.25)


def test_mean_reduction_averages_each_terms_hinges_as_the_official_code() -> None:
    s = torch.tensor([[1.0, 1.05, 0.5, 1.2]])
    # order term: one hinge (0.15) -> mean 0.15; score term: two hinges (0, 0.25) -> mean 0.125
    assert rank_preserving_loss(s, 2, 0.1, 0.1, True, True, "mean").item() == pytest.approx(0.275)


def test_reference_lists_are_the_reference_models_top_items_per_position() -> None:
    log = synthetic_log(SyntheticConfig(n_users=10, n_items=30, min_len=5, max_len=8))
    torch.manual_seed(0)
    model = build_model("sasrec", log.n_items, TINY).eval()
    refs = reference_lists(model, log, top_k=3)
    assert refs.items.shape == (10, 20, 6)
    seq = log.sequences[0]
    window = torch.zeros(1, 21, dtype=torch.long)
    window[0, -len(seq) :] = torch.from_numpy(seq)  # the user's training window, left-padded
    slot = 20 - len(seq) + 3  # the instance whose target is seq[3]: its input is seq[2]
    assert window[0, slot] == seq[2] and window[0, slot + 1] == seq[3]
    states = model.encode(window[:, :-1])[0, slot]  # (D,)
    expected = torch.topk(states @ model.item_emb.weight[1:].T, 6).indices + 1
    np.testing.assert_array_equal(refs.items[0, slot], expected.numpy())
    assert (refs.items[0, : 20 - len(seq) + 1] == 0).all()  # padding, and the first item: no instance
    assert (refs.items[0, 20 - len(seq) + 1 :] > 0).all()  # every later position is one


def test_finest_raises_rls_over_original_and_over_random_fine_tuning() -> None:
    log = synthetic_log(SyntheticConfig(n_users=150, n_items=60, min_len=10, max_len=30))
    split = temporal_split(log)

    def trained(data, order_seed: int):
        seed_everything(0)  # the same initial weights for both runs (Eq. 2 protocol)
        model = build_model("sasrec", log.n_items, TINY)
        rngs = (torch.Generator().manual_seed(order_seed), torch.Generator().manual_seed(order_seed + 100))
        train(model, data, TrainConfig(epochs=6, batch_size=32, lr=3e-3), rngs=rngs)
        return model.eval()

    original = trained(split.train, order_seed=1)
    perturbed_data = perturb(split.train, PerturbationConfig(ratio=0.02, seed=1)).log
    # The shared-stream regime: changing the data also changes the training trajectory (data order).
    perturbed = trained(perturbed_data, order_seed=2)
    before = compare_models(original, perturbed, split.test).summary()

    def tuned(regularize: bool) -> tuple[dict[str, float], list[float]]:
        model = copy.deepcopy(original)  # the RLS protocol: Θ fine-tuned on the perturbed data (training/rls.py)
        # λ = 16: the official code's effective weight (its per-user mean hinges summed over a batch of 16);
        # at λ = 1 this 4-epoch, 150-user world moves FINEST only just past Original
        config = FinestConfig(epochs=4, top_k=10, batch_size=32, regularize=regularize, lam=16.0)
        result = finest_finetune(model, perturbed_data, original, config)
        assert np.isfinite([e.next_item_loss for e in result.epochs]).all()
        return compare_models(original, model, split.test).summary(), [e.regulariser for e in result.epochs]

    finest, regulariser = tuned(regularize=True)
    random_ft, _ = tuned(regularize=False)
    assert all(r > 0 for r in regulariser)  # Θ's own lists do not meet the margins: the term is live throughout
    for metric in ("rbo", "jaccard@10", "ao_full"):
        assert finest[metric] > before[metric]
        assert finest[metric] > random_ft[metric]


def test_finest_tunes_bert4rec_on_the_last_item_of_each_window() -> None:
    log = synthetic_log(SyntheticConfig(n_users=40, n_items=30, min_len=5, max_len=12))
    torch.manual_seed(0)
    model = build_model("bert4rec", log.n_items, {"hidden": 16, "blocks": 1, "max_len": 10})
    refs = reference_lists(model, log, top_k=4)
    assert refs.items.shape == (40, 1, 8) and (refs.items > 0).all()
    result = finest_finetune(model, log, refs, FinestConfig(epochs=2, top_k=4, batch_size=16))
    assert all(e.regulariser > 0 for e in result.epochs)


def test_a_finest_run_gives_the_same_model_whatever_drew_from_torch_before_it() -> None:
    log = synthetic_log(SyntheticConfig(n_users=40, n_items=30, min_len=4, max_len=12))
    seed_everything(0)
    base = build_model("sasrec", log.n_items, {"hidden": 16, "blocks": 1, "max_len": 12, "dropout": 0.3})
    refs = reference_lists(base, log, top_k=4)
    tuned = []
    for draws in (0, 7):
        torch.rand(draws)  # someone else used the global stream
        model = copy.deepcopy(base)
        finest_finetune(model, log, refs, FinestConfig(epochs=1, top_k=4, batch_size=16))
        tuned.append(model.state_dict())
    for name, value in tuned[0].items():
        torch.testing.assert_close(value, tuned[1][name])
