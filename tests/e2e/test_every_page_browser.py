"""Every page a person can reach, in Debian's Chromium, in Chinese and in English, at desktop
(1280x800) and phone width; a screenshot of each in ``test-output/pages/``.

``PAGES`` is the inventory: one row per page (or state of a page: a registration's form, mail
sent, confirmation, done, done already; a refusal), with the route that answers it, who looks
at it and how they get there (a path, or the steps of a person: a form filled and sent, a mailed
link followed). A page added later is one more row (``Visit("/admin/roster", "admin-roster",
ADMIN, "/admin/roster")``), a GET route that answers programs (a file, JSON) one entry of
``NOT_PAGES``; ``test_every_page_of_the_application_is_listed`` fails while the application has
a GET route in neither.

On each page: the HTTP status, ``<html lang>``, nothing wider than the screen, every form
control and button inside it (and inside any box that clips it), no console error or CSP
violation, and the languages kept apart: no English text of the catalog on a Chinese page, no
Han character on an English page except the people's own data and the language switch."""

from __future__ import annotations

import email.policy
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import quote

import pytest
from babel.messages.pofile import read_po
from fastapi.routing import iter_route_contexts
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    Route,
    ViewportSize,
)
from playwright.sync_api import Cookie as BrowserCookie

from identity.circles import Kind
from identity.directory import Credentials
from identity.dit import Tree
from identity.roles import Actor, Role
from mailstack.settings import Settings, build
from provisioning.catalogs import po_path
from provisioning.circles.board import Board
from provisioning.circles.service import CircleService
from provisioning.i18n import CHINESE, ENGLISH
from provisioning.people.accounts import AccountService
from provisioning.people.staff import StaffService
from provisioning.web.app import MACHINE_PATHS, create_app
from provisioning.web.audit_words import AUDIT
from provisioning.web.language import LANGUAGE_COOKIE
from tests.browser import PHONE
from tests.oidc import CALLBACK, pkce, register
from tests.support import use_case, wait_for
from tests.web import PASSWORD, STAFF_PASSWORD, graduate, link, outbound

pytestmark = pytest.mark.e2e
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "pages"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
ANONYMOUS, ALUMNUS, HELPDESK, ADMIN = "anonymous", "alumnus", "helpdesk", "admin"
SUBJECT_NAME = "张伟"  # the account staff look at: user data in Han characters on every page
# A post and a reply on the circle's board, as alumni write them (its text as shown, without
# the Markdown's asterisks): people's data in both scripts, like the name above.
BOARD_POST = ("每月聚会 Monthly meet-up", "每月第一个周六，徐汇 Xuhui.", "不见不散 See you there.")
# Texts of the catalog that stay as they are in Chinese (names of things), whatever the msgstr.
KEPT_AS_THEY_ARE = {"jAccount", "GiB", "MiB", "IMAP", "POP3", "SMTP", "alumail"}
_FIELD = re.compile(r"%\(\w+\)s|\{\w+\}|<[^>]+>")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


# -- the people and the values the pages are reached with --------------------------------------


@dataclass
class World:
    """What one browser context works with: the stack, the people's uids, and the values
    earlier steps made (links mailed, uids)."""

    settings: Settings
    roster: Path  # a folder for the roster files of this context's graduates
    alumnus: str
    subject: str
    values: dict[str, str] = field(default_factory=dict)

    def fill(self, path: str) -> str:
        known = {"alumnus": self.alumnus, "subject": self.subject, **self.values}
        return path.format(**known)


def _mailed_link(settings: Settings, address: str, path: str, since: float) -> str:
    """The link to ``path`` in a message the stack sent to ``address`` after ``since`` (the
    outbound folder holds every test's mail: only the new files are read)."""
    found: list[str] = []

    def look() -> bool:
        for sent in outbound(settings).glob("*.eml"):
            if sent.stat().st_mtime < since:
                continue
            message = BytesParser(policy=email.policy.default).parsebytes(sent.read_bytes())
            body = message.get_body(("plain",))
            to = str(message["X-Alumail-Envelope-To"])
            if address in to and body is not None and f"{path}?token=" in body.get_content():
                found.append(link(message, path))
        return bool(found)

    assert wait_for(look, 20), f"no {path} link mailed to {address}"
    return found[-1]


