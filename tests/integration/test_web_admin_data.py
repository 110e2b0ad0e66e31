"""The admin console's data pages (provisioning/web/admin_data.py) on the running stack: the
roster (status, an uploaded CSV with its report row by row, a dry run; hostile files refused
whole), API tokens (list, issue shown once, revoke after asking) and legacy holders (status,
record one), each through the CLI's use cases and audit; everyone but admins gets 403, and every
form needs its CSRF token."""

from __future__ import annotations

import dataclasses
import datetime
import re
import secrets
import socket

import httpx
import pytest

from identity.dit import Tree
from identity.legacy import LegacyHolder
from identity.roles import ROOT
from mailstack.settings import Settings
from provisioning.composition import Composition
from provisioning.legacy import holders
from provisioning.people import api_tokens, roster
from provisioning.store import Store
from provisioning.web.admin_data import ROSTER_BODY_MAX
from tests.integration.test_web_admin import audited, signed_in
from tests.support import NewAccount
from tests.web import STAFF_PASSWORD, bearer, client, console_staff, form_token, in_process

pytestmark = pytest.mark.integration

HEADER = "student_number,name,birth_date,graduation_year,legacy_address\n"


@pytest.fixture(scope="module")
def staff(live_stack: Settings) -> dict[str, str]:
    return console_staff(live_stack, "data")


def holder(settings: Settings, uid: str) -> LegacyHolder | None:
    """``uid``'s legacy mailbox as ``alumail legacy status`` reads it."""
    with Composition(settings) as root:
        return holders.holder(root.connections.system, Tree(settings.base_dn), uid)


def assert_refused(
    http: httpx.Client, path: str, token: str, cases: list[tuple[dict[str, str], int, str]]
) -> None:
    """Each form of ``cases`` (values, status, field) refused with its status and the rule
    under its field."""
    for values, status, field in cases:
        refused = http.post(path, data={"csrf_token": token, **values})
        assert refused.status_code == status, (values, refused.text)
        assert f'id="{field}-error"' in refused.text, values


def number() -> str:
    return f"S{secrets.randbelow(10**9):09d}"


def upload(
    http: httpx.Client, token: str, content: bytes, *, dry_run: bool = False
) -> httpx.Response:
    data = {"csrf_token": token, **({"dry_run": "yes"} if dry_run else {})}
    return http.post(
        "/admin/roster", data=data, files={"file": ("roster.csv", content, "text/csv")}
    )


def report_rows(page: str) -> list[list[str]]:
    body = page.split('id="report"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.DOTALL)
    ]


def test_roster_upload_reports_each_row_and_a_dry_run_changes_nothing(
    live_stack: Settings, staff: dict[str, str]
) -> None:
    store = Store.for_state(live_stack.state_dir)
    good, other, bad, formula = number(), number(), number(), number()
    content = (
        HEADER
        + f"{good},张伟,1993-05-17,,\n"
        + f"{other},Li Na,,2015,\n"
        + f"{bad},Wang Fang,1993-02-30,,\n"
        + f'{formula},=HYPERLINK("http://x"),,2015,\n'
        + f"{good},张伟,1993-05-17,,\n"
    ).encode()
    with signed_in(live_stack, staff["admin"]) as admin:
        page = admin.get("/admin/roster")
        assert page.status_code == 200 and 'id="graduates"' in page.text
        token = form_token(admin, "/admin/roster")
        checked = upload(admin, token, content, dry_run=True)
        assert checked.status_code == 200, checked.text
        assert "nothing was changed" in checked.text
        assert report_rows(checked.text)[0] == ["2", "would be added", "", ""]
        assert roster.lookup(store, good) is None  # the dry run wrote nothing
        loaded = upload(admin, token, content)
        assert loaded.status_code == 200, loaded.text
    assert report_rows(loaded.text) == [
        ["2", "added", "", ""],
        ["3", "added", "", ""],
        ["4", "refused", "birth_date", "is not a date of the calendar (check the month and day)"],
        ["5", "refused", "name", "must not start with = + - or @ (a spreadsheet formula)"],
        ["6", "refused", "student_number", "repeats line 2"],
    ]
    assert "2 added, 0 updated, 0 unchanged, 3 refused." in loaded.text
    found = roster.lookup(store, good)
    assert found is not None and found.name == "张伟"
    assert roster.lookup(store, bad) is None and roster.lookup(store, formula) is None
    assert audited(live_stack, "upload roster.csv", "roster-import", staff["admin"])
    with signed_in(live_stack, staff["admin"]) as admin:
        again = upload(admin, form_token(admin, "/admin/roster"), content)
    assert [row[1] for row in report_rows(again.text)[:2]] == ["unchanged", "unchanged"]


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "holds binary data"),
        (HEADER.encode() + "S000000001,张伟,1993-05-17,,\n".encode("gbk"), "is not UTF-8 text"),
        (HEADER.encode("utf-16"), "holds binary data"),
        (b"uid,given_name\nx,y\n", "unknown column"),
        (b"student_number,name\n", "missing column"),
        (b"", "choose a CSV file"),
        (b" \n", "is empty"),
        (HEADER.encode() + b"x" * roster.UPLOAD_MAX_BYTES, "is larger than 8 MiB"),
    ],
    ids=["binary", "gbk", "utf-16", "columns", "missing", "no-file", "empty", "too-large"],
)
def test_a_hostile_roster_file_is_refused_whole(
    live_stack: Settings, staff: dict[str, str], content: bytes, rule: str
) -> None:
    store = Store.for_state(live_stack.state_dir)
    before = roster.counts(store)
    with signed_in(live_stack, staff["admin"]) as admin:
        token = form_token(admin, "/admin/roster")
        if content:
            refused = upload(admin, token, content)
        else:  # the form sent with no file chosen
            refused = admin.post("/admin/roster", data={"csrf_token": token})
    assert refused.status_code in (413, 422), refused.text
    assert (refused.status_code == 413) == (rule == "is larger than 8 MiB")
    error = re.search(r'id="file-error">([^<]*)<', refused.text)
    assert error and rule in error.group(1), refused.text
    assert roster.counts(store) == before


