"""`alumail --version`, `alumail logs` on the running stack's own logs, and `/api/v1/health`
asking each daemon and the directory (503 naming the one that is down)."""

from __future__ import annotations

import importlib.metadata
import os
import selectors
import signal
import subprocess
import sys
import time

import httpx
import pytest

from mailstack import stack as mail_stack
from mailstack.context import control_context
from mailstack.settings import Settings
from provisioning import stack
from tests import mail
from tests.support import cli, wait_for
from tests.web import client

pytestmark = pytest.mark.integration


def test_version_is_the_installed_package_s(live_stack: Settings) -> None:
    shown = cli(live_stack, "--version")
    assert shown.exit_code == 0
    assert shown.stdout.strip() == f"alumail {importlib.metadata.version('alumail')}"


def test_logs_of_one_service_all_services_and_since(live_stack: Settings) -> None:
    with mail.submission(live_stack) as smtp:
        smtp.noop()
    one = cli(live_stack, "logs", "postfix", "--since", "10m")
    assert one.exit_code == 0, one.stderr
    assert "connect from" in one.stdout and not one.stdout.startswith("postfix: ")
    every = cli(live_stack, "logs", "--since", "10m")
    prefixes = {line.split(": ", 1)[0] for line in every.stdout.splitlines()}
    assert {"postfix", "dovecot"} <= prefixes <= set(stack.service_names(live_stack))
    # A moment in the future: nothing written since then.
    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 3600))
    assert cli(live_stack, "logs", "postfix", "--since", later).stdout == ""


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (["logs", "nope"], "service", ["unknown service 'nope'", "slapd", "dovecot", "web"]),
        (["logs", "--since", "yesterday"], "since", ["30s, 10m"]),
    ],
)
def test_logs_refuses_bad_input_naming_the_field(
    live_stack: Settings, args: list[str], field: str, words: list[str]
) -> None:
    proc = cli(live_stack, *args)
    assert proc.exit_code == 4 and proc.stdout == ""
    assert f"{field}:" in proc.stderr and all(w in proc.stderr for w in words), proc.stderr


def test_logs_follow_prints_new_lines_and_ends_cleanly_on_ctrl_c(live_stack: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = str(live_stack.state_dir.parent / "alumail.toml")
    with subprocess.Popen(
        [sys.executable, "-m", "provisioning", "logs", "dovecot", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # As a terminal starts it: a run started in the background (a CI job, `cmd &` in a
        # script) hands its children SIGINT ignored, and Ctrl-C would then never arrive.
        preexec_fn=_interruptible,
    ) as follower:
        _follow_then_interrupt(live_stack, follower)


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _follow_then_interrupt(live_stack: Settings, follower: subprocess.Popen[str]) -> None:
    try:
        time.sleep(1.5)  # started, and past the lines already there
        marker = f"follow.{os.getpid()}"
        seen: list[str] = []
        assert follower.stdout is not None
        os.set_blocking(follower.stdout.fileno(), False)
        with selectors.DefaultSelector() as selector:
            selector.register(follower.stdout, selectors.EVENT_READ)

            def marker_seen() -> bool:
                mail.imap_login_ok(live_stack, marker, "wrong-password")
                if selector.select(timeout=1):
                    seen.extend(follower.stdout.read().splitlines())  # type: ignore[union-attr]
                return any(marker in line for line in seen)

            assert wait_for(marker_seen, timeout=20), seen
        follower.send_signal(signal.SIGINT)
        # Read what is left while it ends: a follower blocked writing to a full pipe would
        # never see its way out (and a loaded machine is slow to let it run).
        os.set_blocking(follower.stdout.fileno(), True)
        _rest, errors = follower.communicate(timeout=30)
        assert follower.returncode == 0, errors
        assert "Traceback" not in errors
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()


def health(http: httpx.Client) -> httpx.Response:
    return http.get("/api/v1/health")


def test_health_asks_each_daemon_and_the_directory(live_stack: Settings) -> None:
    with client(live_stack) as http:
        answer = health(http)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "ok" and body["down"] == []
        expected = {*stack.service_names(live_stack), "directory"} - {"web"}
        assert set(body["services"]) == expected
        assert set(body["services"].values()) == {"ok"}
        # One daemon stopped: 503 naming it, until it is back.
        [sink] = [
            d
            for d in mail_stack.daemons(control_context(live_stack), stack.DAEMONS)
            if d.name == "sink"
        ]
        sink.stop()
        try:
            assert wait_for(lambda: health(http).status_code == 503, timeout=15)
            down = health(http).json()
            assert down["status"] == "down" and down["down"] == ["sink"]
            assert down["services"]["sink"] == "down" and down["services"]["slapd"] == "ok"
        finally:
            stack.up(live_stack)
        assert wait_for(lambda: health(http).status_code == 200, timeout=15)


def test_logs_stops_quietly_when_its_reader_leaves(live_stack: Settings) -> None:
    """`alumail logs -f | head -1`: once head has its line, the next one written ends us."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = str(live_stack.state_dir.parent / "alumail.toml")
    with subprocess.Popen(
        [sys.executable, "-m", "provisioning", "logs", "dovecot", "--follow", "--since", "1d"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        assert reader.stdout.readline()  # the head's one line
        reader.stdout.close()

        def ended() -> bool:
            mail.imap_login_ok(live_stack, "reader.left", "wrong-password")
            return reader.poll() is not None

        try:
            assert wait_for(ended, timeout=20)
            assert reader.returncode == 0
            errors = reader.stderr.read()
            assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
        finally:
            if reader.poll() is None:
                reader.kill()