# -- how a page is reached, beyond a path: a person's steps -----------------------------------

Steps = Callable[[Page, World], object]


def _submit(page: Page, form: str) -> None:
    with page.expect_navigation():
        page.click(f"main form[action='{form}'] button[type=submit]")


def register_graduate(page: Page, world: World) -> None:
    number = graduate(world.settings, world.roster, name="Wu Xiaoming", birth_date="1992-11-30")
    uid = f"pages.{secrets.token_hex(3)}"
    world.values["registered"] = uid
    page.goto(f"{world.settings.public_url}/register")
    page.fill("#student_number", number)
    page.fill("#name", "Wu Xiaoming")
    page.fill("#birth_date", "1992-11-30")
    page.fill("#uid", uid)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.fill("#recovery_email", f"{uid}@home.example.org")
    since = time.time() - 1  # file times are coarser than the clock
    _submit(page, "/register")
    world.values["register_link"] = _mailed_link(
        world.settings, f"{uid}@home.example.org", "/register/confirm", since
    )


def confirm_registration(page: Page, world: World) -> None:
    page.goto(world.values["register_link"])
    _submit(page, "/register/confirm")


def ask_for_a_reset_link(page: Page, world: World) -> None:
    uid = world.values["registered"]
    page.goto(f"{world.settings.public_url}/forgot")
    page.fill("#login", uid)
    since = time.time() - 1
    _submit(page, "/forgot")
    address = f"{uid}@home.example.org"
    world.values["reset_link"] = _mailed_link(world.settings, address, "/reset", since)


def post_a_body_that_does_not_parse(page: Page, world: World) -> None:
    """A form post whose body is broken on the way (as a faulty proxy would break it)."""

    def broken(route: Route) -> None:
        route.continue_(
            method="POST",
            post_data=b"--x\r\nnot a part",
            headers={**route.request.headers, "content-type": "multipart/form-data; boundary=x"},
        )

    target = f"{world.settings.public_url}/login"
    page.route(target, broken)
    try:
        page.goto(target)
    finally:
        page.unroute(target, broken)


def open_the_api_docs(page: Page, world: World) -> None:
    """Swagger UI draws the operations after the page has loaded."""
    page.goto(f"{world.settings.public_url}/docs")
    page.wait_for_selector(".opblock")


def post_a_forged_form_token(page: Page, world: World) -> None:
    """A form whose token is not this browser's (as a page elsewhere would post it)."""
    page.goto(f"{world.settings.public_url}/login")
    page.fill("#login", world.alumnus)
    page.fill("#password", PASSWORD)
    page.locator("main input[name=csrf_token]").evaluate("input => { input.value = 'forged' }")
    _submit(page, "/login")


def change_the_recovery_address(page: Page, world: World) -> None:
    address = f"new.{secrets.token_hex(3)}@home.example.org"
    page.goto(f"{world.settings.public_url}/account")
    page.fill("#recovery_email", address)
    since = time.time() - 1
    _submit(page, "/account")
    world.values["recovery_link"] = _mailed_link(
        world.settings, address, "/account/recovery", since
    )


def sign_in_with_a_wrong_password(page: Page, world: World) -> None:
    page.goto(f"{world.settings.public_url}/login")
    page.fill("#login", f"nobody.{secrets.token_hex(3)}")
    page.fill("#password", "Not-The-Password-1")
    _submit(page, "/login")


def save_a_wrong_telephone(page: Page, world: World) -> None:
    page.goto(f"{world.settings.public_url}/account")
    page.fill("#phone", "not a number")
    _submit(page, "/account")


