"""Cascade-guided adversarial training (Tan et al.): cascade effects (Alg. 1 / Eq. 11), the two
perturbation levels (Eq. 6-9), the variant switches and a tiny end-to-end run."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from steadyrec.core.methods import CASCADE_VARIANTS, CascadeConfig, make_method_config
from steadyrec.testing.builders import trained_sasrec
from training.data.batches import Batch, TrainingWindows
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.methods import cascade_at
from training.methods.adversarial import fast_gradient, pair_bce
from training.methods.cascade_at import (
    SWITCHES,
    CascadeLoss,
    cascade_finetune,
    cascade_matrix,
    linear_perturbations,
    states_and_perturbed,
)
from training.methods.cascade_effects import cascade_effects, raw_cascade_effects
from training.models import build_model
from training.models.base import causal_pairs, weighted_mean
from training.trainer import TrainConfig, seed_everything, train

TINY = {"hidden": 16, "blocks": 1, "max_len": 12, "dropout": 0.1}

# Three users, T = 3 (t = 3 is the most recent position), batch size b = 2, so b / m = 2 / 3.
WINDOWS = np.array([[1, 2, 3], [0, 2, 1], [3, 2, 2]])
# Weights 1 + T - t per position: 3, 2, 1. D (Alg. 1 lines 3-7): item 1: 3 + 1 = 4;
# item 2: 2 + 2 + 2 + 1 = 7; item 3: 1 + 3 = 4. Eq. 11 sums over the OTHER users only:
OTHERS = np.array([[4 - 3, 7 - 2, 4 - 1], [0, 7 - 2, 4 - 1], [4 - 3, 7 - 3, 7 - 3]])  # user 2 holds item 2 twice
SAME = np.array([3.0, 2.0, 1.0])  # 1 + T - t


def test_cascade_effects_match_hand_computed_values_on_a_three_user_log() -> None:
    real = WINDOWS > 0
    both = raw_cascade_effects(WINDOWS, batch_size=2)
    np.testing.assert_allclose(both, np.where(real, SAME + 2 / 3 * OTHERS, 0.0))
    np.testing.assert_allclose(both[0], [3 + 2 / 3, 2 + 10 / 3, 1 + 2])
    same_only = raw_cascade_effects(WINDOWS, batch_size=2, cross_sequence=False)
    np.testing.assert_allclose(same_only, np.where(real, SAME, 0.0))
    cross_only = raw_cascade_effects(WINDOWS, batch_size=2, same_sequence=False)
    np.testing.assert_allclose(cross_only, np.where(real, 1 + 2 / 3 * OTHERS, 0.0))


def test_normalised_effects_are_min_max_onto_floor_one_then_mean_one() -> None:
    raw = raw_cascade_effects(WINDOWS, batch_size=2)
    real = WINDOWS > 0
    lo, hi = 3.0, 2 + 10 / 3  # smallest and largest raw effects above
    minmax = 0.1 + 0.9 * (raw - lo) / (hi - lo)
    expected = minmax / minmax[real].mean()
    C = cascade_effects(WINDOWS, batch_size=2, floor=0.1)
    np.testing.assert_allclose(C[real], expected[real], rtol=1e-6)
    assert C[real].mean() == pytest.approx(1.0)
    assert C[real].max() / C[real].min() == pytest.approx(10.0)  # 1 / floor
    assert C[1, 0] == 1.0  # padding


def test_cascade_effects_on_ml1m_sizes_cost_a_few_sorts_of_the_items() -> None:
    """Vectorised: on ml-1m's shape (6,040 windows of 200) Alg. 1 costs a small multiple of sorting the item
    ids once (measured 2-3.5x); a loop over users or positions in Python would cost hundreds of times more."""
    import time

    rng = np.random.default_rng(0)
    items = rng.integers(1, 3500, size=(6040, 200))

    def best_of_three(work) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return min(times)

    C = cascade_effects(items, batch_size=128)
    assert C.shape == (6040, 200) and np.isfinite(C).all() and C.mean() == pytest.approx(1.0, rel=1e-5)
    ratio = best_of_three(lambda: cascade_effects(items, batch_size=128)) / best_of_three(lambda: np.sort(items, None))
    assert ratio < 15.0


@pytest.fixture(scope="module")
def trained():
    log = synthetic_log(SyntheticConfig(n_users=60, n_items=40, min_len=4, max_len=16))
    return log, trained_sasrec(log, TINY)


def _batch(log, max_len: int) -> Batch:
    windows = TrainingWindows(log, max_len)
    idx = torch.arange(16)
    return Batch(windows.items[idx], windows.users[idx], torch.Generator().manual_seed(0))


def _recorded_deltas(model, objective: CascadeLoss, batch: Batch) -> tuple[dict, list[torch.Tensor]]:
    """The loss terms and every input_delta the model's encoder received."""
    deltas: list[torch.Tensor] = []
    original = model.encode

    def spy(history, input_delta=None, times=None):
        if input_delta is not None:
            delta = input_delta.detach()
            if len(history) == 2 * len(batch.items):  # w and ŵ in one pass over [S; S]: the delta is [0; A / C]
                clean, delta = delta.chunk(2)
                assert (clean == 0).all()
            deltas.append(delta)
        return original(history, input_delta=input_delta, times=times)

    model.encode = spy
    try:
        terms = objective.parts(model, batch)
    finally:
        del model.encode
    return terms, deltas


