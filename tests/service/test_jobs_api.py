"""The /jobs API without a worker: validation, queueing, reading, cancelling."""

from __future__ import annotations

import pytest

from tests.service.conftest import auth

pytestmark = pytest.mark.anyio


async def submit(client, **body):
    return await client.post("/jobs/finetune", json={"method": "finest", **body}, headers=auth())


async def test_a_valid_job_is_queued_and_readable(client) -> None:
    response = await submit(client, params={"epochs": 3, "top_k": 5}, run_canary=True)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "queued" and job["base_version"] == "v1"  # 'live' resolved at submission
    assert job["progress"] == {"epoch": 0, "epochs": 3}
    read = (await client.get(f"/jobs/{job['id']}", headers=auth())).json()
    assert read["id"] == job["id"] and read["state"] == "queued"
    listed = (await client.get("/jobs", headers=auth())).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]


async def test_cancelling_a_queued_job_and_then_again(client) -> None:
    job = (await submit(client)).json()
    response = await client.delete(f"/jobs/{job['id']}", headers=auth())
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    again = await client.delete(f"/jobs/{job['id']}", headers=auth())
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        pytest.param({"method": "magic"}, 422, "unknown method", id="unknown-method"),
        pytest.param({"method": "rlarm", "params": {"adversary": "gan"}}, 422, "adversary", id="rlarm-adversary"),
        pytest.param({"method": "cascade", "params": {"variant": "adv_all"}}, 422, "variant", id="cascade-variant"),
        pytest.param({"method": "sao", "params": {"lam1": 1}}, 422, "lam1", id="sao-unknown-param"),
        pytest.param({"method": "finest", "params": {"lamda": 1}}, 422, "lamda", id="unknown-param"),
        pytest.param({"method": "finest", "params": {"epochs": "ten"}}, 422, "epochs", id="param-type"),
        pytest.param({"method": "finest", "params": {"sample_ratio": 3}}, 422, "sample_ratio", id="param-range"),
        pytest.param({"method": "finest", "base": "v9"}, 404, "no model version", id="unknown-base"),
        pytest.param({"method": "finest", "base": "candidate"}, 404, "alias", id="no-candidate-yet"),
        pytest.param({"method": "finest", "base": "../v1"}, 422, "invalid model version", id="traversal-base"),
        pytest.param({"method": "finest", "data": {"source": "dataset"}}, 422, "path", id="dataset-without-path"),
        pytest.param(
            {"method": "finest", "data": {"source": "dataset", "path": "../../etc/passwd"}},
            422,
            "leaves",
            id="dataset-traversal",
        ),
        pytest.param(
            {"method": "finest", "data": {"source": "dataset", "path": "absent.tsv"}},
            422,
            "no dataset file",
            id="dataset-missing",
        ),
        pytest.param(
            {"method": "finest", "data": {"events_since": 5, "events_until": 1}}, 422, "after", id="window-reversed"
        ),
        pytest.param({"method": "finest", "params": {"epochs": 100_000_000}}, 422, "epochs", id="epochs-typo"),
        pytest.param({"method": "cascade", "params": {"eps": 1e9}}, 422, "eps", id="eps-out-of-range"),
        pytest.param({"method": "finest", "time_limit_s": 10**9}, 422, "time_limit_s", id="time-limit-too-long"),
        pytest.param({"method": "finest", "time_limit_s": 0}, 422, "time_limit_s", id="time-limit-zero"),
        pytest.param(
            {"method": "finest", "run_canary": True, "canary_policy": {"p": 1}}, 422, "p", id="canary-policy-range"
        ),
        pytest.param(
            {"method": "finest", "canary_policy": {"min_rbo": 0.5}}, 422, "min_rbo", id="canary-policy-unknown"
        ),
        pytest.param({"method": "finest", "canary_samples": 0}, 422, "canary_samples", id="canary-samples-zero"),
        pytest.param(
            {"method": "finest", "promote_if_passed": True}, 422, "needs run_canary", id="promotion-without-gate"
        ),
        pytest.param(
            {"method": "finest", "run_canary": True, "promote_if_passed": True, "canary_policy": {"dry_run": True}},
            422,
            "stored verdict",
            id="promotion-on-a-dry-run",
        ),
        pytest.param({"method": "finest", "watch": {}}, 422, "needs promote_if_passed", id="watch-without-promotion"),
        pytest.param(
            {"method": "finest", "run_canary": True, "promote_if_passed": True, "watch": {"window_s": 0}},
            422,
            "window_s",
            id="watch-window-zero",
        ),
        pytest.param(
            {"method": "finest", "canary_source": "shadow"}, 422, "needs run_canary", id="shadow-without-gate"
        ),
        pytest.param(
            {"method": "finest", "run_canary": True, "canary_source": "shadow"},
            422,
            "STEADYREC_SHADOW_SAMPLE_RATE",
            id="shadow-gate-without-mirroring",
        ),
        pytest.param(
            {"method": "finest", "run_canary": True, "canary_source": "shadow", "shadow": {"requests": 0}},
            422,
            "requests",
            id="shadow-gate-of-no-requests",
        ),
        pytest.param({"method": "finest", "colour": "red"}, 422, "colour", id="unknown-field"),
        pytest.param({}, 422, "method", id="missing-method"),
    ],
)
async def test_invalid_jobs_are_refused_and_never_queued(client, body, status, message) -> None:
    response = await client.post("/jobs/finetune", json=body, headers=auth())
    assert response.status_code == status, response.text
    assert message in str(response.json()["detail"])
    assert (await client.get("/jobs", headers=auth())).json()["jobs"] == []