def repeat_another_password(page: Page, world: World) -> None:
    page.goto(f"{world.settings.public_url}/account/password")
    page.fill("#current", PASSWORD)
    page.fill("#password", "Another-Good-Pass-8")
    page.fill("#password_again", "Another-Good-Pass-9")
    _submit(page, "/account/password")


def helpdesk_asks_before_suspending(page: Page, world: World) -> None:
    page.goto(f"{world.settings.public_url}/helpdesk/accounts/{world.subject}")
    _submit(page, f"/helpdesk/accounts/{world.subject}/suspend")


def helpdesk_resets_a_password(page: Page, world: World) -> None:
    """Asked, then confirmed: the temporary password is shown once."""
    action = f"/helpdesk/accounts/{world.subject}/reset-password"
    page.goto(f"{world.settings.public_url}/helpdesk/accounts/{world.subject}")
    _submit(page, action)
    _submit(page, action)


def admin_creates_an_account(page: Page, world: World) -> None:
    """With a generated password, shown once."""
    page.goto(f"{world.settings.public_url}/admin/accounts/new")
    page.fill("#uid", f"pages.made.{secrets.token_hex(3)}")
    page.fill("#name", "Zhou Jie")
    _submit(page, "/admin/accounts/new")


def admin_asks_before_suspending(page: Page, world: World) -> None:
    page.goto(f"{world.settings.public_url}/admin/accounts/{world.subject}")
    _submit(page, f"/admin/accounts/{world.subject}/suspend")


# -- the inventory ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    route: str | None  # the route that answers (as the application declares it); None: no route
    name: str  # of the screenshot
    role: str  # who is signed in
    reach: str | Steps  # a path on the site (``{alumnus}``, ``{subject}``, values of earlier steps)
    status: int = 200
    # ``<html lang>`` by the browser's language, where a page is not ours (Roundcube's).
    lang: tuple[str, str] = (CHINESE, ENGLISH)


