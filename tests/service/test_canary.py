"""Shadow comparison, the canary gate, promotion and rollback."""

from __future__ import annotations

import asyncio
import json
import random
import shutil

import pytest

from service.settings import Settings
from steadyrec.core.manifest import file_sha256
from steadyrec.core.registry import RegistryStore
from tests.service.conftest import ADMIN_TOKEN, TOKEN, auth

pytestmark = pytest.mark.anyio

SMALL = {"min_samples": 30, "bootstrap": 200}  # the test world has 60 users


def register_variant(world, settings, version: str, shuffle_items: bool) -> None:
    """v1's weights as another version; with ``shuffle_items`` its item ids are permuted (a model that
    learned the same structure over shuffled item ids)."""
    source = settings.models_dir / "versions" / "v1"
    build = world["root"] / f"build-{version}-{random.random()}"
    shutil.copytree(source, build)
    if shuffle_items:
        items = json.loads((build / "items.json").read_text())
        random.Random(0).shuffle(items)
        (build / "items.json").write_text(json.dumps(items))
        manifest = json.loads((build / "manifest.json").read_text())
        manifest["items_sha256"] = file_sha256(build / "items.json")
        (build / "manifest.json").write_text(json.dumps(manifest))
    RegistryStore(settings.models_dir).register(build, version)


async def canary(client, version: str, **policy):
    return await client.post(f"/models/{version}/canary", json={"policy": {**SMALL, **policy}}, headers=auth())


async def test_a_candidate_identical_to_live_gives_rbo_one_and_passes(client, world, settings) -> None:
    register_variant(world, settings, "same", shuffle_items=False)
    response = await canary(client, "same")
    assert response.status_code == 200, response.text
    verdict = response.json()
    overall = verdict["figures"]["groups"]["all"]
    assert verdict["passed"] is True and verdict["failures"] == []
    assert overall["rbo"]["mean"] == pytest.approx(1.0) and overall["jaccard"]["mean"] == pytest.approx(1.0)
    assert verdict["figures"]["accuracy"]["ndcg@10_candidate"] == verdict["figures"]["accuracy"]["ndcg@10_live"]
    stored = (await client.get("/models/same/canary")).json()
    assert stored["passed"] is True and stored["live"] == "v1"
    listed = {m["version"]: m for m in (await client.get("/models")).json()["models"]}
    assert listed["same"]["verdict"]["passed"] is True


async def test_a_candidate_over_shuffled_item_ids_fails_with_its_reasons(client, world, settings) -> None:
    register_variant(world, settings, "shuffled", shuffle_items=True)
    verdict = (await canary(client, "shuffled")).json()
    assert verdict["passed"] is False
    text = " | ".join(verdict["failures"])
    assert "mean RBO" in text and "mean Jaccard@10" in text and "p10 RBO" in text
    assert verdict["figures"]["groups"]["all"]["rbo"]["mean"] < 0.3
    promote = await client.post("/models/shuffled/promote", json={}, headers=auth())
    assert promote.status_code == 409 and "canary failed" in promote.json()["detail"]


async def test_dry_run_stores_nothing(client, world, settings) -> None:
    register_variant(world, settings, "dry", shuffle_items=False)
    assert (await canary(client, "dry", dry_run=True)).json()["passed"] is True
    assert (await client.get("/models/dry/canary")).status_code == 404


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        pytest.param({"p": 1.0}, "p", id="p-one-is-not-rbo"),
        pytest.param({"min_mean_rbo": 2}, "min_mean_rbo", id="threshold-above-one"),
        pytest.param({"min_samples": 0}, "min_samples", id="no-samples"),
        pytest.param({"treshold": 0.5}, "treshold", id="unknown-key"),
        pytest.param({"k": "ten"}, "k", id="k-not-a-number"),
    ],
)
async def test_invalid_gate_policies_are_422(client, policy, message) -> None:
    response = await client.post("/models/v2/canary", json={"policy": policy}, headers=auth())
    assert response.status_code == 422 and message in str(response.json()["detail"])


