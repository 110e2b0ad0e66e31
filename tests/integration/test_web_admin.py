"""The admin console (provisioning/web/admin.py) on the running stack: an admin signs in on the
portal's page and runs the same use cases as the CLI, audited; destructive actions ask first;
helpdesk staff and alumni are refused everywhere; every form needs its CSRF token; bad input is
shown under its field and creates nothing."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from identity.accounts import Account, AccountStatus
from identity.errors import NotFoundError
from identity.roles import ROOT, Role
from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from provisioning.people.accounts import AccountService
from provisioning.people.staff import StaffService
from tests.support import NewAccount, alumail, use_case
from tests.web import STAFF_PASSWORD, client, console_staff, form_token

pytestmark = pytest.mark.integration

GET_PATHS = [
    "/admin",
    "/admin/accounts",
    "/admin/accounts/new",
    "/admin/accounts/{uid}",
    "/admin/staff",
    "/admin/audit",
    "/admin/audit/verify",
]
POST_PATHS = [
    "/admin/accounts/new",
    "/admin/accounts/{uid}/edit",
    "/admin/accounts/{uid}/aliases",
    "/admin/accounts/{uid}/resume",
    "/admin/accounts/{uid}/suspend",
    "/admin/accounts/{uid}/delete",
    "/admin/accounts/{uid}/remove-alias",
    "/admin/staff",
    "/admin/staff/{staff}/role",
    "/admin/staff/{staff}/remove",
]


@pytest.fixture(scope="module")
def staff(live_stack: Settings) -> dict[str, str]:
    """A new admin and a new helpdesk member, by role."""
    return console_staff(live_stack, "console")


@contextmanager
def signed_in(
    settings: Settings, login: str, password: str = STAFF_PASSWORD
) -> Iterator[httpx.Client]:
    with client(settings) as http:
        signed = http.post(
            "/login",
            data={"csrf_token": form_token(http, "/login"), "login": login, "password": password},
        )
        assert signed.status_code == 303, signed.text
        yield http


def audited(settings: Settings, uid: str, action: str, admin: str) -> bool:
    return any(
        admin in str(line.get("actor"))
        for line in AuditLog(audit_path(settings.state_dir)).query(target=uid, action=action)
    )


def get_account(settings: Settings, uid: str) -> Account:
    with use_case(AccountService, settings, ROOT) as service:
        return service.get(uid)


def test_status_page_shows_each_service(live_stack: Settings, staff: dict[str, str]) -> None:
    with signed_in(live_stack, staff["admin"]) as admin:
        page = admin.get("/admin")
    assert page.status_code == 200, page.text
    for name, _port in live_stack.ports.items():
        assert f"<td>{name}</td>" in page.text
    assert 'class="ok"' in page.text and 'class="down"' not in page.text  # the whole stack is up
    assert live_stack.public_url in page.text and 'id="disk"' in page.text
    assert 'id="admin-link"' in page.text


def test_the_header_offers_what_each_role_has_on_every_page(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    """Staff have no mailbox and alumni no console: the header says so on pages that do not
    deal with roles too (the password page, an error page)."""
    account, password = new_account()
    for login, secret, mailbox, console in (
        (staff["admin"], STAFF_PASSWORD, False, True),
        (staff["helpdesk"], STAFF_PASSWORD, False, False),
        (account.uid, password, True, False),
    ):
        with signed_in(live_stack, login, secret) as http:
            for path in ("/account/password", "/no/such/page"):
                page = http.get(path, headers={"Accept": "text/html"})
                assert page.status_code in (200, 404), page.text
                assert ('id="mailbox-link"' in page.text) is mailbox, (login, path)
                assert ('id="admin-link"' in page.text) is console, (login, path)


def test_admin_creates_edits_and_deletes_an_account(
    live_stack: Settings, staff: dict[str, str]
) -> None:
    uid = f"adm{secrets.token_hex(3)}"
    admin_uid = staff["admin"]
    with signed_in(live_stack, admin_uid) as admin:
        token = form_token(admin, "/admin/accounts/new")
        created = admin.post(
            "/admin/accounts/new",
            data={"csrf_token": token, "uid": uid, "name": "Li Na", "password": "", "quota": "2G"},
        )
        assert created.status_code == 200, created.text
        shown = re.search(r'id="generated-password">([^<]+)<', created.text)
        assert shown and len(shown.group(1)) >= 12
        account = get_account(live_stack, uid)
        assert account.display_name == "Li Na" and account.quota == 2 * 2**30
        assert audited(live_stack, uid, "create", admin_uid)
        assert uid in admin.get("/admin/accounts", params={"q": "Li Na"}).text

        edited = admin.post(
            f"/admin/accounts/{uid}/edit",
            data={"csrf_token": token, "name": "李娜", "quota": "3G"},
        )
        assert edited.status_code == 200, edited.text
        account = get_account(live_stack, uid)
        assert account.display_name == "李娜" and account.quota == 3 * 2**30
        assert audited(live_stack, uid, "quota", admin_uid)

        alias = f"na.{uid}@{live_stack.domain}"
        added = admin.post(
            f"/admin/accounts/{uid}/aliases", data={"csrf_token": token, "alias": alias}
        )
        assert added.status_code == 200 and alias in added.text
        assert alias in get_account(live_stack, uid).aliases

        # Each destructive action: the first post asks and changes nothing; the second acts.
        for action, fields in (("remove-alias", {"alias": alias}), ("suspend", {})):
            asked = admin.post(
                f"/admin/accounts/{uid}/{action}", data={"csrf_token": token, **fields}
            )
            assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
        account = get_account(live_stack, uid)
        assert alias in account.aliases and account.status is AccountStatus.ACTIVE
        for action, fields in (("remove-alias", {"alias": alias}), ("suspend", {})):
            done = admin.post(
                f"/admin/accounts/{uid}/{action}",
                data={"csrf_token": token, "confirmed": "yes", **fields},
            )
            assert done.status_code == 200, done.text
        account = get_account(live_stack, uid)
        assert alias not in account.aliases and account.status is AccountStatus.SUSPENDED
        assert audited(live_stack, uid, "alias-remove", admin_uid)
        assert audited(live_stack, uid, "suspend", admin_uid)
        resumed = admin.post(f"/admin/accounts/{uid}/resume", data={"csrf_token": token})
        assert resumed.status_code == 200
        assert get_account(live_stack, uid).status is AccountStatus.ACTIVE

        asked = admin.post(f"/admin/accounts/{uid}/delete", data={"csrf_token": token})
        assert f"Delete {uid}?" in asked.text
        assert get_account(live_stack, uid).uid == uid
        deleted = admin.post(
            f"/admin/accounts/{uid}/delete", data={"csrf_token": token, "confirmed": "yes"}
        )
        assert deleted.status_code == 200 and "archived" in deleted.text
    with pytest.raises(NotFoundError):
        get_account(live_stack, uid)
    assert audited(live_stack, uid, "delete", admin_uid)


def test_bad_input_is_shown_under_its_field_and_creates_nothing(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, _ = new_account()
    uid = f"bad{secrets.token_hex(3)}"
    with signed_in(live_stack, staff["admin"]) as admin:
        token = form_token(admin, "/admin/accounts/new")
        for field, values in (
            ("uid", {"uid": "Not A Uid!", "quota": "1G"}),
            ("quota", {"uid": uid, "quota": "lots"}),
        ):
            refused = admin.post(
                "/admin/accounts/new",
                data={"csrf_token": token, "name": "Bad Input", "password": "", **values},
            )
            assert refused.status_code == 422, refused.text
            assert f'id="{field}-error"' in refused.text
        with pytest.raises(NotFoundError):
            get_account(live_stack, uid)
        refused = admin.post(
            f"/admin/accounts/{account.uid}/edit",
            data={"csrf_token": token, "name": "Changed Name", "quota": "0"},
        )
        assert refused.status_code == 422 and 'id="quota-error"' in refused.text
    assert get_account(live_stack, account.uid).display_name == account.display_name


def test_helpdesk_and_alumni_are_refused_and_forms_need_their_token(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, password = new_account()
    for login, secret in ((staff["helpdesk"], STAFF_PASSWORD), (account.uid, password)):
        with signed_in(live_stack, login, secret) as http:
            token = form_token(http, "/")
            for path in GET_PATHS:
                assert http.get(path.format(uid=account.uid)).status_code == 403, (login, path)
            for path in POST_PATHS:
                refused = http.post(
                    path.format(uid=account.uid, staff=staff["helpdesk"]),
                    data={
                        "csrf_token": token,
                        "confirmed": "yes",
                        "uid": "x",
                        "alias": "x",
                        "role": "admin",
                    },
                )
                assert refused.status_code == 403, (login, path)
    with signed_in(live_stack, staff["admin"]) as admin:
        for path in POST_PATHS:
            refused = admin.post(
                path.format(uid=account.uid, staff=staff["helpdesk"]),
                data={"confirmed": "yes", "role": "admin"},
            )
            assert refused.status_code == 403, path
    assert get_account(live_stack, account.uid).status is AccountStatus.ACTIVE
    assert role_of(live_stack, staff["helpdesk"]) == "helpdesk"


def role_of(settings: Settings, uid: str) -> str | None:
    with use_case(StaffService, settings) as service:
        return next((m["role"] for m in service.members() if m["uid"] == uid), None)


def test_admin_adds_promotes_and_removes_staff(live_stack: Settings, staff: dict[str, str]) -> None:
    uid = f"newstaff.{secrets.token_hex(2)}"
    admin_uid = staff["admin"]
    with signed_in(live_stack, admin_uid) as admin:
        token = form_token(admin, "/admin/staff")
        refused = admin.post(
            "/admin/staff",
            data={"csrf_token": token, "uid": uid, "name": "New Staff", "role": "root"},
        )
        assert refused.status_code == 422 and 'id="role-error"' in refused.text
        assert role_of(live_stack, uid) is None
        added = admin.post(
            "/admin/staff",
            data={"csrf_token": token, "uid": uid, "name": "New Staff", "role": "helpdesk"},
        )
        assert added.status_code == 200, added.text
        temporary = re.search(r'id="generated-password">([^<]+)<', added.text)
        assert temporary
        assert role_of(live_stack, uid) == "helpdesk"
        with signed_in(live_stack, uid, temporary.group(1)) as newcomer:
            assert newcomer.get("/admin").status_code == 403
        promoted = admin.post(
            f"/admin/staff/{uid}/role", data={"csrf_token": token, "role": "admin"}
        )
        assert promoted.status_code == 200, promoted.text
        assert role_of(live_stack, uid) == "admin"
        assert audited(live_stack, uid, "staff-role", admin_uid)
        with signed_in(live_stack, uid, temporary.group(1)) as newcomer:
            assert newcomer.get("/admin").status_code == 200
        asked = admin.post(f"/admin/staff/{uid}/remove", data={"csrf_token": token})
        assert f"Remove the staff member {uid}?" in asked.text
        assert role_of(live_stack, uid) == "admin"
        removed = admin.post(
            f"/admin/staff/{uid}/remove", data={"csrf_token": token, "confirmed": "yes"}
        )
        assert removed.status_code == 200, removed.text
        assert role_of(live_stack, uid) is None
        assert audited(live_stack, uid, "staff-remove", admin_uid)


def test_audit_trail_filters_and_verifies(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, _ = new_account()
    with use_case(AccountService, live_stack) as service:
        service.set_quota(account.uid, "3G")
    with signed_in(live_stack, staff["admin"]) as admin:
        page = admin.get("/admin/audit", params={"target": account.uid, "action": "quota"})
        assert page.status_code == 200, page.text
        rows = page.text.split('id="audit"')[1].split("<tbody>")[1].split("</tbody>")[0]
        assert rows.count("<tr>") == 1 and f"<td>{account.uid}</td>" in rows
        assert '<td title="quota">quota</td>' in rows and "<td>root</td>" in rows
        other = admin.get("/admin/audit", params={"target": account.uid, "action": "delete"})
        assert 'title="quota"' not in other.text
        bad = admin.get("/admin/audit", params={"limit": "lots"})
        assert bad.status_code == 422 and 'id="limit-error"' in bad.text
        verified = admin.get("/admin/audit/verify")
        assert verified.status_code == 200 and "The hash chain is intact." in verified.text


def test_the_command_line_changes_a_role_through_the_same_use_case(
    live_stack: Settings, staff: dict[str, str]
) -> None:
    uid = f"clirole.{secrets.token_hex(2)}"
    with use_case(StaffService, live_stack) as service:
        service.add(uid, "Role Change", Role.HELPDESK, STAFF_PASSWORD)
    promoted = alumail(live_stack, "staff", "role", uid, "admin", check=True)
    assert f"{uid} is now admin" in promoted.stderr + promoted.stdout
    assert role_of(live_stack, uid) == "admin"
    again = alumail(live_stack, "staff", "role", uid, "admin", check=True)
    assert "already" in again.stderr + again.stdout
    refused = alumail(live_stack, "staff", "role", uid, "root")
    assert refused.returncode != 0 and role_of(live_stack, uid) == "admin"
    assert audited(live_stack, uid, "staff-role", "root")
