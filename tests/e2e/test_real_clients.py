"""Clients nobody here wrote: curl (IMAP, POP3, SMTP) and swaks log in with the jAccount
password and are refused with a wrong one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mailstack.settings import Settings
from tests import mail
from tests.support import NewAccount, curl, curl_send, self_addressed, wait_for, which

pytestmark = pytest.mark.e2e


def test_curl_imap_pop3_and_smtp(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    account, password = new_account()
    host = live_stack.connect_host
    creds = f"{account.uid}:{password}"

    folders = curl(live_stack, "-u", creds, f"imaps://{host}:{live_stack.ports.imaps}/")
    assert folders.returncode == 0, folders.stderr
    for folder in ("INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert folder in folders.stdout

    starttls = curl(
        live_stack,
        "--ssl-reqd",
        "-u",
        creds,
        f"imap://{host}:{live_stack.ports.imap}/INBOX",
        "-X",
        "STATUS INBOX (MESSAGES)",
    )
    assert starttls.returncode == 0, starttls.stderr

    message = self_addressed(tmp_path, account, "sent by curl")
    sent = curl_send(live_stack, account, message, "-u", creds)
    assert sent.returncode == 0, sent.stderr
    assert wait_for(
        lambda: "sent by curl" in mail.inbox_subjects(live_stack, account.uid, password)
    )

    listing = curl(live_stack, "-u", creds, f"pop3s://{host}:{live_stack.ports.pop3s}/")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.strip().startswith("1 ")

    wrong = f"{account.uid}:Wrong-Password-1"
    assert (
        curl(live_stack, "-u", wrong, f"imaps://{host}:{live_stack.ports.imaps}/").returncode == 67
    )
    assert (
        curl(live_stack, "-u", wrong, f"pop3s://{host}:{live_stack.ports.pop3s}/").returncode == 67
    )
    refused = curl_send(live_stack, account, message, "-u", wrong)
    assert refused.returncode == 67, refused.stderr


def swaks(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [which("swaks"), "--server", settings.connect_host, "--timeout", "20", *args],
        capture_output=True,
        text=True,
        timeout=40,
        check=False,
    )


def test_swaks_submission_and_submissions(live_stack: Settings, new_account: NewAccount) -> None:
    account, password = new_account()
    for port, tls_flag, subject in [
        (live_stack.ports.submission, "--tls", "swaks starttls"),
        (live_stack.ports.submissions, "--tls-on-connect", "swaks implicit tls"),
    ]:
        result = swaks(
            live_stack,
            "--port",
            str(port),
            tls_flag,
            "--auth",
            "PLAIN",
            "--auth-user",
            account.uid,
            "--auth-password",
            password,
            "--from",
            account.mail,
            "--to",
            account.mail,
            "--header",
            f"Subject: {subject}",
        )
        assert result.returncode == 0, result.stdout[-2000:]

        def arrived(s: str = subject) -> bool:
            return s in mail.inbox_subjects(live_stack, account.uid, password)

        assert wait_for(arrived)
    refused = swaks(
        live_stack,
        "--port",
        str(live_stack.ports.submission),
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        account.uid,
        "--auth-password",
        "Wrong-Password-2",
        "--from",
        account.mail,
        "--to",
        account.mail,
    )
    assert refused.returncode == 28  # swaks: AUTH failed
    assert "535" in refused.stdout


def test_swaks_inbound_delivery_without_auth(live_stack: Settings, new_account: NewAccount) -> None:
    account, password = new_account()
    result = swaks(
        live_stack,
        "--port",
        str(live_stack.ports.smtp),
        "--from",
        "friend@outside.example",
        "--to",
        account.mail,
        "--header",
        "Subject: from the internet",
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert wait_for(
        lambda: "from the internet" in mail.inbox_subjects(live_stack, account.uid, password)
    )


def test_swaks_cannot_write_as_another_alumnus(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    other, _ = new_account()
    forged_header = swaks(
        live_stack,
        "--port",
        str(live_stack.ports.submission),
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        account.uid,
        "--auth-password",
        password,
        "--from",
        account.mail,
        "--to",
        account.mail,
        "--header",
        f"From: {other.mail}",
    )
    assert forged_header.returncode != 0
    assert f"550 5.7.1 From: <{other.mail}> is not an address of" in forged_header.stdout
    forged_on_port_25 = swaks(
        live_stack,
        "--port",
        str(live_stack.ports.smtp),
        "--from",
        other.mail,
        "--to",
        account.mail,
    )
    assert forged_on_port_25.returncode != 0
    assert "550 5.7.1" in forged_on_port_25.stdout
