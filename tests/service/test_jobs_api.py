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
        pytest.param({"method": "finest", "colour": "red"}, 422, "colour", id="unknown-field"),
        pytest.param({}, 422, "method", id="missing-method"),
    ],
)
async def test_invalid_jobs_are_refused_and_never_queued(client, body, status, message) -> None:
    response = await client.post("/jobs/finetune", json=body, headers=auth())
    assert response.status_code == status, response.text
    assert message in str(response.json()["detail"])
    assert (await client.get("/jobs", headers=auth())).json()["jobs"] == []


async def test_jobs_need_the_token(client) -> None:
    assert (await client.post("/jobs/finetune", json={"method": "finest"})).status_code == 401
    assert (await client.get("/jobs")).status_code == 401


async def test_unknown_job_is_404(client) -> None:
    response = await client.get("/jobs/nope", headers=auth())
    assert response.status_code == 404 and "no job 'nope'" in response.json()["detail"]
