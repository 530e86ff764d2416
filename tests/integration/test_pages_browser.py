"""The donor page in a real headless Chromium: the right amounts, and a flow chart that is really drawn."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import FUNDTRAIL
from tests.web_fixtures import served_ledger

CHROMIUM = "/usr/bin/chromium"
# Quiet, sandbox-free flags for a root session on a machine without a network (see the machine notes).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        message = "Debian's chromium is not installed (make test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    store = f"sqlite:///{tmp_path / 'pages.db'}"
    served = served_ledger(store)
    token = served.tokens["auditor"]
    served.stores.close()
    port = free_port()
    process = subprocess.Popen(
        [FUNDTRAIL, "serve", "--port", str(port)],
        env=dict(os.environ, FUNDTRAIL_STORE=store),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/openapi.json", timeout=1)  # noqa: S310 - our own loopback server
            break
        except OSError:
            time.sleep(0.1)
    yield base, token
    process.terminate()
    process.wait(timeout=10)


def test_the_donor_page_shows_the_trail_and_draws_the_flow_chart(server: tuple[str, str], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    base, token = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        context.add_cookies([{"name": "fundtrail_token", "value": token, "url": base}])
        page = context.new_page()
        page.goto(f"{base}/pages/donors/D2?lang=en")
        page.wait_for_selector("#flow canvas")
        text = page.inner_text("main")
        for amount in ("3000.00", "1200.00", "1000.00", "800.00"):
            assert amount in text
        painted = page.evaluate(
            """() => { const canvas = document.querySelector('#flow canvas');
                       const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                       let painted = 0;
                       for (let alpha = 3; alpha < pixels.length; alpha += 4) { if (pixels[alpha] > 0) painted++; }
                       return painted; }"""
        )
        screenshot = Path(os.environ.get("FUNDTRAIL_SCREENSHOTS", tmp_path)) / "donor-page.png"
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert painted > 5_000, f"the flow chart painted only {painted} pixels"
    assert screenshot.stat().st_size > 20_000
