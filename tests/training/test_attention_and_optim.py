"""Attention helper = nn.MultiheadAttention's function; the shared Adam fuses on CPU; dropout's cheap mask, shared
by the halves of a doubled batch or replayed in a second pass when asked."""

import pytest
import torch
from torch import nn

from training.models.attention import attend
from training.models.dropout import Dropout, halves_share_masks, keep_mask, masks_recorded, masks_replayed
from training.optim import adam


@pytest.mark.parametrize("self_attention", [True, False])
def test_attend_equals_multihead_attention_on_the_same_weights_with_gradients(self_attention: bool) -> None:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 2, dropout=0.0, batch_first=True).train()
    context = torch.randn(3, 5, 16, requires_grad=True)
    query = context if self_attention else torch.randn(3, 5, 16, requires_grad=True)
    blocked = (torch.rand(3, 5, 5) < 0.4) & ~torch.eye(5, dtype=torch.bool)  # (B, Q, L); a row sees itself
    expected, _ = mha(query, context, context, attn_mask=blocked.repeat_interleave(2, dim=0), need_weights=False)
    expected_grads = torch.autograd.grad(expected.square().sum(), [context, *mha.parameters()])
    actual = attend(mha, query, context, blocked[:, None])  # (B, 1, Q, L) broadcast over heads
    actual_grads = torch.autograd.grad(actual.square().sum(), [context, *mha.parameters()])
    torch.testing.assert_close(actual, expected)
    for a, e in zip(actual_grads, expected_grads, strict=True):
        torch.testing.assert_close(a, e)


def test_attend_applies_attention_dropout_in_training_mode_only() -> None:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 2, dropout=0.5, batch_first=True)
    x = torch.randn(2, 6, 16)
    causal = torch.triu(torch.ones(6, 6, dtype=torch.bool), 1)
    mha.eval()
    assert torch.equal(attend(mha, x, x, causal), attend(mha, x, x, causal))
    mha.train()
    assert not torch.equal(attend(mha, x, x, causal), attend(mha, x, x, causal))


def test_attention_dropout_is_unbiased_and_leaves_masked_keys_unseen() -> None:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = torch.randn(2, 5, 8)
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
    expected = attend(mha.eval(), x, x, causal)
    mha.train()
    mean = torch.stack([attend(mha, x, x, causal) for _ in range(4000)]).mean(0)  # (B, Q, D)
    torch.testing.assert_close(mean, expected, atol=0.03, rtol=0.0)
    later = torch.randn(2, 5, 8)
    later[:, :3] = x[:, :3]  # only keys the first three queries may not see differ
    torch.manual_seed(1)
    first = attend(mha, x, x, causal)
    torch.manual_seed(1)
    torch.testing.assert_close(attend(mha, later, later, causal)[:, :3], first[:, :3])


def test_adam_is_fused_for_cpu_parameters_and_steps_like_the_reference_adam() -> None:
    torch.manual_seed(0)
    fused_w = nn.Parameter(torch.randn(4, 3))
    plain_w = nn.Parameter(fused_w.detach().clone())
    fused = adam([fused_w], lr=0.1, betas=(0.9, 0.98), weight_decay=0.01)
    plain = torch.optim.Adam([plain_w], lr=0.1, betas=(0.9, 0.98), weight_decay=0.01)
    assert fused.defaults["fused"]
    for _ in range(3):
        for w, opt in ((fused_w, fused), (plain_w, plain)):
            opt.zero_grad()
            (w**3).sum().backward()
            opt.step()
    torch.testing.assert_close(fused_w, plain_w)


def test_keep_mask_drops_each_element_with_probability_p_independently() -> None:
    torch.manual_seed(0)
    for p in (0.1, 0.5, 0.9):
        mask = keep_mask((1000, 1000), p)
        assert mask.dtype == torch.bool and mask.shape == (1000, 1000)
        assert abs(1.0 - mask.float().mean().item() - p) < 3e-3
    pairs = keep_mask((2_000_000,), 0.5).float()
    assert abs(torch.corrcoef(torch.stack([pairs[:-1], pairs[1:]]))[0, 1].item()) < 5e-3  # neighbours unrelated


def test_dropout_is_nn_dropouts_function_and_reproducible_under_the_global_seed() -> None:
    drop = Dropout(0.25)
    x = torch.randn(64, 33, requires_grad=True)
    torch.manual_seed(3)
    y = drop(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / 0.75)  # inverted scaling, as nn.Dropout
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, kept.float() / 0.75)
    torch.manual_seed(3)
    assert torch.equal(drop(x), y)
    drop.eval()
    assert torch.equal(drop(x), x)


def test_halves_of_a_doubled_batch_share_their_dropout_masks() -> None:
    first, second = Dropout(0.5), Dropout(0.3)
    x = torch.randn(32, 20)
    with halves_share_masks():
        out = second(first(torch.cat([x, 2 * x])))  # (64, 20)
    torch.testing.assert_close(out[32:], 2 * out[:32])  # the same elements dropped in both halves
    assert (out[:32] == 0).any() and not torch.equal(first(x), first(x))  # masks drawn, fresh outside the block
    with halves_share_masks(), pytest.raises(ValueError, match="even batch"):
        first(torch.randn(5, 4))


def test_replayed_pass_applies_the_recorded_masks_without_drawing_new_ones() -> None:
    first, second = Dropout(0.5), Dropout(0.3)
    x = torch.randn(32, 20)
    with masks_recorded() as tape:
        recorded = second(first(x))
    state = torch.get_rng_state()
    with masks_replayed(tape):
        assert torch.equal(second(first(x)), recorded)
    assert torch.equal(torch.get_rng_state(), state)  # no random draws while replaying
    with masks_replayed(tape), pytest.raises(RuntimeError, match="did not draw"):
        first(torch.randn(4, 4))  # a pass that differs from the recorded one is refused
