"""The command line's inputs against the session stack. Bytes that are not UTF-8, through a real
process, as a shell hands them over (argv, standard input): invalid input (exit 4, the field
named), nothing changed. Hypothesis over the values that reach the directory (profile fields,
import rows): an account or a refusal, a plan or a report, never a traceback."""

from __future__ import annotations

import csv
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from identity.errors import NotFoundError
from mailstack.settings import Settings
from provisioning.bulk.importer import COLUMNS
from provisioning.cli import main
from provisioning.people.accounts import AccountService
from tests.support import NewAccount, use_case

pytestmark = pytest.mark.integration


def alumail_bytes(
    settings: Settings, *args: bytes, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
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
    live_stack: Settings, args: list[bytes], stdin: bytes, field: bytes
) -> None:
    proc = alumail_bytes(live_stack, *args, stdin=stdin)
    assert proc.returncode == 4, proc.stderr
    assert b"Traceback" not in proc.stderr
    assert proc.stderr.startswith(b"alumail: error: " + field + b": ")
    with use_case(AccountService, live_stack) as accounts:
        for uid in ("bytes.one", "bytes.two"):
            with pytest.raises(NotFoundError):
                accounts.get(uid)


# -- hypothesis against the session stack (in-process, for speed) ---------------------------------

DOCUMENTED_EXIT_CODES = set(range(11))
LIVE_FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "15")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_fuzz_uids = itertools.count(1)
field_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "*", "(uid=*)", "\\00", "a\x00b", "x@y", "9" * 30, "-1", "1e9"]),
)


def invoke(settings: Settings, args: list[str], stdin: str | None = None) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = str(settings.state_dir.parent / "alumail.toml")
    result = CliRunner().invoke(main, args, input=stdin, env=env, catch_exceptions=True)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"{args}: {result.exception!r}\n{result.output}"
    assert result.exit_code in DOCUMENTED_EXIT_CODES and "Traceback" not in result.output
    return result


profile_options = st.fixed_dictionaries(
    {"--name": st.one_of(st.text(min_size=1, max_size=20), field_text)},
    optional={
        option: field_text
        for option in (
            "--given-name",
            "--family-name",
            "--recovery-email",
            "--student-number",
            "--graduation-year",
            "--quota",
        )
    },
)


@LIVE_FUZZ
@given(options=profile_options)
def test_any_profile_values_create_an_account_or_are_refused(
    live_stack: Settings, options: dict[str, str]
) -> None:
    uid = f"fuzz.{next(_fuzz_uids)}"
    args = ["account", "create", uid, *itertools.chain(*options.items()), "--json"]
    result = invoke(live_stack, args)
    event(f"exit {result.exit_code}")
    assert result.exit_code in (0, 4), result.output
    shown = invoke(live_stack, ["account", "show", uid, "--json"])
    assert shown.exit_code == (0 if result.exit_code == 0 else 5)  # all or nothing


@LIVE_FUZZ
@given(rows=st.lists(st.lists(field_text, min_size=7, max_size=8), max_size=5), tail=st.binary())
def test_any_import_rows_are_planned_or_reported(
    live_stack: Settings, tmp_path: Path, rows: list[list[str]], tail: bytes
) -> None:
    roster = tmp_path / "fuzz.csv"
    with open(roster, "w", newline="", encoding="utf-8", errors="surrogatepass") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, "password_hash"])
        writer.writerows(rows)
    with open(roster, "ab") as handle:
        handle.write(tail)
    result = invoke(live_stack, ["import", str(roster), "--dry-run", "--json"])
    event(f"exit {result.exit_code}")
    assert result.exit_code in (0, 10), result.output


def _alumail_within(
    settings: Settings, *args: str, config: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command, given 20 s: a command that blocks on its input fails the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = config or str(settings.state_dir.parent / "alumail.toml")
    try:
        return subprocess.run(
            [sys.executable, "-m", "provisioning", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"alumail {' '.join(args)} blocked on its input") from exc


def test_a_fifo_or_a_device_given_as_a_file_is_refused_not_waited_on(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    """Every file the CLI reads (settings, the actor's password, a CSV, a backup) is judged
    before it is read: a FIFO no one writes to, or a link to /dev/zero, gets exit 3 or 4
    naming it, never a command that waits forever holding the state lock."""
    account, _ = new_account()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    for source in (fifo, zero):
        settings_file = _alumail_within(live_stack, "status", config=str(source))
        assert settings_file.returncode == 3, settings_file.stderr
        assert "not a regular file" in settings_file.stderr
        cases = [
            ("--actor", account.uid, "--actor-password-file", str(source), "account", "list"),
            ("restore", account.uid, "--from", str(source)),
            ("import", str(source), "--dry-run"),
        ]
        for args in cases:
            answer = _alumail_within(live_stack, *args)
            assert answer.returncode == 4, (args, answer.stderr)
            assert str(source) in answer.stderr and "Traceback" not in answer.stderr


def test_an_output_path_that_is_not_a_regular_file_is_never_replaced(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    """`export -o`, `import --report` and `backup --to` replace their file when done: a FIFO
    or a device there is refused first (before: the FIFO was replaced; /dev/null would have
    been)."""
    account, _ = new_account()
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    roster = tmp_path / "roster.csv"
    roster.write_text(",".join(COLUMNS) + "\n")
    for args in (
        ("export", "-o", str(fifo)),
        ("import", str(roster), "--report", str(fifo)),
        ("backup", account.uid, "--to", str(fifo)),
    ):
        answer = _alumail_within(live_stack, *args)
        assert answer.returncode == 4, (args, answer.stderr)
        assert "is not a regular file" in answer.stderr
        assert fifo.is_fifo()
