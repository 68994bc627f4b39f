"""The operator's dashboard (/ui): sign-in, actions with their checks, what each page shows, and page times
with 100 versions and 1,000 jobs. The browser run is in test_dashboard_browser.py."""

from __future__ import annotations

import json
import re
import shutil
import time
from urllib.parse import quote

import pytest

from service.dashboard.charts import Marker, histogram, line_chart
from steadyrec.core.jobs import JobRecord, SQLiteJobStore
from steadyrec.core.registry import RegistryStore
from tests.service.conftest import TOKEN, auth, serving
from tests.service.test_canary import SMALL, register_variant

pytestmark = pytest.mark.anyio


async def sign_in(client) -> None:
    response = await client.post(
        "/ui/login",
        content=f"token={TOKEN}&next=/ui/models",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/ui/models"


def store_job(settings, job_id: str, state: str, **fields) -> None:
    """A finetune job of v1 in the service's job store, as a worker would have left it."""
    jobs = SQLiteJobStore(settings.state_dir / "jobs.sqlite")
    jobs.create(JobRecord(id=job_id, state=state, method="finest", base_version="v1", **fields))


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, page[:2000]
    return found.group(1)


async def test_pages_send_a_stranger_to_the_sign_in_unless_the_dashboard_is_open(client, settings) -> None:
    for path in ("/ui/models", "/ui/loop", "/ui/trends"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login?next=" + quote(path, safe="")
    async with serving(settings.model_copy(update={"dashboard_open": True})) as open_client:
        assert (await open_client.get("/ui/models")).status_code == 200
        assert 'id="rollback"' not in (await open_client.get("/ui/models")).text  # nothing live before v1
        promote = await open_client.post("/ui/models/v2/promote", content="csrf=x", headers=FORM)
        assert promote.status_code == 303 and promote.headers["location"].startswith("/ui/login")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_signing_in_sets_an_httponly_strict_cookie_and_a_wrong_token_is_refused(client) -> None:
    wrong = await client.post("/ui/login", content="token=nope&next=/ui/loop", headers=FORM)
    assert (
        wrong.status_code == 401
        and "wrong token" in wrong.text
        and "steadyrec_ui" not in wrong.headers.get("set-cookie", "")
    )
    right = await client.post("/ui/login", content=f"token={TOKEN}&next=/ui/loop", headers=FORM)
    cookie = right.headers["set-cookie"]
    assert right.status_code == 303 and right.headers["location"] == "/ui/loop"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert TOKEN not in cookie  # an HMAC of the token, never the token
    outside = await client.post("/ui/login", content=f"token={TOKEN}&next=https://evil.example/", headers=FORM)
    assert outside.headers["location"] == "/ui/models"  # no open redirect
    not_a_form = await client.post("/ui/login", json={"token": TOKEN})
    assert not_a_form.status_code == 422 and "expected a form" in not_a_form.text


async def test_a_promote_without_the_pages_form_token_changes_nothing(client, settings) -> None:
    await sign_in(client)
    response = await client.post("/ui/models/v2/promote", content="csrf=forged", headers=FORM)
    assert response.status_code == 303 and "error=1" in response.headers["location"]
    assert RegistryStore(settings.models_dir).aliases()["live"] == "v1"


async def test_a_promote_without_a_passed_canary_is_refused_with_the_apis_reason(client, settings) -> None:
    await sign_in(client)
    token = csrf((await client.get("/ui/models")).text)
    response = await client.post("/ui/models/v2/promote", content=f"csrf={token}", headers=FORM)
    page = await client.get(response.headers["location"])
    assert "not promoted: cannot promote &#39;v2&#39;: no canary verdict" in page.text
    assert RegistryStore(settings.models_dir).aliases()["live"] == "v1"


async def test_a_promote_and_a_rollback_from_the_page_move_live(client, world, settings) -> None:
    register_variant(world, settings, "same", shuffle_items=False)
    assert (await client.post("/models/same/canary", json={"policy": SMALL}, headers=auth())).json()["passed"]
    await sign_in(client)
    token = csrf((await client.get("/ui/models")).text)
    promoted = await client.post("/ui/models/same/promote", content=f"csrf={token}", headers=FORM)
    assert "same+is+live" in promoted.headers["location"]
    assert RegistryStore(settings.models_dir).aliases()["live"] == "same"
    page = (await client.get("/ui/models")).text
    assert 'id="rollback"' in page and "Roll back to v1" in page
    await client.post("/ui/rollback", content=f"csrf={token}", headers=FORM)
    assert RegistryStore(settings.models_dir).aliases()["live"] == "v1"


async def test_the_report_lists_failed_conditions_first_with_rounded_figures_and_thresholds(
    client, world, settings
) -> None:
    register_variant(world, settings, "shuffled", shuffle_items=True)
    await client.post("/models/shuffled/canary", json={"policy": SMALL}, headers=auth())
    await sign_in(client)
    page = (await client.get("/ui/models/shuffled/report")).text
    assert page.index('id="failures"') < page.index("Rank-list agreement") < page.index('id="policy"')
    assert page.count('class="hist"') == 6 and page.count('class="bar"') == 60
    # per group: RBO's min mean and min p10, Jaccard's min mean
    assert page.count('<line class="threshold"') == 9
    assert "min mean 0.80" in page and "min p10 0.50" in page and "min mean 0.60" in page
    tables = "".join(re.findall(r"<table.*?</table>", page, re.S))
    assert not re.search(r"\d\.\d{5,}", tables)  # figures rounded for reading
    standalone = (await client.get("/models/shuffled/canary?format=html")).text
    assert "<style>" in standalone and "/ui/static" not in standalone  # renders anywhere, offline


async def test_the_loop_page_shows_schedules_jobs_progress_and_timings(client, settings) -> None:
    progress = {"epoch": 1, "epochs": 2, "next_item_loss": 1.234567, "regulariser": 0.5}
    store_job(settings, "a" * 32, "running", progress=progress, created_at=2.0)
    timings = {"finetune": 12.34, "canary": 0.5}
    store_job(settings, "b" * 32, "succeeded", timings=timings, result={"candidate_version": "v2"}, created_at=1.0)
    body = {"name": "nightly", "job": {"method": "finest"}, "trigger": {"daily_at": "03:00"}}
    assert (await client.post("/schedules", json=body, headers=auth())).status_code == 201
    await sign_in(client)
    page = (await client.get("/ui/loop")).text
    assert '<meta http-equiv="refresh" content="5">' in page  # a job is running
    assert "epoch 1/2" in page and "next_item_loss 1.2346" in page and "regulariser 0.5000" in page
    assert "finetune 12.3 · canary 0.5" in page
    assert 'id="schedules"' in page and "nightly" in page and "daily_at 03:00" in page and "not run yet" in page
    assert page.index("a" * 8) < page.index("b" * 8)  # newest first


async def test_the_trends_page_plots_versions_and_daily_replays(client, settings, tmp_path) -> None:
    await sign_in(client)
    page = (await client.get("/ui/trends")).text
    assert page.count('class="chart"') == 2 and "STEADYREC_REPLAY_RESULTS" in page
    rows = [
        {"dataset": "toy", "policy": policy, "day": day, "ndcg@10": 0.1 + 0.01 * day, "rbo": 0.9}
        for policy in ("frozen", "finest")
        for day in range(3)
    ] + [{"dataset": "toy", "policy": "finest", "day": "mean", "ndcg@10": 0.11, "rbo": 0.9}]
    (tmp_path / "replays").mkdir()
    (tmp_path / "replays" / "daily-replay-toy.json").write_text(
        json.dumps({"benchmark": "daily-replay", "date": "2026-12-01T00:00:00+00:00", "command": "cmd", "rows": rows})
    )
    async with serving(settings.model_copy(update={"replay_results": tmp_path / "replays"})) as replays:
        await sign_in(replays)
        page = (await replays.get("/ui/trends")).text
    assert 'class="replay"' in page and page.count("<polyline") == 4  # 2 policies x (NDCG, RBO)
    assert "day 0" in page and "day 2" in page and "day mean" not in page


def test_a_line_chart_leaves_a_gap_for_missing_values_and_a_histogram_draws_its_markers() -> None:
    chart = line_chart("t", {"a": [0.0, None, 0.5, 1.0]}, ["v1", "v2", "v3", "v4"], width=144, height=52)
    # inside 72 x 16 px from (44, 12): x = 44 + 72 * i / 3, y = 12 + 16 * (1 - v); the gap splits the line
    assert chart.count("<circle") == 3 and chart.count("<polyline") == 1
    assert 'cx="44.0" cy="28.0"' in chart and 'points="92.0,20.0 116.0,12.0"' in chart
    svg = histogram("h", [1, 0, 0, 0, 0, 0, 0, 0, 0, 3], [Marker(0.5, "min 0.50", True), Marker(0.25, "mean", False)])
    assert '<line class="threshold" x1="144.0"' in svg  # 4 + 0.5 * 28 * 10
    assert '<line class="figure" x1="74.0"' in svg
    assert svg.count('class="bar"') == 10


async def test_pages_answer_within_300_ms_with_100_versions_and_1000_jobs(world, settings) -> None:
    store = RegistryStore(settings.models_dir)
    source = settings.models_dir / "versions" / "v1"
    for i in range(98):
        build = settings.models_dir.parent / f"copy{i}"
        shutil.copytree(source, build)
        store.register(build, f"m{i:03d}")
    for i in range(1000):
        store_job(settings, f"{i:032x}", "succeeded", timings={"finetune": 1.0}, created_at=float(i))
    async with serving(settings) as client:
        await sign_in(client)
        for path in ("/ui/models", "/ui/models?page=4", "/ui/loop", "/ui/loop?page=20", "/ui/trends"):
            await client.get(path)  # templates compiled, files cached
            times = []
            for _ in range(3):
                started = time.perf_counter()
                response = await client.get(path)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
            assert sorted(times)[1] < 0.3, (path, times)
        assert "100 versions" in (await client.get("/ui/models")).text
        assert "1000 jobs" in (await client.get("/ui/loop")).text