async def test_promotion_needs_a_passed_canary_then_rollback_restores(client, world, settings) -> None:
    register_variant(world, settings, "steady", shuffle_items=False)
    assert (await client.post("/models/steady/promote", json={}, headers=auth())).status_code == 409
    assert (await canary(client, "steady")).json()["passed"] is True
    response = await client.post("/models/steady/promote", json={"reason": "test"}, headers=auth())
    assert response.status_code == 200 and response.json() == {"live": "steady", "previous": "v1", "forced": False}
    assert (await client.post("/recommend", json={"user_id": "u1"})).json()["model_version"] == "steady"
    back = await client.post("/models/rollback", headers=auth())
    assert back.status_code == 200 and back.json()["live"] == "v1"
    assert (await client.post("/recommend", json={"user_id": "u1"})).json()["model_version"] == "v1"


async def test_forcing_a_promotion_needs_the_admin_token_and_is_logged(client, caplog) -> None:
    body = {"force": True, "reason": "hotfix"}
    response = await client.post("/models/v2/promote", json=body, headers=auth())
    assert response.status_code == 401 and "X-Admin-Token" in response.json()["detail"]
    wrong = {**auth(), "X-Admin-Token": "nope"}
    assert (await client.post("/models/v2/promote", json=body, headers=wrong)).status_code == 401
    assert (await client.get("/readyz")).json()["live"] == "v1"
    admin = {**auth(), "X-Admin-Token": ADMIN_TOKEN}
    response = await client.post("/models/v2/promote", json=body, headers=admin)
    assert response.status_code == 200 and response.json()["forced"] is True
    assert "FORCED promotion of v2 over v1" in caplog.text


async def test_shadow_compare_reports_per_request_and_groups(client) -> None:
    assert (await client.post("/shadow/compare", json={}, headers=auth())).status_code == 409  # no candidate
    assert (await client.put("/models/aliases/candidate", json={"version": "v2"}, headers=auth())).status_code == 200
    body = {"requests": [{"user_id": "u1"}, {"items": ["i1", "i2"]}, {"user_id": "u2"}], "k": 5}
    response = await client.post("/shadow/compare", json=body, headers=auth())
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["live"] == "v1" and result["candidate"] == "v2" and len(result["per_request"]) == 3
    assert all(0.0 <= r["rbo"] <= 1.0 for r in result["per_request"])
    assert set(result["groups"]) == {"all", "short_history", "long_history"}
    assert result["groups"]["all"]["rbo"]["n"] == 3 and len(result["groups"]["all"]["rbo"]["histogram"]) == 10
    replay = (await client.post("/shadow/compare", json={"replay": 40}, headers=auth())).json()
    assert len(replay["per_request"]) == 40


async def test_promotion_and_rollback_under_load_fail_no_request(client, world, settings) -> None:
    register_variant(world, settings, "steady2", shuffle_items=False)
    assert (await canary(client, "steady2")).json()["passed"] is True

    async def one(i: int) -> int:
        return (await client.post("/recommend", json={"items": ["i1", f"i{i % 30 + 2}"], "k": 5})).status_code

    async def switch() -> None:
        await asyncio.sleep(0.01)
        assert (await client.post("/models/steady2/promote", json={}, headers=auth())).status_code == 200
        await asyncio.sleep(0.01)
        assert (await client.post("/models/rollback", headers=auth())).status_code == 200

    statuses, _ = await asyncio.gather(asyncio.gather(*(one(i) for i in range(400))), switch())
    assert set(statuses) == {200}


async def test_promoting_the_candidate_clears_the_candidate_alias(client, world, settings) -> None:
    register_variant(world, settings, "next", shuffle_items=False)
    assert (await client.put("/models/aliases/candidate", json={"version": "next"}, headers=auth())).status_code == 200
    assert (await canary(client, "next")).json()["passed"] is True
    assert (await client.post("/models/next/promote", json={}, headers=auth())).status_code == 200
    assert (await client.get("/models")).json()["aliases"] == {"live": "next"}


async def test_an_empty_admin_token_header_never_forces_a_promotion(client) -> None:
    body = {"force": True, "reason": "hotfix"}
    response = await client.post("/models/v2/promote", json=body, headers={**auth(), "X-Admin-Token": ""})
    assert response.status_code == 401
    assert (await client.get("/readyz")).json()["live"] == "v1"


