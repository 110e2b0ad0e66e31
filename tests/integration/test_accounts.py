"""Accounts against the real stack: creation, mailbox and folders, quota, suspension."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from identity.accounts import AccountStatus
from identity.errors import ConflictError, ValidationError
from identity.roles import ROOT
from mailstack.harness import Check
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from provisioning.cli import main
from provisioning.operations.verification import verify_account
from provisioning.people.accounts import AccountService
from tests import mail
from tests.support import NewAccount, alumail

pytestmark = pytest.mark.integration


def test_harness_passes_for_a_fresh_account(
    accounts: AccountService, new_account: NewAccount
) -> None:
    account, password = new_account()
    checks: list[Check] = verify_account(accounts, account.uid, password)
    failed = [c for c in checks if not c.ok]
    assert not failed, failed
    names = [c.name for c in checks]
    for expected in (
        "imap login",
        "pop3 login",
        "smtp login",
        "quota root",
        "smtp send",
        "delivery (imap)",
        "delivery (pop3)",
        "wrong password (imap)",
        "wrong password (pop3)",
        "wrong password (smtp)",
    ):
        assert expected in names


def test_harness_fails_with_a_wrong_password(
    accounts: AccountService, new_account: NewAccount
) -> None:
    account, _ = new_account()
    checks = verify_account(accounts, account.uid, "Not-The-Password-1")
    by_name = {c.name: c for c in checks}
    assert not by_name["imap login"].ok
    assert not by_name["smtp send"].ok


def test_new_mailbox_has_subscribed_special_use_folders(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    client = mail.imap(live_stack, account.uid, password)
    try:
        _, listed = client.list()
        _, subscribed = client.lsub()
    finally:
        client.logout()
    text = "\n".join(line.decode() for line in mail.plain_lines(listed))
    for folder, flag in [
        ("Drafts", "\\Drafts"),
        ("Sent", "\\Sent"),
        ("Trash", "\\Trash"),
        ("Junk", "\\Junk"),
        ("Archive", "\\Archive"),
    ]:
        assert re.search(rf"\(.*{re.escape(flag)}.*\) \"/\" {folder}$", text, re.M), text
        assert any(line.decode().endswith(f" {folder}") for line in subscribed)
    # The mailbox exists on disk from creation, before any login.
    root = Layout(live_stack.state_dir).mail / live_stack.domain / account.uid
    assert (root / "Maildir").is_dir()


def test_login_by_address_and_by_uid(live_stack: Settings, new_account: NewAccount) -> None:
    account, password = new_account()
    assert mail.imap_login_ok(live_stack, account.mail, password)
    assert mail.imap_login_ok(live_stack, account.uid, password)


def test_default_quota_is_5_gib(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService
) -> None:
    account, password = new_account()
    assert account.quota == 5 * 1024**3
    assert quota_line(live_stack, account.uid, password).endswith(b"(STORAGE 0 5242880)")
    use = accounts.show(account.uid).quota_use
    assert use is not None and use.limit_bytes == 5 * 1024**3


def test_per_account_quota_override_is_honoured(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService
) -> None:
    account, password = new_account(quota="200M")
    assert quota_line(live_stack, account.uid, password).endswith(b"(STORAGE 0 204800)")
    accounts.set_quota(account.uid, "1G")
    assert quota_line(live_stack, account.uid, password).endswith(b"(STORAGE 0 1048576)")


def quota_line(settings: Settings, uid: str, password: str) -> bytes:
    client = mail.imap(settings, uid, password)
    try:
        typ, data = client.getquotaroot("INBOX")
    finally:
        client.logout()
    assert typ == "OK"
    line: bytes = data[1][0]
    return line


def test_over_quota_mail_is_refused_at_rcpt(live_stack: Settings, new_account: NewAccount) -> None:
    account, _ = new_account(quota="1M")
    client = mail.inbound(live_stack)
    try:
        code, _ = client.mail("sender@outside.example", ["SIZE=2000000"])
        assert code == 250
        code, reply = client.rcpt(account.mail)
    finally:
        client.close()
    assert code == 552, reply
    assert b"full" in reply.lower()


def test_mail_within_quota_is_accepted_inbound(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    client = mail.inbound(live_stack)
    try:
        client.send_message(mail.message("a@outside.example", account.mail, "inbound hello"))
    finally:
        client.quit()
    from tests.support import wait_for

    assert wait_for(
        lambda: "inbound hello" in mail.inbox_subjects(live_stack, account.uid, password)
    )


def test_suspended_account_cannot_log_in_or_receive(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService
) -> None:
    account, password = new_account()
    assert mail.imap_login_ok(live_stack, account.uid, password)  # warms Dovecot's cache
    assert accounts.set_status(account.uid, AccountStatus.SUSPENDED)
    assert not mail.imap_login_ok(live_stack, account.uid, password)
    assert not mail.pop3_login_ok(live_stack, account.uid, password)
    assert not mail.smtp_login_ok(live_stack, account.uid, password)
    client = mail.inbound(live_stack)
    try:
        client.mail("a@outside.example")
        code, _ = client.rcpt(account.mail)
    finally:
        client.close()
    assert code == 550
    assert accounts.set_status(account.uid, AccountStatus.ACTIVE)
    assert not accounts.set_status(account.uid, AccountStatus.ACTIVE)  # already: no change
    assert mail.imap_login_ok(live_stack, account.uid, password)


def test_sender_cannot_forge_another_accounts_address(
    live_stack: Settings, new_account: NewAccount
) -> None:
    alice, alice_pw = new_account()
    bob, _ = new_account()
    client = mail.submission(live_stack)
    try:
        client.login(alice.uid, alice_pw)
        code, reply = client.mail(bob.mail)
        if code == 250:
            code, reply = client.rcpt(alice.mail)
        assert code == 553, reply
        assert b"not owned by user" in reply
        client.rset()
        code, reply = client.mail("ceo@outside.example")
        if code == 250:
            code, reply = client.rcpt(alice.mail)
        assert code == 553, reply
        client.rset()
        assert client.mail(alice.mail)[0] == 250
        assert client.rcpt(bob.mail)[0] == 250
    finally:
        client.close()


def test_inbound_port_is_not_an_open_relay(live_stack: Settings) -> None:
    client = mail.inbound(live_stack)
    try:
        client.mail("a@outside.example")
        code, reply = client.rcpt("victim@elsewhere.example")
    finally:
        client.close()
    assert code == 554 and b"Relay access denied" in reply


def test_no_auth_before_starttls_on_submission(live_stack: Settings) -> None:
    import smtplib

    client = smtplib.SMTP(live_stack.connect_host, live_stack.ports.submission, timeout=10)
    try:
        client.ehlo("client.test.example")
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")
    finally:
        client.close()


def test_creating_an_existing_uid_fails_and_changes_nothing(
    new_account: NewAccount, accounts: AccountService
) -> None:
    account, _ = new_account(name="First Owner")
    with pytest.raises(ConflictError, match="already exists"):
        accounts.create(account.uid, "Second Owner", "Another-Pass-99")
    assert accounts.get(account.uid).display_name == "First Owner"


def test_invalid_input_creates_nothing(accounts: AccountService) -> None:
    with pytest.raises(ValidationError, match="password: must be at least 10"):
        accounts.create("valid.uid", "Name", "short")
    assert all(a.uid != "valid.uid" for a in accounts.find())


def test_cli_account_lifecycle(live_stack: Settings) -> None:
    created = alumail(
        live_stack,
        "account",
        "create",
        "cli.user",
        "--name",
        "张三",
        "--password-stdin",
        "--json",
        stdin="Cli-Password-77\n",
        check=True,
    )
    data = json.loads(created.stdout)
    assert data["mail"] == f"cli.user@{live_stack.domain}" and data["quota"] == 5368709120
    assert "Cli-Password-77" not in created.stdout + created.stderr

    again = alumail(
        live_stack,
        "account",
        "create",
        "cli.user",
        "--name",
        "X",
        "--password-stdin",
        stdin="Cli-Password-77\n",
    )
    assert again.returncode == 6
    assert "uid: an account 'cli.user' already exists" in again.stderr

    bad = alumail(
        live_stack,
        "account",
        "create",
        "Bad Uid",
        "--name",
        "X",
        "--password-stdin",
        stdin="Cli-Password-77\n",
    )
    assert bad.returncode == 4
    assert "uid: must be lowercase" in bad.stderr

    shown = json.loads(
        alumail(live_stack, "account", "show", "cli.user", "--json", check=True).stdout
    )
    assert shown["display_name"] == "张三" and shown["status"] == "active"
    assert shown["quota_used"] == 0

    listed = json.loads(alumail(live_stack, "account", "list", "--json", check=True).stdout)
    assert "cli.user" in [a["uid"] for a in listed]

    missing = alumail(live_stack, "account", "show", "nobody.here")
    assert missing.returncode == 5 and "no account with uid 'nobody.here'" in missing.stderr

    verified = alumail(
        live_stack, "verify", "cli.user", "--password-stdin", "--json", stdin="Cli-Password-77\n"
    )
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True

    failed = alumail(
        live_stack, "verify", "cli.user", "--password-stdin", stdin="Wrong-Password-77\n"
    )
    assert failed.returncode == 1


def test_status_json_shape(live_stack: Settings) -> None:
    status = json.loads(alumail(live_stack, "status", "--json", check=True).stdout)
    assert status["domain"] == live_stack.domain
    assert status["ca_cert"].endswith("tls/ca.crt")
    assert set(status["services"]) == {
        "ldap",
        "imap",
        "imaps",
        "pop3",
        "pop3s",
        "smtp",
        "submission",
        "submissions",
        "sink",
        "dkim",
        "sender_milter",
        "webmail",
        "web",
    }
    for name, info in status["services"].items():
        expected: dict[str, object] = {
            "host": "127.0.0.1",
            "port": getattr(live_stack.ports, name),
            "running": True,
        }
        if name == "webmail":  # a service people open in a browser says where
            expected["url"] = f"http://127.0.0.1:{live_stack.ports.webmail}/"
        assert info == expected


def test_plaintext_login_is_never_offered_without_tls_from_another_address(
    live_stack: Settings,
) -> None:
    """Dovecot allows LOGIN on a cleartext connection only from the host to itself; from any
    other address (127.0.0.2 stands in for one) it must demand TLS first."""
    import socket

    def capability(source: str) -> str:
        with socket.create_connection(
            (live_stack.connect_host, live_stack.ports.imap), timeout=10, source_address=(source, 0)
        ) as sock:
            greeting = sock.recv(4096).decode()
            sock.sendall(b"a1 LOGOUT\r\n")
        return greeting

    assert "LOGINDISABLED" in capability("127.0.0.2")
    assert "STARTTLS" in capability("127.0.0.2")
    assert "LOGINDISABLED" not in capability("127.0.0.1")


def test_mail_for_other_domains_lands_in_the_outbound_sink(
    live_stack: Settings, new_account: NewAccount
) -> None:
    from tests.support import wait_for

    account, password = new_account()
    outbound = live_stack.state_dir / "outbound"
    client = mail.submission(live_stack)
    try:
        client.login(account.uid, password)
        client.send_message(
            mail.message(account.mail, "friend@elsewhere.example", "leaving the stack")
        )
    finally:
        client.quit()

    def kept() -> list[str]:
        return [
            p.read_text() for p in outbound.glob("*.eml") if "leaving the stack" in p.read_text()
        ]

    assert wait_for(lambda: bool(kept()), timeout=30)
    text = kept()[0]
    assert "X-Alumail-Envelope-To: friend@elsewhere.example" in text
    assert f"X-Alumail-Envelope-From: {account.mail}" in text


@contextlib.contextmanager
def full_audit_disk(settings: Settings) -> Iterator[Path]:
    """The audit folder on a 64 KiB tmpfs holding one line of trail, filled to the last byte."""
    folder = audit_path(settings.state_dir).parent
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(folder)], check=True
    )
    try:
        # One line filling a whole 4 KiB page, so the trail's own last page has no room left.
        probe = AuditLog(folder / "probe.jsonl")
        probe.record(ROOT, "create", "before.full", "ok", detail="x")
        padding = 4096 - probe.path.stat().st_size + 1
        probe.path.unlink()
        AuditLog(audit_path(settings.state_dir)).record(
            ROOT, "create", "before.full", "ok", detail="x" * padding
        )
        assert audit_path(settings.state_dir).stat().st_size == 4096
        with open(folder / "filler", "wb", buffering=0) as filler:
            for size in (4096, 1):
                with contextlib.suppress(OSError):
                    while filler.write(b"x" * size):
                        pass
        yield audit_path(settings.state_dir)
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def run_cli(settings: Settings, *args: str) -> Result:
    """The real entry point in this process (no interpreter start per command)."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = str(settings.state_dir.parent / "alumail.toml")
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=True)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed and "Traceback" not in result.output, (args, result.exception)
    return result


def test_full_audit_disk_changes_nothing_and_reads_still_work(
    live_stack: Settings, new_account: NewAccount
) -> None:
    existing, _ = new_account()
    with full_audit_disk(live_stack) as trail:
        before = trail.read_bytes()
        created = run_cli(live_stack, "account", "create", "full.disk", "--name", "Full")
        assert created.exit_code == 1, created.output
        assert "audit trail" in created.stderr and "No space left" in created.stderr
        assert run_cli(live_stack, "account", "show", "full.disk").exit_code == 5
        for read in (
            ["account", "show", existing.uid],
            ["account", "list"],
            ["helpdesk", "status", existing.uid],
            ["audit"],
            ["status"],
        ):
            result = run_cli(live_stack, *read)
            assert result.exit_code == 0, (read, result.output)
        verified = run_cli(live_stack, "audit", "--verify")
        assert verified.exit_code == 0 and "intact" in verified.stderr
        assert "no outcome" not in verified.stderr
        assert trail.read_bytes() == before
