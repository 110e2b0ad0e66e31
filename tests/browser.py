"""Debian's Chromium, headless, driven by Playwright through ``executable_path`` (no browser is
ever downloaded). The end-to-end tests get one per module (the ``browser`` fixture in
tests/e2e/conftest.py); the benchmarks launch their own."""

from __future__ import annotations

from playwright.sync_api import Browser, Playwright, ViewportSize

from tests.support import which

PHONE: ViewportSize = {"width": 390, "height": 844}


def chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=which("chromium"),
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )
