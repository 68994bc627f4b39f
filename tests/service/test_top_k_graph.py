"""A graph with its own top-K answers /recommend exactly as the full scores cut in the service."""

from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

from steadyrec.core.formats import read_log
from steadyrec.core.manifest import ExportOptions
from steadyrec.core.onnx_model import load_version
from steadyrec.core.registry import RegistryStore
from steadyrec.testing.builders import tiny_artifact
from tests.service.conftest import serving

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def pair(world, tmp_path_factory):
    """The same weights exported twice, scores only ("full") and with the top-K outputs ("graph")."""
    root = tmp_path_factory.mktemp("topk")
    log = read_log(world["events"])
    for name, top_k in (("full", False), ("graph", True)):
        tiny_artifact(root / name, log, seed=1, epochs=1, graph=ExportOptions(top_k=top_k))
    return root, log


def shapes(log) -> list[dict]:
    """Every kind of request /recommend takes; those with candidates / exclude take the full-scores path."""
    ids = log.item_ids
    long = [ids[i % len(ids)] for i in range(30)]  # longer than max_len (12): exclude_seen reaches past the window
    return [
        {"user_id": "u3", "k": 5},
        {"user_id": "u7", "k": 10, "exclude_seen": False},
        {"items": ids[:3], "k": 1},
        {"items": long, "k": 10},
        {"items": long, "k": 45},  # above n_items - seen: fewer come back
        {"items": long, "k": 40, "exclude_seen": False},  # every item
        {"items": [ids[5], ids[5], ids[5]], "k": 7},  # repeats
        {"items": [ids[2], "not-an-item", ids[9]], "k": 5},  # unknown items reported and left out
        {"items": ["not-an-item"], "k": 5},  # fallback
        {"items": [], "k": 5},  # fallback
        {"items": ids[:4], "k": 5, "candidates": ids[10:20]},
        {"items": ids[:4], "k": 5, "exclude": ids[4:8]},
        {"items": ids[:4], "k": 5, "exclude": []},
        {"user_id": "u3", "k": 8, "candidates": ids[:30], "exclude": ids[:2], "exclude_seen": False},
    ]


async def answers(settings, version: str, root, bodies: list[dict], concurrent: bool) -> list[dict]:
    store = RegistryStore(settings.models_dir)
    store.register(root / version, version)
    store.set_alias("live", version)
    async with serving(settings) as client:
        if concurrent:  # one micro-batch mixes every shape: both paths, many k, exclusion lists of many lengths
            responses = await asyncio.gather(*(client.post("/recommend", json=body) for body in bodies))
        else:
            responses = [await client.post("/recommend", json=body) for body in bodies]
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    return [{**r.json(), "model_version": None} for r in responses]


@pytest.mark.parametrize("concurrent", [False, True])
async def test_the_graph_top_k_answers_every_request_shape_as_the_full_scores(
    pair, settings, tmp_path, concurrent: bool
) -> None:
    root, log = pair
    bodies = shapes(log)
    full = await answers(settings, "full", root, bodies, concurrent)
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    graph = await answers(settings, "graph", root, bodies, concurrent)
    for body, a, b in zip(bodies, full, graph, strict=True):
        if not concurrent:
            assert a == b, body
            continue
        # batched together, a row's floats may differ in the last bits with the batch's size (as they do today)
        assert [r["item"] for r in a["items"]] == [r["item"] for r in b["items"]], body
        assert [r["score"] for r in a["items"]] == pytest.approx([r["score"] for r in b["items"]], rel=1e-5, abs=1e-6)
        assert {**a, "items": None} == {**b, "items": None}, body
    assert len(full[4]["items"]) < 45 and len(full[5]["items"]) == 40


def test_scores_of_a_graph_with_top_k_equal_the_scores_only_graph(pair) -> None:
    root, _ = pair
    full, graph = load_version("full", root / "full"), load_version("graph", root / "graph")
    assert graph.has_top_k and not full.has_top_k
    histories = np.array([[0] * 9 + [1, 2, 3], list(range(1, 13)), [0] * 12], dtype=np.int64)  # (3, 12)
    np.testing.assert_array_equal(full.score(histories), graph.score(histories))
    ids, scores = graph.top(histories, None, 3, np.array([[3, 0], [12, 11], [0, 0]], dtype=np.int64))
    expected = np.argsort(-full.score(histories), axis=1, kind="stable")  # (3, N) 0-based
    assert ids[2].tolist() == (expected[2, :3] + 1).tolist()
    assert 3 not in ids[0] and not {11, 12} & set(ids[1].tolist())
    np.testing.assert_array_equal(scores, np.take_along_axis(full.score(histories), ids - 1, axis=1))
