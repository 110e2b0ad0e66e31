"""Faults and lifecycle on a stack of their own (these tests stop daemons): nothing is lost
while Dovecot is down, a directory outage defers instead of bouncing, `up` is idempotent, a
failing check leaves the running stack alone, and `down` leaves no process of ours."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from identity.errors import ConfigError
from mailstack.context import RenderContext, control_context
from mailstack.daemon import Daemon
from mailstack.daemons.dovecot import Dovecot
from mailstack.daemons.postfix import Postfix
from mailstack.daemons.slapd import Slapd
from mailstack.files import FileSpec
from mailstack.settings import Settings
from provisioning import stack
from provisioning.people.accounts import AccountService
from tests import mail
from tests.support import (
    alumail,
    new_stack,
    our_processes,
    running_stack,
    stack_status,
    use_case,
    wait_for,
)

pytestmark = pytest.mark.integration
PASSWORD = "Fault-Tolerant-9"


@pytest.fixture(scope="module")
def fault_stack() -> Iterator[Settings]:
    with running_stack("faults") as settings:
        with use_case(AccountService, settings) as service:
            service.create("fault.user", "Fault User", PASSWORD)
        yield settings


D = TypeVar("D", bound=Daemon)


def daemon(settings: Settings, kind: Callable[[RenderContext], D]) -> D:
    return kind(control_context(settings))


def test_mail_accepted_while_dovecot_is_down_is_delivered_later(fault_stack: Settings) -> None:
    dovecot = daemon(fault_stack, Dovecot)
    dovecot.stop()
    assert dovecot.pid() is None
    try:
        client = mail.inbound(fault_stack)
        try:
            client.send_message(
                mail.message(
                    "a@outside.example",
                    f"fault.user@{fault_stack.domain}",
                    "sent while dovecot was down",
                )
            )
        finally:
            client.quit()
    finally:
        report = stack.up(fault_stack)
        assert "started dovecot" in report.actions
    # `up` flushed the queue: the mail goes now, not at Postfix's next queue run (minutes).
    assert "flushed Postfix's queue" in report.actions
    assert wait_for(
        lambda: (
            "sent while dovecot was down"
            in mail.inbox_subjects(fault_stack, "fault.user", PASSWORD)
        ),
        timeout=30,
    )


def test_directory_outage_defers_inbound_mail(fault_stack: Settings) -> None:
    slapd = daemon(fault_stack, Slapd)
    slapd.stop()
    try:
        client = mail.inbound(fault_stack)
        try:
            client.mail("a@outside.example")
            code, reply = client.rcpt(f"fault.user@{fault_stack.domain}")
        finally:
            client.close()
        assert 400 <= code < 500, (code, reply)  # temporary: the sender retries, nothing bounces
    finally:
        stack.up(fault_stack)
    client = mail.inbound(fault_stack)
    try:
        client.mail("a@outside.example")
        assert client.rcpt(f"fault.user@{fault_stack.domain}")[0] == 250
    finally:
        client.close()


def _mtimes(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in (root / "etc").rglob("*") if p.is_file()}


def test_second_up_changes_nothing_and_says_so(fault_stack: Settings) -> None:
    stack.up(fault_stack)
    before = _mtimes(fault_stack.state_dir)
    pids = stack_status(fault_stack)["daemons"]
    report = stack.up(fault_stack)
    assert report.actions == []
    assert _mtimes(fault_stack.state_dir) == before
    assert stack_status(fault_stack)["daemons"] == pids
    cli = alumail(fault_stack, "up", check=True)
    assert "nothing to change" in cli.stderr


def test_an_edit_of_slapds_derived_config_is_undone_by_up(fault_stack: Settings) -> None:
    stack.up(fault_stack)
    config = fault_stack.state_dir / "ldap/slapd.d/cn=config.ldif"
    original = config.read_text()
    config.write_text(original + "olcGentleHUP: TRUE\n")  # an edit by hand
    report = stack.up(fault_stack)
    assert "reloaded slapd" in report.actions
    assert "olcGentleHUP" not in config.read_text()
    assert stack.up(fault_stack).actions == []


def test_dry_run_reports_without_changing(fault_stack: Settings) -> None:
    dovecot = daemon(fault_stack, Dovecot)
    dovecot.stop()
    try:
        report = stack.up(fault_stack, dry_run=True)
        assert report.actions == ["start dovecot"]
        assert dovecot.pid() is None
    finally:
        stack.up(fault_stack)


def test_failing_check_leaves_the_running_stack_as_it_was(
    fault_stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    main_cf = fault_stack.state_dir / "etc/postfix/main.cf"
    before_text = main_cf.read_text()
    before_pid = daemon(fault_stack, Postfix).pid()
    rendered = Postfix.render

    def broken(self: Postfix) -> list[FileSpec]:
        specs = rendered(self)
        return [
            FileSpec(
                s.relpath, s.text + "smtpd_no_such_parameter = yes\n", s.mode, s.owner, s.group
            )
            if s.relpath.endswith("main.cf")
            else s
            for s in specs
        ]

    monkeypatch.setattr(Postfix, "render", broken)
    with pytest.raises(ConfigError) as caught:
        stack.up(fault_stack)
    assert "postconf" in str(caught.value)
    assert "smtpd_no_such_parameter" in caught.value.detail
    assert main_cf.read_text() == before_text
    assert daemon(fault_stack, Postfix).pid() == before_pid


def test_dry_run_runs_the_checkers_on_changed_files(
    fault_stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered = Postfix.render

    def broken(self: Postfix) -> list[FileSpec]:
        return [
            FileSpec(s.relpath, s.text + "smtpd_bogus_parameter = yes\n", s.mode, s.owner, s.group)
            if s.relpath.endswith("main.cf")
            else s
            for s in rendered(self)
        ]

    monkeypatch.setattr(Postfix, "render", broken)
    with pytest.raises(ConfigError, match="postconf") as caught:
        stack.up(fault_stack, dry_run=True)
    assert "smtpd_bogus_parameter" in caught.value.detail


def test_unsearchable_parent_is_reported(tmp_path: Path) -> None:
    from tests.support import test_settings

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    settings = test_settings(locked)
    with pytest.raises(ConfigError, match="is not searchable by other users"):
        stack.up(settings)


def test_down_leaves_no_process_and_up_restores() -> None:
    with running_stack("down") as settings:
        marker = str(settings.state_dir)
        assert our_processes(marker)
        result = alumail(settings, "down", "--json", check=True)
        assert sorted(__import__("json").loads(result.stdout)["stopped"]) == [
            "dovecot",
            "nginx",
            "opendkim",
            "php-fpm",
            "postfix",
            "sasl-relay",
            "sender-milter",
            "sink",
            "slapd",
            "web",
        ]
        assert wait_for(lambda: not our_processes(marker), timeout=10), our_processes(marker)
        again = alumail(settings, "down", check=True)
        assert "nothing to stop" in again.stderr
        status = stack_status(settings)
        assert not any(s["running"] for s in status["services"].values())


def test_a_port_in_use_is_named_before_anything_starts() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with new_stack("busy", **{"ports.imaps": busy.getsockname()[1]}) as settings:
            with pytest.raises(
                ConfigError, match=r"ports\.imaps: 127\.0\.0\.1:\d+ is already in use"
            ):
                stack.up(settings)
            assert stack_status(settings)["daemons"]["slapd"]["running"] is False


def test_slapd_that_cannot_start_is_reported_with_its_own_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mailstack.errors import DaemonError

    with new_stack("nostart") as settings:
        # An address this host does not have: slapd's bind() fails and slapd stops.
        monkeypatch.setattr(Slapd, "urls", lambda self: "ldap://192.0.2.1:389/")
        with pytest.raises(DaemonError, match="slapd did not start") as caught:
            stack.up(settings)
        assert "bind" in caught.value.detail and "slapd stopped." in caught.value.detail
