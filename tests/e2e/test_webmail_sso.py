"""Webmail and single sign-on in a real browser (Debian's Chromium through Playwright, phone
viewport, a screenshot of each step in ``test-output/webmail/``): the portal's "Mailbox" link opens
the inbox with no second password prompt (Roundcube signs in through our provider and opens the
mailbox with the access token over XOAUTH2); a message composed there arrives; signing out of the
portal ends the webmail session, and signing out of the webmail ends the portal's; Roundcube's own
password login still works; a third-party application gets a consent page and loses its access
when the person revokes it at /account/apps."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page

from identity.accounts import AccountStatus
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from tests import mail
from tests.browser import PHONE
from tests.oidc import (  # noqa: F401 -- close_browsers: autouse
    CALLBACK,
    close_browsers,
    exchange,
    pkce,
    register,
)
from tests.oidc import browser as browser_of
from tests.support import NewAccount, wait_for

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "webmail"
INBOX = "**/?_task=mail*"


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, locale="en-US")
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    yield tab
    context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, settings: Settings, login: str, password: str) -> None:
    page.goto(f"{settings.public_url}/login")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url("**/account")


def open_mailbox(page: Page) -> None:
    """The portal's "Mailbox" link, to the rendered message list."""
    page.click("#mailbox-link")
    page.wait_for_url(INBOX)
    page.wait_for_selector("#messagelist", state="attached")


def test_the_mailbox_link_opens_the_inbox_without_a_second_prompt(
    live_stack: Settings, new_account: NewAccount, page: Page
) -> None:
    account, password = new_account()
    subject = f"Hello {account.uid}"
    with mail.inbound(live_stack) as smtp:
        smtp.send_message(mail.message("friend@elsewhere.example", account.mail, subject))
    assert wait_for(lambda: subject in mail.inbox_subjects(live_stack, account.uid, password))

    sign_in(page, live_stack, account.uid, password)
    shot(page, "portal-account")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.is_navigation_request() else None)
    open_mailbox(page)
    page.wait_for_selector(f"#messagelist >> text={subject}")
    shot(page, "inbox-after-mailbox-link")
    # Through the provider, and never to a page asking for a password.
    assert any("/oidc/authorize" in url for url in asked)
    assert not any(urlsplit(url).path == "/login" for url in asked)
    assert page.locator("#rcmloginpwd").count() == 0


def test_the_webmail_s_jaccount_button_signs_in_through_the_portal_s_form(
    live_stack: Settings, new_account: NewAccount, page: Page
) -> None:
    """Signed out everywhere: Roundcube's button, the portal's one sign-in form, and back to the
    inbox (the form's submission ends at the webmail: the page's CSP must name it)."""
    account, password = new_account()
    page.goto(f"{live_stack.webmail_url}/")
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "form-action" in m.text else None)
    page.click("a[href*='_action=oauth']")
    page.wait_for_url("**/login?next=**")
    shot(page, "portal-login-for-webmail")
    page.fill("#login", account.uid)
    page.fill("#password", password)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(INBOX)
    page.wait_for_selector("#messagelist", state="attached")
    assert blocked == []


def test_a_message_composed_in_the_webmail_arrives(
    live_stack: Settings, new_account: NewAccount, page: Page
) -> None:
    sender, password = new_account()
    to, to_password = new_account()
    subject = f"From the webmail {secrets.token_hex(3)}"
    sign_in(page, live_stack, sender.uid, password)
    open_mailbox(page)
    page.goto(f"{live_stack.webmail_url}/?_task=mail&_action=compose")
    page.wait_for_selector("#compose-subject")
    page.locator("#compose_to input.ui-autocomplete-input, #_to").first.fill(to.mail)
    page.fill("#compose-subject", subject)
    page.fill("#composebody", "Sent with a token, no password.")
    shot(page, "compose")
    page.locator("button.send:visible, a.send:visible").first.click()
    page.wait_for_url(INBOX)
    assert wait_for(lambda: subject in mail.inbox_subjects(live_stack, to.uid, to_password), 30)


def test_signing_out_of_the_portal_ends_the_webmail_session(
    live_stack: Settings, new_account: NewAccount, page: Page
) -> None:
    account, password = new_account()
    sign_in(page, live_stack, account.uid, password)
    open_mailbox(page)
    page.goto(f"{live_stack.public_url}/account")
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{live_stack.public_url}/")
    page.goto(f"{live_stack.webmail_url}/?_task=mail")
    page.wait_for_selector("#rcmloginuser")  # Roundcube's login form: asked to sign in again
    shot(page, "webmail-after-portal-logout")
    assert page.locator("#messagelist").count() == 0