PAGES = [
    Visit("/", "home", ANONYMOUS, "/"),
    Visit("/login", "login", ANONYMOUS, "/login"),
    Visit("/register", "register", ANONYMOUS, "/register"),
    Visit("/register", "register-sent", ANONYMOUS, register_graduate),
    Visit("/register/confirm", "register-confirm", ANONYMOUS, "{register_link}"),
    Visit("/register/confirm", "register-done", ANONYMOUS, confirm_registration),
    Visit("/register/confirm", "register-done-already", ANONYMOUS, "{register_link}"),
    Visit("/login", "login-refused", ANONYMOUS, sign_in_with_a_wrong_password, 401),
    Visit("/forgot", "forgot", ANONYMOUS, "/forgot"),
    Visit("/forgot", "forgot-sent", ANONYMOUS, ask_for_a_reset_link),
    Visit("/reset", "reset", ANONYMOUS, "{reset_link}"),
    Visit("/reset", "reset-link-not-valid", ANONYMOUS, "/reset?token=not-a-token", 404),
    Visit(None, "not-found", ANONYMOUS, "/no/such/page", 404),
    Visit("/logout", "method-not-allowed", ANONYMOUS, "/logout", 405),
    Visit("/login", "bad-request", ANONYMOUS, post_a_body_that_does_not_parse, 400),
    Visit("/login", "form-token-refused", ANONYMOUS, post_a_forged_form_token, 403),
    Visit("/docs", "api-docs", ANONYMOUS, open_the_api_docs),
    Visit("/account", "account", ALUMNUS, "/account"),
    Visit("/account", "account-saved", ALUMNUS, change_the_recovery_address),
    Visit("/account", "account-refused", ALUMNUS, save_a_wrong_telephone, 422),
    Visit("/account/recovery", "recovery-confirm", ALUMNUS, "{recovery_link}"),
    Visit("/account/password", "password", ALUMNUS, "/account/password"),
    Visit("/account/password", "password-refused", ALUMNUS, repeat_another_password, 422),
    Visit("/account/clients", "clients", ALUMNUS, "/account/clients"),
    Visit("/account/migration", "migration", ALUMNUS, "/account/migration"),
    Visit("/account/apps", "apps", ALUMNUS, "/account/apps"),
    Visit("/oidc/authorize", "consent", ALUMNUS, "{consent}"),
    Visit("/oidc/logout", "sign-out-asked", ALUMNUS, "/oidc/logout"),
    Visit("/circles", "circles", ALUMNUS, "/circles"),
    Visit("/circles", "circles-ranked", ALUMNUS, "/circles?sort=interaction"),
    Visit("/circles", "circles-ranking-refused", ALUMNUS, "/circles?sort=loudest", 422),
    Visit("/circles/mine", "circles-mine", ALUMNUS, "/circles/mine"),
    Visit("/circles/{name}", "circle", ALUMNUS, "/circles/{circle}"),
    Visit("/circles/{name}/manage", "circle-manage", ALUMNUS, "/circles/{circle}/manage"),
    Visit("/circles/{name}", "circle-board-page-refused", ALUMNUS, "/circles/{circle}?page=0", 422),
    Visit("/circles", "circles-staff", HELPDESK, "/circles"),
    Visit("/circles/{name}", "circle-not-found", ALUMNUS, "/circles/absent.circle", 404),
    Visit("/helpdesk", "helpdesk-refused", ALUMNUS, "/helpdesk", 403),
    Visit("/helpdesk", "helpdesk", HELPDESK, "/helpdesk"),
    Visit("/helpdesk", "helpdesk-found", HELPDESK, "/helpdesk?q=zhang+wei"),
    Visit("/helpdesk/accounts/{uid}", "helpdesk-account", HELPDESK, "/helpdesk/accounts/{subject}"),
    Visit(
        "/helpdesk/accounts/{uid}/{action}",
        "helpdesk-confirm",
        HELPDESK,
        helpdesk_asks_before_suspending,
    ),
    Visit(
        "/helpdesk/accounts/{uid}/{action}",
        "helpdesk-password-reset",
        HELPDESK,
        helpdesk_resets_a_password,
    ),
    Visit(
        "/helpdesk/accounts/{uid}",
        "helpdesk-no-account",
        HELPDESK,
        "/helpdesk/accounts/wu.absent",
        404,
    ),
    Visit(
        "/helpdesk/accounts/{uid}",
        "helpdesk-staff-refused",
        HELPDESK,
        "/helpdesk/accounts/{staff}",
        403,
    ),
    Visit("/admin", "admin-refused", HELPDESK, "/admin", 403),
    Visit("/admin", "admin-status", ADMIN, "/admin"),
    Visit("/admin/accounts", "admin-accounts", ADMIN, "/admin/accounts?q=zhang+wei"),
    Visit("/admin/accounts/new", "admin-new-account", ADMIN, "/admin/accounts/new"),
    Visit("/admin/accounts/new", "admin-account-created", ADMIN, admin_creates_an_account),
    Visit("/admin/accounts/{uid}", "admin-account", ADMIN, "/admin/accounts/{subject}"),
    Visit("/admin/accounts/{uid}/{action}", "admin-confirm", ADMIN, admin_asks_before_suspending),
    Visit("/admin/staff", "admin-staff", ADMIN, "/admin/staff"),
    Visit("/admin/roster", "admin-roster", ADMIN, "/admin/roster"),
    Visit("/admin/tokens", "admin-tokens", ADMIN, "/admin/tokens"),
    Visit("/admin/legacy", "admin-legacy", ADMIN, "/admin/legacy"),
    Visit("/admin/dns", "admin-dns", ADMIN, "/admin/dns"),
    Visit("/admin/clients", "admin-clients", ADMIN, "/admin/clients"),
    Visit("/admin/audit", "admin-audit", ADMIN, "/admin/audit?target={subject}"),
    Visit("/admin/audit/verify", "admin-audit-verify", ADMIN, "/admin/audit/verify"),
    # Roundcube's login page, on the webmail's own address, in its own catalogs' language.
    Visit(None, "webmail-login", ANONYMOUS, "{webmail}/", lang=("zh", "en")),
]
# GET routes that answer programs, not people: the files and documents they fetch.
NOT_PAGES = {
    "/openapi.json": "the API's description (JSON)",
    "/uid-available": "the registration form's live check (JSON)",
    "/mail/config-v1.1.xml": "Thunderbird's autoconfig (XML)",
    "/account/clients/apple.mobileconfig": "Apple's configuration profile",
    "/account/mailbox.tar.gz": "the mailbox's download",
    "/oidc/jwks": "the provider's keys (JSON)",
    "/oidc/userinfo": "the provider's claims (JSON)",
}
# Folders of programs' paths; /oidc/ holds pages too (consent, sign-out), so its JSON
# endpoints are named one by one above.
PROGRAM_FOLDERS = tuple(folder for folder in MACHINE_PATHS if folder != "/oidc/")


