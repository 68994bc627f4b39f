"""The HTML canary report, rendered by a real headless Chromium."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.service.conftest import auth
from tests.service.test_canary import SMALL, register_variant

pytestmark = pytest.mark.anyio

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium is not installed (scripts/test.sh installs the Debian package)")
    return binary


@pytest.mark.parametrize(("shuffle", "word"), [(False, "PASSES"), (True, "FAILS")])
async def test_report_renders_verdict_and_plots_in_chromium(client, world, settings, tmp_path, shuffle, word) -> None:
    binary = chromium()
    register_variant(world, settings, "reported", shuffle_items=shuffle)
    response = await client.post("/models/reported/canary", json={"policy": SMALL}, headers=auth())
    assert response.status_code == 200
    page = await client.get("/models/reported/canary", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = tmp_path / "report.html"
    html.write_text(page.text)
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [binary, *CHROMIUM_FLAGS, *profile, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert word in dom
    assert dom.count('class="hist"') == 6  # RBO and Jaccard for all, short and long histories
    assert dom.count('class="bar"') == 60
    shot = tmp_path / "report.png"
    subprocess.run(
        [binary, *CHROMIUM_FLAGS, *profile, f"--screenshot={shot}", "--window-size=1280,1400", html.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
