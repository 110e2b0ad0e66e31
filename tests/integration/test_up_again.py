"""A second `alumail up --demo` on a running stack with nothing changed: it says so, runs no
verification harness and leaves no other test message in the demo inbox; `--verify` runs it;
the `next:` block names the console, the newcomer's commands and the webmail."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from mailstack.settings import Settings
from tests import mail
from tests.support import cli, wait_for

pytestmark = pytest.mark.integration


def test_up_again_changes_nothing_and_verifies_only_when_asked(live_stack: Settings) -> None:
    uid = f"demo.again.{secrets.token_hex(2)}"
    first = json.loads(cli(live_stack, "up", "--demo", uid, "--json").stdout)
    assert first["demo"]["created"] and first["verification"], first  # a new demo: verified
    assert all(check["ok"] for check in first["verification"])
    password = Path(first["demo"]["password_file"]).read_text().strip()

    def inbox() -> int:
        return len(mail.inbox_subjects(live_stack, uid, password))

    time.sleep(1)  # the harness's message delivered
    held = inbox()
    again = cli(live_stack, "up", "--demo", uid)
    assert again.exit_code == 0, again.stderr
    assert "nothing to change" in again.stderr
    assert "verification not run" in again.stderr and "--verify" in again.stderr
    assert "verification" not in again.stdout  # no table of checks
    portal = live_stack.public_url
    for expected in (
        f"{portal}/helpdesk",
        f"{portal}/login",
        f"{live_stack.webmail_url}/index.php/login/oauth",
        "alumail staff add",
        "alumail roster import",
        "alumail logs",
        uid,
    ):
        assert expected in again.stdout, expected
    as_json = json.loads(cli(live_stack, "up", "--demo", uid, "--json").stdout)
    assert as_json["changed"] is False and as_json["actions"] == []
    assert as_json["verification"] is None and as_json["demo"]["created"] is False
    assert {"status", "dry_run", "demo"} <= as_json.keys()
    time.sleep(1)
    assert inbox() == held  # no other test message

    asked = json.loads(cli(live_stack, "up", "--demo", uid, "--verify", "--json").stdout)
    assert asked["verification"] and all(check["ok"] for check in asked["verification"])
    assert wait_for(lambda: inbox() > held, timeout=10)  # what a needless run would have left


def test_verify_needs_a_demo_account(live_stack: Settings) -> None:
    refused = cli(live_stack, "up", "--verify")
    assert refused.exit_code == 4 and "verify: needs --demo UID" in refused.stderr
