"""Catalog growth: new items join a fine-tuned model after the old ones, old ids keep theirs, the exported
graph scores the new width and the service serves the new items."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from steadyrec.core.interactions import build_log
from steadyrec.core.manifest import read_items
from steadyrec.core.onnx_model import load_version
from steadyrec.core.registry import RegistryStore
from training.finetune import FinetuneRequest, run_finetune
from training.growth import NewItemWarmUp, cooccurrence_weights, grow_catalog, grow_model, warm_up_new_items
from training.models import build_model


def test_items_with_enough_interactions_join_after_the_known_ones() -> None:
    log = build_log([("u1", "a", 1.0), ("u1", "d", 2.0), ("u1", "b", 3.0), ("u2", "d", 4.0), ("u2", "e", 5.0)])
    growth = grow_catalog(log, ["a", "b", "c"], min_interactions=2)
    assert growth.item_ids == ("a", "b", "c", "d") and growth.added == ("d",)
    assert growth.dropped == 1  # e: one interaction
    assert [list(s) for s in growth.log.sequences] == [[1, 4, 2], [4]]  # a, b keep ids 1, 2; d is 4
    no_growth = grow_catalog(log, ["a", "b", "c"], min_interactions=None)
    assert no_growth.added == () and no_growth.dropped == 3


def test_a_new_item_starts_from_the_known_items_beside_it() -> None:
    log = build_log([("u1", "a", 1.0), ("u1", "d", 2.0), ("u1", "b", 3.0), ("u2", "d", 4.0), ("u2", "e", 5.0)])
    growth = grow_catalog(log, ["a", "b", "c"], min_interactions=1)  # d is 4, e is 5
    weights = cooccurrence_weights(growth.log, n_old=3, window=1)
    # d sits between a and b (u1) and before e (u2, new: not counted); e's only neighbour is d (new): uniform
    np.testing.assert_allclose(weights, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize(("kind", "config"), [("sasrec", {}), ("gru4rec", {"tied": False}), ("bert4rec", {})])
def test_growing_a_model_keeps_old_rows_and_moves_special_rows_last(kind: str, config: dict) -> None:
    torch.manual_seed(0)
    model = build_model(kind, 4, {"max_len": 8, **config})
    weights = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    grown = grow_model(model, weights)
    assert grown.n_items == 6
    old, new = model.state_dict(), grown.state_dict()
    for name, table in old.items():
        if table.shape == new[name].shape:
            torch.testing.assert_close(new[name], table)
            continue
        lead = 1 if table.shape[0] > 4 else 0
        torch.testing.assert_close(new[name][: lead + 4], table[: lead + 4])  # padding and old items
        torch.testing.assert_close(new[name][lead + 4], (table[lead] + table[lead + 1]) / 2)
        torch.testing.assert_close(new[name][lead + 5], table[lead + 3])
        torch.testing.assert_close(new[name][lead + 6 :], table[lead + 4 :])  # [mask] stays last
    if kind == "bert4rec":
        assert grown.mask_token == 7 and new["item_emb.weight"].shape[0] == 8


def test_the_warm_up_fits_only_the_new_rows_and_lifts_the_new_item_where_it_follows() -> None:
    torch.manual_seed(0)
    known = ["a", "b", "c", "d", "e", "f"]
    rows = [(f"u{u}", known[(u + j) % 6], float(j)) for u in range(12) for j in range(6)]  # old items only
    rows += [(f"v{u}", item, 100.0 + j) for u in range(8) for j, item in enumerate(["b", "a", "x", "c"])]
    growth = grow_catalog(build_log(rows), known, min_interactions=1)  # x joins as item 7
    model = build_model("sasrec", 6, {"hidden": 8, "blocks": 1, "max_len": 6, "dropout": 0.0})
    grown = grow_model(model, cooccurrence_weights(growth.log, n_old=6))
    before = {name: t.clone() for name, t in grown.state_dict().items()}
    history = torch.tensor([[0, 0, 0, 0, 2, 1]])  # ... b, a: x came next in every v-user's sequence

    def rank_of_x() -> int:
        grown.eval()
        with torch.no_grad():
            scores = grown.scores(history)[0]  # (7,)
        return int((scores > scores[6]).sum())

    start = rank_of_x()
    warm_up_new_items(grown, growth.log, n_old=6, config=NewItemWarmUp(epochs=30, lr=0.1))
    after = grown.state_dict()
    for name, table in before.items():
        if table.shape[0] == 8:  # the item table: padding, 6 old items, x
            torch.testing.assert_close(after[name][:7], table[:7], rtol=0, atol=0)
            assert not torch.equal(after[name][7], table[7])
        else:
            torch.testing.assert_close(after[name], table, rtol=0, atol=0)
    assert start > 0 and rank_of_x() == 0


@pytest.fixture(scope="module")
def grown_artifact(tmp_path_factory) -> tuple[Path, Path]:
    from steadyrec.testing.builders import tiny_artifact
    from training.data.synthetic import SyntheticConfig, synthetic_interactions, write_tsv

    root = tmp_path_factory.mktemp("growth")
    rows = synthetic_interactions(SyntheticConfig(n_users=80, n_items=30, min_len=6, max_len=15))
    write_tsv(rows, root / "log.tsv")
    base = root / "base"
    tiny_artifact(base, build_log(rows), epochs=2, config={"hidden": 16, "blocks": 1, "max_len": 12})
    fresh = [(f"u{u}", "brand-new", 1e9 + u) for u in range(5)] + [("u0", "one-off", 2e9)]
    out = root / "grown"
    request = FinetuneRequest(
        base=base,
        method="finest",
        params={"epochs": 1, "top_k": 5},
        data=str(root / "log.tsv"),
        events=fresh,
        min_item_interactions=3,
    )
    outcome = run_finetune(request, out)
    assert outcome.added_items == ("brand-new",) and outcome.dropped_interactions == 1
    return base, out


def test_the_grown_artifact_lists_the_new_item_last_and_exports_its_width(grown_artifact) -> None:
    base, grown = grown_artifact
    from steadyrec.core.manifest import read_manifest

    old, new = read_manifest(base), read_manifest(grown)
    old_items, new_items = read_items(base, old), read_items(grown, new)
    assert new.n_items == old.n_items + 1 and new_items == [*old_items, "brand-new"]
    scores = load_version("grown", grown).score(np.zeros((2, new.max_len), dtype=np.int64))
    assert scores.shape == (2, new.n_items)
    assert new.training["added_items"] == 1 and new.training["min_item_interactions"] == 3


@pytest.mark.anyio
async def test_the_service_serves_a_learnt_item(grown_artifact, tmp_path) -> None:
    from service.main import create_app
    from service.settings import Settings

    _, grown = grown_artifact
    store = RegistryStore(tmp_path / "models")
    store.register(grown, "v2")
    store.set_alias("live", "v2")
    app = create_app(Settings(models_dir=tmp_path / "models", token="t" * 20, state_dir=tmp_path / "state"))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        body = {"items": ["brand-new"], "candidates": ["brand-new", "i1"], "exclude_seen": False, "k": 2}
        answer = (await c.post("/recommend", json=body)).json()
    assert answer["unknown_items"] == [] and "brand-new" in [r["item"] for r in answer["items"]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
