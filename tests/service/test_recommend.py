"""POST /recommend through httpx against the real app, model and event store."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


def user_history(settings, user: str) -> list[str]:
    from steadyrec.core.formats import read_interactions

    rows = sorted((r for r in read_interactions(settings.seed_log) if r[0] == user), key=lambda r: r[2])
    return [item for _, item, _ in rows]


async def test_user_id_gets_k_ranked_unseen_items(client, settings) -> None:
    response = await client.post("/recommend", json={"user_id": "u3", "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "v1" and body["fallback"] is False
    items = [r["item"] for r in body["items"]]
    scores = [r["score"] for r in body["items"]]
    assert len(items) == 5 and scores == sorted(scores, reverse=True)
    assert not set(items) & set(user_history(settings, "u3"))


async def test_exclude_seen_false_matches_raw_model_ranking(client) -> None:
    import numpy as np

    from steadyrec.core.onnx_model import load_version

    history = ["i1", "i2", "i3"]
    response = await client.post("/recommend", json={"items": history, "k": 40, "exclude_seen": False})
    registry = client._transport.app.state.steadyrec.registry  # type: ignore[attr-defined]
    direct = load_version("v1", registry.store.path("v1"))  # a separate session on the same artifact
    padded = np.zeros((1, direct.max_len), dtype=np.int64)
    padded[0, -3:] = [direct.item_index[i] for i in history]
    expected = [direct.item_ids[j] for j in np.argsort(-direct.score(padded)[0], kind="stable")[:40]]
    assert [r["item"] for r in response.json()["items"]] == expected


async def test_unknown_history_items_are_reported_and_ignored(client) -> None:
    response = await client.post("/recommend", json={"items": ["i1", "nope", "i2", "ghost"], "k": 3})
    body = response.json()
    assert response.status_code == 200 and body["fallback"] is False
    assert body["unknown_items"] == ["nope", "ghost"]


@pytest.mark.parametrize(
    ("items", "reason"),
    [pytest.param([], "empty history", id="empty"), pytest.param(["x", "y"], "no history item", id="all-unknown")],
)
async def test_empty_or_unknown_history_falls_back_to_popular_items(client, items, reason) -> None:
    response = await client.post("/recommend", json={"items": items, "k": 4})
    body = response.json()
    assert response.status_code == 200
    assert body["fallback"] is True and reason in body["fallback_reason"]
    manifest = client._transport.app.state.steadyrec.registry.live().manifest  # type: ignore[attr-defined]
    assert [r["item"] for r in body["items"]] == manifest.popular_items[:4]


async def test_candidates_and_exclude_filter_the_ranking(client) -> None:
    candidates = ["i5", "i6", "i7", "i8", "i9", "unknown-candidate"]
    response = await client.post(
        "/recommend", json={"items": ["i1"], "k": 10, "candidates": candidates, "exclude": ["i6"]}
    )
    items = [r["item"] for r in response.json()["items"]]
    assert sorted(items) == ["i5", "i7", "i8", "i9"]  # fewer than k remain: all of them, ranked


async def test_unknown_user_is_404_with_a_message(client) -> None:
    response = await client.post("/recommend", json={"user_id": "who", "k": 3})
    assert response.status_code == 404
    assert "unknown user 'who'" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"k": 3}, id="neither-user-nor-items"),
        pytest.param({"user_id": "u1", "items": ["i1"]}, id="both-user-and-items"),
        pytest.param({"user_id": "u1", "k": 0}, id="k-zero"),
        pytest.param({"user_id": "u1", "k": "ten"}, id="k-not-a-number"),
        pytest.param({"user_id": "u1", "k": 5000}, id="k-above-schema-cap"),
        pytest.param({"items": "i1"}, id="items-not-a-list"),
        pytest.param({"items": [1, 2]}, id="items-not-strings"),
        pytest.param({"user_id": ""}, id="empty-user-id"),
        pytest.param({"user_id": "u1", "colour": "red"}, id="unknown-field"),
        pytest.param({"user_id": "u1", "exclude_seen": "perhaps"}, id="bad-boolean"),
    ],
)
async def test_bad_bodies_are_422_with_field_errors(client, body) -> None:
    response = await client.post("/recommend", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_k_above_the_service_limit_is_422_with_the_limit(client) -> None:
    response = await client.post("/recommend", json={"user_id": "u1", "k": 51})
    assert response.status_code == 422
    assert "maximum of 50" in str(response.json()["detail"])


async def test_not_json_is_422(client) -> None:
    response = await client.post("/recommend", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422


async def test_oversized_body_is_413(client) -> None:
    response = await client.post("/recommend", json={"items": ["i1"] * 300_000})
    assert response.status_code == 413


async def test_metrics_report_batches_and_latency(client) -> None:
    await client.post("/recommend", json={"user_id": "u1"})
    text = (await client.get("/metrics")).text
    for name in (
        "steadyrec_batch_size",
        "steadyrec_queue_wait_seconds",
        "steadyrec_inference_seconds",
        "steadyrec_request_latency_seconds",
    ):
        assert f"{name}_count" in text


FAST_AND_ROUTE_BODIES = [
    {"user_id": "u1", "k": 5},
    {"items": ["i1", "i2", "nope"], "k": 3, "exclude": ["i3"]},
    {"items": [], "k": 2},
    {"user_id": "who"},
    {"user_id": "u1", "k": 51},
    {"user_id": "u1", "k": "ten"},
    {"k": 3},
    {"user_id": "u1", "colour": "red"},
]


@pytest.mark.parametrize("body", FAST_AND_ROUTE_BODIES, ids=range(len(FAST_AND_ROUTE_BODIES)))
async def test_fast_path_answers_exactly_as_the_fastapi_route(client, body) -> None:
    # application/json takes the fast path; a +json media type is parsed by FastAPI's route itself
    fast = await client.post("/recommend", json=body)
    routed = await client.post("/recommend", json=body, headers={"Content-Type": "application/vnd.api+json"})
    assert fast.status_code == routed.status_code
    assert fast.json() == routed.json()


async def test_fast_path_requests_are_counted_under_their_route(client) -> None:
    await client.post("/recommend", json={"user_id": "u1"})
    text = (await client.get("/metrics")).text
    assert 'steadyrec_responses_total{route="/recommend",status="200"}' in text


async def test_an_ease_artifact_is_served_by_recommend_unchanged(settings, tmp_path) -> None:
    import numpy as np

    from steadyrec.core.formats import read_log
    from steadyrec.core.registry import RegistryStore
    from tests.service.conftest import serving
    from training.artifact import data_info, popular_items, write_artifact
    from training.data.matrix import user_item_matrix
    from training.models.ease import EASE, EASEConfig, fit_ease
    from training.onnx_export import export_onnx

    log = read_log(settings.seed_log)
    w = fit_ease(user_item_matrix(log.sequences, log.n_items), 1e-3)  # (N, N), zero diagonal
    data = data_info(log, source="synthetic", fmt=None, split="strong-generalisation", min_interactions=1)
    model = EASE.from_weights(w, EASEConfig(max_len=20, c=1e-3))
    popular = popular_items(log)
    write_artifact(tmp_path / "ease", model, item_ids=log.item_ids, popular=popular, data=data, export_onnx=export_onnx)
    store = RegistryStore(settings.models_dir)
    store.register(tmp_path / "ease", "ease-1")
    store.set_alias("live", "ease-1")
    history = [log.item_ids[0], log.item_ids[3]]
    async with serving(settings) as client:
        response = await client.post("/recommend", json={"items": history, "k": 5})
    assert response.status_code == 200 and response.json()["model_version"] == "ease-1"
    expected = w[0] + w[3]  # multi-hot history times W
    expected[[0, 3]] = -np.inf  # seen items are excluded
    got = response.json()["items"]
    np.testing.assert_allclose([r["score"] for r in got], np.sort(expected)[::-1][:5], rtol=1e-5, atol=1e-6)
    for r in got:  # and each item carries its own multi-hot score
        assert expected[log.item_ids.index(r["item"])] == pytest.approx(r["score"], rel=1e-5, abs=1e-6)


async def test_with_the_fast_path_off_recommend_answers_the_same(client, settings) -> None:
    from tests.service.conftest import serving

    body = {"user_id": "u1", "k": 5}
    fast = await client.post("/recommend", json=body)
    async with serving(settings.model_copy(update={"fast_path": False})) as routed_client:
        routed = await routed_client.post("/recommend", json=body)
        text = (await routed_client.get("/metrics")).text
    assert fast.status_code == routed.status_code == 200
    assert fast.json() == routed.json()
    assert 'steadyrec_responses_total{route="/recommend",status="200"}' in text


async def test_a_server_bug_on_the_fast_path_is_a_logged_500_not_a_dropped_connection(client, caplog) -> None:
    import service.routers.recommend as route

    async def broken(*_: object) -> None:
        raise KeyError("a bug")

    original = route.recommend
    route.recommend = broken  # type: ignore[assignment]
    try:
        response = await client.post("/recommend", json={"user_id": "u1"})
    finally:
        route.recommend = original
    assert response.status_code == 500 and response.json() == {"detail": "internal error"}
    assert "POST /recommend failed" in caplog.text


async def test_only_the_first_content_type_counts_as_in_fastapi(client) -> None:
    headers = [("Content-Type", "text/plain"), ("Content-Type", "application/json")]
    body = b'{"user_id": "u1", "k": 3}'
    fast = await client.post("/recommend", content=body, headers=headers)
    assert fast.status_code == 422  # FastAPI reads text/plain and refuses the body


async def test_a_server_bug_behind_fastapi_is_the_same_json_500_and_is_counted(settings) -> None:
    import httpx

    import service.routers.recommend as route
    from service.main import create_app

    async def broken(*_: object) -> None:
        raise KeyError("a bug")

    app = create_app(settings.model_copy(update={"fast_path": False}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # as a server: answer, then log
    original = route.recommend
    route.recommend = broken  # type: ignore[assignment]
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.post("/recommend", json={"user_id": "u1"})
            text = (await c.get("/metrics")).text
    finally:
        route.recommend = original
    assert response.status_code == 500 and response.json() == {"detail": "internal error"}
    assert 'steadyrec_responses_total{route="/recommend",status="500"}' in text
