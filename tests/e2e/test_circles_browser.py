"""The circles' portal pages in Chromium, in both languages: an alumnus finds an approval
circle, applies with a message and waits; its owner approves the application on the
management page in the browser; the alumnus sees the circle in "my circles" and is asked before
leaving. On a circle's board a member writes a post in Markdown and a reply; another member
sees both marked new (and "my circles" counts them), and the home page's hot-circle links.
Each page is shot at desktop and phone width into ``test-output/browser/`` as
``circles-<language>-<page>-<width>.png``, with nothing wider than the phone's screen and no
console error."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, ViewportSize

from identity.circles import Kind, Policy
from identity.roles import ROOT
from mailstack.settings import Settings
from provisioning.circles.service import CircleService
from tests.browser import PHONE
from tests.support import NewAccount, use_case

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
TEXTS = {
    "en": {
        "home": "Circles",
        "mine": "My circles",
        "pending": "waits for an owner or moderator",
        "approved": "is a member now",
        "owner": "owner",
        "posted": "Your post is on the board.",
        "new": "unread",
        "count": "2 unread",
        "ranking": "Most posts",
    },
    "zh-CN": {
        "home": "圈子",
        "mine": "我的圈子",
        "pending": "正等待圈主或管理员审核",
        "approved": "已成为成员",
        "owner": "圈主",
        "posted": "你的帖子已发布到留言板。",
        "new": "未读",
        "count": "2 条未读",
        "ranking": "帖子最多",
    },
}


@pytest.fixture(params=["en", "zh-CN"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def tabs(browser: Browser, language: str) -> Iterator[tuple[Page, Page, list[str]]]:
    """Two people's browsers in ``language`` (the applicant's, the owner's), and the console
    errors either one logs."""
    problems: list[str] = []
    contexts = [browser.new_context(viewport=DESKTOP, locale=language) for _ in range(2)]
    pages = [context.new_page() for context in contexts]

    def console(message: ConsoleMessage) -> None:
        # A resource that failed is named by the response listener, with its address.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def response(answer: Response) -> None:
        # The site has no favicon, which Chromium asks for on its own.
        if answer.status >= 400 and not answer.url.endswith("/favicon.ico"):
            problems.append(f"{answer.status} {answer.url}")

    for page in pages:
        page.on("console", console)
        page.on("response", response)
        page.on("pageerror", lambda e: problems.append(str(e)))
    yield pages[0], pages[1], problems
    for context in contexts:
        context.close()


def sign_in(page: Page, settings: Settings, uid: str, password: str) -> None:
    page.goto(f"{settings.public_url}/login")
    page.fill("#login", uid)
    page.fill("#password", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()


def shots(page: Page, language: str, name: str) -> None:
    """The page as it stands, at desktop width and at a phone's (nothing wider than it)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert page.evaluate("document.documentElement.lang") == language
    page.screenshot(path=str(SHOTS / f"circles-{language}-{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SHOTS / f"circles-{language}-{name}-phone.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width}px wide on a {PHONE['width']}px screen"
    page.set_viewport_size(DESKTOP)


def test_an_owner_approves_an_application_in_the_browser(
    live_stack: Settings,
    new_account: NewAccount,
    language: str,
    tabs: tuple[Page, Page, list[str]],
) -> None:
    applicant_tab, owner_tab, problems = tabs
    texts = TEXTS[language]
    url = live_stack.public_url
    owner, owner_pw = new_account()
    applicant, applicant_pw = new_account()
    name = f"reunion-{secrets.token_hex(3)}"
    with use_case(CircleService, live_stack, ROOT) as circles:
        circles.create(
            name,
            "上海校友读书会 Shanghai Book Club",
            Kind.INTEREST,
            policy=Policy.APPROVAL,
            description="每月第一个周六，徐汇。\nFirst Saturday of each month, Xuhui.",
            owner=owner.uid,
        )

    sign_in(applicant_tab, live_stack, applicant.uid, applicant_pw)
    applicant_tab.click("#circles-link")
    applicant_tab.wait_for_load_state()
    assert applicant_tab.locator("h1").inner_text() == texts["home"]
    applicant_tab.fill("#q", "xiaoyou dushu")
    applicant_tab.click("#circle-search button[type=submit]")
    applicant_tab.wait_for_load_state()
    assert applicant_tab.locator(f"li[data-name='{name}']").count() == 1
    shots(applicant_tab, language, "home")

    applicant_tab.click(f"li[data-name='{name}'] a.button")
    applicant_tab.wait_for_load_state()
    applicant_tab.fill("#message", "我是 2010 届机械系的。")
    shots(applicant_tab, language, "circle")
    applicant_tab.click("#apply button[type=submit]")
    applicant_tab.wait_for_load_state()
    assert texts["pending"] in applicant_tab.locator("#pending").inner_text()
    shots(applicant_tab, language, "circle-pending")

    sign_in(owner_tab, live_stack, owner.uid, owner_pw)
    owner_tab.goto(f"{url}/circles/{name}")
    owner_tab.click("#manage-link")
    owner_tab.wait_for_load_state()
    card = owner_tab.locator(f"#applications li[data-uid='{applicant.uid}']")
    assert "我是 2010 届机械系的。" in card.inner_text()
    shots(owner_tab, language, "manage")
    card.locator("form[action$='/approve'] button").click()
    owner_tab.wait_for_load_state()
    assert texts["approved"] in owner_tab.locator("p.note").inner_text()
    assert owner_tab.locator(f"#members li[data-uid='{applicant.uid}']").count() == 1
    shots(owner_tab, language, "manage-approved")

    owner_tab.goto(f"{url}/circles/mine")
    assert texts["owner"] in owner_tab.locator(f"#my-circles li[data-name='{name}']").inner_text()
    shots(owner_tab, language, "mine-owner")

    applicant_tab.goto(f"{url}/circles/mine")
    assert applicant_tab.locator("h1").inner_text() == texts["mine"]
    assert applicant_tab.locator(f"#my-circles li[data-name='{name}']").count() == 1
    shots(applicant_tab, language, "mine")
    applicant_tab.click(f"#my-circles li[data-name='{name}'] form button")
    applicant_tab.wait_for_load_state()
    assert applicant_tab.locator("input[name=confirmed]").count() == 1
    shots(applicant_tab, language, "confirm-leave")
    assert problems == []
    with use_case(CircleService, live_stack, ROOT) as circles:
        assert applicant.uid in circles.get(name).members  # asked, not left


def test_members_write_and_read_the_board_in_the_browser(
    live_stack: Settings,
    new_account: NewAccount,
    language: str,
    tabs: tuple[Page, Page, list[str]],
) -> None:
    writer_tab, reader_tab, problems = tabs
    texts = TEXTS[language]
    url = live_stack.public_url
    writer, writer_pw = new_account()
    reader, reader_pw = new_account()
    name = f"board-{secrets.token_hex(3)}"
    with use_case(CircleService, live_stack, ROOT) as circles:
        circles.create(name, "徐汇跑团 Xuhui Runners", Kind.INTEREST, policy=Policy.OPEN)
        circles.add(name, writer.uid)
        circles.add(name, reader.uid)

    sign_in(writer_tab, live_stack, writer.uid, writer_pw)
    writer_tab.goto(f"{url}/circles/{name}")
    writer_tab.locator("details.new-post summary").click()
    writer_tab.fill("#subject", "周六晨跑 Saturday run")
    writer_tab.fill(
        "#body",
        "7:00 在**徐家汇公园**集合。\n\n- 5 km\n- 10 km\n\n"
        "<script>alert(1)</script> [路线](https://example.org/route)",
    )
    writer_tab.click("#post-form button[type=submit]")
    writer_tab.wait_for_load_state()
    assert texts["posted"] in writer_tab.locator("p.note").inner_text()
    post = writer_tab.locator("#posts > li.post").first
    assert post.locator("strong").inner_text() == "徐家汇公园"
    assert post.locator(".post-body li").count() == 2
    assert post.locator("script").count() == 0
    assert writer_tab.locator("#posts .badge.new").count() == 0  # not news to its writer
    post.locator("details.reply-box summary").click()
    post.locator("form.reply-form textarea[name=body]").fill("我带水。 I'll bring water.")
    post.locator("form.reply-form button[type=submit]").click()
    writer_tab.wait_for_load_state()
    assert "I'll bring water." in writer_tab.locator("#posts li.reply").inner_text()
    shots(writer_tab, language, "board")

    sign_in(reader_tab, live_stack, reader.uid, reader_pw)
    reader_tab.goto(f"{url}/circles/mine")
    counted = reader_tab.locator(f"#my-circles li[data-name='{name}'] .unread-count")
    assert counted.inner_text() == texts["count"]
    shots(reader_tab, language, "mine-unread")
    counted.click()
    reader_tab.wait_for_load_state()
    assert reader_tab.locator("#posts .badge.new").count() == 2
    assert reader_tab.locator("#posts .badge.new").first.inner_text() == texts["new"]
    shots(reader_tab, language, "board-unread")
    reader_tab.reload()
    assert reader_tab.locator("#posts .badge.new").count() == 0

    reader_tab.goto(f"{url}/circles")
    reader_tab.click("#rankings a[data-sort=interaction]")
    reader_tab.wait_for_load_state()
    assert reader_tab.locator("#rankings strong").inner_text() == texts["ranking"]
    shots(reader_tab, language, "home-ranked")
    assert problems == []
