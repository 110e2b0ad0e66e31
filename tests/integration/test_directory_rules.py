"""What slapd itself enforces, whoever writes: each attempt goes straight at the directory with
ldap-utils or python-ldap, as the helpdesk, as an alumnus or as root, and must be refused there;
the official paths through alumail keep working."""

from __future__ import annotations

import base64
import secrets
import subprocess
import threading
from pathlib import Path

import ldap
import pytest
from ldap.ldapobject import LDAPObject

from identity.accounts import AccountStatus
from identity.dit import Tree
from identity.errors import AccessDeniedError, ConflictError, NotFoundError
from identity.roles import Actor, Role
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from provisioning.bulk.importer import Importer
from provisioning.composition import Composition
from provisioning.people.accounts import AccountService
from provisioning.people.helpdesk import Helpdesk
from provisioning.people.staff import StaffService
from tests.support import NewAccount, alumail, use_case, which

pytestmark = pytest.mark.integration
STAFF_PASSWORD = "Staff-Password-55"
# {SSHA} of "abc": a weak password ppolicy cannot check once it is hashed.
SSHA_OF_ABC = b"{SSHA}" + base64.b64encode(b"\x01" * 20 + b"salt")


@pytest.fixture(scope="module")
def staff(live_stack: Settings) -> dict[str, str]:
    suffix = secrets.token_hex(3)
    names = {"admin": f"rules.admin.{suffix}", "helpdesk": f"rules.desk.{suffix}"}
    with use_case(StaffService, live_stack) as service:
        service.add(names["admin"], "Admin Rules", Role.ADMIN, STAFF_PASSWORD)
        service.add(names["helpdesk"], "Desk Rules", Role.HELPDESK, STAFF_PASSWORD)
    return names


def resolve_actor(settings: Settings, uid: str, password: str) -> Actor:
    """The actor ``uid`` signs in as (the CLI's ``--actor``, through a composition root)."""
    with Composition(settings) as root:
        return root.signin.resolve_actor(uid, password)


def bind(settings: Settings, dn: str, password: str) -> LDAPObject:
    conn = ldap.initialize(Layout(settings.state_dir).ldapi_uri)
    conn.simple_bind_s(dn, password)
    return conn


def root(settings: Settings) -> LDAPObject:
    conn = ldap.initialize(Layout(settings.state_dir).ldapi_uri)
    conn.sasl_non_interactive_bind_s("EXTERNAL")
    return conn


def binds(settings: Settings, dn: str, password: str) -> bool:
    try:
        bind(settings, dn, password).unbind_s()
    except ldap.INVALID_CREDENTIALS:
        return False
    return True


def attribute(settings: Settings, dn: str, name: str) -> list[bytes]:
    rows = root(settings).search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", [name])
    values: list[bytes] = rows[0][1].get(name, [])
    return values


def ldappasswd(
    settings: Settings, dn: str, password: str, target: str | None, new: str
) -> subprocess.CompletedProcess[str]:
    """The password-modify extended operation, as an administrator's shell would send it."""
    url = f"ldap://127.0.0.1:{settings.ports.ldap}"
    command = [which("ldappasswd"), "-x", "-H", url, "-D", dn, "-w", password, "-s", new]
    return subprocess.run(
        [*command, *([target] if target else [])],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# -- item 5: the helpdesk's reset is its only way to a password, and it always forces a change --


def test_helpdesk_cannot_set_a_working_password_in_the_directory(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, password = new_account()
    tree = Tree(live_stack.base_dn)
    desk_dn, target = tree.staff_member(staff["helpdesk"]), tree.person(account.uid)
    sent = ldappasswd(live_stack, desk_dn, STAFF_PASSWORD, target, "Taken-Over-123")
    assert "Insufficient access (50)" in sent.stdout + sent.stderr
    desk = bind(live_stack, desk_dn, STAFF_PASSWORD)
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        desk.modify_s(target, [(ldap.MOD_REPLACE, "userPassword", [SSHA_OF_ABC])])
    assert not binds(live_stack, target, "Taken-Over-123")
    assert binds(live_stack, target, password)


def test_helpdesk_cannot_clear_the_forced_change_after_a_reset(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, _ = new_account()
    tree = Tree(live_stack.base_dn)
    target = tree.person(account.uid)
    with use_case(
        Helpdesk, live_stack, resolve_actor(live_stack, staff["helpdesk"], STAFF_PASSWORD)
    ) as d:
        d.reset_password(account.uid)
    assert attribute(live_stack, target, "pwdReset") == [b"TRUE"]
    desk = bind(live_stack, tree.staff_member(staff["helpdesk"]), STAFF_PASSWORD)
    for change in (ldap.MOD_DELETE, ldap.MOD_REPLACE):
        with pytest.raises(ldap.INSUFFICIENT_ACCESS):
            desk.modify_s(target, [(change, "pwdReset", None)])
    assert attribute(live_stack, target, "pwdReset") == [b"TRUE"]
    line = AuditLog(audit_path(live_stack.state_dir)).query(target=account.uid)[-1]
    assert (line["action"], line["actor"], line["outcome"]) == (
        "reset-password",
        staff["helpdesk"],
        "ok",
    )


def test_staff_clear_a_lockout_but_cannot_set_one(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    """Unlocking deletes pwdAccountLockedTime; writing one (000001010000Z: locked for good)
    is no one's use case but root's (before: helpdesk and admins had manage)."""
    account, _ = new_account()
    tree = Tree(live_stack.base_dn)
    target = tree.person(account.uid)
    for who in (staff["helpdesk"], staff["admin"]):
        member = bind(live_stack, tree.staff_member(who), STAFF_PASSWORD)
        for change in (ldap.MOD_ADD, ldap.MOD_REPLACE):
            with pytest.raises(ldap.INSUFFICIENT_ACCESS):
                member.modify_s(target, [(change, "pwdAccountLockedTime", [b"000001010000Z"])])
        assert attribute(live_stack, target, "pwdAccountLockedTime") == []
        root(live_stack).modify_s(
            target, [(ldap.MOD_REPLACE, "pwdAccountLockedTime", [b"20260101000000Z"])]
        )
        with use_case(Helpdesk, live_stack, resolve_actor(live_stack, who, STAFF_PASSWORD)) as desk:
            assert desk.unlock(account.uid)
        assert attribute(live_stack, target, "pwdAccountLockedTime") == []


@pytest.mark.parametrize(
    ("attribute_name", "value"),
    [
        ("authzTo", "dn.regex:.*"),
        ("authzFrom", "dn.regex:.*"),
        ("pwdPolicySubentry", "cn=lenient,ou=groups,{base}"),
    ],
)
def test_no_staff_writes_who_may_act_as_whom_or_which_policy_applies(
    live_stack: Settings,
    staff: dict[str, str],
    new_account: NewAccount,
    attribute_name: str,
    value: str,
) -> None:
    """authzTo/authzFrom decide proxied authorization (an entry allowed to act as root's DN
    would own cn=config); pwdPolicySubentry decides the lockout. Root's alone: an admin can
    neither write one on an entry nor add an entry that carries one (slapd judges an add on
    the whole entry: before, an admin added a staff entry with authzTo: dn.regex:.*)."""
    account, _ = new_account()
    tree = Tree(live_stack.base_dn)
    admin = bind(live_stack, tree.staff_member(staff["admin"]), STAFF_PASSWORD)
    raw = value.format(base=live_stack.base_dn).encode()
    for target in (tree.person(account.uid), tree.staff_member(staff["admin"])):
        with pytest.raises(ldap.INSUFFICIENT_ACCESS):
            admin.modify_s(target, [(ldap.MOD_ADD, attribute_name, [raw])])
        assert attribute(live_stack, target, attribute_name) == []
    uid = f"rules.proxy.{secrets.token_hex(3)}"
    entry = {
        "objectClass": [b"inetOrgPerson"],
        "uid": [uid.encode()],
        "cn": [b"Proxy"],
        "sn": [b"Proxy"],
        attribute_name: [raw],
    }
    for parent in (tree.staff, tree.groups, tree.people):
        with pytest.raises(ldap.INSUFFICIENT_ACCESS):
            admin.add_s(f"uid={uid},{parent}", list(entry.items()))
    del entry[attribute_name]
    admin.add_s(f"uid={uid},{tree.staff}", list(entry.items()))  # without it: the admin's job
    admin.delete_s(f"uid={uid},{tree.staff}")


def test_helpdesk_suspends_but_cannot_retire(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, _ = new_account()
    tree = Tree(live_stack.base_dn)
    target = tree.person(account.uid)
    desk = bind(live_stack, tree.staff_member(staff["helpdesk"]), STAFF_PASSWORD)
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        desk.modify_s(target, [(ldap.MOD_REPLACE, "alumailAccountStatus", [b"retired"])])
    desk.modify_s(target, [(ldap.MOD_REPLACE, "alumailAccountStatus", [b"suspended"])])
    desk.modify_s(target, [(ldap.MOD_REPLACE, "alumailAccountStatus", [b"active"])])
    desk_actor = resolve_actor(live_stack, staff["helpdesk"], STAFF_PASSWORD)
    with (
        use_case(AccountService, live_stack, desk_actor) as service,
        pytest.raises(AccessDeniedError, match="may not retire"),
    ):
        service.set_status(account.uid, AccountStatus.RETIRED)
    assert attribute(live_stack, target, "alumailAccountStatus") == [b"active"]
    # Nor bring a retired account back.
    with use_case(AccountService, live_stack) as admin:
        admin.set_status(account.uid, AccountStatus.RETIRED)
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        desk.modify_s(target, [(ldap.MOD_REPLACE, "alumailAccountStatus", [b"active"])])
    with (
        use_case(AccountService, live_stack, desk_actor) as service,
        pytest.raises(AccessDeniedError),
    ):
        service.set_status(account.uid, AccountStatus.ACTIVE)
    assert attribute(live_stack, target, "alumailAccountStatus") == [b"retired"]


# -- item 6: no self-write of a password around the policy; cleartext is never stored -----------


def test_alumnus_cannot_store_a_password_around_the_policy(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    target = Tree(live_stack.base_dn).person(account.uid)
    sent = ldappasswd(live_stack, target, password, None, "abcabcabca")
    assert "Insufficient access (50)" in sent.stdout + sent.stderr
    own = bind(live_stack, target, password)
    for value in (SSHA_OF_ABC, b"abc"):  # the ACL refuses one, the constraint overlay both
        with pytest.raises((ldap.INSUFFICIENT_ACCESS, ldap.CONSTRAINT_VIOLATION)):
            own.modify_s(target, [(ldap.MOD_REPLACE, "userPassword", [value])])
    assert binds(live_stack, target, password)
    # The official path: current password proven, quality checked, argon2id stored.
    with Composition(live_stack) as root:
        root.passwords.change_own(account.uid, password, "Own-New-Password-8")
    stored = attribute(live_stack, target, "userPassword")
    assert len(stored) == 1 and stored[0].startswith(b"{ARGON2}$argon2id$")
    assert attribute(live_stack, target, "pwdReset") == []
    assert binds(live_stack, target, "Own-New-Password-8")


def test_staff_change_their_own_password_only_through_alumail(live_stack: Settings) -> None:
    """A helpdesk member or an admin stores no password of their own straight in slapd (a
    pre-hashed "abc" passes no quality check); `alumail passwd` is their path too."""
    uid = f"rules.self.{secrets.token_hex(3)}"
    with use_case(StaffService, live_stack) as service:
        service.add(uid, "Self Rules", Role.HELPDESK, STAFF_PASSWORD)
    target = Tree(live_stack.base_dn).staff_member(uid)
    sent = ldappasswd(live_stack, target, STAFF_PASSWORD, None, "abcabcabca")
    assert "Insufficient access (50)" in sent.stdout + sent.stderr
    own = bind(live_stack, target, STAFF_PASSWORD)
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        own.modify_s(target, [(ldap.MOD_REPLACE, "userPassword", [SSHA_OF_ABC])])
    assert binds(live_stack, target, STAFF_PASSWORD)
    weak = alumail(
        live_stack, "passwd", uid, "--password-stdin", stdin=f"{STAFF_PASSWORD}\nabc\nabc\n"
    )
    assert weak.returncode == 4, weak.stderr
    new = "Desk-New-Password-8"
    changed = alumail(
        live_stack, "passwd", uid, "--password-stdin", stdin=f"{STAFF_PASSWORD}\n{new}\n{new}\n"
    )
    assert changed.returncode == 0, changed.stderr
    assert attribute(live_stack, target, "userPassword")[0].startswith(b"{ARGON2}$argon2id$")
    assert binds(live_stack, target, new) and not binds(live_stack, target, STAFF_PASSWORD)
    assert resolve_actor(live_stack, uid, new).role is Role.HELPDESK


def test_no_writer_stores_a_cleartext_password(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, _ = new_account()
    target = Tree(live_stack.base_dn).person(account.uid)
    with pytest.raises(ldap.CONSTRAINT_VIOLATION):
        root(live_stack).modify_s(target, [(ldap.MOD_REPLACE, "userPassword", [b"abcabcabca"])])
    with pytest.raises(ldap.CONSTRAINT_VIOLATION):  # a second working password, even by root
        root(live_stack).modify_s(target, [(ldap.MOD_ADD, "userPassword", [SSHA_OF_ABC])])
    # An account imported without a password gets none from an admin's own write either.
    without = f"nopw{secrets.token_hex(3)}"
    with use_case(AccountService, live_stack) as service:
        service.create(without, "No Password", None)
    admin = bind(live_stack, Tree(live_stack.base_dn).staff_member(staff["admin"]), STAFF_PASSWORD)
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        admin.modify_s(
            Tree(live_stack.base_dn).person(without),
            [(ldap.MOD_ADD, "userPassword", [SSHA_OF_ABC])],
        )
    assert not attribute(live_stack, target, "userPassword")[0].startswith(b"{SSHA}")


# -- item 12: addresses, UIDs and student numbers are unique in the directory ------------------


def race_for_alias(settings: Settings, uids: list[str], alias: str) -> dict[str, object]:
    """Each of ``uids`` adds ``alias`` at the same moment, through alumail as root (each on its
    own connection); what each got back."""
    barrier = threading.Barrier(len(uids))
    outcomes: dict[str, object] = {}

    def add(uid: str) -> None:
        with use_case(AccountService, settings) as service:
            service.get(uid)  # connected before the race starts
            barrier.wait(timeout=10)
            try:
                outcomes[uid] = service.add_alias(uid, alias)
            except ConflictError as error:
                outcomes[uid] = error

    threads = [threading.Thread(target=add, args=(uid,)) for uid in uids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_concurrent_alias_adds_have_exactly_one_winner(
    live_stack: Settings, new_account: NewAccount
) -> None:
    uids = [new_account()[0].uid, new_account()[0].uid]
    people, lost = Tree(live_stack.base_dn).people, []
    for n in range(25):
        alias = f"race{n}.{secrets.token_hex(3)}@{live_stack.domain}"
        outcomes = race_for_alias(live_stack, uids, alias)
        winners = [uid for uid, result in outcomes.items() if result is True]
        owners = root(live_stack).search_s(
            people, ldap.SCOPE_ONELEVEL, f"(alumailMailAlias={alias})", ["uid"]
        )
        if len(winners) != 1 or len(owners) != 1:
            lost.append((n, winners, len(owners)))
    assert not lost, f"rounds without exactly one owner: {lost}"


def test_directory_refuses_a_second_holder_of_an_alias_or_uid(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    first, _ = new_account()
    second, _ = new_account()
    tree = Tree(live_stack.base_dn)
    conn = root(live_stack)  # root too: the overlay judges every writer
    alias = f"shared.{secrets.token_hex(3)}@{live_stack.domain}".encode()
    conn.modify_s(tree.person(first.uid), [(ldap.MOD_ADD, "alumailMailAlias", [alias])])
    with pytest.raises(ldap.CONSTRAINT_VIOLATION):
        conn.modify_s(tree.person(second.uid), [(ldap.MOD_ADD, "alumailMailAlias", [alias])])
    with pytest.raises(ldap.CONSTRAINT_VIOLATION):  # a staff UID for an alumnus
        conn.add_s(
            tree.person(staff["helpdesk"]),
            [
                ("objectClass", [b"inetOrgPerson", b"alumailAccount"]),
                ("uid", [staff["helpdesk"].encode()]),
                ("cn", [b"Impostor"]),
                ("sn", [b"Impostor"]),
                ("mail", [f"{staff['helpdesk']}@{live_stack.domain}".encode()]),
            ],
        )


def test_account_create_cannot_reuse_a_student_number(
    live_stack: Settings, new_account: NewAccount
) -> None:
    first, _ = new_account(student_number="NUM-" + secrets.token_hex(3).upper())
    uid = f"dup{secrets.token_hex(3)}"
    with (
        use_case(AccountService, live_stack) as service,
        pytest.raises(ConflictError, match="student_number"),
    ):
        service.create(uid, "Duplicate Number", None, student_number=first.student_number)
    with use_case(AccountService, live_stack) as service, pytest.raises(NotFoundError):
        service.get(uid)  # nothing half-done


# -- item 4 and the recovery address: a person's own writes meet the same rules ------------------


def test_alumnus_writes_straight_to_slapd_meet_the_field_rules(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    target = Tree(live_stack.base_dn).person(account.uid)
    own = bind(live_stack, target, password)
    refused = {
        "displayName": "Alice\nBcc: someone",
        "givenName": " padded",
        "telephoneNumber": "call me",
        "postalAddress": "line\none",
    }
    for name, value in refused.items():
        with pytest.raises(ldap.CONSTRAINT_VIOLATION):
            own.modify_s(target, [(ldap.MOD_REPLACE, name, [value.encode()])])
    accepted = {"displayName": "王小明 Wang", "telephoneNumber": "+86 21 5555 0100"}
    for name, value in accepted.items():
        own.modify_s(target, [(ldap.MOD_REPLACE, name, [value.encode()])])
    assert attribute(live_stack, target, "displayName") == ["王小明 Wang".encode()]


def test_alumnus_stores_one_value_of_each_profile_field(
    live_stack: Settings, new_account: NewAccount
) -> None:
    """A person writing straight to slapd adds no second name, phone or postal address (nor
    thousands of them): alumail shows one value, so one is all the entry may hold."""
    account, password = new_account(phone="+1 555 0100")
    target = Tree(live_stack.base_dn).person(account.uid)
    own = bind(live_stack, target, password)
    for name in ("cn", "sn", "givenName", "telephoneNumber", "postalAddress"):
        with pytest.raises(ldap.CONSTRAINT_VIOLATION):
            own.modify_s(target, [(ldap.MOD_REPLACE, name, [b"One Value", b"+1 555 0101"])])
    with pytest.raises(ldap.CONSTRAINT_VIOLATION):
        own.modify_s(target, [(ldap.MOD_ADD, "telephoneNumber", [b"+1 555 0102"])])
    lines = [f"line {n}".encode() for n in range(500)]
    with pytest.raises(ldap.CONSTRAINT_VIOLATION):
        own.modify_s(target, [(ldap.MOD_ADD, "postalAddress", lines)])
    own.modify_s(target, [(ldap.MOD_REPLACE, "telephoneNumber", [b"+1 555 0103"])])
    assert attribute(live_stack, target, "telephoneNumber") == [b"+1 555 0103"]
    assert attribute(live_stack, target, "postalAddress") == []


def test_recovery_address_changes_only_when_confirmed(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    account, password = new_account(recovery_email="kept@home.example.org")
    target = Tree(live_stack.base_dn).person(account.uid)
    own = bind(live_stack, target, password)
    for value in (b"thief@elsewhere.example.org", b"a\n@example.org"):
        with pytest.raises((ldap.INSUFFICIENT_ACCESS, ldap.CONSTRAINT_VIOLATION)):
            own.modify_s(target, [(ldap.MOD_REPLACE, "alumailRecoveryEmail", [value])])
    with pytest.raises(ldap.CONSTRAINT_VIOLATION):  # nor by root, in that form
        root(live_stack).modify_s(
            target, [(ldap.MOD_REPLACE, "alumailRecoveryEmail", [b"a\n@example.org"])]
        )
    secret = tmp_path / "pw"
    secret.write_text(password + "\n")
    modify = alumail(
        live_stack,
        "--actor",
        account.uid,
        "--actor-password-file",
        str(secret),
        "account",
        "modify",
        account.uid,
        "--recovery-email",
        "thief@elsewhere.example.org",
    )
    assert modify.returncode == 9, modify.stderr
    assert "recovery_email" in modify.stderr and "Traceback" not in modify.stderr
    assert attribute(live_stack, target, "alumailRecoveryEmail") == [b"kept@home.example.org"]


def test_import_cannot_give_an_alumnus_a_staff_uid(
    live_stack: Settings, staff: dict[str, str], tmp_path: Path
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "uid,given_name,family_name,display_name,student_number,graduation_year,recovery_email\n"
        f"{staff['admin']},,,Impostor Admin,,2015,\n"
    )
    with use_case(Importer, live_stack) as importer:
        report = importer.run(roster)
    assert report.created == 0
    assert [(e.column, e.reason) for e in report.errors] == [
        ("uid", "uid: already taken by another account")
    ]
    with use_case(AccountService, live_stack) as service, pytest.raises(NotFoundError):
        service.get(staff["admin"])