def test_every_page_of_the_application_is_listed(tmp_path: Path) -> None:
    """A GET route that is neither a row of PAGES nor a program's file fails the test: a new
    page cannot escape the browser's visit; a row whose route is gone fails it too."""
    settings = build({"domain": "alumni.test.example", "state_dir": str(tmp_path / "state")})
    routes: dict[str, set[str]] = {}
    for route in iter_route_contexts(create_app(settings).routes):
        if route.path is not None and route.methods:
            routes.setdefault(route.path, set()).update(route.methods)
    listed = {visit.route for visit in PAGES}
    unlisted = sorted(
        path
        for path, methods in routes.items()
        if "GET" in methods
        and path not in listed
        and path not in NOT_PAGES
        and not path.startswith(PROGRAM_FOLDERS)
    )
    assert not unlisted, f"pages no row of PAGES visits: {unlisted}"
    gone = sorted(str(path) for path in listed - set(routes) - {None})
    assert not gone, f"rows of PAGES whose route is gone: {gone}"
    assert not set(NOT_PAGES) - set(routes), "NOT_PAGES names a route that is gone"


# -- what every page must be ------------------------------------------------------------------


def han_in_english_texts() -> set[str]:
    """What the English texts of the catalog themselves write in Han characters (a date as
    Chinese alumni write it, 1993年5月17日): the English pages show it on purpose."""
    with po_path("zh_CN").open("rb") as handle:
        catalog = read_po(handle)
    return {
        run
        for message in catalog
        if isinstance(message.id, str)
        for run in re.findall(r"[0-9\u3400-\u9fff]+", message.id)
        if _HAN.search(run)
    }


def english_texts() -> list[re.Pattern[str]]:
    """Every English text of the catalog a Chinese page must not show: a whole message without
    its fields, or the longer pieces between its fields; not the ones whose translation keeps
    them as they are (names of things)."""
    with po_path("zh_CN").open("rb") as handle:
        catalog = read_po(handle)
    pieces: set[str] = set()
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        if message.context == AUDIT:
            continue  # identifiers (create, reset-password): shown as they are in commands
        translation = message.string if isinstance(message.string, str) else ""
        whole = " ".join(message.id.split()).strip(" .,:;()")
        for piece in _FIELD.split(message.id):
            piece = " ".join(piece.split()).strip(" .,:;()")
            if piece in KEPT_AS_THEY_ARE or piece in translation:
                continue
            several_words = len(piece) >= 12 or " " in piece
            if (piece == whole or several_words) and re.search(r"[A-Za-z]{2}", piece):
                pieces.add(piece)
    return [re.compile(rf"(?<![\w@.]){re.escape(p)}(?![\w@])") for p in sorted(pieces)]


