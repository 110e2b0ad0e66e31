"""Hypothesis over the command line's inputs: settings files, arguments and option values, CSV
files, passwords on stdin. Whatever comes in, the real ``alumail`` entry point ends with one of
the documented exit codes (README "Exit codes") and never with a traceback.

These run without daemons (click's CliRunner, a state directory with nothing running): a
command either refuses its input or reaches the directory and finds it missing (exit 7, or 3
for the missing secrets). Argument bytes through a real process are in
tests/integration/test_cli_inputs.py.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.errors import ValidationError
from provisioning import csvrows
from provisioning.cli import main
from provisioning.people.roster import COLUMNS as ROSTER_COLUMNS

pytestmark = pytest.mark.unit

DOCUMENTED_EXIT_CODES = set(range(11))
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


@contextmanager
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="alumail-fuzz-") as folder:
        root = Path(folder)
        (root / "alumail.toml").write_text(f'state_dir = "{root / "state"}"\n')
        yield root


def run(root: Path, args: Sequence[str], stdin: bytes | None = None) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = str(root / "alumail.toml")
    return CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=True)


def assert_clean(result: Result) -> None:
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"{result.exception!r}\n{result.output}"
    assert result.exit_code in DOCUMENTED_EXIT_CODES, (result.exit_code, result.output)
    assert "Traceback" not in result.output


# -- settings files -------------------------------------------------------------------------------

toml_scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=30),
    st.dates(),
    st.sampled_from(
        ["", "\x00", "a\x00b", "-1", "0", "99999999", "5G", "::1", "https://x.example"]
    ),
)
toml_keys = st.sampled_from(
    [
        *("domain", "mail_host", "state_dir", "listen", "default_quota", "outbound"),
        *("ports", "tls", "web", "auth", "dns", "legacy", "x", "imap", "cert", "penalty", ""),
    ]
)


def toml_value(depth: int = 0) -> st.SearchStrategy[object]:
    if depth > 2:
        return toml_scalars
    return st.one_of(
        toml_scalars,
        st.lists(toml_scalars, max_size=3),
        st.dictionaries(toml_keys, st.deferred(lambda: toml_value(depth + 1)), max_size=3),
    )


def to_toml(data: dict[str, object]) -> str:
    """A TOML text for ``data`` (every table inline; quoting by JSON, which TOML accepts)."""
    import datetime
    import json

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and v != v:
            return "nan"
        if isinstance(v, float) and v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, datetime.date):
            return v.isoformat()
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(v)

    return "".join(f"{json.dumps(k)} = {value(v)}\n" for k, v in data.items())


def known_settings() -> st.SearchStrategy[dict[str, object]]:
    """Every key alumail knows, each maybe present, with values of any TOML type."""
    from mailstack.settings import known_keys

    known = known_keys()

    def keys(section: str) -> st.SearchStrategy[dict[str, object]]:
        optional: dict[str, st.SearchStrategy[object]] = {
            key: st.one_of(toml_scalars, st.lists(toml_scalars, max_size=3))
            for key in known[section]
        }
        return st.fixed_dictionaries({}, optional=optional)

    sections = {name: keys(name) for name in known if name}
    return st.tuples(keys(""), st.fixed_dictionaries({}, optional=sections)).map(
        lambda parts: {**parts[0], **parts[1]}
    )


@FUZZ
@given(data=st.one_of(st.dictionaries(toml_keys, toml_value(), max_size=5), known_settings()))
def test_any_settings_structure_is_refused_or_taken_cleanly(data: dict[str, object]) -> None:
    with workspace() as root:
        text = to_toml(data)
        (root / "alumail.toml").write_text(text + f"\n[auth]\n# {len(text)}\n")
        assert_clean(run(root, ["dns", "--json"]))


@FUZZ
@given(content=st.binary(max_size=300))
def test_any_settings_bytes_are_refused_or_taken_cleanly(content: bytes) -> None:
    with workspace() as root:
        (root / "alumail.toml").write_bytes(content)
        assert_clean(run(root, ["audit"]))


@pytest.mark.parametrize(
    "content",
    [
        b'domain = "\xff.example"\n',
        b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
        b"x = " + b"{a=" * 5000 + b"1" + b"}" * 5000 + b"\n",
        b"\x00" * 2_000_000,
        b'state_dir = "a\\u0000b"\n',
        b'[tls]\ncert = "c\\u0000"\nkey = "k"\n',
    ],
    ids=["not-utf8", "nested-arrays", "nested-tables", "huge", "nul-state-dir", "nul-cert"],
)
def test_malformed_settings_files_are_configuration_errors(content: bytes) -> None:
    with workspace() as root:
        (root / "alumail.toml").write_bytes(content)
        result = run(root, ["audit"])
        assert_clean(result)
        assert result.exit_code == 3 and result.stderr.startswith("alumail: error: ")


def test_an_environment_value_that_is_not_utf8_is_a_configuration_error() -> None:
    with workspace() as root:
        result = CliRunner().invoke(
            main,
            ["dns"],
            env={"ALUMAIL_CONFIG": str(root / "alumail.toml"), "ALUMAIL_RELAY_HOST": "r\udcff"},
        )
        assert_clean(result)
        assert result.exit_code == 3 and "ALUMAIL_RELAY_HOST: is not valid UTF-8" in result.stderr


@pytest.mark.parametrize("where", ["folder", "device"])
def test_a_settings_path_that_is_no_file_is_a_configuration_error(where: str) -> None:
    with workspace() as root:
        path = root if where == "folder" else Path("/dev/zero")
        result = run(root, ["--config", str(path), "status"])
        assert_clean(result)
        assert result.exit_code == 3 and str(path) in result.stderr


# -- arguments and option values ------------------------------------------------------------------

argument_text = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
commands = st.sampled_from(
    [
        ["account", "show", "{}"],
        ["account", "create", "{}", "--name", "{}", "--quota", "{}"],
        ["account", "create", "ok.uid", "--name", "N", "--recovery-email", "{}"],
        ["account", "modify", "{}", "--graduation-year", "{}"],
        ["account", "list", "--search", "{}", "--limit", "{}"],
        ["quota", "set", "{}", "{}"],
        ["quota", "over", "{}"],
        ["account", "alias", "add", "{}", "{}"],
        ["audit", "--since", "{}", "--target", "{}"],
        ["legacy", "remind", "--dry-run", "--today", "{}"],
        ["--actor", "{}", "--actor-password-file", "{}", "audit"],
        ["export", "--year", "{}", "--format", "{}"],
        ["token", "revoke", "{}"],
        ["dkim", "retire", "{}"],
    ]
)


@FUZZ
@given(command=commands, values=st.lists(argument_text, min_size=3, max_size=3))
def test_any_argument_is_refused_or_taken_cleanly(command: list[str], values: list[str]) -> None:
    filled = iter(values)
    args = [next(filled) if part == "{}" else part for part in command]
    with workspace() as root:
        assert_clean(run(root, args))


@pytest.mark.parametrize(
    "args",
    [
        ["account", "show", "\udcff"],
        ["account", "create", "new.uid", "--name", "Zhang \udcff"],
        ["import", "/tmp/\udcffroster.csv", "--dry-run"],
        ["--actor", "desk\udcc3", "audit"],
    ],
)
def test_undecodable_argument_bytes_are_invalid_input(args: list[str]) -> None:
    with workspace() as root:
        result = run(root, args)
        assert_clean(result)
        assert result.exit_code == 4 and "is not valid UTF-8" in result.stderr


@FUZZ
@given(stdin=st.binary(max_size=60))
def test_any_password_on_stdin_is_refused_or_taken_cleanly(stdin: bytes) -> None:
    with workspace() as root:
        result = run(root, ["verify", "some.uid", "--password-stdin"], stdin=stdin)
        assert_clean(result)


def test_a_password_file_that_is_not_text_is_invalid_input() -> None:
    with workspace() as root:
        secret = root / "pw"
        secret.write_bytes(b"\xff\xfe-not-text\n")
        for path in (secret, root):
            result = run(root, ["--actor", "desk.li", "--actor-password-file", str(path), "audit"])
            assert_clean(result)
            assert result.exit_code == 4 and "actor-password-file" in result.stderr


# -- CSV files ------------------------------------------------------------------------------------

csv_cell = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", '"', '""', "a,b", "x\ny", "\x00", "9" * 10, "1990-01-01", "2010"]),
)


def csv_bytes() -> st.SearchStrategy[bytes]:
    header = ",".join(ROSTER_COLUMNS)
    rows = st.lists(st.lists(csv_cell, min_size=0, max_size=7), max_size=6).map(
        lambda rs: "\n".join(",".join(r) for r in rs)
    )
    text = st.builds(lambda body, head: head + "\n" + body, rows, st.sampled_from([header, "x"]))
    return st.one_of(
        text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.tuples(text, st.binary(max_size=8), text).map(
            lambda p: (
                p[0].encode("utf-8", "surrogatepass") + p[1] + p[2].encode("utf-8", "surrogatepass")
            )
        ),
        st.binary(max_size=200),
    )


@FUZZ
@given(content=csv_bytes())
def test_any_roster_file_is_reported_or_taken_cleanly(content: bytes) -> None:
    with workspace() as root:
        roster = root / "roster.csv"
        roster.write_bytes(content)
        result = run(root, ["roster", "import", str(roster), "--dry-run", "--json"])
        assert_clean(result)


def read_all(path: Path) -> tuple[list[tuple[int, dict[str, str]]], list[tuple[int, str, str]]]:
    problems: list[tuple[int, str, str]] = []
    with csvrows.open_csv(path) as handle:
        _, rows = csvrows.read_rows(
            handle, ROSTER_COLUMNS, on_problem=lambda *p: problems.append(p)
        )
        return list(rows), problems


@FUZZ
@given(content=csv_bytes())
def test_reading_any_csv_gives_rows_or_named_problems(content: bytes) -> None:
    with workspace() as root:
        path = root / "rows.csv"
        path.write_bytes(content)
        try:
            rows, problems = read_all(path)
        except ValidationError as error:
            assert error.field == "header"
            return
        for _line, record in rows:
            for value in record.values():
                if isinstance(value, str):
                    value.encode("utf-8")  # what is handed on is always text
        assert all(line >= 1 and column and reason for line, column, reason in problems)


def test_csv_that_cannot_be_read_names_the_line() -> None:
    header = ",".join(ROSTER_COLUMNS)
    big = "9" * (200 * 1024)
    cases = {
        "bad byte": (
            f"{header}\n12345,Ok One,,2010,\n".encode()
            + b"12346,Bad \xff,,2010,\n"
            + b"12347,Ok Two,,2010,\n",
            3,
            "name",
            "not valid UTF-8",
        ),
        "big field": (
            f"{header}\n12345,Ok,,2010,\n12346,{big},,2010,\n".encode(),
            3,
            "row",
            "field larger than field limit",
        ),
        "long line": (
            f"{header}\n".encode() + b"x" * (csvrows.MAX_LINE_CHARS + 10),
            2,
            "row",
            "longer than",
        ),
    }
    with workspace() as root:
        for name, (content, line, column, reason) in cases.items():
            path = root / "rows.csv"
            path.write_bytes(content)
            rows, problems = read_all(path)
            assert len(problems) == 1, (name, problems)
            assert problems[0][:2] == (line, column) and reason in problems[0][2], (name, problems)
            if name == "bad byte":
                assert [n for n, _ in rows] == [2, 4]  # the rows after the bad one are read


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["import", "{root}/rows.csv", "--report", "{root}/missing/report.csv"], "report"),
        (["import", "{root}/rows.csv", "--dry-run", "--report", "/proc/report.csv"], "report"),
        (["export", "-o", "{root}/missing/accounts.csv"], "output"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_first(args: list[str], field: str) -> None:
    with workspace() as root:
        (root / "rows.csv").write_text("uid,display_name\n")
        result = run(root, [a.format(root=root) for a in args])
        assert_clean(result)
        assert result.exit_code == 4 and f"error: {field}: " in result.stderr
        assert "cannot be written" in result.stderr


def test_a_migration_list_with_a_bad_byte_names_the_line_and_column() -> None:
    with workspace() as root:
        jobs = root / "jobs.csv"
        jobs.write_bytes(b"legacy_login,legacy_password,uid\nold1,p\xffw,zhang.san\n")
        result = run(root, ["migrate", "--csv", str(jobs)])
        assert_clean(result)
        assert result.exit_code == 4
        assert "legacy_password: line 2: is not valid UTF-8 text" in result.stderr


@pytest.mark.parametrize("path", ["/dev/zero", "FOLDER"])
def test_a_csv_path_that_is_no_file_is_refused(path: str) -> None:
    with workspace() as root:
        target = str(root) if path == "FOLDER" else path
        result = run(root, ["roster", "import", target, "--dry-run"])
        assert_clean(result)
        assert result.exit_code in (2, 4)
        assert "regular file" in result.stderr or "is a directory" in result.stderr