def test_a_body_past_the_upload_limit_is_refused_before_it_is_read(
    live_stack: Settings,
) -> None:
    """The roster's path takes a larger body than any other (the file), and no larger: a
    declared length past it is refused from the headers alone."""
    with socket.create_connection((live_stack.connect_host, live_stack.ports.web), 20) as raw:
        raw.sendall(
            b"POST /admin/roster HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            b"boundary=b\r\nContent-Length: %d\r\n\r\n" % (ROSTER_BODY_MAX + 1)
        )
        assert raw.recv(200).startswith(b"HTTP/1.1 413 ")


def test_admin_issues_lists_and_revokes_a_token(
    live_stack: Settings, staff: dict[str, str]
) -> None:
    store = Store.for_state(live_stack.state_dir)
    label = f"nightly export {secrets.token_hex(2)}"
    with signed_in(live_stack, staff["admin"]) as admin:
        token = form_token(admin, "/admin/tokens")
        issued = admin.post(
            "/admin/tokens", data={"csrf_token": token, "uid": staff["helpdesk"], "label": label}
        )
        assert issued.status_code == 200, issued.text
        assert issued.headers["cache-control"] == "no-store"
        shown = re.search(r'id="issued-token">([^<]+)<', issued.text)
        assert shown
        value = shown.group(1)
        with client(live_stack) as api:  # the token works on the API as the helpdesk member
            assert api.get("/api/v1/accounts", headers=bearer(value)).status_code == 200
        listing = admin.get("/admin/tokens").text
        assert label in listing and value not in listing  # never the token again
        token_id = api_tokens.token_id(value)
        assert audited(live_stack, staff["helpdesk"], "token-issue", staff["admin"])

        asked = admin.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": token})
        assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
        assert next(t for t in api_tokens.listing(store) if t.id == token_id).revoked is None
        revoked = admin.post(
            f"/admin/tokens/{token_id}/revoke", data={"csrf_token": token, "confirmed": "yes"}
        )
        assert revoked.status_code == 200 and f"Token {token_id} revoked." in revoked.text
        with client(live_stack) as api:
            assert api.get("/api/v1/accounts", headers=bearer(value)).status_code == 401
        assert audited(live_stack, token_id, "token-revoke", staff["admin"])
        missing = admin.post("/admin/tokens/000000000000/revoke", data={"csrf_token": token})
        assert missing.status_code == 404


