"""The one password module (provisioning.people.passwords) against in-memory collaborators: who may
set or reset a password, the forced change, the cache flush and the audit line of each path."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.errors import AccessDeniedError, ValidationError
from identity.passwords import verify_password
from identity.roles import ROOT, Role
from provisioning.people.passwords import RESET_TOKEN_KIND, reset_link_holder
from tests.unit.fakes import composed

pytestmark = pytest.mark.unit
NAMES = ["li.lei", "li.lei@alumni.example.edu", "li.lei.alias@alumni.example.edu"]


def test_a_helpdesk_reset_forces_a_change_and_flushes_the_cache(tmp_path: Path) -> None:
    world = composed(tmp_path)
    dn = world.alumnus("li.lei")
    desk = world.staff("desk", Role.HELPDESK)
    temporary = world.root.helpdesk(desk).reset_password("li.lei")
    entry = world.directory.entries[dn]
    assert entry["pwdReset"] == ["TRUE"]
    assert verify_password(temporary, entry["userPassword"][0])
    assert world.mailboxes.flushed == NAMES
    # ... and Dovecot's cached token logins: its tokens are asked about again.
    assert world.mailboxes.token_flushes == 1
    assert world.trail()[-1] == ("reset-password", "li.lei", "ok")
    assert world.last_changes() == {"password": "changed", "must_change_password": True}


def test_the_helpdesk_may_not_reset_an_admin_and_the_refusal_is_audited(tmp_path: Path) -> None:
    world = composed(tmp_path)
    desk = world.staff("desk", Role.HELPDESK)
    world.staff("boss", Role.ADMIN)
    before = dict(world.directory.entries[world.tree.staff_member("boss")])
    with pytest.raises(AccessDeniedError, match="staff account 'boss'"):
        world.root.helpdesk(desk).reset_password("boss", "Taken-Over-4242")
    assert world.directory.entries[world.tree.staff_member("boss")] == before
    assert world.directory.writes == []
    assert world.trail() == [
        ("reset-password", "boss", "begun"),
        ("reset-password", "boss", "denied"),
    ]


def test_only_an_admin_sets_a_password_outright(tmp_path: Path) -> None:
    world = composed(tmp_path)
    dn = world.alumnus("li.lei")
    desk = world.staff("desk", Role.HELPDESK)
    with pytest.raises(AccessDeniedError, match="use helpdesk reset"):
        world.root.accounts(desk).set_password("li.lei", "Chosen-By-Desk-42")
    assert world.trail()[-1] == ("set-password", "li.lei", "denied")
    world.root.accounts(ROOT).set_password("li.lei", "Chosen-By-Root-42")
    assert verify_password("Chosen-By-Root-42", world.directory.entries[dn]["userPassword"][0])
    assert "pwdReset" not in world.directory.entries[dn]
    assert world.trail()[-1] == ("set-password", "li.lei", "ok")


def test_changing_ones_own_password_needs_the_current_one(tmp_path: Path) -> None:
    world = composed(tmp_path)
    dn = world.alumnus("li.lei", "Temporary-Pass-42", pwdReset="TRUE")
    with pytest.raises(AccessDeniedError, match="current password"):
        world.root.passwords.change_own("li.lei", "Not-The-Temp-42", "Brand-New-Pass-7")
    assert world.trail()[-1] == ("passwd", "li.lei", "denied")
    world.root.passwords.change_own("li.lei", "Temporary-Pass-42", "Brand-New-Pass-7")
    entry = world.directory.entries[dn]
    assert verify_password("Brand-New-Pass-7", entry["userPassword"][0])
    assert "pwdReset" not in entry  # the forced change is done
    assert world.mailboxes.flushed == NAMES
    assert world.trail()[-1] == ("passwd", "li.lei", "ok")


def test_a_staff_member_changes_their_own_password_without_a_mailbox(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.staff("desk", Role.HELPDESK, "Staff-Pass-4242")
    world.root.passwords.change_own("desk", "Staff-Pass-4242", "Staff-New-Pass-42")
    entry = world.directory.entries[world.tree.staff_member("desk")]
    assert verify_password("Staff-New-Pass-42", entry["userPassword"][0])
    assert world.mailboxes.flushed == []
    line = list(world.audit.lines())[-1]
    assert (line["action"], line["actor"], line["role"]) == ("passwd", "desk", "helpdesk")


def test_a_recovery_link_sets_the_password_once_and_clears_a_lockout(tmp_path: Path) -> None:
    world = composed(tmp_path)
    dn = world.alumnus("li.lei", pwdAccountLockedTime="20261128150428Z", pwdReset="TRUE")
    token = world.root.store.issue(RESET_TOKEN_KIND, "li.lei", {}, 3600)
    assert (
        world.root.passwords.recover_by_token(world.root.store, token, "Recovered-Pass-42")
        == "li.lei"
    )
    entry = world.directory.entries[dn]
    assert verify_password("Recovered-Pass-42", entry["userPassword"][0])
    assert "pwdAccountLockedTime" not in entry and "pwdReset" not in entry
    assert world.mailboxes.flushed == NAMES
    assert world.trail()[-1] == ("password-recovery", "li.lei", "ok")
    with pytest.raises(ValidationError, match="not valid or has expired"):
        world.root.passwords.recover_by_token(world.root.store, token, "Second-Try-Pass-42")


def test_every_path_to_a_new_password_ends_the_persons_sessions(tmp_path: Path) -> None:
    world = composed(tmp_path)
    dn = world.alumnus("li.lei")
    world.alumnus("han.mei")
    desk = world.staff("desk", Role.HELPDESK)
    bystander = world.signed_in("han.mei")

    session = world.signed_in("li.lei")
    temporary = world.root.helpdesk(desk).reset_password("li.lei")
    assert not world.has_session(session)

    session = world.signed_in("li.lei")
    world.connections.passwords[dn] = temporary  # the fake's binds know no written password
    world.root.passwords.change_own("li.lei", temporary, "Brand-New-Pass-7")
    assert not world.has_session(session)

    session = world.signed_in("li.lei")
    token = world.root.store.issue(RESET_TOKEN_KIND, "li.lei", {}, 3600)
    world.root.passwords.recover_by_token(world.root.store, token, "Recovered-Pass-42")
    assert not world.has_session(session)
    assert world.has_session(bystander)


def test_a_refused_password_change_ends_no_session(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.alumnus("li.lei")
    session = world.signed_in("li.lei")
    with pytest.raises(AccessDeniedError):
        world.root.passwords.change_own("li.lei", "Not-The-Password-1", "Brand-New-Pass-7")
    assert world.has_session(session)


def test_a_link_mailed_for_nobody_or_unknown_is_not_valid(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.alumnus("li.lei")
    nobody = world.root.store.issue(RESET_TOKEN_KIND, "-", {}, 3600)
    for token in (nobody, "made-up-token"):
        with pytest.raises(ValidationError, match="not valid or has expired"):
            reset_link_holder(world.root.store, token)
        with pytest.raises(ValidationError, match="not valid or has expired"):
            world.root.passwords.recover_by_token(world.root.store, token, "Recovered-Pass-42")
    assert world.trail() == []
