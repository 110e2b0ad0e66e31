"""Rough edges of the web faces, in Debian's Chromium: at a phone's width the client settings
page shows every row's security (SSL/TLS or STARTTLS) inside the screen; ``/docs`` lists the
API's operations under the site's own CSP. Screenshots go to ``test-output/edges/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Response
from playwright.sync_api import Error as PlaywrightError

from mailstack.settings import Settings
from tests.browser import PHONE
from tests.support import NewAccount

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "edges"


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_client_settings_show_each_rows_security_on_a_phone(
    live_stack: Settings, new_account: NewAccount, browser: Browser, locale: str
) -> None:
    account, password = new_account()
    context = browser.new_context(viewport=PHONE, is_mobile=True, locale=locale)
    try:
        page = context.new_page()
        page.goto(f"{live_stack.public_url}/login")
        page.fill("#login", account.uid)
        page.fill("#password", password)
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{live_stack.public_url}/account/clients")
        cells = page.locator("table.clients td.security")
        assert cells.count() == 6
        for index in range(cells.count()):
            cell = cells.nth(index)
            assert cell.inner_text().strip() in ("SSL/TLS", "STARTTLS")
            assert cell.is_visible()
            box = cell.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
            # Nothing of its text cut off inside the cell either.
            assert cell.evaluate("c => c.scrollWidth <= c.clientWidth")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"clients-{locale}-phone.png"), full_page=True)
    finally:
        context.close()


def test_the_api_docs_list_the_operations_under_the_sites_csp(
    live_stack: Settings, browser: Browser
) -> None:
    context = browser.new_context()
    console: list[str] = []
    refused: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("requestfailed", lambda request: refused.append(request.url))

        def answered(response: Response) -> None:
            if response.status >= 400:
                refused.append(f"{response.status} {response.url}")

        page.on("response", answered)
        answer = page.goto(f"{live_stack.public_url}/docs")
        assert answer is not None and answer.status == 200
        assert "script-src 'self';" in answer.headers["content-security-policy"]
        listed = page.locator(".opblock-summary-path", has_text="/api/v1/accounts").first
        try:
            listed.wait_for(timeout=15_000)
        except PlaywrightError as error:
            raise AssertionError(f"nothing listed: {console} {refused}") from error
        assert page.locator(".opblock").count() >= 10  # the operations, each a block
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "docs-desktop.png"))
    finally:
        context.close()
    violations = [line for line in console if "Content Security Policy" in line]
    assert not violations, violations
    assert not refused, refused  # nothing fetched from elsewhere, nothing blocked
