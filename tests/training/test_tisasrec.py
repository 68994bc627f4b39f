"""TiSASRec: personalised clipped intervals (Sec. 3.2), Eq. 3-4, and timestamps required end to end."""

import math

import numpy as np
import pytest
import torch

from steadyrec.core.interactions import build_log
from steadyrec.core.onnx_model import load_version
from training.data.batches import TrainingWindows
from training.data.splits import leave_one_out, temporal_split
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.methods.finest import FinestConfig, finest_finetune
from training.models import build_model
from training.models.tisasrec import TimestampsRequired, relative_intervals
from training.trainer import TrainConfig, seed_everything, train

TINY = {"hidden": 16, "blocks": 2, "heads": 2, "max_len": 6, "time_span": 4, "dropout": 0.0}


def test_intervals_are_divided_by_the_smallest_non_zero_one_and_clipped_at_the_span() -> None:
    times = torch.tensor([[0, 100, 160, 220, 400], [0, 0, 0, 5, 5]])
    real = torch.tensor([[False, True, True, True, True], [False, False, False, True, True]])
    r = relative_intervals(times, real, span=4)
    # row 0: r_min = 60 s; |100 - 400| / 60 = 5 -> clipped to 4; padding pairs get the span
    expected0 = [[4, 4, 4, 4, 4], [4, 0, 1, 2, 4], [4, 1, 0, 1, 4], [4, 2, 1, 0, 3], [4, 4, 4, 3, 0]]
    # row 1: no non-zero interval, so r_min = 1 and the two same-time items are 0 apart
    expected1 = [[4, 4, 4, 4, 4], [4, 4, 4, 4, 4], [4, 4, 4, 4, 4], [4, 4, 4, 0, 0], [4, 4, 4, 0, 0]]
    assert r.tolist() == [expected0, expected1]


def _history() -> tuple[torch.Tensor, torch.Tensor]:
    history = torch.tensor([[0, 0, 3, 9, 4, 7], [5, 6, 7, 8, 9, 10]])
    times = torch.tensor([[0, 0, 1_000, 1_060, 1_600, 1_630], [10, 70, 130, 4_000, 4_030, 9_000]])
    return history, times


def test_scores_depend_on_the_intervals_not_on_the_clock_or_its_unit() -> None:
    torch.manual_seed(0)
    model = build_model("tisasrec", 12, TINY).eval()
    history, times = _history()
    real = history > 0
    with torch.no_grad():
        base = model.scores(history, times)
        shifted = model.scores(history, torch.where(real, times + 86_400 * 365, 0))  # a year later
        scaled = model.scores(history, torch.where(real, times * 7, 0))  # personalised: the unit cancels
        other = torch.where(real, times, 0)
        other[0, -1] = 1_000 + 30  # the last item now as close to the first as the others: other intervals
        moved = model.scores(history, other)
    torch.testing.assert_close(shifted, base)
    torch.testing.assert_close(scaled, base)
    assert (moved[0] - base[0]).abs().max() > 1e-3
    torch.testing.assert_close(moved[1], base[1])  # the other row is untouched


def test_attention_equals_eq_3_and_4_with_every_pair_embedding_materialised() -> None:
    torch.manual_seed(0)
    model = build_model("tisasrec", 12, {**TINY, "blocks": 1}).eval()
    attn = model.blocks[0].attn
    B, L, D, H = 2, 6, 16, 2
    x, q_in = torch.randn(B, L, D), torch.randn(B, L, D)
    history, times = _history()
    r = relative_intervals(times, history > 0, 4)  # (B, L, L)
    pos_k, pos_v = model.pos_k.weight[None], model.pos_v.weight[None]  # (1, L, D)
    rk, rv = model.interval_k.weight, model.interval_v.weight  # (k + 1, D)
    blocked = model.causal
    with torch.no_grad():
        got = attn(q_in, x, pos_k, pos_v, rk, rv, r, blocked)  # (B, L, D)
        # the paper's form: e_ij = q_i (k_j + r^K_ij + p^K_j) / sqrt(d), z_i = sum_j a_ij (v_j + r^V_ij + p^V_j)
        d = D // H
        q = attn.query(q_in).view(B, L, H, d)
        keys = (attn.key(x) + pos_k)[:, None, :, :] + rk[r]  # (B, L_i, L_j, D)
        values = (attn.value(x) + pos_v)[:, None, :, :] + rv[r]  # (B, L_i, L_j, D)
        keys, values = keys.view(B, L, L, H, d), values.view(B, L, L, H, d)
        e = torch.einsum("bihd,bijhd->bhij", q, keys) / math.sqrt(d)
        a = e.masked_fill(blocked, float("-inf")).softmax(-1)  # (B, H, L, L)
        expected = torch.einsum("bhij,bijhd->bihd", a, values).reshape(B, L, D)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_scoring_without_timestamps_is_refused_by_name() -> None:
    model = build_model("tisasrec", 12, TINY).eval()
    history, _ = _history()
    with pytest.raises(TimestampsRequired, match="timestamps"):
        model.scores(history)


