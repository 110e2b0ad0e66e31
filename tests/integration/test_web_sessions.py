"""Sessions and API tokens end with what they were granted against (issue 10, items 7 and 9):
a suspension, deletion, helpdesk reset or password change ends every browser session of the
person, whichever face made it; an API token stops when its staff entry is removed (even if
the UID is added again), demoted or suspended."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator

import httpx
import pytest

from identity.directory import Directory
from identity.dit import Tree
from identity.roles import Role
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from provisioning.people.staff import StaffService
from provisioning.store import Store
from tests.support import NewAccount, alumail, use_case
from tests.web import client, form_token

pytestmark = pytest.mark.integration
STAFF_PASSWORD = "Staff-Password-55"
NEW_PASSWORD = "Another-Good-Pass-9"


def sign_in(http: httpx.Client, login: str, password: str) -> None:
    answer = http.post(
        "/login",
        data={"csrf_token": form_token(http, "/login"), "login": login, "password": password},
    )
    assert answer.status_code == 303 and "/login" not in answer.headers["location"]


def assert_signed_out(http: httpx.Client, csrf: str, password: str) -> None:
    """The old cookie gets the sign-in page, and can neither change the profile, download the
    mailbox nor change the password."""
    assert http.get("/account").headers.get("location", "").startswith("/login")
    edit = http.post("/account", data={"csrf_token": csrf, "display_name": "Changed By Thief"})
    assert edit.status_code == 303 and edit.headers["location"].startswith("/login")
    download = http.get("/account/mailbox.tar.gz")
    assert download.status_code == 303 and download.headers["location"].startswith("/login")
    change = http.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current": password,
            "password": "Thief-Chosen-Pass-1",
            "password_again": "Thief-Chosen-Pass-1",
        },
    )
    assert change.status_code == 303 and change.headers["location"].startswith("/login")


_OPENED: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_browsers() -> Iterator[None]:
    """Every browser opened() made is closed when its test ends (left to the collector, its
    keep-alive socket raised a ResourceWarning in whatever test ran next)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def opened(settings: Settings, uid: str, password: str) -> tuple[httpx.Client, str]:
    http = client(settings)
    _OPENED.append(http)
    sign_in(http, uid, password)
    assert http.get("/account").status_code == 200
    return http, form_token(http, "/account")


def test_suspension_ends_the_session(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService
) -> None:
    account, password = new_account()
    http, csrf = opened(live_stack, account.uid, password)
    with contextlib.closing(http):
        alumail(live_stack, "account", "suspend", account.uid, check=True)
        assert_signed_out(http, csrf, password)
        alumail(live_stack, "account", "resume", account.uid, check=True)
        # Resuming does not bring the old session back.
        assert http.get("/account").headers.get("location", "").startswith("/login")
    assert accounts.get(account.uid).display_name == account.display_name
    with client(live_stack) as again:
        sign_in(again, account.uid, password)  # the password was not changed either


def test_helpdesk_reset_ends_the_session(live_stack: Settings, new_account: NewAccount) -> None:
    account, password = new_account()
    http, csrf = opened(live_stack, account.uid, password)
    with contextlib.closing(http):
        alumail(live_stack, "helpdesk", "reset-password", account.uid, check=True)
        assert_signed_out(http, csrf, password)


def test_deletion_ends_the_session_even_when_the_uid_comes_back(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService
) -> None:
    account, password = new_account()
    http, csrf = opened(live_stack, account.uid, password)
    with contextlib.closing(http):
        alumail(live_stack, "account", "delete", account.uid, "--purge-mail", check=True)
        accounts.create(account.uid, "Someone Else", password)  # another entry, same UID
        assert_signed_out(http, csrf, password)


def stored_sessions(settings: Settings, uid: str) -> int:
    with Store.for_state(settings.state_dir).connect() as db:
        found: int = db.execute("SELECT COUNT(*) FROM sessions WHERE uid = ?", (uid,)).fetchone()[0]
    return found


@pytest.mark.parametrize(
    "command",
    [
        ["account", "suspend", "{uid}"],
        ["helpdesk", "reset-password", "{uid}"],
        ["account", "delete", "{uid}", "--purge-mail"],
    ],
)
def test_the_cli_ends_the_sessions_themselves_as_the_web_does(
    live_stack: Settings, new_account: NewAccount, command: list[str]
) -> None:
    """Not only refused at their next request: the sessions are gone from the store, as after
    the same action on the helpdesk console or the API (the use case ends them)."""
    account, password = new_account()
    http, _ = opened(live_stack, account.uid, password)
    with contextlib.closing(http):
        assert stored_sessions(live_stack, account.uid) == 1
        alumail(live_stack, *(part.format(uid=account.uid) for part in command), check=True)
        assert stored_sessions(live_stack, account.uid) == 0


