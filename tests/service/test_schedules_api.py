"""POST / GET / DELETE /schedules: declared once, checked like a job, listed with the next run."""

from __future__ import annotations

import time

import pytest

from tests.service.conftest import auth

pytestmark = pytest.mark.anyio

DAILY = {"name": "daily-finest", "job": {"method": "finest", "run_canary": True}, "trigger": {"daily_at": "03:00"}}


async def test_a_schedule_is_declared_listed_and_deleted(client) -> None:
    response = await client.post("/schedules", json=DAILY, headers=auth())
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "daily-finest" and created["trigger"]["daily_at"] == "03:00"
    assert time.time() < created["next_run"]["at"] <= time.time() + 86_400
    assert created["last"] == {"slot": None, "job_id": None, "at": None, "state": None, "error": None}
    listed = (await client.get("/schedules", headers=auth())).json()["schedules"]
    assert [s["name"] for s in listed] == ["daily-finest"]
    again = await client.post("/schedules", json=DAILY, headers=auth())
    assert again.status_code == 409 and "exists" in again.json()["detail"]
    assert (await client.delete("/schedules/daily-finest", headers=auth())).status_code == 200
    assert (await client.get("/schedules", headers=auth())).json()["schedules"] == []
    assert (await client.delete("/schedules/daily-finest", headers=auth())).status_code == 404


async def test_after_events_counts_from_the_declaration(client) -> None:
    events = [{"user": "u1", "item": "i1", "timestamp": 1000.0 + i} for i in range(3)]
    assert (await client.post("/events", json={"events": events}, headers=auth())).status_code == 200
    body = {"name": "after-5", "job": {"method": "continue"}, "trigger": {"after_events": 5}}
    created = (await client.post("/schedules", json=body, headers=auth())).json()
    assert created["next_run"] == {"at": None, "events_to_go": 5}  # the 3 earlier events do not count
    more = [{"user": "u2", "item": "i1", "timestamp": 2000.0 + i} for i in range(2)]
    assert (await client.post("/events", json={"events": more}, headers=auth())).status_code == 200
    listed = (await client.get("/schedules", headers=auth())).json()["schedules"][0]
    assert listed["next_run"]["events_to_go"] == 3


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({**DAILY, "trigger": {}}, 422, "exactly one"),
        ({**DAILY, "trigger": {"daily_at": "3am"}}, 422, "daily_at"),
        ({**DAILY, "trigger": {"every_hours": 0}}, 422, "every_hours"),
        ({**DAILY, "name": "../x"}, 422, "name"),
        ({**DAILY, "job": {"method": "magic"}}, 422, "unknown method"),
        ({**DAILY, "job": {"method": "finest", "base": "v9"}}, 404, "no model version"),
        ({**DAILY, "job": {"method": "finest", "params": {"epochs": 10**8}}}, 422, "epochs"),
    ],
)
async def test_a_bad_schedule_is_refused_and_not_stored(client, body, status, message) -> None:
    response = await client.post("/schedules", json=body, headers=auth())
    assert response.status_code == status, response.text
    assert message in str(response.json()["detail"])
    assert (await client.get("/schedules", headers=auth())).json()["schedules"] == []


async def test_schedules_need_the_token(client) -> None:
    assert (await client.get("/schedules")).status_code == 401
    assert (await client.post("/schedules", json=DAILY)).status_code == 401