async def test_an_empty_admin_token_setting_disables_forced_promotion(settings, monkeypatch) -> None:
    from pydantic import SecretStr

    from tests.service.conftest import serving

    monkeypatch.setenv("STEADYREC_ADMIN_TOKEN", "")
    assert Settings(models_dir=settings.models_dir, token=TOKEN).admin_token is None
    assert Settings(models_dir=settings.models_dir, token=TOKEN, admin_token="").admin_token is None
    # even a settings object that bypassed validation (an empty secret) refuses an empty header
    unsafe = settings.model_copy(update={"admin_token": SecretStr("")})
    async with serving(unsafe) as client:
        body = {"force": True, "reason": "hotfix"}
        response = await client.post("/models/v2/promote", json=body, headers={**auth(), "X-Admin-Token": ""})
        assert response.status_code == 401 and "disabled" in response.json()["detail"]
        assert (await client.get("/readyz")).json()["live"] == "v1"


def _gate(policy_fields: dict, rbo: list[float], ndcg_live: list[float], ndcg_cand: list[float], floor=None):
    import numpy as np

    from steadyrec.core.canary import CanaryPolicy, Comparison, evaluate_gate

    n = len(rbo)
    comparison = Comparison(np.array(rbo), np.ones(n), np.full(n, 5))
    policy = CanaryPolicy(
        min_samples=n, min_mean_rbo=0.5, min_mean_jaccard=0.0, min_p10_rbo=0.0, bootstrap=0, **policy_fields
    )
    floor_comparison = None if floor is None else Comparison(np.array(floor), np.ones(n), np.full(n, 5))
    return evaluate_gate(policy, comparison, np.array(ndcg_live), np.array(ndcg_cand), floor_comparison)


def test_gate_fails_a_candidate_whose_ndcg_falls_more_than_delta_below_live() -> None:
    # live mean (1 + 0.5 + 0) / 3 = 0.5; candidate (0.5 + 0.5 + 0) / 3 = 0.3333 < 0.5 - 0.1
    outcome = _gate({"ndcg_delta": 0.1}, [1.0, 1.0, 1.0], [1.0, 0.5, 0.0], [0.5, 0.5, 0.0])
    assert outcome["failures"] == ["candidate NDCG@10 0.3333 is below live 0.5000 minus 0.1000"]
    assert outcome["figures"]["accuracy"]["ndcg@10_live"] == 0.5
    # within a delta of 0.2 it passes
    assert _gate({"ndcg_delta": 0.2}, [1.0, 1.0, 1.0], [1.0, 0.5, 0.0], [0.5, 0.5, 0.0])["passed"] is True


def test_gate_fails_a_candidate_not_above_the_noise_floor_plus_margin() -> None:
    # candidate mean RBO (1 + 0.5 + 0.75) / 3 = 0.75; the A/A floor 0.5; margin 0.3: 0.75 < 0.8
    fields = {"noise_floor_version": "aa", "noise_floor_margin": 0.3}
    outcome = _gate(fields, [1.0, 0.5, 0.75], [0.5] * 3, [0.5] * 3, floor=[0.5, 0.5, 0.5])
    assert outcome["failures"] == ["mean RBO 0.7500 is not above the A/A noise floor 0.5000 plus margin 0.3000"]
    assert outcome["figures"]["noise_floor"] == {"version": "aa", "mean_rbo": 0.5, "mean_jaccard": 1.0}
    fields["noise_floor_margin"] = 0.25  # 0.75 >= 0.5 + 0.25
    assert _gate(fields, [1.0, 0.5, 0.75], [0.5] * 3, [0.5] * 3, floor=[0.5, 0.5, 0.5])["passed"] is True


@pytest.mark.parametrize(("override", "expected"), [(None, True), (True, True), (False, False)])
async def test_heldout_replay_follows_the_live_manifest_unless_the_policy_says(
    client, override, expected: bool
) -> None:
    policy = {"min_samples": 1, "bootstrap": 0, "dry_run": True}
    if override is not None:
        policy["heldout_exclude_history"] = override
    response = await client.post("/models/v2/canary", json={"policy": policy, "samples": 50}, headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["figures"]["accuracy"]["history_excluded"] is expected


async def test_heldout_replay_keeps_history_when_the_live_model_was_measured_with_it(settings) -> None:
    from tests.service.conftest import serving

    path = settings.models_dir / "versions" / "v1" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "metrics_exclude_history": False}))  # trained with --keep-history
    async with serving(settings) as client:
        policy = {"min_samples": 1, "bootstrap": 0, "dry_run": True}
        response = await client.post("/models/v2/canary", json={"policy": policy, "samples": 50}, headers=auth())
    assert response.json()["figures"]["accuracy"]["history_excluded"] is False