def test_history_perturbation_norms_equal_eps_over_cascade_effects(trained) -> None:
    log, model = trained
    config = CascadeConfig(variant="adv_cas", eps=10.0)
    C = cascade_matrix(log, model.max_len, config)
    assert C.std() > 0.05  # the effects differ between positions
    batch = _batch(log, model.max_len)
    terms, deltas = _recorded_deltas(model, CascadeLoss(C, config), batch)
    start, applied = deltas  # Eq. 7's random start, then A / C of Eq. 6
    inputs = batch.items[:, :-1]
    real = inputs > 0
    norms = torch.linalg.vector_norm(applied, dim=-1)  # (B, L)
    expected = 10.0 / C[batch.users]  # (B, L)
    torch.testing.assert_close(norms[real], expected[real], rtol=1e-4, atol=1e-5)
    assert (norms[~real] == 0).all()
    torch.testing.assert_close(torch.linalg.vector_norm(start, dim=-1)[real], torch.full((int(real.sum()),), 1e-3))
    assert set(terms) == {"clean", "adv1", "adv2"}


def test_window_and_batch_norms_give_each_window_or_the_batch_eps_before_the_cascade_rescaling(trained) -> None:
    log, model = trained
    model.eval()  # no dropout: the two objectives see the same direction (same seed, same random start)
    C = cascade_matrix(log, model.max_len, CascadeConfig(variant="adv_cas"))
    real = _batch(log, model.max_len).items[:, :-1] > 0  # (B, L)
    applied = {}
    for norm in ("item", "sequence", "batch"):
        batch = _batch(log, model.max_len)  # the same random start for each
        objective = CascadeLoss(C, CascadeConfig(variant="adv_cas", eps=2.0, level1_norm=norm))
        applied[norm] = _recorded_deltas(model, objective, batch)[1][1] * C[batch.users].unsqueeze(-1)  # A
    windows = torch.linalg.vector_norm(applied["sequence"], dim=(1, 2))  # (B,) ||A_i||
    torch.testing.assert_close(windows, torch.full_like(windows, 2.0))
    per_item = torch.linalg.vector_norm(applied["sequence"], dim=-1)  # (B, L)
    assert per_item[real].std() > 0.01 and (per_item[~real] == 0).all()  # the norm goes where the gradient is
    assert float(torch.linalg.vector_norm(applied["batch"])) == pytest.approx(2.0)  # ||A|| = eps over the batch
    # each item keeps its direction: the readings differ by a positive factor per item
    for norm in ("sequence", "batch"):
        cosine = F.cosine_similarity(applied[norm][real], applied["item"][real], dim=-1)
        torch.testing.assert_close(cosine, torch.ones_like(cosine))
    model.train()


def test_level_two_perturbs_user_target_and_negative_by_eps(trained) -> None:
    log, model = trained
    model.eval()  # no dropout: both calls see the same states and (same seed) the same negatives

    def adv2(eps: float) -> float:
        objective = CascadeLoss(torch.ones(1), CascadeConfig(variant="adv_linear", eps=eps, eps2=None))
        return float(objective.parts(model, _batch(log, model.max_len))["adv2"].detach())

    # Eq. 8 with eps = 0 is the clean BCE; the fast-gradient perturbation of user, target and negative raises it
    assert adv2(0.5) > adv2(0.0)
    assert adv2(2.0) > adv2(0.5)
    model.train()


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_closed_form_level_two_perturbations_equal_the_autograd_fast_gradients(norm: str) -> None:
    torch.manual_seed(0)
    user, pos, neg = (torch.randn(24, 8) for _ in range(3))  # 24 instances
    leaves = [t.clone().requires_grad_(True) for t in (user, pos, neg)]
    grads = torch.autograd.grad(pair_bce(*leaves).sum(), leaves)  # Eq. 8 at δ = 0
    if norm == "instance":
        expected = [fast_gradient(g, 0.7) for g in grads]  # Eq. 9, ||h|| per instance
    else:
        expected = [0.7 * g / torch.linalg.vector_norm(g) for g in grads]  # ||h|| over the batch
    got = linear_perturbations(user, pos, neg, 0.7, norm)
    for d, want in zip(got, expected, strict=True):
        torch.testing.assert_close(d, want)
    if norm == "batch":  # each tensor has norm eps as a whole; instances with larger gradients move more
        assert all(float(torch.linalg.vector_norm(d)) == pytest.approx(0.7) for d in got)


