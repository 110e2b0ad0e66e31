"""Single sign-on into the webmail, in Debian's Chromium (Playwright), for ``make bench`` (also
``python -m bench.sso``): the time from a click on the portal's "Mailbox" link (signed in at
the portal) to the inbox's message list rendered, through the provider and Roundcube's token
login; beside a reference measured in the same run and browser: Roundcube's own password form,
from the click on its login button to the same list. No round starts with a webmail session;
"warm" rounds keep the browser's cache (a person coming back), "cold" ones start from an empty
browser. Nothing here asserts a time; the goal on this machine is under 1.5 s."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from playwright._impl._api_structures import SetCookieParam
from playwright.sync_api import Browser, Page, sync_playwright

from identity.roles import ROOT
from mailstack.settings import Settings
from provisioning.composition import Composition
from tests import mail
from tests.browser import chromium
from tests.support import running_stack

ROUNDS = 10
MESSAGES = 50
USER = "bench.sso"
PASSWORD = "Bench-Sso-Pass-1"  # noqa: S105 -- a throwaway account on a test stack
ROWS = "#messagelist tbody tr"


def _page(browser: Browser) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.set_default_timeout(30_000)
    return page


def portal_cookies(browser: Browser, settings: Settings) -> list[SetCookieParam]:
    """One sign-in at the portal (it limits sign-ins per account): its cookies, for each round's
    fresh context."""
    page = _page(browser)
    page.goto(f"{settings.public_url}/login")
    page.fill("#login", USER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/account")
    cookies = page.context.cookies()
    page.context.close()
    return [
        {"name": c["name"], "value": c["value"], "url": settings.public_url}
        for c in cookies
        if c["name"].startswith("alumail_")
    ]


def mailbox_click(page: Page, settings: Settings, portal: list[SetCookieParam]) -> float:
    page.context.clear_cookies()  # no webmail session; the browser's cache stays
    page.context.add_cookies(portal)
    page.goto(f"{settings.public_url}/account")
    started = time.perf_counter()
    page.click("#mailbox-link")
    page.wait_for_selector(ROWS)
    return time.perf_counter() - started


def password_login(page: Page, settings: Settings) -> float:
    page.context.clear_cookies()
    page.goto(f"{settings.webmail_url}/")
    page.fill("#rcmloginuser", USER)
    page.fill("#rcmloginpwd", PASSWORD)
    started = time.perf_counter()
    page.click("#rcmloginsubmit")
    page.wait_for_selector(ROWS)
    return time.perf_counter() - started


def rounds(browser: Browser, measure: Callable[[Page], float], *, cached: bool) -> list[float]:
    """``ROUNDS`` timings: each in a new browser (cold: nothing cached), or all in one browser
    whose cache stays (warm: a person coming back; only the cookies are cleared)."""
    if cached:
        page = _page(browser)
        measure(page)  # fills the cache
        taken = [measure(page) for _ in range(ROUNDS)]
        page.context.close()
        return taken
    taken = []
    for _ in range(ROUNDS):
        page = _page(browser)
        taken.append(measure(page))
        page.context.close()
    return taken


def sso_figures() -> dict[str, float]:
    with running_stack("bench-sso") as settings:
        with Composition(settings) as root:
            root.accounts(ROOT).create(USER, "Bench SSO", PASSWORD)
        with mail.inbound(settings) as smtp:
            for n in range(MESSAGES):
                smtp.send_message(
                    mail.message("a@elsewhere.example", f"{USER}@{settings.domain}", f"m{n}")
                )
        with sync_playwright() as playwright:
            browser = chromium(playwright)
            portal = portal_cookies(browser, settings)

            def sso(page: Page) -> float:
                return mailbox_click(page, settings, portal)

            def reference(page: Page) -> float:
                return password_login(page, settings)

            figures: dict[str, float] = {}
            for cached, kind in ((True, "warm"), (False, "cold")):
                taken = statistics.median(rounds(browser, sso, cached=cached))
                base = statistics.median(rounds(browser, reference, cached=cached))
                figures[f"mailbox_click_to_inbox_{kind}_s"] = round(taken, 3)
                figures[f"password_login_to_inbox_{kind}_s"] = round(base, 3)
                figures[f"sso_vs_password_login_{kind}"] = round(taken / base, 2)
            browser.close()
    return figures


if __name__ == "__main__":
    print(json.dumps(sso_figures(), indent=2))
