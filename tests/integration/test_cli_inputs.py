"""Bytes that are not UTF-8, through a real process, as a shell hands them over: in argv and on
standard input. Each is invalid input (exit 4, the field named), and nothing is changed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from identity.errors import NotFoundError
from provisioning.accounts import AccountService

pytestmark = pytest.mark.integration


def alumail_bytes(settings, *args: bytes, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = str(settings.state_dir.parent / "alumail.toml")
    return subprocess.run(
        [sys.executable.encode(), b"-m", b"provisioning", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "stdin", "field"),
    [
        ([b"account", b"create", b"bytes.one", b"--name", b"Zhang \xff"], b"", b"--name"),
        ([b"account", b"create", b"bytes.\xe9", b"--name", b"N"], b"", b"argument 3"),
        (
            [b"account", b"create", b"bytes.two", b"--name", b"N", b"--password-stdin"],
            b"Pass\xff\xfeword-123\n",
            b"password",
        ),
        ([b"--actor", b"desk\xc3", b"account", b"list"], b"", b"--actor"),
    ],
    ids=["option", "argument", "stdin", "actor"],
)
def test_undecodable_bytes_are_invalid_input_and_change_nothing(
    live_stack, args, stdin, field
) -> None:
    proc = alumail_bytes(live_stack, *args, stdin=stdin)
    assert proc.returncode == 4, proc.stderr
    assert b"Traceback" not in proc.stderr
    assert proc.stderr.startswith(b"alumail: error: " + field + b": ")
    with AccountService(live_stack) as accounts:
        for uid in ("bytes.one", "bytes.two"):
            with pytest.raises(NotFoundError):
                accounts.get(uid)
