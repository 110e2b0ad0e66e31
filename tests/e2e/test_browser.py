"""The portal in a real browser: Debian's Chromium, headless, driven by Playwright through
``executable_path`` (no browser is downloaded). Phone-sized viewport; a screenshot of each page
goes to ``test-output/browser/``. The core flows are also run with JavaScript off."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from identity.roles import Role
from mailstack.settings import Settings
from provisioning.people.staff import StaffService
from tests import mail
from tests.browser import PHONE
from tests.support import NewAccount, use_case
from tests.web import PASSWORD, graduate, link, mail_to

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
# Each tab's screenshot prefix: its test and whether JavaScript runs ("...-no-js").
SHOT_PREFIX: dict[Page, str] = {}


@pytest.fixture(params=["js", "no-js"])
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport=PHONE, java_script_enabled=request.param == "js", is_mobile=True
    )
    tab = context.new_page()
    SHOT_PREFIX[tab] = f"{request.node.originalname}-{request.param}"
    yield tab
    del SHOT_PREFIX[tab]
    context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{SHOT_PREFIX[page]}-{name}.png"), full_page=True)
    # Usable on a phone: nothing wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth") if _js(page) else PHONE["width"]
    assert width <= PHONE["width"], f"{name}: page is {width}px wide on a {PHONE['width']}px screen"


def _js(page: Page) -> bool:
    return not SHOT_PREFIX[page].endswith("no-js")


def test_registration_to_first_imap_login(live_stack: Settings, tmp_path: Path, page: Page) -> None:
    number = graduate(live_stack, tmp_path, name="Wu Xiaoming", birth_date="1992-11-30")
    uid = f"wu.{secrets.token_hex(2)}"
    page.goto(f"{live_stack.public_url}/")
    shot(page, "home")
    page.click("text=Register your jAccount")
    page.fill("#student_number", number)
    page.fill("#name", "Wu Xiaoming")
    page.fill("#birth_date", "1992-11-30")
    page.fill("#uid", uid)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.fill("#recovery_email", f"{uid}@home.example.org")
    if _js(page):
        # Live feedback: availability and the password rules met.
        page.wait_for_selector(f"text={uid} is available")
        assert page.locator("#policy li.met").count() == 4
    shot(page, "register-filled")
    page.click("button[type=submit]:has-text('Register')")
    page.wait_for_selector("text=Check your mail")
    shot(page, "register-sent")
    url = link(
        mail_to(live_stack, f"{uid}@home.example.org", "Confirm your alumni"), "/register/confirm"
    )
    page.goto(url)
    shot(page, "register-confirm")
    page.click("text=Create my jAccount")
    page.wait_for_selector(f"text={uid}@{live_stack.domain}")
    shot(page, "register-done")
    assert page.locator("table.clients td", has_text=str(live_stack.ports.imaps)).count() == 1
    assert mail.imap_login_ok(live_stack, uid, PASSWORD)


def sign_in(page: Page, settings: Settings, login: str, password: str) -> None:
    page.goto(f"{settings.public_url}/login")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("button[type=submit]:has-text('Sign in')")


def test_forgotten_password_reset(
    live_stack: Settings, new_account: NewAccount, page: Page
) -> None:
    address = f"reset.{secrets.token_hex(2)}@home.example.org"
    account, password = new_account(recovery_email=address)
    page.goto(f"{live_stack.public_url}/login")
    page.click("text=Forgot your password?")
    page.fill("#login", account.mail)
    shot(page, "forgot")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Check your recovery mailbox")
    page.goto(link(mail_to(live_stack, address, "Reset your"), "/reset"))
    page.fill("#password", "Browser-Reset-Pass-5")
    page.fill("#password_again", "Browser-Reset-Pass-5")
    shot(page, "reset")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Password changed")
    sign_in(page, live_stack, account.uid, "Browser-Reset-Pass-5")
    page.wait_for_url("**/account")
    shot(page, "account-after-reset")
    assert mail.imap_login_ok(live_stack, account.uid, "Browser-Reset-Pass-5")
    assert not mail.imap_login_ok(live_stack, account.uid, password)


@pytest.fixture(scope="module")
def helpdesk_member(live_stack: Settings) -> str:
    uid = f"browser.desk.{secrets.token_hex(2)}"
    with use_case(StaffService, live_stack) as service:
        service.add(uid, "Browser Desk", Role.HELPDESK, "Staff-Password-55")
    return uid


def test_helpdesk_reset_then_forced_change(
    live_stack: Settings,
    new_account: NewAccount,
    helpdesk_member: str,
    browser: Browser,
    page: Page,
) -> None:
    account, _ = new_account(name="Gao Yan")
    desk = browser.new_context(viewport=PHONE, java_script_enabled=_js(page)).new_page()
    SHOT_PREFIX[desk] = SHOT_PREFIX[page] + "-staff"
    sign_in(desk, live_stack, helpdesk_member, "Staff-Password-55")
    desk.wait_for_url("**/helpdesk")
    desk.fill("#q", "Gao Yan")
    desk.click("button:has-text('Search')")
    desk.click(f"a:has-text('{account.uid}')")
    shot(desk, "helpdesk-account")
    desk.click("button:has-text('Reset password')")
    shot(desk, "helpdesk-confirm-reset")  # asked first: a click alone changes nothing
    desk.click("button:has-text('Reset the password')")
    temporary = desk.inner_text("#temporary-password").strip()
    shot(desk, "helpdesk-reset")
    desk.context.close()

    sign_in(page, live_stack, account.uid, temporary)
    page.wait_for_url("**/account/password")
    assert page.locator("text=Your password was reset by the helpdesk").count() == 1
    shot(page, "forced-change")
    page.fill("#current", temporary)
    page.fill("#password", "Forced-Change-Pass-6")
    page.fill("#password_again", "Forced-Change-Pass-6")
    page.click("button[type=submit]:has-text('Change password')")
    page.wait_for_selector("text=Password changed")
    page.goto(f"{live_stack.public_url}/account")
    assert page.locator("h1", has_text="Gao Yan").count() == 1
    assert mail.imap_login_ok(live_stack, account.uid, "Forced-Change-Pass-6")


def test_profile_edit(live_stack: Settings, new_account: NewAccount, page: Page) -> None:
    account, password = new_account(name="Ma Jun")
    sign_in(page, live_stack, account.uid, password)
    page.wait_for_url("**/account")
    page.fill("#display_name", "马骏")
    page.fill("#phone", "+86 21 5474 2208")
    page.fill("#postal_address", "800 Dongchuan Road\nMinhang District, Shanghai")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Your details are saved")
    shot(page, "profile-saved")
    assert page.locator("h1", has_text="马骏").count() == 1
    page.fill("#phone", "not a number")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Telephone must be a telephone number")
    shot(page, "profile-invalid")
    page.click("text=Mail client settings")
    assert re.search(str(live_stack.ports.submission), page.inner_text("table.clients"))
    shot(page, "clients")