def test_eps2_sets_level_two_epsilon_and_leaves_level_one_at_eps(trained) -> None:
    log, model = trained
    model.eval()

    def parts(**eps: float) -> dict[str, float]:  # a fresh batch: the same random start and negatives each call
        config = CascadeConfig(variant="adv_global", **{"eps2": None, **eps})
        terms = CascadeLoss(cascade_matrix(log, model.max_len, config), config).parts(model, _batch(log, model.max_len))
        return {name: float(value.detach()) for name, value in terms.items()}

    same, split = parts(eps=0.5), parts(eps=0.5, eps2=2.0)
    assert split["adv1"] == pytest.approx(same["adv1"], rel=1e-6)  # level 1 still at eps
    assert split["adv2"] == pytest.approx(parts(eps=2.0)["adv2"], rel=1e-6)  # level 2 at eps2
    assert split["adv2"] > same["adv2"]
    assert CascadeConfig(eps=0.5, eps2=None).level2_eps == 0.5  # None: one ε for both levels, as the paper
    assert CascadeConfig(eps=0.5).level2_eps == 0.1  # the default: level 2 at its own measured ε
    with pytest.raises(ValueError, match="eps2"):
        CascadeConfig(eps2=-1.0)
    with pytest.raises(ValueError, match="floor"):
        CascadeConfig(eps2=0.1, floor=0.0)
    model.train()


@pytest.mark.parametrize("variant", CASCADE_VARIANTS)
def test_each_variant_switches_the_right_terms(trained, variant: str) -> None:
    log, model = trained
    config = CascadeConfig(variant=variant)
    switches = SWITCHES[variant]
    C = cascade_matrix(log, model.max_len, config)
    batch = _batch(log, model.max_len)
    terms, deltas = _recorded_deltas(model, CascadeLoss(C, config), batch)
    expected_terms = {"clean"} | ({"adv1"} if switches.level1 else set()) | ({"adv2"} if switches.level2 else set())
    assert set(terms) == expected_terms
    assert len(deltas) == (2 if switches.level1 else 0)
    windows = TrainingWindows(log, model.max_len)
    inputs = windows.items[:, :-1].numpy()
    if not switches.cascade:
        assert (C == 1).all()  # adv_linear, adv_seq, adv_global: no cascade re-scaling
    else:
        flags = {"same_sequence": switches.same_sequence, "cross_sequence": switches.cross_sequence}
        np.testing.assert_allclose(C[windows.users].numpy(), cascade_effects(inputs, 128, **flags), rtol=1e-6)
    assert switches.same_sequence == (variant in ("adv_cas", "adv_cas_1"))
    assert switches.cross_sequence == (variant in ("adv_cas", "adv_cas_2"))


def test_zero_lambdas_leave_only_the_clean_loss_and_no_perturbed_pass(trained) -> None:
    """The benchmark's `continue_l2` control: Eq. 10 with λ1 = λ2 = 0 is plain training."""
    log, model = trained
    config = CascadeConfig(variant="adv_cas", lam1=0.0, lam2=0.0)
    objective = CascadeLoss(cascade_matrix(log, model.max_len, config), config)
    terms, deltas = _recorded_deltas(model, objective, _batch(log, model.max_len))
    assert set(terms) == {"clean"}
    assert deltas == []