def test_training_on_a_log_without_timestamps_is_refused_before_any_step() -> None:
    log = build_log([(f"u{u}", f"i{(u + t) % 9}", None) for u in range(5) for t in range(6)])
    assert log.timestamps is None
    model = build_model("tisasrec", log.n_items, TINY)
    with pytest.raises(ValueError, match="no timestamps"):
        train(model, log, TrainConfig(epochs=1))


def test_splits_windows_and_perturbations_keep_each_items_timestamp() -> None:
    log = build_log([("u", f"i{t}", 10.0 * t) for t in range(1, 8)])  # items i1..i7 at 10..70 s
    split = leave_one_out(log)
    assert split.train.timestamps is not None and split.train.timestamps[0].tolist() == [10, 20, 30, 40, 50]
    assert split.test.padded_times(np.array([0]), 8).tolist() == [[0, 0, 10, 20, 30, 40, 50, 60]]
    assert split.valid is not None and split.valid.padded_times(np.array([0]), 3).tolist() == [[30, 40, 50]]
    temporal = temporal_split(log, 0.5)
    assert temporal.test.padded_times(np.array([0]), 4).tolist() == [[0, 10, 20, 30]]
    windows = TrainingWindows(split.train, max_len=3)
    assert windows.times is not None and windows.times.tolist() == [[20, 30, 40, 50]]


def test_finest_fine_tunes_tisasrec_on_timestamped_windows() -> None:
    seed_everything(0)
    log = leave_one_out(synthetic_log(SyntheticConfig(n_users=60, n_items=40))).train
    model = build_model("tisasrec", log.n_items, {**TINY, "max_len": 12})
    train(model, log, TrainConfig(epochs=2, batch_size=32, eval_every=2))
    reference = build_model("tisasrec", log.n_items, {**TINY, "max_len": 12})
    reference.load_state_dict(model.state_dict())
    result = finest_finetune(model, log, reference, FinestConfig(epochs=1, top_k=5, batch_size=32))
    assert len(result.epochs) == 1 and math.isfinite(result.epochs[0].next_item_loss)
    assert result.epochs[0].regulariser > 0


def test_selected_windows_keep_their_own_timestamps_and_seen_items() -> None:
    log = build_log([(u, f"i{t}", float(t + (100 if u == "b" else 0))) for u in ("a", "b", "c") for t in range(1, 4)])
    windows = TrainingWindows(log, max_len=2, seen=True)
    windows.select(torch.tensor([False, True, False]))  # user b only
    assert windows.users.tolist() == [1]
    assert windows.times is not None and windows.times.tolist() == [[101, 102, 103]]
    seen = windows.seen_items(torch.tensor([0]))
    assert seen is not None and seen.tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("method", ["finest", "cascade", "apt"])
def test_a_fine_tune_job_grows_a_tisasrec_catalog_and_exports_a_timed_graph(tmp_path, method: str) -> None:

    from steadyrec.core.manifest import read_manifest
    from steadyrec.testing.builders import tiny_artifact
    from training.data.synthetic import synthetic_interactions, write_tsv
    from training.finetune import FinetuneRequest, run_finetune

    rows = synthetic_interactions(SyntheticConfig(n_users=60, n_items=25, min_len=6, max_len=14))
    write_tsv(rows, tmp_path / "log.tsv")
    tiny_artifact(tmp_path / "base", build_log(rows), epochs=1, config={**TINY, "max_len": 10}, kind="tisasrec")
    fresh = [(f"u{u}", "brand-new", 1e9 + u) for u in range(4)]
    request = FinetuneRequest(
        base=tmp_path / "base",
        method=method,
        params={"epochs": 1},
        data=str(tmp_path / "log.tsv"),
        events=fresh,
        min_item_interactions=3,
    )
    outcome = run_finetune(request, tmp_path / "tuned")
    assert outcome.added_items == ("brand-new",)
    manifest = read_manifest(tmp_path / "tuned")
    assert manifest.model_kind == "tisasrec" and manifest.onnx_io["times"] == "timestamps"
    history = np.array([[0] * 7 + [1, 2, manifest.n_items]], dtype=np.int64)
    stamps = np.array([[0] * 7 + [100, 160, 400]], dtype=np.int64)
    scores = load_version("tuned", tmp_path / "tuned").score(history, stamps)
    assert scores.shape == (1, manifest.n_items) and np.isfinite(scores).all()