async def test_a_shadow_gate_longer_than_the_job_may_run_is_refused(settings) -> None:
    from tests.service.conftest import serving

    settings = settings.model_copy(update={"shadow_sample_rate": 0.5})
    body = {"method": "finest", "run_canary": True, "canary_source": "shadow", "time_limit_s": 600}
    async with serving(settings) as client:
        response = await client.post("/jobs/finetune", json={**body, "shadow": {"max_minutes": 10}}, headers=auth())
        assert response.status_code == 422
        assert "shadow.max_minutes 10 does not fit in the job's time limit of 600 s" in str(response.json()["detail"])
        response = await client.post("/jobs/finetune", json={**body, "shadow": {"max_minutes": 5}}, headers=auth())
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["canary_source"] == "shadow" and job["shadow"] == {"requests": 500, "max_minutes": 5.0}


async def test_jobs_need_the_token(client) -> None:
    assert (await client.post("/jobs/finetune", json={"method": "finest"})).status_code == 401
    assert (await client.get("/jobs")).status_code == 401


async def test_unknown_job_is_404(client) -> None:
    response = await client.get("/jobs/nope", headers=auth())
    assert response.status_code == 404 and "no job 'nope'" in response.json()["detail"]


async def test_a_job_whose_base_training_data_cannot_be_found_is_refused(settings) -> None:
    import json

    from tests.service.conftest import serving

    path = settings.models_dir / "versions" / "v1" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["data"]["source"] = "/home/someone/ml-1m/ratings.tsv"  # trained on another machine
    path.write_text(json.dumps(manifest))
    async with serving(settings) as client:
        response = await submit(client)
        assert response.status_code == 422
        assert "ratings.tsv" in str(response.json()["detail"]) and "data directory" in str(response.json()["detail"])
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        (settings.data_dir / "ratings.tsv").write_text("u1\ti1\t1\n")  # the same file in the datasets volume
        assert (await submit(client)).status_code == 202


async def test_a_job_publishing_its_candidate_cannot_be_cancelled(client) -> None:
    from service.dependencies import AppState

    job = (await submit(client)).json()
    state: AppState = client._transport.app.state.steadyrec  # type: ignore[attr-defined]
    assert state.jobs.transition(job["id"], "publishing", {"queued"})
    response = await client.delete(f"/jobs/{job['id']}", headers=auth())
    assert response.status_code == 409 and "too late to cancel" in response.json()["detail"]


async def test_a_job_gets_the_servers_time_limit_unless_it_asks_for_less(client) -> None:
    default = (await submit(client)).json()
    assert default["time_limit_s"] == 6 * 3600.0
    assert (await submit(client, time_limit_s=60)).json()["time_limit_s"] == 60.0
