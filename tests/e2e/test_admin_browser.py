"""The admin console in a real browser at phone width, in both languages: each page signed in
as an admin (the operations pages too: DNS and DKIM, sign-in applications, the status page's
mail queue), with a screenshot in ``test-output/browser/`` and nothing wider than the screen."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page

from identity.roles import Role
from mailstack.publish import dnsrecords
from mailstack.settings import Settings
from provisioning.composition import Composition
from provisioning.operations import dns
from provisioning.people.staff import StaffService
from tests.browser import PHONE
from tests.dnsserver import serving
from tests.support import NewAccount, use_case
from tests.web import STAFF_PASSWORD

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
# The operations pages' headings and texts they show, as the browser's language shows them.
OPS_TEXTS = {
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
# Each page's heading, as the browser's language shows it.
HEADINGS = {
    "en": ("Stack status", "Staff", "Audit trail"),
    "zh-CN": ("系统状态", "工作人员", "审计记录"),
}
# The data pages' headings: roster, API tokens, legacy mailboxes.
DATA_HEADINGS = {
    "en": ("Roster", "API tokens", "Legacy mailboxes"),
    "zh-CN": ("校友名册", "API 令牌", "旧邮箱"),
}


@pytest.fixture(scope="module")
def admin(live_stack: Settings) -> str:
    uid = f"browser.admin.{secrets.token_hex(2)}"
    with use_case(StaffService, live_stack) as service:
        service.add(uid, "Browser Admin", Role.ADMIN, STAFF_PASSWORD)
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


def sign_in(page: Page, settings: Settings, admin: str) -> str:
    """Sign ``admin`` in; the page's language (the context's locale)."""
    page.goto(f"{settings.public_url}/login")
    page.fill("#login", admin)
    page.fill("#password", STAFF_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()
    return str(page.evaluate("navigator.language"))


def test_admin_pages_at_phone_width(
    live_stack: Settings, admin: str, new_account: NewAccount, page: Page
) -> None:
    account, _ = new_account(name="Gao Yuan")
    lang = sign_in(page, live_stack, admin)
    status, staff, audit = HEADINGS[lang]
    page.goto(f"{live_stack.public_url}/admin")
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator("h1").inner_text() == status
    shot(page, f"{lang}-status")
    page.goto(f"{live_stack.public_url}/admin/accounts?q=Gao+Yuan")
    shot(page, f"{lang}-accounts")
    page.goto(f"{live_stack.public_url}/admin/accounts/new")
    shot(page, f"{lang}-new-account")
    page.goto(f"{live_stack.public_url}/admin/accounts/{account.uid}")
    shot(page, f"{lang}-account")
    page.click(f"form[action='/admin/accounts/{account.uid}/suspend'] button")
    page.wait_for_load_state()
    assert page.locator("input[name=confirmed]").count() == 1
    shot(page, f"{lang}-confirm-suspend")
    page.goto(f"{live_stack.public_url}/admin/staff")
    assert page.locator("h1").inner_text() == staff
    shot(page, f"{lang}-staff")
    page.goto(f"{live_stack.public_url}/admin/audit?target={account.uid}")
    assert page.locator("h1").inner_text() == audit
    shot(page, f"{lang}-audit")


def test_admin_data_pages_at_phone_width(
    live_stack: Settings, admin: str, new_account: NewAccount, page: Page
) -> None:
    """The roster with an upload's report (a refused row among them), the tokens with one just
    issued, the legacy holders with one just recorded, and a revocation's question."""
    account, _ = new_account(name="Qian Hui")
    lang = sign_in(page, live_stack, admin)
    roster_heading, tokens_heading, legacy_heading = DATA_HEADINGS[lang]
    number = f"S{secrets.randbelow(10**9):09d}"
    page.goto(f"{live_stack.public_url}/admin/roster")
    assert page.locator("h1").inner_text() == roster_heading
    content = (
        "student_number,name,birth_date,graduation_year,legacy_address\n"
        f"{number},欧阳娜娜,1993-05-17,,nana.ouyang.a.long.legacy.address@old-alumni.example.edu\n"
        f"{number}X,Bad Date,1993-02-30,,\n"
    )
    upload: FilePayload = {
        "name": "roster-with-a-rather-long-file-name-from-the-registry.csv",
        "mimeType": "text/csv",
        "buffer": content.encode(),
    }
    page.set_input_files("#file", files=[upload])
    page.check("input[name=dry_run]")
    page.click("form[action='/admin/roster'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#report tbody tr").count() == 2
    shot(page, f"{lang}-roster-report")

    page.goto(f"{live_stack.public_url}/admin/tokens")
    assert page.locator("h1").inner_text() == tokens_heading
    page.select_option("#uid", admin)
    page.fill("#label", "nightly export of the alumni accounts to the registry")
    page.click("form[action='/admin/tokens'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#issued-token").inner_text().startswith("alm_")
    shot(page, f"{lang}-tokens")
    page.locator("form[action$='/revoke'] button").first.click()
    page.wait_for_load_state()
    assert page.locator("input[name=confirmed]").count() == 1
    shot(page, f"{lang}-confirm-revoke")

    page.goto(f"{live_stack.public_url}/admin/legacy")
    assert page.locator("h1").inner_text() == legacy_heading
    page.fill("#uid", account.uid)
    page.fill("#address", f"{account.uid}.with.a.long.name@old-alumni.example.edu")
    page.click("form[action='/admin/legacy'] button[type=submit]")
    page.wait_for_load_state()
    assert account.uid in page.locator("#holders").inner_text()
    shot(page, f"{lang}-legacy")


def test_operations_pages_at_phone_width(live_stack: Settings, admin: str, page: Page) -> None:
    lang = sign_in(page, live_stack, admin)
    texts = OPS_TEXTS[lang]
    url = live_stack.public_url

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