def test_a_password_change_ends_every_other_session(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    changer, csrf = opened(live_stack, account.uid, password)
    other, other_csrf = opened(live_stack, account.uid, password)
    with contextlib.closing(changer), contextlib.closing(other):
        changed = changer.post(
            "/account/password",
            data={
                "csrf_token": csrf,
                "current": password,
                "password": NEW_PASSWORD,
                "password_again": NEW_PASSWORD,
            },
        )
        assert changed.status_code == 200, changed.text
        assert changer.get("/account").status_code == 200  # a new session for this browser
        assert_signed_out(other, other_csrf, NEW_PASSWORD)
        # The command line's change ends the changer's new session too.
        alumail(
            live_stack,
            "passwd",
            account.uid,
            "--password-stdin",
            stdin=f"{NEW_PASSWORD}\n{password}\n{password}\n",
            check=True,
        )
        assert changer.get("/account").headers.get("location", "").startswith("/login")


def test_a_password_written_by_any_face_ends_the_session(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService
) -> None:
    """No face closes the web sessions here: the new pwdChangedTime alone ends them."""
    account, password = new_account()
    http, csrf = opened(live_stack, account.uid, password)
    with contextlib.closing(http):
        accounts.set_password(account.uid, NEW_PASSWORD)
        assert_signed_out(http, csrf, NEW_PASSWORD)


# -- API tokens ----------------------------------------------------------------------------------


def staff_token(settings: Settings, uid: str, role: Role) -> str:
    with use_case(StaffService, settings) as service:
        service.add(uid, "Token Holder", role, STAFF_PASSWORD)
    proc = alumail(settings, "token", "issue", uid, "--label", "session tests", check=True)
    return proc.stdout.strip()


def api_status(settings: Settings, token: str) -> int:
    with client(settings) as http:
        answer = http.get("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


def revoked(settings: Settings, uid: str) -> bool:
    rows = json.loads(alumail(settings, "token", "list", "--json", check=True).stdout)
    mine = [r for r in rows if r["uid"] == uid]
    return bool(mine) and all(r["revoked"] for r in mine)


def test_token_of_a_removed_member_never_acts_for_a_new_one(live_stack: Settings) -> None:
    uid = f"tok.{secrets.token_hex(3)}"
    token = staff_token(live_stack, uid, Role.HELPDESK)
    assert api_status(live_stack, token) == 200
    alumail(live_stack, "staff", "remove", uid, check=True)
    assert revoked(live_stack, uid)
    with use_case(StaffService, live_stack) as service:
        service.add(uid, "New Admin", Role.ADMIN, STAFF_PASSWORD)
    assert api_status(live_stack, token) == 401
    # The new member's own token works, and the old one showing up does not revoke it.
    proc = alumail(live_stack, "token", "issue", uid, "--label", "new admin", check=True)
    fresh = proc.stdout.strip()
    assert api_status(live_stack, fresh) == 200
    assert api_status(live_stack, token) == 401
    assert api_status(live_stack, fresh) == 200


def test_demotion_and_suspension_revoke_tokens(live_stack: Settings) -> None:
    tree = Tree(live_stack.base_dn)
    demoted, suspended = (f"tok.{secrets.token_hex(3)}" for _ in range(2))
    demoted_token = staff_token(live_stack, demoted, Role.ADMIN)
    suspended_token = staff_token(live_stack, suspended, Role.HELPDESK)
    assert api_status(live_stack, demoted_token) == 200
    assert api_status(live_stack, suspended_token) == 200
    member = tree.staff_member(demoted)
    with Directory(Layout(live_stack.state_dir).ldapi_uri) as root:
        root.modify(tree.admins_group, [("delete", "member", [member])])
        root.modify(tree.helpdesk_group, [("add", "member", [member])])
        root.modify(
            tree.staff_member(suspended),
            [("add", "pwdAccountLockedTime", ["000001010000Z"])],
        )
    assert api_status(live_stack, demoted_token) == 401
    assert api_status(live_stack, suspended_token) == 401
    with Directory(Layout(live_stack.state_dir).ldapi_uri) as root:
        root.modify(tree.helpdesk_group, [("delete", "member", [member])])
        root.modify(tree.admins_group, [("add", "member", [member])])
        root.modify(tree.staff_member(suspended), [("delete", "pwdAccountLockedTime", None)])
    # Revoked for good: restoring the role or lifting the lock brings no token back.
    assert api_status(live_stack, demoted_token) == 401
    assert api_status(live_stack, suspended_token) == 401
    assert revoked(live_stack, demoted) and revoked(live_stack, suspended)
