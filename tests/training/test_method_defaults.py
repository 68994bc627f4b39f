"""Every fine-tuning method, run with its defaults (what a parameterless job gets), keeps a trained model's
accuracy: the candidate's test NDCG@10 stays within 10% of the base's."""

from __future__ import annotations

from pathlib import Path

import pytest

from steadyrec.core.methods import ADVERSARIAL_METHODS, METHODS
from training.data.synthetic import SyntheticConfig, synthetic_interactions, write_tsv
from training.finetune import FinetuneRequest, run_finetune
from training.pipeline import TrainRequest, run_training


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, float]:
    root = tmp_path_factory.mktemp("defaults")
    rows = synthetic_interactions(SyntheticConfig(n_users=300, n_items=120, min_len=8, max_len=30))
    write_tsv(rows, root / "log.tsv")
    request = TrainRequest(
        data=str(root / "log.tsv"),
        model_config={"hidden": 32, "blocks": 1, "max_len": 20},
        epochs=40,
        lr=3e-3,
        eval_every=5,
    )
    manifest = run_training(request, root / "base")
    return root / "base", manifest.metrics["ndcg@10"]


@pytest.mark.parametrize("method", [*METHODS, *ADVERSARIAL_METHODS])
def test_default_parameters_keep_the_candidate_within_ten_percent_of_the_base(base, tmp_path, method: str) -> None:
    path, base_ndcg = base
    assert base_ndcg > 0.2  # a trained base: the synthetic log's successor structure is learnt
    outcome = run_finetune(FinetuneRequest(base=path, method=method, export=False), tmp_path / "candidate")
    assert outcome.manifest.metrics["ndcg@10"] >= 0.9 * base_ndcg