def test_recycled_direction_is_the_previous_updates_gradient_and_skips_the_direction_pass(trained) -> None:
    log, model = trained
    model.eval()  # no dropout: the gradient recomputed below sees the same states
    config = CascadeConfig(variant="adv_cas", eps=0.5, direction="recycled")
    C = cascade_matrix(log, model.max_len, config)
    objective = CascadeLoss(C, config)
    batch = _batch(log, model.max_len)
    terms, first = _recorded_deltas(model, objective, batch)
    assert len(first) == 2  # a window's first visit: Eq. 7's own pass from the random start, then A / C
    torch.stack(list(terms.values())).sum().backward()  # Eq. 10's backward keeps the input-side gradient
    model.zero_grad()

    inputs, targets = causal_pairs(batch.items)
    applied = first[1].clone().requires_grad_(True)
    moved = model.encode(inputs, input_delta=applied)
    distance = weighted_mean(torch.linalg.vector_norm(moved - model.encode(inputs), dim=-1), targets > 0, None)
    (expected,) = torch.autograd.grad(distance, applied)  # ∂||ŵ - w|| / ∂(ŵ's input) at A / C
    real = inputs > 0
    assert objective.memory is not None
    kept = objective.memory.get(batch.users)
    assert F.cosine_similarity(kept[real], expected[real], dim=-1).min() > 0.99  # bfloat16 storage

    _, second = _recorded_deltas(model, objective, batch)
    assert len(second) == 1  # no direction pass: A comes from the kept gradient
    norms = torch.linalg.vector_norm(second[0], dim=-1)
    torch.testing.assert_close(norms[real], (0.5 / C[batch.users])[real], rtol=1e-4, atol=1e-5)
    assert F.cosine_similarity(second[0][real], fast_gradient(expected, 1.0)[real], dim=-1).min() > 0.99
    with pytest.raises(ValueError, match="direction"):
        CascadeConfig(direction="sideways")  # type: ignore[arg-type]
    model.train()


@pytest.mark.parametrize("direction", ["fresh", "recycled"])
@pytest.mark.parametrize("kind", ["sasrec", "gru4rec"])
def test_adv_cas_trains_a_tiny_model_without_nan(kind: str, direction: str) -> None:
    log = synthetic_log(SyntheticConfig(n_users=50, n_items=30, min_len=4, max_len=12))
    seed_everything(0)
    model = build_model(kind, log.n_items, TINY if kind == "sasrec" else {"hidden": 16, "embedding": 16, "max_len": 12})
    train(model, log, TrainConfig(epochs=1, batch_size=32))
    config = CascadeConfig(epochs=2, batch_size=16, direction=direction)  # type: ignore[arg-type]
    result, epochs = cascade_finetune(model, log, config)
    assert len(epochs) == 2 and len(result.epochs) == 2
    for epoch in epochs:
        assert set(epoch.parts) == {"clean", "adv1", "adv2"} and np.isfinite(list(epoch.parts.values())).all()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not model.training


def test_cascade_config_is_validated_from_job_parameters() -> None:
    config = make_method_config("cascade", {"variant": "adv_cas_2", "eps": 5})
    assert isinstance(config, CascadeConfig) and config.variant == "adv_cas_2" and config.eps == 5.0
    defaults = make_method_config("cascade")
    assert isinstance(defaults, CascadeConfig)
    # the measured defaults (docs/methods.md), not the paper's ε 10, which collapses the embeddings
    assert (defaults.eps, defaults.level2_eps, defaults.direction, defaults.epochs) == (0.003, 0.1, "recycled", 10)
    split = make_method_config("cascade", {"eps": 0.003, "eps2": 0.1})
    assert isinstance(split, CascadeConfig) and split.level2_eps == 0.1
    assert make_method_config("cascade", {"direction": "recycled"}).direction == "recycled"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="direction"):
        make_method_config("cascade", {"direction": "backwards"})
    with pytest.raises(ValueError, match="unknown cascade parameters"):
        make_method_config("cascade", {"epsilon": 1})
    with pytest.raises(ValueError, match="variant"):
        make_method_config("cascade", {"variant": "adv_everything"})


def test_level_one_distance_is_zero_without_perturbation_despite_dropout() -> None:
    log = synthetic_log(SyntheticConfig(n_users=40, n_items=30, min_len=4, max_len=12))
    seed_everything(0)
    model = build_model("sasrec", log.n_items, {**TINY, "dropout": 0.5}).train()
    objective = CascadeLoss(torch.ones(log.n_users, 12), CascadeConfig(variant="adv_seq", eps=1e-9))
    # ŵ runs under w's dropout masks: with a vanishing perturbation, ||ŵ - w|| vanishes too
    assert float(objective.parts(model, _batch(log, model.max_len))["adv1"].detach()) < 1e-4


def test_independent_dropout_makes_level_one_a_dropout_consistency_term_at_zero_eps() -> None:
    log = synthetic_log(SyntheticConfig(n_users=40, n_items=30, min_len=4, max_len=12))
    seed_everything(0)
    model = build_model("sasrec", log.n_items, {**TINY, "dropout": 0.5}).train()
    config = CascadeConfig(variant="adv_seq", eps=0.0, dropout="independent", direction="fresh")
    objective = CascadeLoss(torch.ones(log.n_users, 12), config)
    # two training-mode passes draw their own masks: ||ŵ - w|| > 0 with no perturbation at all
    assert float(objective.parts(model, _batch(log, model.max_len))["adv1"].detach()) > 0.01
    model.eval()  # without dropout the two passes agree again
    assert float(objective.parts(model, _batch(log, model.max_len))["adv1"].detach()) < 1e-6


