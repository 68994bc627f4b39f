"""SAO (Manotumruksa and Yilmaz): fast-gradient perturbations of input and output item embeddings."""

import numpy as np
import pytest
import torch

from steadyrec.core.methods import SaoConfig, make_method_config
from steadyrec.testing.builders import trained_sasrec
from training.data.batches import Batch, TrainingWindows
from training.data.synthetic import SyntheticConfig, synthetic_log
from training.methods.sao import SaoLoss, sao_finetune

TINY = {"hidden": 16, "blocks": 1, "max_len": 12, "dropout": 0.1}


@pytest.fixture(scope="module")
def trained():
    log = synthetic_log(SyntheticConfig(n_users=50, n_items=30, min_len=4, max_len=12))
    return log, trained_sasrec(log, TINY)


def _batch(log, max_len: int) -> Batch:
    windows = TrainingWindows(log, max_len)
    return Batch(windows.items[:16], windows.users[:16], torch.Generator().manual_seed(0))


def test_input_perturbations_have_norm_eps_on_real_items_only(trained) -> None:
    log, model = trained
    batch = _batch(log, model.max_len)
    deltas: list[torch.Tensor] = []
    original = model.encode

    def spy(history, input_delta=None, times=None):
        deltas.append(input_delta.detach() if input_delta is not None else None)
        return original(history, input_delta=input_delta, times=times)

    model.encode = spy
    try:
        terms = SaoLoss(SaoConfig(eps=0.5)).parts(model, batch)
    finally:
        del model.encode
    assert set(terms) == {"clean", "adv"}
    zero, applied = deltas  # Δ = 0 on the clean pass (Eq. 8's point), then Eq. 9's Δ
    assert (zero == 0).all()
    real = batch.items[:, :-1] > 0
    norms = torch.linalg.vector_norm(applied, dim=-1)
    torch.testing.assert_close(norms[real], torch.full((int(real.sum()),), 0.5))
    assert (norms[~real] == 0).all()


def test_the_adversarial_term_grows_with_eps_and_vanishes_with_lambda_zero(trained) -> None:
    log, model = trained
    model.eval()  # same states for every call; same seed, same negatives

    def adv(eps: float) -> float:
        return float(SaoLoss(SaoConfig(eps=eps)).parts(model, _batch(log, model.max_len))["adv"].detach())

    assert adv(0.0) < adv(0.5) < adv(2.0)
    assert set(SaoLoss(SaoConfig(lam=0.0)).parts(model, _batch(log, model.max_len))) == {"clean"}
    model.train()


def test_sao_fine_tunes_a_pretrained_sasrec_without_nan(trained) -> None:
    log, model = trained
    _, epochs = sao_finetune(model, log, SaoConfig(epochs=2, batch_size=16))
    assert len(epochs) == 2 and all(np.isfinite(list(e.parts.values())).all() for e in epochs)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    config = make_method_config("sao", {"eps": 1})
    assert isinstance(config, SaoConfig) and config.eps == 1.0 and config.lam == 1.0
    with pytest.raises(ValueError, match="unknown sao parameters"):
        make_method_config("sao", {"variant": "adv_cas"})
