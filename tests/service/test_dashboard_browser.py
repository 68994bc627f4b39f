"""The dashboard in a real headless Chromium (Debian's, driven through chromedriver) against the real
service over HTTP: sign in, every page's key elements, a promote through the page (its confirmation
accepted) that changes the live alias, and a screenshot of each page.

``STEADYREC_SCREENSHOTS=docs/dashboard`` also writes the screenshots there (the ones the README shows)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from steadyrec.core.registry import RegistryStore
from steadyrec.testing.harness import running_server
from tests.service.conftest import TOKEN, auth
from tests.service.test_canary import SMALL, register_variant
from tests.service.test_canary_report import CHROMIUM_FLAGS
from tests.service.test_dashboard import store_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def browser() -> Iterator[object]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_binary = shutil.which("chromedriver")
    if binary is None or driver_binary is None:
        pytest.skip("chromium and chromedriver are not installed (scripts/test.sh installs the Debian packages)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1000")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_binary))
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver, name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.png"
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(int(height) + 40, 600), 2400))
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    target = os.environ.get("STEADYREC_SCREENSHOTS")
    if target:
        Path(ROOT / target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, ROOT / target / f"{name}.png")


def test_every_page_renders_in_chromium_and_a_promote_through_the_page_changes_live(
    browser, world, settings, tmp_path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    register_variant(world, settings, "v3", shuffle_items=False)
    register_variant(world, settings, "v4", shuffle_items=True)
    timings = {"read_events": 0.1, "finetune": 4.2, "export": 0.3, "canary": 0.6}
    store_job(settings, "c" * 32, "succeeded", timings=timings, result={"candidate_version": "v3"}, schedule="nightly")
    progress = {"epoch": 3, "epochs": 10, "next_item_loss": 4.8123, "regulariser": 0.2391}
    store_job(settings, "d" * 32, "running", progress=progress, timings={"load": 0.4}, schedule="nightly")
    replays = ROOT / "benchmarks" / "loop" / "results"
    with running_server(settings.model_copy(update={"replay_results": replays})) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            for version in ("v3", "v4"):
                verdict = client.post(f"/models/{version}/canary", json={"policy": SMALL}, headers=auth()).json()
                assert verdict["passed"] is (version == "v3")
            for n in range(20):  # served lists, then the users' next events: v1's online hit rate
                answer = client.post("/recommend", json={"user_id": f"u{n}", "k": 10}).json()
                item = answer["items"][0]["item"] if n % 2 == 0 else "i0"
                event = {"user": f"u{n}", "item": item, "timestamp": time.time()}
                assert client.post("/events", json={"events": [event]}, headers=auth()).status_code == 200
            body = {"name": "nightly", "job": {"method": "finest"}, "trigger": {"daily_at": "03:00"}}
            assert client.post("/schedules", json=body, headers=auth()).status_code == 201

        driver.get(f"{url}/ui/models")
        assert driver.current_url.startswith(f"{url}/ui/login")
        _shot(driver, "login", tmp_path)
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.ID, "sign-in").click()
        WebDriverWait(driver, 20).until(lambda d: d.current_url == f"{url}/ui/models")
        rows = {r.get_attribute("data-version"): r for r in driver.find_elements(By.CSS_SELECTOR, "tr.model")}
        assert set(rows) == {"v1", "v2", "v3", "v4"}
        assert driver.find_element(By.ID, "live").text == "v1"
        assert "passed" in rows["v3"].text and "failed" in rows["v4"].text
        _shot(driver, "models", tmp_path)

        rows["v3"].find_element(By.CSS_SELECTOR, "button.promote").click()
        alert = driver.switch_to.alert
        assert alert.text == "Make v3 live?"
        alert.accept()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "flash"))
        assert "v3 is live" in driver.find_element(By.ID, "flash").text
        assert driver.find_element(By.ID, "live").text == "v3"
        assert RegistryStore(settings.models_dir).aliases()["live"] == "v3"

        driver.get(f"{url}/ui/loop")
        job = driver.find_element(By.ID, "job-" + "c" * 32)
        assert "succeeded" in job.text and "finetune 4.2" in job.text and "canary passed" in job.text
        running = driver.find_element(By.ID, "job-" + "d" * 32)
        assert "running" in running.text and "epoch 3/10" in running.text and "next_item_loss 4.8123" in running.text
        assert "nightly" in driver.find_element(By.ID, "schedules").text
        _shot(driver, "loop", tmp_path)

        driver.get(f"{url}/ui/trends")
        figures = driver.find_elements(By.CSS_SELECTOR, "figure.chart")
        assert len(figures) == 2 + 2 * len(list(replays.glob("daily-replay-*.json")))
        hit_rate = driver.find_element(By.CSS_SELECTOR, "#versions-chart figure.chart")
        assert hit_rate.find_elements(By.CSS_SELECTOR, "circle.point")  # v1's online hit rate is plotted
        _shot(driver, "trends", tmp_path)

        driver.get(f"{url}/ui/models/v4/report")
        assert "FAILS" in driver.find_element(By.ID, "verdict").text
        assert driver.find_elements(By.CSS_SELECTOR, "#failures li")
        assert len(driver.find_elements(By.CSS_SELECTOR, "svg.hist line.threshold")) == 9
        _shot(driver, "report", tmp_path)