def test_level_one_on_the_last_position_averages_only_each_windows_predicting_state(trained) -> None:
    log, model = trained
    model.eval()
    batch = _batch(log, model.max_len)
    inputs, targets = causal_pairs(batch.items)
    every, last = (
        CascadeLoss(
            torch.ones(log.n_users, model.max_len),
            CascadeConfig(variant="adv_seq", eps=0.5, adv1_positions=positions, direction="fresh"),
        )
        for positions in ("all", "last")
    )
    delta = every.history_delta(model, inputs, targets, batch)  # the same random start as below: a fresh rng
    states, moved = states_and_perturbed(model, inputs, delta)
    distance = torch.linalg.vector_norm(moved - states, dim=-1).detach()  # (B, L)
    last_mask = torch.zeros_like(targets, dtype=torch.bool)
    last_mask[:, -1] = targets[:, -1] > 0
    got = last.parts(model, _batch(log, model.max_len))["adv1"].detach()
    assert float(got) == pytest.approx(float(weighted_mean(distance, last_mask, batch.weights)), rel=1e-4)
    assert float(got) != pytest.approx(float(weighted_mean(distance, targets > 0, batch.weights)), rel=1e-2)


def test_mean_inverse_scaling_keeps_the_total_perturbation_of_c_equal_one() -> None:
    real = WINDOWS > 0
    effect = cascade_effects(WINDOWS, batch_size=2, floor=0.1)
    inverse = cascade_effects(WINDOWS, batch_size=2, floor=0.1, scale="mean_inverse")
    assert (1.0 / inverse[real]).mean() == pytest.approx(1.0)
    assert effect[real].mean() == pytest.approx(1.0) and (1.0 / effect[real]).mean() > 1.0
    np.testing.assert_allclose(inverse[real] / effect[real], inverse[real][0] / effect[real][0], rtol=1e-6)
    assert inverse[1, 0] == 1.0  # padding


@pytest.mark.parametrize("stacked", [True, False])
@pytest.mark.parametrize("kind", ["sasrec", "gru4rec"])
def test_w_and_perturbed_w_come_from_the_same_dropout_masks_in_one_pass_or_two(
    kind: str, stacked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not stacked:  # batches beyond the limit run as two passes, the second replaying the random state
        monkeypatch.setattr(cascade_at, "STACK_LIMIT", -1)  # below every model's size, recurrent ones too
    log = synthetic_log(SyntheticConfig(n_users=40, n_items=30, min_len=4, max_len=12))
    seed_everything(0)
    model = build_model(kind, log.n_items, TINY if kind == "sasrec" else {"hidden": 16, "embedding": 16, "max_len": 12})
    inputs, _ = causal_pairs(_batch(log, 12).items)
    delta = 0.1 * torch.randn(*inputs.shape, model.item_emb.embedding_dim) * (inputs > 0).unsqueeze(-1)
    model.eval()  # no dropout: both must equal separate plain passes
    states, perturbed = states_and_perturbed(model, inputs, delta)
    torch.testing.assert_close(states, model.encode(inputs))
    torch.testing.assert_close(perturbed, model.encode(inputs, input_delta=delta))
    model.train()  # with dropout: both halves under the same masks
    states, perturbed = states_and_perturbed(model, inputs, torch.zeros_like(delta))
    torch.testing.assert_close(states, perturbed)
    assert not torch.allclose(states, model.encode(inputs))  # and masks were drawn


@pytest.mark.parametrize(("kind", "passes"), [("gru4rec", 1), ("sasrec", 2)])
def test_recurrent_models_stack_w_and_perturbed_w_at_any_length_attention_only_within_the_limit(
    kind: str, passes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cascade_at, "STACK_LIMIT", 1)  # smaller than any attention tensor
    log = synthetic_log(SyntheticConfig(n_users=40, n_items=30, min_len=4, max_len=12))
    model = build_model(kind, log.n_items, TINY if kind == "sasrec" else {"hidden": 16, "embedding": 16, "max_len": 12})
    inputs, _ = causal_pairs(_batch(log, 12).items)
    calls: list[int] = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda *a, **k: calls.append(1) or encode(*a, **k))
    states_and_perturbed(model, inputs, torch.zeros(*inputs.shape, model.item_emb.embedding_dim))
    assert len(calls) == passes