# Every visible form control and button, against the screen and any box that clips it.
CUT_OFF = """() => {
  const width = document.documentElement.clientWidth;
  const cut = [];
  for (const e of document.querySelectorAll(
      'input:not([type=hidden]), select, textarea, button, a.button')) {
    const box = e.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    let inside = box.left >= -0.5 && box.right <= width + 0.5;
    for (let p = e.parentElement; inside && p; p = p.parentElement) {
      if (getComputedStyle(p).overflowX === 'visible') continue;
      const clip = p.getBoundingClientRect();
      inside = box.left >= clip.left - 0.5 && box.right <= clip.right + 0.5;
    }
    if (!inside) cut.push(`${e.tagName.toLowerCase()} "${(e.innerText || e.name || e.id)
      .trim().slice(0, 30)}" at ${Math.round(box.left)}..${Math.round(box.right)}px`);
  }
  // A box whose content is wider than it and hidden or scrolled sideways: text cut off.
  // (A box of 1px is hidden on purpose: a table's head kept for screen readers on a phone.)
  for (const e of document.querySelectorAll('body *:not(input):not(textarea):not(select)')) {
    const style = getComputedStyle(e);
    if (style.overflowX === 'visible' || e.clientWidth <= 1) continue;
    if (e.scrollWidth > e.clientWidth + 1) cut.push(`${e.tagName.toLowerCase()}.${
      e.className} "${e.innerText.trim().slice(0, 30)}" holds ${e.scrollWidth}px in ${
      e.clientWidth}px`);
  }
  return cut;
}"""
# The visible text, without what is in another language on purpose (the switch's button).
SHOWN_TEXT = """() => {
  const other = Array.from(document.querySelectorAll('body [lang]'))
    .filter(e => e.lang !== document.documentElement.lang).map(e => e.innerText);
  const said = Array.from(document.querySelectorAll('[placeholder], [title], [aria-label]'))
    .map(e => [e.placeholder, e.title, e.getAttribute('aria-label')].join(' '));
  let text = [document.title, document.body.innerText, ...said].join(' ');
  for (const t of other) text = text.split(t).join(' ');
  return text;
}"""


@dataclass
class Watch:
    """What a tab saw since the last page: its documents' answers and its console errors."""

    answers: list[Response] = field(default_factory=list)
    errors: list[ConsoleMessage] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        def answered(response: Response) -> None:
            if response.request.is_navigation_request() and response.frame == page.main_frame:
                self.answers.append(response)

        page.on("response", answered)
        page.on("console", lambda m: self.errors.append(m) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.crashes.append(str(error)))

    def clear(self) -> None:
        self.answers.clear()
        self.errors.clear()
        self.crashes.clear()


def problems_of(
    page: Page, visit: Visit, watch: Watch, lang: str, width: int, data: set[str]
) -> list[str]:
    found: list[str] = []
    if not watch.answers:
        return ["no page answered"]
    answer = watch.answers[-1]
    if answer.status != visit.status:
        found.append(f"status {answer.status}, not {visit.status}")
    if not answer.headers.get("content-type", "").startswith("text/html"):
        found.append(f"answered {answer.headers.get('content-type')}, not a page")
    shown_lang = page.get_attribute("html", "lang")
    if shown_lang != lang:
        found.append(f"<html lang={shown_lang!r}>, not {lang!r}")
    wide = page.evaluate("document.documentElement.scrollWidth")
    if wide > width:
        found.append(f"{wide}px wide on a {width}px screen")
    found += [f"cut off: {cut}" for cut in page.evaluate(CUT_OFF)]
    for message in watch.errors:
        # Chromium reports a document's own error status; that status is checked above.
        if visit.status >= 400 and message.location.get("url") == answer.url:
            continue
        found.append(f"console: {message.text}")
    found += [f"script error: {crash}" for crash in watch.crashes]
    text: str = page.evaluate(SHOWN_TEXT)
    for value in data:
        text = text.replace(value, " ")
    if lang == CHINESE:
        english = sorted({p.pattern for p in ENGLISH_TEXTS if p.search(text)})
        found += [f"English on the Chinese page: {p}" for p in english]
    elif lang == ENGLISH:
        for written in HAN_IN_ENGLISH_TEXTS:
            text = text.replace(written, " ")
        han = sorted(set(_HAN.findall(text)))
        if han:
            found.append(f"Han characters on the English page: {''.join(han)}")
    return found


