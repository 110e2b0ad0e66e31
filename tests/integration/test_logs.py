"""The daemons' logs: 0640 (they name accounts and addresses), slapd's free of bind DNs and
search filters (student numbers), and bounded: `up` rotates a log past its size while the daemon
carries on writing to it."""

from __future__ import annotations

import os
import stat

import pytest

from mailstack import logs
from mailstack.settings import Settings
from provisioning import stack
from provisioning.people.accounts import AccountService
from tests import mail
from tests.support import use_case, wait_for

pytestmark = pytest.mark.integration
PASSWORD = "Logged-Lightly-7"
STUDENT_NUMBER = "5180309912"


@pytest.fixture
def logged_stack(live_stack: Settings) -> Settings:
    return live_stack


def test_logs_are_not_world_readable(logged_stack: Settings) -> None:
    log_dir = logged_stack.state_dir / "log"
    files = sorted(p.name for p in log_dir.iterdir())
    assert {"slapd.log", "dovecot.log", "postfix.log", "opendkim.log"} <= set(files)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in log_dir.iterdir()}
    assert modes == dict.fromkeys(files, 0o640)


def test_slapd_logs_neither_filters_nor_bind_dns(logged_stack: Settings) -> None:
    slapd_log = logged_stack.state_dir / "log" / "slapd.log"
    before = slapd_log.stat().st_size
    with use_case(AccountService, logged_stack) as service:
        service.create("logged.user", "Logged User", PASSWORD, student_number=STUDENT_NUMBER)
        found = service.directory.search(
            service.tree.people, f"(alumailStudentNumber={STUDENT_NUMBER})", ["uid"]
        )
        assert len(found) == 1
    assert mail.imap_login_ok(logged_stack, "logged.user", PASSWORD)
    client = mail.inbound(logged_stack)
    try:
        client.send_message(
            mail.message("a@outside.example", f"logged.user@{logged_stack.domain}", "hello")
        )
    finally:
        client.quit()
    assert wait_for(lambda: "hello" in mail.inbox_subjects(logged_stack, "logged.user", PASSWORD))
    written = logs_since(slapd_log, before)
    assert STUDENT_NUMBER not in written
    assert "filter=" not in written and "BIND dn=" not in written
    assert len(written) < 1000, written[-1000:]


def logs_since(path: os.PathLike[str], offset: int) -> str:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


def test_up_rotates_a_log_past_its_size_and_the_daemon_writes_on(logged_stack: Settings) -> None:
    dovecot_log = logged_stack.state_dir / "log" / "dovecot.log"
    # A log past the limit (sparse: no need to write 32 MiB).
    os.truncate(dovecot_log, logs.MAX_BYTES + 1)
    stack.up(logged_stack)
    rotated = dovecot_log.with_name("dovecot.log.1")
    assert rotated.stat().st_size >= logs.MAX_BYTES + 1
    assert stat.S_IMODE(rotated.stat().st_mode) == 0o640
    assert dovecot_log.stat().st_size < 4096
    # Dovecot appends at the start of the emptied file: no hole, no restart.
    assert not mail.imap_login_ok(logged_stack, "logged.user", "wrong-password-1")
    assert wait_for(lambda: "logged.user" in dovecot_log.read_text(errors="replace"))
    assert dovecot_log.stat().st_size < 4096
    assert b"\0" not in dovecot_log.read_bytes()
