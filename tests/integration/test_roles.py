"""Roles, the helpdesk and privilege escalation, against the directory's real ACLs. Every
attempt is made twice where it matters: through alumail (refused early, audited) and straight
at slapd as that identity (refused by the ACLs, whatever a client does)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import ldap
import pytest
from ldap.ldapobject import LDAPObject

from identity.dit import Tree
from identity.errors import AccessDeniedError, ValidationError
from identity.roles import Actor, Role
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from provisioning.composition import Composition
from provisioning.people.accounts import AccountService
from provisioning.people.helpdesk import Helpdesk
from provisioning.people.staff import StaffService
from tests import mail
from tests.support import NewAccount, alumail, use_case

pytestmark = pytest.mark.integration
STAFF_PASSWORD = "Staff-Password-55"


@pytest.fixture(scope="module")
def staff(live_stack: Settings) -> dict[str, str]:
    """One admin and one helpdesk member, added by root."""
    suffix = secrets.token_hex(3)
    names = {"admin": f"admin.{suffix}", "helpdesk": f"desk.{suffix}"}
    with use_case(StaffService, live_stack) as service:
        service.add(names["admin"], "Admin Wang", Role.ADMIN, STAFF_PASSWORD)
        service.add(names["helpdesk"], "Desk Li", Role.HELPDESK, STAFF_PASSWORD)
    return names


def actor(settings: Settings, uid: str, password: str = STAFF_PASSWORD) -> Actor:
    with Composition(settings) as root:
        return root.signin.resolve_actor(uid, password)


def raw_bind(settings: Settings, dn: str, password: str) -> LDAPObject:
    conn = ldap.initialize(Layout(settings.state_dir).ldapi_uri)
    conn.simple_bind_s(dn, password)
    return conn


def last_audit(settings: Settings, target: str) -> dict[str, object]:
    return AuditLog(audit_path(settings.state_dir)).query(target=target)[-1]


def test_actors_are_proven_by_password(live_stack: Settings, staff: dict[str, str]) -> None:
    assert actor(live_stack, staff["admin"]).role is Role.ADMIN
    assert actor(live_stack, staff["helpdesk"]).role is Role.HELPDESK
    with pytest.raises(AccessDeniedError, match="cannot sign in"):
        actor(live_stack, staff["helpdesk"], "Wrong-Password-1")


def test_admin_creates_and_helpdesk_cannot(live_stack: Settings, staff: dict[str, str]) -> None:
    with use_case(AccountService, live_stack, actor(live_stack, staff["admin"])) as admin:
        admin.create("made.by.admin", "By Admin", "Admin-Made-Pass-1")
    with (
        use_case(AccountService, live_stack, actor(live_stack, staff["helpdesk"])) as desk,
        pytest.raises(AccessDeniedError, match="may not create accounts"),
    ):
        desk.create("made.by.desk", "By Desk", "Desk-Made-Pass-1")
    line = last_audit(live_stack, "made.by.desk")
    assert (line["actor"], line["role"], line["outcome"]) == (
        staff["helpdesk"],
        "helpdesk",
        "denied",
    )


def test_helpdesk_reset_forces_a_change_before_mail_works(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, old = new_account()
    assert mail.imap_login_ok(live_stack, account.uid, old)  # cached by Dovecot
    with use_case(Helpdesk, live_stack, actor(live_stack, staff["helpdesk"])) as desk:
        temporary = desk.reset_password(account.uid)
        state = desk.status(account.uid)
    assert state.must_change_password and not state.locked
    assert not mail.imap_login_ok(live_stack, account.uid, old)
    assert not mail.imap_login_ok(live_stack, account.uid, temporary)  # must change first
    assert not mail.smtp_login_ok(live_stack, account.uid, temporary)
    with Composition(live_stack) as root:
        with pytest.raises(ValidationError, match="at least 10"):
            root.passwords.change_own(account.uid, temporary, "short")
        with pytest.raises(AccessDeniedError, match="current password"):
            root.passwords.change_own(account.uid, "Not-The-Temp-1", "Brand-New-Pass-7")
        root.passwords.change_own(account.uid, temporary, "Brand-New-Pass-7")
    assert mail.imap_login_ok(live_stack, account.uid, "Brand-New-Pass-7")
    with use_case(Helpdesk, live_stack) as desk:
        assert not desk.status(account.uid).must_change_password
    trail = AuditLog(audit_path(live_stack.state_dir)).query(target=account.uid)
    # The status reads leave no line: reads are never audited.
    assert [(x["action"], x["outcome"]) for x in trail[-3:]] == [
        ("reset-password", "ok"),
        ("passwd", "denied"),
        ("passwd", "ok"),
    ]
    assert trail[-3]["actor"] == staff["helpdesk"] and trail[-1]["actor"] == account.uid
    raw = audit_path(live_stack.state_dir).read_text()
    assert temporary not in raw and "Brand-New-Pass-7" not in raw


def test_lockout_status_and_unlock(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, password = new_account()
    dn = Tree(live_stack.base_dn).person(account.uid)
    for _ in range(10):  # ppolicy: 10 failures lock the account
        with pytest.raises(ldap.INVALID_CREDENTIALS):
            raw_bind(live_stack, dn, "Wrong-Password-0")
    with use_case(Helpdesk, live_stack, actor(live_stack, staff["helpdesk"])) as desk:
        state = desk.status(account.uid)
        assert state.locked and state.recent_failures >= 10
        assert not mail.imap_login_ok(live_stack, account.uid, password)
        assert desk.unlock(account.uid)
        assert not desk.unlock(account.uid)  # not locked any more: no change
    assert mail.imap_login_ok(live_stack, account.uid, password)
    with use_case(Helpdesk, live_stack) as desk:
        state = desk.status(account.uid)
    assert state.recent_failures == 0  # the successful bind cleared them
    assert state.last_login is not None


def test_helpdesk_suspends_and_resumes_alumni(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, password = new_account()
    from identity.accounts import AccountStatus

    with use_case(AccountService, live_stack, actor(live_stack, staff["helpdesk"])) as desk:
        assert desk.set_status(account.uid, AccountStatus.SUSPENDED)
        assert not mail.imap_login_ok(live_stack, account.uid, password)
        assert desk.set_status(account.uid, AccountStatus.ACTIVE)
    assert mail.imap_login_ok(live_stack, account.uid, password)


# -- escalation attempts --------------------------------------------------------------------------


def test_helpdesk_cannot_reset_an_admin(live_stack: Settings, staff: dict[str, str]) -> None:
    with (
        use_case(Helpdesk, live_stack, actor(live_stack, staff["helpdesk"])) as desk,
        pytest.raises(AccessDeniedError, match="may not act on staff account"),
    ):
        desk.reset_password(staff["admin"])
    assert last_audit(live_stack, staff["admin"])["outcome"] == "denied"
    # Straight at slapd: no write to anything under ou=staff.
    tree = Tree(live_stack.base_dn)
    conn = raw_bind(live_stack, tree.staff_member(staff["helpdesk"]), STAFF_PASSWORD)
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        conn.modify_s(
            tree.staff_member(staff["admin"]),
            [(ldap.MOD_REPLACE, "userPassword", [b"{SSHA}" + b"A" * 40])],
        )
    # The admin still signs in with the old password.
    assert actor(live_stack, staff["admin"]).role is Role.ADMIN


def test_helpdesk_cannot_grant_itself_admin(live_stack: Settings, staff: dict[str, str]) -> None:
    desk_actor = actor(live_stack, staff["helpdesk"])
    with (
        use_case(StaffService, live_stack, desk_actor) as service,
        pytest.raises(AccessDeniedError, match="may not add staff"),
    ):
        service.add("sneaky", "Sneaky", Role.ADMIN, STAFF_PASSWORD)
    assert last_audit(live_stack, "sneaky")["outcome"] == "denied"
    tree = Tree(live_stack.base_dn)
    assert desk_actor.dn is not None  # staff bind as themselves
    conn = raw_bind(live_stack, desk_actor.dn, STAFF_PASSWORD)
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        conn.modify_s(tree.admins_group, [(ldap.MOD_ADD, "member", [desk_actor.dn.encode()])])
    assert actor(live_stack, staff["helpdesk"]).role is Role.HELPDESK


def test_helpdesk_never_reads_password_hashes(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, _ = new_account()
    tree = Tree(live_stack.base_dn)
    conn = raw_bind(live_stack, tree.staff_member(staff["helpdesk"]), STAFF_PASSWORD)
    rows = conn.search_s(
        tree.person(account.uid), ldap.SCOPE_BASE, "(objectClass=*)", ["userPassword", "mail"]
    )
    assert rows[0][1].get("mail") and "userPassword" not in rows[0][1]


def test_alumnus_edits_only_their_own_entry(live_stack: Settings, new_account: NewAccount) -> None:
    alice, alice_pw = new_account()
    bob, _ = new_account(name="Bob Original")
    alice_actor = actor(live_stack, alice.uid, alice_pw)
    assert alice_actor.role is Role.ALUMNUS
    with use_case(AccountService, live_stack, alice_actor) as own:
        assert own.modify(alice.uid, given_name="Alice") == {"given_name": [None, "Alice"]}
        with pytest.raises(AccessDeniedError, match="may not modify account"):
            own.modify(bob.uid, display_name="Hacked")
        with pytest.raises(AccessDeniedError, match="may not change graduation_year"):
            own.modify(alice.uid, graduation_year="2001")
    assert last_audit(live_stack, bob.uid)["outcome"] == "denied"
    tree = Tree(live_stack.base_dn)
    conn = raw_bind(live_stack, tree.person(alice.uid), alice_pw)
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        conn.modify_s(tree.person(bob.uid), [(ldap.MOD_REPLACE, "displayName", [b"Hacked"])])
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):  # nor raise their own quota
        conn.modify_s(tree.person(alice.uid), [(ldap.MOD_REPLACE, "alumailMailQuota", [b"9"])])
    with use_case(AccountService, live_stack) as root:
        assert root.get(bob.uid).display_name == "Bob Original"


def test_cli_actor_and_denial_exit_code(
    live_stack: Settings, staff: dict[str, str], tmp_path: Path, new_account: NewAccount
) -> None:
    account, _ = new_account()
    secret = tmp_path / "pw"
    secret.write_text(STAFF_PASSWORD + "\n")
    reset = alumail(
        live_stack,
        "--actor",
        staff["helpdesk"],
        "--actor-password-file",
        str(secret),
        "helpdesk",
        "reset-password",
        account.uid,
        "--json",
    )
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["must_change_password"] is True
    denied = alumail(
        live_stack,
        "--actor",
        staff["helpdesk"],
        "--actor-password-file",
        str(secret),
        "helpdesk",
        "unlock",
        staff["admin"],
    )
    assert denied.returncode == 9
    assert "may not act on staff account" in denied.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("nope-nope-nope\n")
    refused = alumail(
        live_stack,
        "--actor",
        staff["helpdesk"],
        "--actor-password-file",
        str(wrong),
        "account",
        "list",
    )
    assert refused.returncode == 9
    verify = alumail(live_stack, "audit", "--verify", check=True)
    assert "intact" in verify.stderr
