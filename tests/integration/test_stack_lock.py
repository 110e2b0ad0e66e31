"""One command at a time changes a stack: two concurrent `alumail up` leave one stack whose pid
files name every daemon, a daemon running without its pid file (an orphan) is stopped by `up`
and `down`, and a command that finds the state directory locked says who holds it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from mailstack.context import control_context
from mailstack.daemons.opendkim import OpenDkim
from mailstack.daemons.slapd import Slapd
from mailstack.settings import Settings
from mailstack.stack import daemons
from mailstack.statelock import state_lock
from provisioning import stack
from tests.support import (
    alumail,
    new_stack,
    our_processes,
    stack_status,
    state_root,
    wait_for,
    write_toml,
)
from tests.support import test_settings as make_settings

pytestmark = pytest.mark.integration


def _assert_whole_and_named(settings: Settings) -> None:
    """Every daemon runs, its pid file names it, and nothing of ours runs unnamed."""
    status = stack_status(settings)
    assert all(d["running"] for d in status["daemons"].values()), status["daemons"]
    assert all(s["running"] for s in status["services"].values()), status["services"]
    ctx = control_context(settings)
    for daemon in daemons(ctx, stack.DAEMONS):
        assert daemon.orphans() == [], daemon.name


def test_two_concurrent_ups_leave_one_whole_stack_and_orphans_are_stopped() -> None:
    root = state_root("twoups")
    settings = make_settings(root)
    config = write_toml(settings, root / "alumail.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = str(config)
    try:
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "provisioning", "up"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outcomes = [(p.wait(timeout=120), p.communicate()[1]) for p in runs]
        # The second waits for the first, then finds nothing to change.
        assert [code for code, _ in outcomes] == [0, 0], outcomes
        assert any("nothing to change" in err for _, err in outcomes), outcomes
        _assert_whole_and_named(settings)

        # What the race used to leave: a daemon running that no pid file names.
        ctx = control_context(settings)
        slapd, opendkim = Slapd(ctx), OpenDkim(ctx)
        orphan = slapd.pid()
        assert orphan is not None
        slapd.pidfile.unlink()
        assert slapd.pid() is None and slapd.orphans() == [orphan]
        shown = alumail(settings, "status")
        assert f"slapd: runs without a pid file naming it (pid {orphan})" in shown.stderr
        assert stack_status(settings)["daemons"]["slapd"]["orphans"] == [orphan]
        report = stack.up(settings)
        assert f"stopped an orphaned slapd (pid {orphan}) that no pid file named" in (
            report.actions
        )
        assert "started slapd" in report.actions
        _assert_whole_and_named(settings)

        # `down` stops an orphan too, and leaves no process of this state directory.
        opendkim.pidfile.unlink()
        stopped = json.loads(alumail(settings, "down", "--json", check=True).stdout)["stopped"]
        assert "opendkim" in stopped
        marker = str(settings.state_dir)
        assert wait_for(lambda: not our_processes(marker), timeout=10), our_processes(marker)
    finally:
        stack.down(settings)
        shutil.rmtree(root, ignore_errors=True)


def test_a_held_lock_is_reported_with_its_holder() -> None:
    with new_stack("locked") as settings:
        settings.state_dir.mkdir(mode=0o755)
        with state_lock(settings.state_dir, "restore-all from a test"):
            result = alumail(settings, "up", "--wait", "0.3")
        assert result.returncode == 6, result.stderr
        holder = f"(pid {os.getpid()}: restore-all from a test)"
        assert f"locked by another alumail command {holder}" in result.stderr
        assert "Traceback" not in result.stderr
        assert not our_processes(str(settings.state_dir))  # nothing was started