ENGLISH_TEXTS = english_texts()
HAN_IN_ENGLISH_TEXTS = han_in_english_texts()


# A page made to fail every check.
FAULTY = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Sign in</h1><p>张伟 wrote: 用户</p>
<div style="width:700px">wider than a phone</div>
<button style="position:absolute;top:0;left:340px;width:120px">cut</button>
<div style="overflow:hidden;width:100px"><input style="margin-left:150px"></div>
<p class="clipped" style="overflow:hidden;width:50px;white-space:nowrap">a line cut short</p>
</main><script>console.error("broken")</script></body></html>"""


def test_the_checks_find_what_they_look_for(browser: Browser) -> None:
    """Each check of a page, on a page made to fail it: the visits below can fail."""
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    page.route(
        "http://faulty.invalid/",
        lambda route: route.fulfill(status=500, content_type="text/html", body=FAULTY),
    )
    page.goto("http://faulty.invalid/")
    faulty = Visit("/", "faulty", ANONYMOUS, "/")
    as_chinese = problems_of(page, faulty, watch, CHINESE, PHONE["width"], {SUBJECT_NAME})
    as_english = problems_of(page, faulty, watch, ENGLISH, PHONE["width"], {SUBJECT_NAME})
    context.close()
    expected = [
        "status 500, not 200",
        "<html lang='en'>, not 'zh-CN'",
        f"px wide on a {PHONE['width']}px screen",
        'cut off: button "cut"',
        "cut off: input",
        'cut off: p.clipped "a line cut short" holds',
        "console: broken",
        "English on the Chinese page: (?<![\\w@.])Sign\\ in(?![\\w@])",
    ]
    for finding in expected:
        assert any(finding in problem for problem in as_chinese), (finding, as_chinese)
    assert "Han characters on the English page: 户用" in as_english, as_english
    assert not any("Han characters" in problem for problem in as_chinese)


# -- the visits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class People:
    alumnus: str
    subject: str  # the account staff look at
    signed_in: dict[str, list[BrowserCookie]]  # each role's cookies (none: anonymous)
    consent: str  # an application's authorization request, which asks for consent
    staff: str  # an admin's uid: the helpdesk may not open a staff account
    circle: str  # an interest circle the alumnus owns, the subject a member of it


@pytest.fixture(scope="module")
def people(live_stack: Settings, browser: Browser) -> People:
    """An alumnus, the account staff look at, a helpdesk member and an admin, each signed in
    once (their cookies reused by every context), and a third-party application asking for
    consent."""
    suffix = secrets.token_hex(3)
    alumnus, subject = f"pages.alum.{suffix}", f"pages.subject.{suffix}"
    desk, admin = f"pages.desk.{suffix}", f"pages.admin.{suffix}"
    with use_case(AccountService, live_stack) as accounts:
        accounts.create(alumnus, "Gao Yuan", PASSWORD, recovery_email=f"{alumnus}@home.example.org")
        accounts.create(subject, SUBJECT_NAME, PASSWORD)
    circle = f"pages-{suffix}"
    with use_case(CircleService, live_stack) as circles:
        circles.create(circle, "Pages Circle", Kind.INTEREST, owner=alumnus)
        circles.add(circle, subject)
    # A post with a reply, so the circle's page shows its board as people use it.
    author = Actor(
        alumnus, Role.ALUMNUS, Credentials(Tree(live_stack.base_dn).person(alumnus), PASSWORD)
    )
    with use_case(Board, live_stack, author) as board:
        topic, text, answer = BOARD_POST
        first = board.post(circle, topic, text.replace("徐汇", "**徐汇**"))
        board.reply(circle, first.id, answer)
    with use_case(StaffService, live_stack) as staff:
        staff.add(desk, "Desk Member", Role.HELPDESK, STAFF_PASSWORD)
        staff.add(admin, "Admin Member", Role.ADMIN, STAFF_PASSWORD)
    signed_in: dict[str, list[BrowserCookie]] = {ANONYMOUS: []}
    for role, (login, password) in {
        ALUMNUS: (alumnus, PASSWORD),
        HELPDESK: (desk, STAFF_PASSWORD),
        ADMIN: (admin, STAFF_PASSWORD),
    }.items():
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{live_stack.public_url}/login")
        page.fill("#login", login)
        page.fill("#password", password)
        _submit(page, "/login")
        # The session, without a language chosen at sign-in: each context's browser chooses.
        signed_in[role] = [c for c in context.cookies() if c["name"] != LANGUAGE_COOKIE]
        context.close()
    app = register(live_stack, "--scope", "openid", "--scope", "profile", "--scope", "email")
    _, challenge = pkce()
    consent = (
        f"/oidc/authorize?response_type=code&client_id={app.client_id}"
        f"&redirect_uri={quote(CALLBACK, safe='')}&scope=openid+profile+email&state=pages"
        f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    return People(alumnus, subject, signed_in, consent, admin, circle)


def circle_texts(settings: Settings) -> set[str]:
    """Every circle's name, title and description (the directory's, read as root)."""
    with use_case(CircleService, settings) as circles:
        return {
            text
            for view in circles.find()
            for text in (view.circle.name, view.circle.title, view.circle.description)
            if text
        }


@pytest.fixture(
    params=[(CHINESE, "desktop"), (CHINESE, "phone"), (ENGLISH, "desktop"), (ENGLISH, "phone")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def context(request: pytest.FixtureRequest, browser: Browser) -> Iterator[BrowserContext]:
    lang, size = request.param
    viewport = PHONE if size == "phone" else DESKTOP
    opened = browser.new_context(viewport=viewport, locale=lang, is_mobile=size == "phone")
    yield opened
    opened.close()


def test_every_page_in_both_languages_at_both_widths(
    live_stack: Settings,
    people: People,
    context: BrowserContext,
    tmp_path: Path,
) -> None:
    page = context.new_page()
    page.set_default_timeout(15_000)
    lang = page.evaluate("navigator.language")
    width = page.viewport_size["width"] if page.viewport_size else 0
    size = "phone" if width == PHONE["width"] else "desktop"
    world = World(
        settings=live_stack,
        roster=tmp_path,
        alumnus=people.alumnus,
        subject=people.subject,
        values={
            "consent": people.consent,
            "webmail": live_stack.webmail_url,
            "staff": people.staff,
            "circle": people.circle,
        },
    )
    # The people's own data, in whatever script they wrote it: ours, and the circles other
    # tests of the run made, whose names and titles the circle lists and rankings show.
    data = {SUBJECT_NAME, *BOARD_POST, *circle_texts(live_stack)}
    watch = Watch()
    watch.attach(page)
    role = ANONYMOUS
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    started = time.monotonic()
    for visit in PAGES:
        if visit.role != role:
            context.clear_cookies()
            # Playwright's cookies as read are the ones it takes (its types name them apart).
            context.add_cookies(people.signed_in[visit.role])  # type: ignore[arg-type]
            role = visit.role
        watch.clear()
        if isinstance(visit.reach, str):
            target = world.fill(visit.reach)
            page.goto(target if "://" in target else f"{live_stack.public_url}{target}")
        else:
            visit.reach(page, world)
        page.wait_for_load_state()
        expected = visit.lang[0] if lang == CHINESE else visit.lang[1]
        page.screenshot(path=str(SHOTS / f"{visit.name}-{lang}-{size}.png"), full_page=True)
        for problem in problems_of(page, visit, watch, expected, width, data):
            problems.append(f"{visit.name} ({lang}, {size}): {problem}")
    print(f"{len(PAGES)} pages ({lang}, {size}) in {time.monotonic() - started:.1f} s")
    assert not problems, "\n".join(problems)
