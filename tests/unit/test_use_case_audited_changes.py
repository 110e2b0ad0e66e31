"""Changes outside the directory are audited like the rest (the README's promise of one line
per change): roster import, API tokens, DKIM keys. An intent line before acting, an outcome
after, a refusal recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.errors import AccessDeniedError, ValidationError
from identity.roles import ROOT, Role
from provisioning.operations.signing_keys import SigningKeys
from provisioning.people.api_tokens import ApiTokens, Binding, listing
from tests.unit.fakes import FakeKeyFiles, composed

pytestmark = pytest.mark.unit
ROSTER = "student_number,name,birth_date,graduation_year,legacy_address\n"


def test_roster_import_writes_intent_and_outcome(tmp_path: Path) -> None:
    world = composed(tmp_path)
    csv = tmp_path / "roster.csv"
    csv.write_text(ROSTER + "S20100001,Li Lei,1990-02-03,2010,\nS20100002,Wang Fang,,2011,\n")
    roster = world.root.roster()
    roster.load_csv(ROOT, csv, dry_run=True)
    assert world.trail() == []  # a dry run changes nothing: no line
    report = roster.load_csv(ROOT, csv)
    assert report.added == 2
    assert world.trail() == [
        ("roster-import", str(csv), "begun"),
        ("roster-import", str(csv), "ok"),
    ]
    assert world.last_changes() == {"added": 2, "updated": 0, "failed": 0}
    roster.load_csv(ROOT, csv)
    assert world.trail()[-1] == ("roster-import", str(csv), "unchanged")


def test_roster_import_with_a_bad_row_is_partial(tmp_path: Path) -> None:
    world = composed(tmp_path)
    csv = tmp_path / "roster.csv"
    csv.write_text(ROSTER + "S20100001,Li Lei,1990-02-03,2010,\nS2,,,,\n")
    world.root.roster().load_csv(ROOT, csv)
    assert world.trail()[-1] == ("roster-import", str(csv), "partial")


def test_the_helpdesk_may_not_import_the_roster(tmp_path: Path) -> None:
    world = composed(tmp_path)
    desk = world.staff("desk", Role.HELPDESK)
    csv = tmp_path / "roster.csv"
    csv.write_text(ROSTER + "S20100001,Li Lei,1990-02-03,2010,\n")
    with pytest.raises(AccessDeniedError):
        world.root.roster().load_csv(desk, csv)
    assert world.trail()[-1] == ("roster-import", str(csv), "denied")


def test_token_issue_and_revoke_write_intent_and_outcome(tmp_path: Path) -> None:
    world = composed(tmp_path)
    api = ApiTokens(world.root.store, world.audit, lambda uid: Binding(uid, "uuid-1", "admin"))
    issued = api.issue(ROOT, "boss", "monitoring")
    assert issued.token.startswith("alm_") and issued.role == "admin"
    assert world.trail() == [("token-issue", "boss", "begun"), ("token-issue", "boss", "ok")]
    assert issued.token not in (tmp_path / "audit.jsonl").read_text()  # shown once, never kept
    assert api.revoke(ROOT, issued.info.id)
    assert not api.revoke(ROOT, issued.info.id)
    assert world.trail()[2:] == [
        ("token-revoke", issued.info.id, "begun"),
        ("token-revoke", issued.info.id, "ok"),
        ("token-revoke", issued.info.id, "begun"),
        ("token-revoke", issued.info.id, "unchanged"),
    ]


def test_a_refused_token_issue_is_audited_and_issues_nothing(tmp_path: Path) -> None:
    world = composed(tmp_path)

    def not_staff(uid: str) -> Binding:
        raise ValidationError("uid", f"'{uid}' is not a staff member (admin or helpdesk)")

    api = ApiTokens(world.root.store, world.audit, not_staff)
    with pytest.raises(ValidationError, match="not a staff member"):
        api.issue(ROOT, "li.lei", "script")
    desk = world.staff("desk", Role.HELPDESK)
    with pytest.raises(AccessDeniedError):
        api.issue(desk, "desk", "script")
    assert listing(world.root.store) == []
    assert [t[2] for t in world.trail()] == ["begun", "failed", "begun", "denied"]


def test_dkim_rotate_and_retire_write_intent_and_outcome(tmp_path: Path) -> None:
    world = composed(tmp_path)
    applied: list[str] = []
    keys = SigningKeys(FakeKeyFiles(), world.audit, "alumni.example.edu")
    key = keys.rotate(ROOT, "k2026", apply=lambda: applied.append("up"))
    assert key.selector == "k2026" and applied == ["up"]
    assert world.trail() == [
        ("dkim-rotate", "alumni.example.edu", "begun"),
        ("dkim-rotate", "alumni.example.edu", "ok"),
    ]
    assert world.last_changes() == {"selector": "k2026"}
    with pytest.raises(ValidationError, match="in use"):
        keys.retire(ROOT, "k2026")
    keys.retire(ROOT, "old")
    assert [t[2] for t in world.trail()[2:]] == ["begun", "failed", "begun", "ok"]


def test_the_helpdesk_may_not_rotate_keys(tmp_path: Path) -> None:
    world = composed(tmp_path)
    desk = world.staff("desk", Role.HELPDESK)
    files = FakeKeyFiles()
    with pytest.raises(AccessDeniedError):
        SigningKeys(files, world.audit, "alumni.example.edu").rotate(desk, None, apply=list)
    assert files.names == ["old"]
    assert world.trail()[-1] == ("dkim-rotate", "alumni.example.edu", "denied")