def test_a_token_for_someone_not_staff_or_with_a_bad_label_is_refused(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, _ = new_account()
    store = Store.for_state(live_stack.state_dir)
    before = len(api_tokens.listing(store))
    with signed_in(live_stack, staff["admin"]) as admin:
        cases = [
            ({"uid": account.uid, "label": "x"}, 422, "uid"),  # an alumnus
            ({"uid": "nobody.here", "label": "x"}, 404, "uid"),
            ({"uid": "Not A Uid!", "label": "x"}, 422, "uid"),
            ({"uid": staff["admin"], "label": ""}, 422, "label"),
            ({"uid": staff["admin"], "label": "x" * 65}, 422, "label"),
        ]
        assert_refused(admin, "/admin/tokens", form_token(admin, "/admin/tokens"), cases)
    assert len(api_tokens.listing(store)) == before


def test_admin_sees_and_records_legacy_holders(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, _ = new_account()
    address = f"{account.uid}@old-alumni.example.edu"
    cases = [
        ({"uid": account.uid, "address": "not an address"}, 422, "address"),
        ({"uid": "nobody.here", "address": address}, 404, "uid"),
        ({"uid": "Bad Uid!", "address": address}, 422, "uid"),
    ]
    with signed_in(live_stack, staff["admin"]) as admin:
        token = form_token(admin, "/admin/legacy")
        assert_refused(admin, "/admin/legacy", token, cases)
        recorded = admin.post(
            "/admin/legacy", data={"csrf_token": token, "uid": account.uid, "address": address}
        )
        assert recorded.status_code == 200, recorded.text
        rows = recorded.text.split('id="holders"')[1].split("</tbody>")[0]
        assert account.uid in rows and address in rows and "not migrated" in rows
    held = holder(live_stack, account.uid)
    assert held is not None and held.legacy_address == address
    assert audited(live_stack, account.uid, "legacy-set", staff["admin"])


def test_the_legacy_page_lists_the_reminders_due_today_and_sends_none(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    """With a cutoff five days away the seven-day reminder is due: the page lists it, as
    ``legacy remind --dry-run`` would, and nothing is sent or recorded as sent."""
    account, _ = new_account()
    with Composition(live_stack) as root:
        holders.record_holder(
            root.connections.system,
            Tree(live_stack.base_dn),
            root.audit,
            ROOT,
            account.uid,
            f"{account.uid}@old-alumni.example.edu",
        )
    cutoff = (datetime.date.today() + datetime.timedelta(days=5)).isoformat()
    closing = dataclasses.replace(live_stack.legacy, cutoff=cutoff, reminder_days=(30, 7))
    with in_process(live_stack, legacy=closing) as http:
        token = form_token(http, "/login")
        signed = http.post(
            "/login",
            data={"csrf_token": token, "login": staff["admin"], "password": STAFF_PASSWORD},
        )
        assert signed.status_code == 303, signed.text
        page = http.get("/admin/legacy")
    assert page.status_code == 200, page.text
    assert f"The legacy mailboxes close on {cutoff}." in page.text
    due = page.text.split('id="reminders"')[1].split("</ul>")[0]
    assert f"{account.uid}: 7 days before, {account.mail}" in due
    with Store.for_state(live_stack.state_dir).connect() as db:
        sent = db.execute("SELECT 1 FROM reminders WHERE uid = ?", (account.uid,)).fetchall()
    assert sent == []


PATHS = [
    ("GET", "/admin/roster"),
    ("GET", "/admin/tokens"),
    ("GET", "/admin/legacy"),
    ("POST", "/admin/roster"),
    ("POST", "/admin/tokens"),
    ("POST", "/admin/tokens/{token}/revoke"),
    ("POST", "/admin/legacy"),
]


def test_only_admins_and_only_with_the_form_token(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, password = new_account()
    store = Store.for_state(live_stack.state_dir)
    with Composition(live_stack) as root:
        issued = root.api_tokens().issue(ROOT, staff["admin"], "refusal test")
    token_id = issued.info.id
    graduates = roster.counts(store)
    content = (HEADER + f"{number()},Refused Upload,1993-05-17,,\n").encode()
    fields = {"uid": account.uid, "label": "x", "address": "x@old.example.edu"}
    for login, secret in ((staff["helpdesk"], STAFF_PASSWORD), (account.uid, password)):
        with signed_in(live_stack, login, secret) as http:
            token = form_token(http, "/")
            for method, path in PATHS:
                url = path.format(token=token_id)
                if method == "GET":
                    answer = http.get(url)
                else:
                    answer = http.post(
                        url,
                        data={"csrf_token": token, "confirmed": "yes", **fields},
                        files={"file": ("r.csv", content, "text/csv")}
                        if path == "/admin/roster"
                        else None,
                    )
                assert answer.status_code == 403, (login, path, answer.status_code)
    with signed_in(live_stack, staff["admin"]) as admin:
        for method, path in PATHS:
            if method == "POST":  # no form token
                url = path.format(token=token_id)
                answer = admin.post(url, data={"confirmed": "yes", **fields})
                assert answer.status_code == 403, (path, answer.status_code)
    assert roster.counts(store) == graduates
    assert next(t for t in api_tokens.listing(store) if t.id == token_id).revoked is None
    assert holder(live_stack, account.uid) is None
