"""The cutoff: holders listed in the directory, reminders before it to those who have not moved,
and after it the legacy domain served as an alias domain: a migrated holder's old address keeps
delivering, a holder who never moved is refused as retired, a stranger as unknown."""

from __future__ import annotations

import datetime
import json
import shutil
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from identity.directory import Directory
from identity.dit import Tree
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from tests import mail
from tests.support import alumail, new_stack, running_stack, state_root, use_case, wait_for
from tests.web import mail_to

pytestmark = pytest.mark.integration
LEGACY = "old-alumni.test.example"
CUTOFF = datetime.date.today() + datetime.timedelta(days=7)


@pytest.fixture(scope="module")
def cutoff_stack() -> Iterator[Settings]:
    extra = {
        "legacy.domain": LEGACY,
        "legacy.cutoff": CUTOFF.isoformat(),
        "legacy.reminder_days": "30,7",
    }
    with running_stack("cutoff", **extra) as settings:
        with use_case(AccountService, settings) as accounts:
            for uid, name in (
                ("moved.one", "Moved One"),
                ("stayed.one", "Stayed One"),
                ("plain.one", "Plain"),
            ):
                accounts.create(
                    uid, name, "Cutoff-Pass-123", recovery_email=f"{uid}@home.example.org"
                )
        alumail(settings, "legacy", "set", "moved.one", f"moved@{LEGACY}", check=True)
        alumail(settings, "legacy", "set", "stayed.one", f"stayed@{LEGACY}", check=True)
        tree = Tree(settings.base_dn)
        with Directory(Layout(settings.state_dir).ldapi_uri) as system:  # as a migration would
            system.replace(tree.person("moved.one"), {"alumailLegacyState": ["migrated"]})
        yield settings


def test_legacy_status_lists_every_holder(cutoff_stack: Settings) -> None:
    status = json.loads(alumail(cutoff_stack, "legacy", "status", "--json", check=True).stdout)
    assert status["cutoff"] == CUTOFF.isoformat()
    assert status["counts"] == {"migrated": 1, "not-migrated": 1}
    assert {h["uid"]: h["state"] for h in status["holders"]} == {
        "moved.one": "migrated",
        "stayed.one": "not-migrated",
    }


def test_reminders_go_to_those_who_have_not_moved_once(cutoff_stack: Settings) -> None:
    dry = json.loads(
        alumail(cutoff_stack, "legacy", "remind", "--dry-run", "--json", check=True).stdout
    )
    assert [(r["uid"], r["days_before"]) for r in dry["reminders"]] == [("stayed.one", 7)]
    sent = json.loads(alumail(cutoff_stack, "legacy", "remind", "--json", check=True).stdout)
    assert sent["reminders"][0]["to"] == [
        f"stayed.one@{cutoff_stack.domain}",
        "stayed.one@home.example.org",
    ]
    assert "closes on" in str(
        mail_to(cutoff_stack, "stayed.one@home.example.org", "closes on")["Subject"]
    )
    assert wait_for(
        lambda: any(
            "closes on" in s
            for s in mail.inbox_subjects(cutoff_stack, "stayed.one", "Cutoff-Pass-123")
        )
    )
    again = json.loads(alumail(cutoff_stack, "legacy", "remind", "--json", check=True).stdout)
    assert again["reminders"] == []
    # 30 days before, the 30-day reminder is the one due.
    early = (CUTOFF - datetime.timedelta(days=30)).isoformat()
    earlier = json.loads(
        alumail(
            cutoff_stack, "legacy", "remind", "--dry-run", "--today", early, "--json", check=True
        ).stdout
    )
    assert [(r["uid"], r["days_before"]) for r in earlier["reminders"]] == [("stayed.one", 30)]


def deliver(settings: Settings, rcpt: str) -> tuple[int, str]:
    client = mail.inbound(settings)
    try:
        client.sendmail(
            "friend@elsewhere.example.org",
            [rcpt],
            mail.message("friend@elsewhere.example.org", rcpt, f"to {rcpt}").as_bytes(),
        )
    except smtplib.SMTPRecipientsRefused as refused:
        code, text = refused.recipients[rcpt]
        return code, text.decode()
    finally:
        client.quit()
    return 250, ""


def test_the_legacy_domain_lives_on_as_an_alias_domain(cutoff_stack: Settings) -> None:
    assert deliver(cutoff_stack, f"moved@{LEGACY}") == (250, "")
    assert wait_for(
        lambda: (
            f"to moved@{LEGACY}"
            in mail.inbox_subjects(cutoff_stack, "moved.one", "Cutoff-Pass-123")
        )
    )
    code, text = deliver(cutoff_stack, f"stayed@{LEGACY}")
    assert code == 550 and "5.1.6" in text and "retired" in text
    code, text = deliver(cutoff_stack, f"stranger@{LEGACY}")
    assert code == 550 and "5.1.1" in text


def test_port_25_refuses_the_old_address_of_a_holder_who_moved_as_sender(
    cutoff_stack: Settings,
) -> None:
    client = mail.inbound(cutoff_stack)
    try:
        client.mail(f"moved@{LEGACY}")
        code, reply = client.rcpt(f"plain.one@{cutoff_stack.domain}")
        assert code == 550 and b"5.7.1" in reply and b"submission" in reply, (code, reply)
        client.rset()
        client.mail(f"stayed@{LEGACY}")  # still sends from the old service
        assert client.rcpt(f"plain.one@{cutoff_stack.domain}")[0] == 250
    finally:
        client.close()


def test_backup_all_and_restore_all_onto_a_fresh_state_directory(
    cutoff_stack: Settings, tmp_path: Path
) -> None:
    client = mail.inbound(cutoff_stack)
    client.send_message(
        mail.message("a@elsewhere.example.org", f"plain.one@{cutoff_stack.domain}", "kept across")
    )
    client.quit()
    assert wait_for(
        lambda: "kept across" in mail.inbox_subjects(cutoff_stack, "plain.one", "Cutoff-Pass-123")
    )
    target = state_root("backups")
    try:
        out = Path(
            alumail(cutoff_stack, "backup-all", "--to", str(target), check=True).stdout.strip()
        )
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["accounts"] == 3 and manifest["mailboxes"] >= 1
        extra = {"legacy.domain": LEGACY, "legacy.cutoff": CUTOFF.isoformat()}
        with new_stack("restored", **extra) as fresh:
            restored = alumail(fresh, "restore-all", "--from", str(out))
            assert restored.returncode == 0, restored.stderr
            verified = alumail(
                fresh, "verify", "plain.one", "--password-stdin", stdin="Cutoff-Pass-123\n"
            )
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert "kept across" in mail.inbox_subjects(fresh, "plain.one", "Cutoff-Pass-123")
            status = json.loads(alumail(fresh, "legacy", "status", "--json", check=True).stdout)
            assert status["counts"] == {"migrated": 1, "not-migrated": 1}
            again = alumail(fresh, "restore-all", "--from", str(out))
            assert again.returncode == 6 and "fresh" in again.stderr  # never over live data
    finally:
        shutil.rmtree(target, ignore_errors=True)