def test_signing_out_of_the_webmail_ends_the_portal_session(
    live_stack: Settings, new_account: NewAccount, page: Page
) -> None:
    account, password = new_account()
    sign_in(page, live_stack, account.uid, password)
    open_mailbox(page)
    page.goto(f"{live_stack.webmail_url}/?_task=mail")
    page.wait_for_selector("#messagelist", state="attached")
    # At phone width "Logout" is in the menu behind the header's menu button.
    page.click(".task-menu-button")
    page.click("#taskmenu a.logout")
    page.wait_for_url(f"{live_stack.webmail_url}/")
    page.wait_for_selector("#rcmloginuser")  # back at the webmail's login page
    page.goto(f"{live_stack.public_url}/account")
    page.wait_for_url("**/login**")  # the portal's session is gone too
    shot(page, "portal-after-webmail-logout")


@pytest.mark.parametrize("cut", ["password", "suspension"])
def test_a_password_change_or_a_suspension_ends_the_webmail_session(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService, page: Page, cut: str
) -> None:
    account, password = new_account()
    sign_in(page, live_stack, account.uid, password)
    open_mailbox(page)
    if cut == "password":
        accounts.set_password(account.uid, "Another-Horse-77")
    else:
        accounts.set_status(account.uid, AccountStatus.SUSPENDED)
    page.goto(f"{live_stack.webmail_url}/?_task=mail")
    page.wait_for_selector("#rcmloginuser")
    assert page.locator("#messagelist").count() == 0


def test_roundcube_s_own_password_login(
    live_stack: Settings, new_account: NewAccount, page: Page
) -> None:
    account, password = new_account()
    page.goto(f"{live_stack.webmail_url}/")
    shot(page, "webmail-login")
    page.fill("#rcmloginuser", account.uid)
    page.fill("#rcmloginpwd", password)
    page.click("#rcmloginsubmit")
    page.wait_for_url(INBOX)
    page.wait_for_selector("#messagelist", state="attached")
    shot(page, "inbox-after-password-login")


def test_a_third_party_application_asks_consent_and_loses_it_when_revoked(
    live_stack: Settings, new_account: NewAccount, page: Page
) -> None:
    account, password = new_account()
    rp = register(live_stack, "--scope", "openid", "--scope", "profile", "--scope", "email")
    verifier, challenge = pkce()
    sign_in(page, live_stack, account.uid, password)
    state = secrets.token_urlsafe(8)
    authorize = (
        f"{live_stack.public_url}/oidc/authorize?response_type=code&client_id={rp.client_id}"
        f"&redirect_uri={CALLBACK}&scope=openid+profile+email&state={state}"
        f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    page.goto(authorize)
    page.wait_for_selector("button[name=decision][value=allow]")  # the consent page
    shot(page, "consent")
    # Back to the application with a code (its callback is not served: the redirect is read).
    with page.expect_response(lambda r: "/oidc/authorize" in r.url and r.status == 302) as sent:
        page.click("button[name=decision][value=allow]")
    location = sent.value.headers["location"]
    assert location.startswith(CALLBACK + "?")
    answer = parse_qs(urlsplit(location).query)
    assert answer["state"] == [state]
    http = browser_of(live_stack)
    tokens = exchange(http, rp, answer["code"][0], verifier)
    assert tokens.status_code == 200, tokens.text
    bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    assert http.get("/oidc/userinfo", headers=bearer).status_code == 200

    page.goto(f"{live_stack.public_url}/account/apps")
    revoke = page.locator(f"form:has(input[value='{rp.client_id}']) button")
    assert revoke.count() == 1
    shot(page, "apps")
    revoke.click()
    page.wait_for_url("**/account/apps")
    assert page.locator(f"input[value='{rp.client_id}']").count() == 0
    shot(page, "apps-after-revoke")
    # Its tokens stopped, and it must ask again.
    assert http.get("/oidc/userinfo", headers=bearer).status_code == 401
    page.goto(authorize)
    page.wait_for_selector("button[name=decision][value=allow]")


def test_the_webmail_speaks_the_browser_s_language(browser: Browser, live_stack: Settings) -> None:
    """Roundcube takes the browser's language (zh-CN here) from its own catalogs."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_stack.webmail_url}/")
    page.wait_for_selector("#rcmloginsubmit")
    shot(page, "webmail-login-zh")
    assert page.inner_text("#rcmloginsubmit").strip() == "登录"
    assert page.get_attribute("html", "lang") == "zh"
    context.close()
