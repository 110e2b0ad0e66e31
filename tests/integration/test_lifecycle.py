"""The account lifecycle against the real stack: profile fields, list filters, aliases,
quota, deletion, and the audit line each action leaves."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from identity.accounts import AccountStatus
from identity.errors import ConflictError, NotFoundError, ValidationError
from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from provisioning.people.accounts import AccountService
from tests import mail
from tests.support import NewAccount, alumail, member_bytes, use_case, wait_for

pytestmark = pytest.mark.integration


def audit_lines(settings: Settings, target: str) -> list[dict[str, Any]]:
    return AuditLog(audit_path(settings.state_dir)).query(target=target)


def test_profile_fields_round_trip_and_modify(
    new_account: NewAccount, accounts: AccountService, live_stack: Settings
) -> None:
    account, _ = new_account(
        name="张三",
        given_name="三",
        family_name="张",
        recovery_email="zhang.san@outside.example",
        student_number="5080309123",
        graduation_year="2012",
    )
    stored = accounts.get(account.uid)
    assert (stored.given_name, stored.family_name) == ("三", "张")
    assert stored.recovery_email == "zhang.san@outside.example"
    assert stored.student_number == "5080309123" and stored.graduation_year == 2012

    changes = accounts.modify(account.uid, display_name="张 三", recovery_email="")
    assert changes == {
        "display_name": ["张三", "张 三"],
        "recovery_email": ["zhang.san@outside.example", None],
    }
    assert accounts.modify(account.uid, display_name="张 三") == {}
    after = accounts.get(account.uid)
    assert after.display_name == "张 三" and after.recovery_email is None
    actions = [(line["action"], line["outcome"]) for line in audit_lines(live_stack, account.uid)]
    assert actions == [("create", "ok"), ("modify", "ok"), ("modify", "unchanged")]


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("recovery_email", "not-an-address", "must be an address"),
        ("recovery_email", "me@alumni.test.example", "outside this service"),
        ("graduation_year", "1800", "must be between 1896"),
        ("student_number", "a b", "4 to 20 letters"),
        ("given_name", "x" * 65, "at most 64"),
        ("uid", "other", "cannot be changed"),
        ("colour", "blue", "not a field"),
    ],
)
def test_invalid_modify_names_the_field_and_changes_nothing(
    new_account: NewAccount, accounts: AccountService, field: str, value: str, rule: str
) -> None:
    account, _ = new_account()
    with pytest.raises(ValidationError) as caught:
        accounts.modify(account.uid, **{field: value})
    assert caught.value.field == field and rule in caught.value.rule
    assert accounts.get(account.uid) == account


def test_list_filters_and_pages(new_account: NewAccount, accounts: AccountService) -> None:
    a, _ = new_account(name="Filter Target Wu", graduation_year="1999")
    b, _ = new_account(name="Filter Target Zhao", graduation_year="1999")
    accounts.set_status(b.uid, AccountStatus.SUSPENDED)
    in_year = [x.uid for x in accounts.find(graduation_year=1999)]
    assert in_year == sorted([a.uid, b.uid])
    assert [x.uid for x in accounts.find(graduation_year=1999, status=AccountStatus.SUSPENDED)] == [
        b.uid
    ]
    assert [x.uid for x in accounts.find(search="target wu")] == [a.uid]
    assert [x.uid for x in accounts.find(graduation_year=1999, limit=1, offset=1)] == [b.uid]
    # filter syntax in the search text is data, never structure
    assert accounts.find(search="*)(uid=*") == []


def test_alias_receives_mail_and_may_be_sent_from(
    new_account: NewAccount, accounts: AccountService, live_stack: Settings
) -> None:
    owner, password = new_account()
    other, _ = new_account()
    alias = f"{owner.uid}.alias@{live_stack.domain}"
    assert accounts.add_alias(owner.uid, alias)
    assert not accounts.add_alias(owner.uid, alias)  # already there: no change
    with pytest.raises(ConflictError, match="already belongs"):
        accounts.add_alias(other.uid, alias)
    with pytest.raises(ValidationError, match="alias: must be an address in"):
        accounts.add_alias(other.uid, "someone@elsewhere.example")

    client = mail.inbound(live_stack)
    try:
        client.send_message(mail.message("a@outside.example", alias, "to the alias"))
    finally:
        client.quit()
    assert wait_for(lambda: "to the alias" in mail.inbox_subjects(live_stack, owner.uid, password))
    smtp = mail.submission(live_stack)
    try:
        smtp.login(owner.uid, password)
        assert smtp.mail(alias)[0] == 250
        assert smtp.rcpt(other.mail)[0] == 250
    finally:
        smtp.close()
    assert mail.imap_login_ok(live_stack, alias, password)  # the alias is a login name too

    assert accounts.remove_alias(owner.uid, alias)
    client = mail.inbound(live_stack)
    try:
        client.mail("a@outside.example")
        assert client.rcpt(alias)[0] == 550
    finally:
        client.close()


def test_quota_set_show_and_over(
    new_account: NewAccount, accounts: AccountService, live_stack: Settings
) -> None:
    account, _ = new_account()
    assert accounts.set_quota(account.uid, "1M").quota == 1024**2
    client = mail.inbound(live_stack)
    try:
        client.send_message(
            mail.message("a@outside.example", account.mail, "big", body="x" * 600_000 + "\n")
        )
    finally:
        client.quit()

    def over_half_a_megabyte() -> bool:
        use = accounts.show(account.uid).quota_use
        return use is not None and use.used_bytes > 500_000

    assert wait_for(over_half_a_megabyte)
    over = [v.account.uid for v in accounts.over_quota(50)]
    assert account.uid in over
    assert account.uid not in [v.account.uid for v in accounts.over_quota(99)]
    shown = json.loads(
        alumail(live_stack, "quota", "show", account.uid, "--json", check=True).stdout
    )
    assert shown["limit"] == 1048576 and shown["percent"] > 50
    with pytest.raises(ValidationError, match="quota: must be a size"):
        accounts.set_quota(account.uid, "lots")


def test_delete_archives_the_mailbox(
    new_account: NewAccount, accounts: AccountService, live_stack: Settings
) -> None:
    account, password = new_account()
    client = mail.inbound(live_stack)
    try:
        client.send_message(mail.message("a@outside.example", account.mail, "keep me"))
    finally:
        client.quit()
    assert wait_for(lambda: "keep me" in mail.inbox_subjects(live_stack, account.uid, password))
    archive = accounts.delete(account.uid)
    assert archive is not None and archive.is_file()
    with tarfile.open(archive) as tar:
        bodies = [
            member_bytes(tar, m)
            for m in tar.getmembers()
            if m.isfile() and "/Maildir/" in m.name and ("/cur/" in m.name or "/new/" in m.name)
        ]
    assert any(b"keep me" in body for body in bodies)
    with pytest.raises(NotFoundError):
        accounts.get(account.uid)
    assert not mail.imap_login_ok(live_stack, account.uid, password)
    # the UID can be given again: no leftover mailbox, a fresh one
    again = accounts.create(account.uid, "Second Life", "Another-Pass-99")
    assert mail.inbox_subjects(live_stack, again.uid, "Another-Pass-99") == []
    assert accounts.delete(again.uid, purge_mail=True) is None
    lines = audit_lines(live_stack, account.uid)
    assert [line["action"] for line in lines][-2:] == ["create", "delete"]
    assert lines[-1]["changes"]["mailbox"] == "purged"


def test_cli_modify_delete_and_alias(live_stack: Settings) -> None:
    alumail(
        live_stack,
        "account",
        "create",
        "cli.life",
        "--name",
        "Cli Life",
        "--graduation-year",
        "2010",
        "--password-stdin",
        stdin="Life-Password-88\n",
        check=True,
    )
    modified = alumail(
        live_stack, "account", "modify", "cli.life", "--given-name", "Cli", "--json", check=True
    )
    assert json.loads(modified.stdout)["changed"] == {"given_name": [None, "Cli"]}
    bad = alumail(live_stack, "account", "modify", "cli.life", "--graduation-year", "abc")
    assert bad.returncode == 4 and "graduation_year: must be a year" in bad.stderr
    added = alumail(
        live_stack, "account", "alias", "add", "cli.life", f"life@{live_stack.domain}", check=True
    )
    assert "added" in added.stderr
    listed = json.loads(
        alumail(live_stack, "account", "list", "--year", "2010", "--json", check=True).stdout
    )
    assert [a["uid"] for a in listed] == ["cli.life"]
    deleted = json.loads(
        alumail(live_stack, "account", "delete", "cli.life", "--json", check=True).stdout
    )
    assert deleted["archive"].endswith(".tar.gz")
    audit = json.loads(
        alumail(live_stack, "audit", "--target", "cli.life", "--json", check=True).stdout
    )
    assert [line["action"] for line in audit] == [
        "create",
        "modify",
        "modify",
        "alias-add",
        "delete",
    ]
    assert [line["outcome"] for line in audit] == ["ok", "ok", "failed", "ok", "ok"]
    raw = audit_path(live_stack.state_dir).read_text()
    assert "Life-Password-88" not in raw and "ARGON2" not in raw


def test_every_action_leaves_one_audit_line(
    live_stack: Settings, accounts: AccountService, tmp_path: Path
) -> None:
    from identity.dit import Tree
    from provisioning.bulk.importer import COLUMNS, Importer
    from provisioning.people.helpdesk import Helpdesk

    uid = "audit.walk"
    accounts.create(uid, "Audit Walk", "Audit-Walk-Pass-1")
    accounts.modify(uid, given_name="Walk")
    accounts.set_quota(uid, "2G")
    accounts.add_alias(uid, f"audit.walk.alias@{live_stack.domain}")
    accounts.remove_alias(uid, f"audit.walk.alias@{live_stack.domain}")
    accounts.set_status(uid, AccountStatus.SUSPENDED)
    accounts.set_status(uid, AccountStatus.ACTIVE)
    with use_case(Helpdesk, live_stack) as desk:
        desk.reset_password(uid)
        accounts.directory.replace(
            Tree(live_stack.base_dn).person(uid), {"pwdAccountLockedTime": ["000001010000Z"]}
        )
        desk.unlock(uid)
    roster = tmp_path / "audit.csv"
    roster.write_text(",".join(COLUMNS) + "\naudit.walk2,,,Walk Two,,,\n")
    with use_case(Importer, live_stack) as importer:
        importer.run(roster)
    accounts.delete(uid, purge_mail=True)
    lines = audit_lines(live_stack, uid)
    assert [line["action"] for line in lines] == [
        "create",
        "modify",
        "quota",
        "alias-add",
        "alias-remove",
        "suspend",
        "resume",
        "reset-password",
        "unlock",
        "delete",
    ]
    assert all(line["outcome"] == "ok" and line["actor"] == "root" for line in lines)
    assert lines[2]["changes"] == {"quota": [5368709120, 2147483648]}
    imported = audit_lines(live_stack, "audit.csv")[-1]
    assert imported["action"] == "import" and imported["changes"]["created"] == 1
    assert AuditLog(audit_path(live_stack.state_dir)).verify() is None


def test_import_progress_only_on_a_terminal(live_stack: Settings, tmp_path: Path) -> None:
    import shlex
    import subprocess
    import sys

    from provisioning.bulk.importer import COLUMNS

    roster = tmp_path / "p.csv"
    roster.write_text(
        ",".join(COLUMNS) + "\n" + "".join(f"progress{i:03d},,,P {i},,,\n" for i in range(50))
    )
    quiet = alumail(live_stack, "import", str(roster))
    assert quiet.returncode == 0 and "━" not in quiet.stderr and "rows/s" in quiet.stderr
    config = live_stack.state_dir.parent / "alumail.toml"
    command = " ".join(
        shlex.quote(x)
        for x in [
            sys.executable,
            "-m",
            "provisioning",
            "--config",
            str(config),
            "import",
            str(roster),
        ]
    )
    shown = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stdout
    assert "━" in shown.stdout and "50/50" in shown.stdout
