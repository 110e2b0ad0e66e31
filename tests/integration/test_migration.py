"""Migration from a legacy IMAP server (a second, independent Dovecot the tests start, with a
few hundred generated messages in nested and non-ASCII folders, flags, keywords, old dates and
large attachments): what arrives must match, message by message, after a first run, a rerun,
and an interrupted-then-resumed run."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import imaplib
import json
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from identity.roles import ROOT
from mailstack.layout import Layout
from mailstack.mailbox.doveadm import Doveadm
from mailstack.mailbox.imapsync import counts
from mailstack.settings import Settings
from provisioning.composition import Composition
from provisioning.legacy.migration import Job, Migrator
from tests import mail
from tests.legacy_imap import MASTER, LegacyServer, fill, legacy_server, throttled
from tests.support import NewAccount, alumail, use_case, wait_for, write_toml
from tests.web import form_token, in_process

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def legacy() -> Iterator[LegacyServer]:
    with legacy_server() as server:
        # Every user first: Dovecot may not notice a passwd-file rewritten within a second.
        server.add_user("old.zhang", "Old-Zhang-Pass-1")
        server.add_user("old.wang", "Old-Wang-Pass-1")
        server.add_user("old.chen", "Old-Chen-Pass-1")
        fill(server, "old.zhang", 300, big=3, seed=1)
        fill(server, "old.wang", 40, big=0, seed=2)
        fill(server, "old.chen", 250, big=3, seed=3)
        yield server


def with_legacy(settings: Settings, legacy: LegacyServer) -> Settings:
    return dataclasses.replace(
        settings,
        legacy=dataclasses.replace(
            settings.legacy, imap_host="127.0.0.1", imap_port=legacy.port, security="no"
        ),
    )


def mutf7_decode(name: str) -> str:
    def repl(match: re.Match[str]) -> str:
        text = match.group(1)
        if not text:
            return "&"
        data = text.replace(",", "/")
        data += "=" * (-len(data) % 4)
        return base64.b64decode(data).decode("utf-16-be")

    return re.sub(r"&([^-]*)-", repl, name)


# What a mailbox shows of a message: its flags, internal date and body digest.
Seen = tuple[frozenset[str], str, str]


def first_group(pattern: bytes, data: bytes) -> bytes:
    found = re.search(pattern, data)
    assert found, (pattern, data[:200])
    return found.group(1)


def snapshot(client: imaplib.IMAP4) -> dict[str, dict[str, Seen]]:
    """folder (unicode, '/'-separated) -> Message-ID -> (flags, internal date, body digest)."""
    _, listing = client.list()
    result: dict[str, dict[str, Seen]] = {}
    for line in mail.plain_lines(listing):
        match = re.match(rb'\((?P<attrs>[^)]*)\) "(?P<sep>[^"]*)" (?P<name>.+)$', line)
        assert match, line
        raw = match.group("name").decode().strip('"')
        folder = mutf7_decode(raw).replace(match.group("sep").decode(), "/")
        _, exists = client.select('"' + raw + '"', readonly=True)
        if int(mail.plain_lines(exists)[0]) == 0:
            continue
        _, data = client.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        messages = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, body = item
            flags = frozenset(
                f
                for f in first_group(rb"FLAGS \(([^)]*)\)", head).decode().split()
                if f != "\\Recent"
            )
            date = first_group(rb'INTERNALDATE "([^"]+)"', head).decode()
            message_id = first_group(rb"(?i)Message-ID: (<[^>]+>)", body).decode()
            messages[message_id] = (flags, date, hashlib.sha256(body).hexdigest())
        if messages:
            result[folder] = messages
    return result


def ours(settings: Settings, uid: str, password: str) -> dict[str, dict[str, Seen]]:
    client = mail.imap(settings, uid, password)
    try:
        return snapshot(client)
    finally:
        client.logout()


def theirs(legacy: LegacyServer, user: str) -> dict[str, dict[str, Seen]]:
    client = legacy.connect(user)
    try:
        return snapshot(client)
    finally:
        client.logout()


def test_migration_copies_every_folder_flag_date_and_body(
    live_stack: Settings, legacy: LegacyServer, new_account: NewAccount
) -> None:
    account, password = new_account()
    with use_case(Migrator, with_legacy(live_stack, legacy)) as migrator:
        report = migrator.one(Job(account.uid, "old.zhang", "Old-Zhang-Pass-1"))
    assert report.ok, report.error
    assert report.messages_copied == 300
    expected = theirs(legacy, "old.zhang")
    assert "学术/论文 2016" in expected and "Archive/2015" in expected
    assert ours(live_stack, account.uid, password) == expected
    # A rerun copies nothing, and mail that arrived here meanwhile stays.
    client = mail.inbound(live_stack)
    client.send_message(mail.message("x@elsewhere.example.org", account.mail, "new here"))
    client.quit()
    assert wait_for(lambda: "new here" in mail.inbox_subjects(live_stack, account.uid, password))
    with use_case(Migrator, with_legacy(live_stack, legacy)) as migrator:
        again = migrator.one(Job(account.uid, "old.zhang", "Old-Zhang-Pass-1"))
    assert again.ok and again.messages_copied == 0
    assert "new here" in mail.inbox_subjects(live_stack, account.uid, password)
    after = ours(live_stack, account.uid, password)
    assert sum(len(m) for m in after.values()) == 301


def test_one_failing_account_never_stops_the_others(
    live_stack: Settings, legacy: LegacyServer, new_account: NewAccount
) -> None:
    good, good_password = new_account()
    bad, _ = new_account()
    master, _ = new_account()
    with Composition(with_legacy(live_stack, legacy)) as root:
        migrator = root.migrator(ROOT, master_user=MASTER[0], master_password=MASTER[1])
        reports = migrator.run(
            [
                Job(bad.uid, "old.wang", "Wrong-Password-9"),
                Job("no.such.account", "old.wang", "Old-Wang-Pass-1"),
                Job(good.uid, "old.wang", "Old-Wang-Pass-1"),
                Job(master.uid, "old.wang"),  # through the legacy admin login
            ]
        )
    assert [r.ok for r in reports] == [False, False, True, True]
    assert "failed" in reports[0].error and "Old-Wang" not in reports[0].error
    assert "no account" in reports[1].error
    assert reports[2].messages_copied == reports[3].messages_copied == 40
    assert ours(live_stack, good.uid, good_password) == theirs(legacy, "old.wang")
    status = subprocess.run(
        [sys.executable, "-m", "provisioning", "legacy", "status", "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={
            "ALUMAIL_CONFIG": str(live_stack.state_dir.parent / "alumail.toml"),
            "PATH": "/usr/bin:/bin:/usr/sbin",
        },
    )
    assert status.returncode == 0, status.stderr


def test_an_interrupted_run_resumes_without_duplicates(
    live_stack: Settings, legacy: LegacyServer, new_account: NewAccount
) -> None:
    account, password = new_account()
    # Through a slow link (about 2 MiB/s), the ~7 MiB mailbox takes seconds: time to cut it.
    with throttled(legacy.port, 2 * 1024 * 1024) as slow_port:
        direct = with_legacy(live_stack, legacy)
        settings = dataclasses.replace(
            direct, legacy=dataclasses.replace(direct.legacy, imap_port=slow_port)
        )
        config = write_toml(settings, settings.state_dir.parent / "alumail-legacy.toml")
        command = [
            sys.executable,
            "-m",
            "provisioning",
            "--config",
            str(config),
            "migrate",
            "--uid",
            account.uid,
            "--legacy-login",
            "old.chen",
            "--password-stdin",
        ]
        with subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        ) as run:
            assert run.stdin is not None
            run.stdin.write("Old-Chen-Pass-1\n")
            run.stdin.close()
            doveadm = Doveadm.of(Layout(live_stack.state_dir))
            # Cut the copy once some, not all, of the mail has arrived.
            assert wait_for(
                lambda: sum(c.messages for c in counts(doveadm, account.mail).values()) > 0, 30
            )
            subprocess.run(["pkill", "-KILL", "-f", f"sync -1 -R -u {account.mail}"], check=False)
            assert run.wait(60) == 10  # the CLI reports the account as failed
        # Counted by doveadm: a folder the killed copy was writing may stay locked for a while
        # (until Dovecot finds the lock stale), longer than a client's read timeout.
        partial = sum(c.messages for c in counts(doveadm, account.mail).values())
        assert 0 < partial < 250, partial
        resumed = subprocess.run(
            command, input="Old-Chen-Pass-1\n", capture_output=True, text=True, check=False
        )
    assert resumed.returncode == 0, resumed.stderr
    assert ours(live_stack, account.uid, password) == theirs(legacy, "old.chen")


def _dsync_running(uid: str) -> bool:
    found = subprocess.run(["pgrep", "-f", "sync -1 -R -u"], capture_output=True, text=True)
    return bool(found.stdout.strip())


def test_backup_and_restore_reproduce_every_message_folder_and_flag(
    live_stack: Settings, legacy: LegacyServer, new_account: NewAccount, tmp_path: Path
) -> None:
    source, source_password = new_account()
    with use_case(Migrator, with_legacy(live_stack, legacy)) as migrator:
        assert migrator.one(Job(source.uid, "old.wang", "Old-Wang-Pass-1")).ok
    archive = tmp_path / "wang.tar.gz"
    alumail(live_stack, "backup", source.uid, "--to", str(archive), check=True)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "Maildir/cur" in names and any(n.startswith("Maildir/.Archive.2015") for n in names)
    target, target_password = new_account()
    alumail(live_stack, "restore", target.uid, "--from", str(archive), check=True)
    expected = ours(live_stack, source.uid, source_password)
    assert ours(live_stack, target.uid, target_password) == expected
    alumail(live_stack, "restore", target.uid, "--from", str(archive), check=True)
    assert ours(live_stack, target.uid, target_password) == expected  # twice: nothing doubled
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(archive, arcname="../escape")
    refused = alumail(live_stack, "restore", target.uid, "--from", str(bad))
    assert refused.returncode == 4 and "file: member '../escape' contains '..'" in refused.stderr


def test_the_alumnus_moves_their_mail_from_the_portal(
    live_stack: Settings, legacy: LegacyServer, new_account: NewAccount, tmp_path: Path
) -> None:
    account, password = new_account()
    alumail(live_stack, "legacy", "set", account.uid, "old.wang@old-alumni.example.edu", check=True)
    with in_process(with_legacy(live_stack, legacy)) as http:
        token = form_token(http, "/login")
        http.post("/login", data={"csrf_token": token, "login": account.uid, "password": password})
        page = http.get("/account/migration")
        assert "old.wang@old-alumni.example.edu" in page.text and "not-migrated" in page.text
        started = http.post(
            "/account/migration",
            data={"csrf_token": token, "login": "old.wang", "password": "Old-Wang-Pass-1"},
        )
        assert started.status_code == 200
        assert wait_for(lambda: "40 messages" in http.get("/account/migration").text, 60)
        assert 'id="migration-state">migrated<' in http.get("/account/migration").text
        download = http.get("/account/mailbox.tar.gz")
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/gzip"
    archive = tmp_path / "download.tar.gz"
    archive.write_bytes(download.content)
    with tarfile.open(archive) as tar:
        assert "Maildir/cur" in tar.getnames()
    assert ours(live_stack, account.uid, password) == theirs(legacy, "old.wang")


def test_dry_run_checks_logins_and_counts_but_copies_nothing(
    live_stack: Settings, legacy: LegacyServer, new_account: NewAccount
) -> None:
    account, password = new_account()
    settings = with_legacy(live_stack, legacy)
    config = write_toml(settings, settings.state_dir.parent / "alumail-legacy-dry.toml")
    base = [sys.executable, "-m", "provisioning", "--config", str(config), "migrate"]
    args = ["--uid", account.uid, "--legacy-login", "old.wang", "--password-stdin", "--dry-run"]
    planned = subprocess.run(
        [*base, *args, "--json"],
        input="Old-Wang-Pass-1\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    (report,) = json.loads(planned.stdout)["accounts"]
    assert report["messages_total"] == 40 and report["folders"] == 7
    assert sum(len(m) for m in ours(live_stack, account.uid, password).values()) == 0
    refused = subprocess.run(
        [*base, *args], input="Wrong-Password-1\n", capture_output=True, text=True, check=False
    )
    assert refused.returncode == 10 and "refused the login" in refused.stderr
