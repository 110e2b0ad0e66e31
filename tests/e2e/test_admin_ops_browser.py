"""The admin console's operations pages (DNS and DKIM, sign-in applications, the status page's
mail queue) in a real browser at phone width, in both languages: screenshots in
``test-output/browser/`` as ``admin-<language>-<page>.png`` and nothing wider than the screen."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from identity.roles import Role
from mailstack.publish import dnsrecords
from mailstack.settings import Settings
from provisioning.composition import Composition
from provisioning.operations import dns
from provisioning.people.staff import StaffService
from tests.browser import PHONE
from tests.dnsserver import serving
from tests.support import use_case
from tests.web import STAFF_PASSWORD

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
# Each page's heading and texts it shows, as the browser's language shows them.
TEXTS = {
    "en": {
        "dns": "DNS and DKIM",
        "clients": "Sign-in applications",
        "queue": "on hold:",
        "checked": "records checked, 0 differ.",
        "ok": "as published",
    },
    "zh-CN": {
        "dns": "DNS 与 DKIM",
        "clients": "登录应用",
        "queue": "挂起：",
        "checked": "其中 0 条不一致。",
        "ok": "与应发布的一致",
    },
}


@pytest.fixture(scope="module")
def admin(live_stack: Settings) -> str:
    uid = f"ops.browser.{secrets.token_hex(2)}"
    with use_case(StaffService, live_stack) as service:
        service.add(uid, "Ops Browser Admin", Role.ADMIN, STAFF_PASSWORD)
    return uid


@pytest.fixture(params=["en", "zh-CN"])
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, locale=request.param)
    tab = context.new_page()
    yield tab
    context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: page is {width}px wide on a {PHONE['width']}px screen"


def test_operations_pages_at_phone_width(live_stack: Settings, admin: str, page: Page) -> None:
    lang = page.evaluate("navigator.language")  # the context's locale
    texts = TEXTS[lang]
    url = live_stack.public_url
    page.goto(f"{url}/login")
    page.fill("#login", admin)
    page.fill("#password", STAFF_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{url}/admin")
    assert texts["queue"] in page.locator("#queue-hold").inner_text()
    shot(page, f"{lang}-status-queue")

    page.goto(f"{url}/admin/dns")
    assert page.locator("h1").inner_text() == texts["dns"]
    assert page.locator("#dkim-selector code").count() == 1
    shot(page, f"{lang}-dns")
    with Composition(live_stack) as root:
        records = dns.expected_records(live_stack, root.signing_keys())
    with serving(dnsrecords.zone(records, live_stack.domain), live_stack.domain) as port:
        page.fill("#nameserver", "127.0.0.1")
        page.fill("#port", str(port))
        page.click("form[action='/admin/dns/check'] button[type=submit]")
        page.wait_for_load_state()
    assert texts["checked"] in page.locator("#check-summary").inner_text()
    assert page.locator("td.state-ok").count() == len(records)
    assert page.locator("td.state-ok").first.inner_text() == texts["ok"]
    shot(page, f"{lang}-dns-checked")

    page.goto(f"{url}/admin/clients")
    assert page.locator("h1").inner_text() == texts["clients"]
    name = f"Career Centre {lang}"
    page.fill("#name", name)
    page.fill("#redirect_uris", "https://careers.example.org/oidc/callback")
    page.check("input[name=scopes][value=profile]")
    page.click("form[action='/admin/clients'] button[type=submit]")
    page.wait_for_load_state()
    assert len(page.locator("#client-secret").inner_text()) >= 32
    shot(page, f"{lang}-clients")
    client_id = page.locator("#shown-client-id").inner_text()
    page.click(f"form[action='/admin/clients/{client_id}/remove'] button")
    page.wait_for_load_state()
    assert page.locator("input[name=confirmed]").count() == 1
    shot(page, f"{lang}-confirm-remove-client")
    page.click("button.danger")
    page.wait_for_load_state()
    assert page.locator(f"form[action='/admin/clients/{client_id}/remove']").count() == 0
