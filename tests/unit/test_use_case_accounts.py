"""Account and helpdesk use cases against in-memory collaborators (tests/unit/fakes.py): their
own role rules, audit lines, cache flushes and clean-up, in milliseconds. slapd's ACLs behind
them are tested against the real daemon in tests/integration/test_roles.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.accounts import AccountStatus
from identity.errors import AccessDeniedError
from identity.roles import ROOT, Role
from mailstack.errors import DaemonError
from provisioning.bulk.importer import COLUMNS
from tests.unit.fakes import composed

pytestmark = pytest.mark.unit


def test_a_failed_mailbox_creation_removes_the_account_again(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.mailboxes.fail_create = True
    with pytest.raises(DaemonError, match="lacks folders"):
        world.root.accounts(ROOT).create("li.lei", "Li Lei", "Correct-Horse-42")
    assert world.tree.person("li.lei") not in world.directory.entries
    assert [w[1] for w in world.directory.writes] == ["add", "delete"]
    assert world.trail() == [("create", "li.lei", "begun"), ("create", "li.lei", "failed")]


def test_a_new_account_is_flushed_from_the_negative_cache_and_audited(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.root.accounts(ROOT).create("li.lei", "Li Lei", "Correct-Horse-42")
    assert "li.lei@alumni.example.edu" in world.mailboxes.existing
    assert world.mailboxes.flushed == ["li.lei", "li.lei@alumni.example.edu"]
    assert world.trail()[-1] == ("create", "li.lei", "ok")
    changes = world.last_changes()
    assert isinstance(changes, dict) and changes["password"] == "changed"  # never the value


def test_the_helpdesk_may_not_create_accounts_and_the_refusal_is_audited(tmp_path: Path) -> None:
    world = composed(tmp_path)
    desk = world.staff("desk", Role.HELPDESK)
    with pytest.raises(AccessDeniedError, match="may not create accounts"):
        world.root.accounts(desk).create("li.lei", "Li Lei", "Correct-Horse-42")
    assert world.directory.writes == []
    assert world.trail() == [("create", "li.lei", "begun"), ("create", "li.lei", "denied")]


def test_the_helpdesk_may_not_suspend_a_staff_member(tmp_path: Path) -> None:
    world = composed(tmp_path)
    desk = world.staff("desk", Role.HELPDESK)
    world.staff("boss", Role.ADMIN)
    with pytest.raises(AccessDeniedError, match="staff account 'boss'"):
        world.root.helpdesk(desk).set_status("boss", AccountStatus.SUSPENDED)
    assert world.directory.writes == []
    assert world.trail()[-1] == ("suspend", "boss", "denied")


def test_the_helpdesk_may_not_unlock_a_staff_member(tmp_path: Path) -> None:
    world = composed(tmp_path)
    desk = world.staff("desk", Role.HELPDESK)
    world.staff("boss", Role.ADMIN)
    with pytest.raises(AccessDeniedError, match="staff account 'boss'"):
        world.root.helpdesk(desk).unlock("boss")
    assert world.trail()[-1] == ("unlock", "boss", "denied")


def test_the_helpdesk_may_not_add_staff(tmp_path: Path) -> None:
    world = composed(tmp_path)
    desk = world.staff("desk", Role.HELPDESK)
    with pytest.raises(AccessDeniedError, match="may not add staff"):
        world.root.staff(desk).add("mallory", "Mallory", Role.ADMIN, "Mallory-Pass-42")
    assert world.tree.staff_member("mallory") not in world.directory.entries
    assert world.trail()[-1] == ("staff-add", "mallory", "denied")


def test_an_alias_is_flushed_with_every_login_name(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.alumnus("li.lei")
    world.root.accounts(ROOT).add_alias("li.lei", "lilei@alumni.example.edu")
    assert world.mailboxes.flushed == [
        "li.lei",
        "li.lei@alumni.example.edu",
        "li.lei.alias@alumni.example.edu",
        "lilei@alumni.example.edu",
    ]
    assert world.trail()[-1] == ("alias-add", "li.lei", "ok")


def test_suspending_an_account_ends_its_sessions_and_resuming_ends_none(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.alumnus("li.lei")
    world.alumnus("han.mei")
    desk = world.staff("desk", Role.HELPDESK)
    session, bystander = world.signed_in("li.lei"), world.signed_in("han.mei")
    assert world.root.helpdesk(desk).set_status("li.lei", AccountStatus.SUSPENDED)
    assert not world.has_session(session)
    assert world.has_session(bystander)
    session = world.signed_in("li.lei")  # as if opened before the suspension took effect
    assert world.root.helpdesk(desk).set_status("li.lei", AccountStatus.ACTIVE)
    assert world.has_session(session)


def test_deleting_an_account_ends_its_sessions(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.alumnus("li.lei")
    session = world.signed_in("li.lei")
    world.root.accounts(ROOT).delete("li.lei", purge_mail=True)
    assert not world.has_session(session)


def test_a_refused_suspension_ends_no_session(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.alumnus("li.lei")
    session = world.signed_in("li.lei")
    nobody = world.staff("desk", Role.HELPDESK)
    with pytest.raises(AccessDeniedError):
        world.root.accounts(nobody).delete("li.lei")
    assert world.has_session(session)


def test_an_import_writes_through_the_actors_pipeline_and_is_audited(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.alumnus("li.lei")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        ",".join(COLUMNS) + "\nhan.mei,,,Han Mei,,,\nli.lei,,,Li Lei Renamed,,,\n",
        encoding="utf-8",
    )
    report = world.root.importer(ROOT).run(roster)
    assert (report.created, report.updated, report.failed) == (1, 1, 0)
    assert world.directory.entries[world.tree.person("han.mei")]["cn"] == ["Han Mei"]
    assert {who for who, _, _ in world.directory.writes} == {ROOT.name}
    assert world.trail() == [("import", "roster.csv", "begun"), ("import", "roster.csv", "ok")]


def test_the_helpdesk_may_not_import(tmp_path: Path) -> None:
    world = composed(tmp_path)
    desk = world.staff("desk", Role.HELPDESK)
    roster = tmp_path / "roster.csv"
    roster.write_text(",".join(COLUMNS) + "\nhan.mei,,,Han Mei,,,\n", encoding="utf-8")
    with pytest.raises(AccessDeniedError):
        world.root.importer(desk).run(roster)
    assert world.directory.writes == []
    assert world.trail()[-1] == ("import", "roster.csv", "denied")
