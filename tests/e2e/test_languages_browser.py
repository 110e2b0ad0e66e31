"""The main pages in Debian's Chromium, in Chinese and in English, at desktop and phone width:
the browser's language (Playwright's ``locale`` sets its Accept-Language) chooses the page's,
no English text of the catalog shows on a Chinese page, nothing is wider than the screen.
Screenshots go to ``test-output/i18n/``."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from identity.roles import Role
from mailstack.settings import Settings
from provisioning.catalogs import po_path
from provisioning.people.staff import StaffService
from tests.support import NewAccount, use_case, which

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "i18n"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
STAFF_PASSWORD = "Staff-Password-77"
_FIELD = re.compile(r"%\(\w+\)s|\{\w+\}|<[^>]+>")


def english_texts() -> list[re.Pattern[str]]:
    """Every English source text of the catalog, as what a page would show of it: a whole
    text without fields, or the longer pieces between a text's fields."""
    with po_path("zh_CN").open("rb") as handle:
        catalog = read_po(handle)
    pieces: set[str] = set()
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        for piece in _FIELD.split(message.id):
            piece = " ".join(piece.split()).strip(" .,:;()")
            whole_or_long = piece == message.id.strip(" .,:;()") or len(piece) >= 12
            words = re.search(r"[A-Za-z]{2}", piece) and piece not in ("jAccount", "GiB", "MiB")
            if whole_or_long and words:
                pieces.add(piece)
    return [re.compile(rf"(?<![\w@.]){re.escape(p)}(?![\w@])") for p in sorted(pieces)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


def sign_in(page: Page, settings: Settings, login: str, password: str) -> None:
    page.goto(f"{settings.public_url}/login")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def look(
    page: Page, settings: Settings, path: str, name: str, english: list[re.Pattern[str]]
) -> None:
    page.goto(f"{settings.public_url}{path}")
    lang = page.get_attribute("html", "lang")
    SHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    page.screenshot(path=str(SHOTS / f"{lang}-{width}-{name}.png"), full_page=True)
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"{name} ({lang}): {wide}px wide on a {width}px screen"
    if lang == "zh-CN":
        shown = page.inner_text("body")
        left = sorted({p.pattern for p in english if p.search(shown)})
        assert not left, f"{name}: English on the Chinese page: {left}"
        assert re.search(r"[\u4e00-\u9fff]", page.inner_text("main")), name


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_main_pages_in_both_languages(
    live_stack: Settings, new_account: NewAccount, browser: Browser, locale: str, size: str
) -> None:
    english = english_texts()
    viewport = PHONE if size == "phone" else DESKTOP
    account, password = new_account(name="张伟", recovery_email="zhang.wei@home.example.org")
    desk = f"desk.{secrets.token_hex(3)}"
    with use_case(StaffService, live_stack) as staff:
        staff.add(desk, "王芳", Role.HELPDESK, STAFF_PASSWORD)
    expected = "zh-CN" if locale == "zh-CN" else "en"
    for who, login, secret, pages in [
        (None, "", "", [("/", "home"), ("/register", "register"), ("/login", "login")]),
        (
            "alumnus",
            account.uid,
            password,
            [
                ("/account", "account"),
                ("/account/password", "password"),
                ("/account/clients", "clients"),
            ],
        ),
        ("helpdesk", desk, STAFF_PASSWORD, [(f"/helpdesk?q={account.uid}", "helpdesk")]),
    ]:
        context = browser.new_context(viewport=viewport, locale=locale, is_mobile=size == "phone")
        page = context.new_page()
        try:
            if who is not None:
                sign_in(page, live_stack, login, secret)
            for path, name in pages:
                look(page, live_stack, path, name, english)
                assert page.get_attribute("html", "lang") == expected
        finally:
            context.close()
