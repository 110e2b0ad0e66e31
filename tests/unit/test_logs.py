import datetime
import stat
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from identity.errors import ValidationError
from mailstack import logs

pytestmark = pytest.mark.unit


def test_rotation_keeps_a_bounded_number_of_copies(tmp_path: Path) -> None:
    log = tmp_path / "slapd.log"
    for round_ in range(6):
        log.write_bytes(f"round {round_}\n".encode() * 20)
        assert logs.tidy(tmp_path, max_bytes=100, keep=3) == ["slapd.log"]
        assert log.read_bytes() == b""
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["slapd.log", "slapd.log.1", "slapd.log.2", "slapd.log.3"]
    assert (tmp_path / "slapd.log.1").read_text().startswith("round 5")
    assert (tmp_path / "slapd.log.3").read_text().startswith("round 3")
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o640}


def test_small_logs_stay_and_are_made_private(tmp_path: Path) -> None:
    log = tmp_path / "dovecot.log"
    log.write_text("one line\n")
    log.chmod(0o644)
    assert logs.tidy(tmp_path, max_bytes=100) == []
    assert log.read_text() == "one line\n"
    assert stat.S_IMODE(log.stat().st_mode) == 0o640


# -- reading them: `alumail logs` ----------------------------------------------------------------

NOW = datetime.datetime(2026, 11, 29, 22, 0, 0).timestamp()  # local time, as the daemons write


@pytest.mark.parametrize(
    ("value", "back"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (" 5m ", 300)],
)
def test_since_as_a_duration(value: str, back: int) -> None:
    assert logs.parse_since(value, now=NOW) == NOW - back


def test_since_as_a_local_time() -> None:
    assert logs.parse_since("2026-11-29T21:30", now=NOW) == NOW - 1800
    assert logs.parse_since("2026-11-29 21:59:59", now=NOW) == NOW - 1


@pytest.mark.parametrize("value", ["", "yesterday", "10", "10x", "-5m", "m", "2026-13-01"])
def test_since_refuses_anything_else_naming_the_field(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        logs.parse_since(value, now=NOW)
    assert caught.value.field == "since" and "30s, 10m" in caught.value.rule


@pytest.mark.parametrize(
    ("line", "seconds_before"),
    [
        ("Nov 29 21:59:00 master: Info: Dovecot starting up", 60),
        ("Nov 29 21:00:00 mail postfix/smtpd[1]: connect from localhost", 3600),
        ("[29-Nov-2026 21:59:30] NOTICE: fpm is running, pid 5", 30),
        ("2026-11-29 21:58:00,123 INFO alumail.web: started", 120),
        (f"{int(NOW - 10):08x}.1e1969ae 0x7f0615b44200 slapd starting", 10),
    ],
)
def test_the_time_each_daemon_writes(line: str, seconds_before: int) -> None:
    assert logs.line_time(line, now=NOW) == NOW - seconds_before


def test_syslog_lines_of_last_december_read_in_january() -> None:
    january = datetime.datetime(2027, 1, 2, 10, 0, 0).timestamp()
    when = logs.line_time("Dec 31 23:00:00 mail postfix/qmgr[1]: removed", now=january)
    assert when == datetime.datetime(2026, 12, 31, 23, 0, 0).timestamp()


@pytest.mark.parametrize("line", ["\tDebian OpenLDAP Maintainers", "DEBUG:dkimpy:sig", ""])
def test_lines_without_a_time(line: str) -> None:
    assert logs.line_time(line, now=NOW) is None


def test_since_keeps_continuation_lines_with_their_line_and_reads_rotated_copies(
    tmp_path: Path,
) -> None:
    (tmp_path / "postfix.log.1").write_text("Nov 29 20:00:00 mail postfix: old\n")
    (tmp_path / "postfix.log").write_text(
        "Nov 29 21:00:00 mail postfix: an hour ago\n"
        "Nov 29 21:55:00 mail postfix: recent\n\tits continuation\n"
    )
    since = NOW - 600

    recent = [line.text for line in logs.read_service(tmp_path, "postfix", since, now=NOW)]
    assert recent == ["Nov 29 21:55:00 mail postfix: recent", "\tits continuation"]
    everything = [line.text for line in logs.read_service(tmp_path, "postfix", None, now=NOW)]
    assert everything[0] == "Nov 29 21:00:00 mail postfix: an hour ago"  # current file only
    assert len(everything) == 3


def test_several_services_are_merged_in_time_order(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("[29-Nov-2026 21:00:00] one\n[29-Nov-2026 21:02:00] three\n")
    (tmp_path / "b.log").write_text("[29-Nov-2026 21:01:00] two\n")
    merged = [
        (line.service, line.text.split()[-1]) for line in logs.read(tmp_path, ["a", "b"], None)
    ]
    assert merged == [("a", "one"), ("b", "two"), ("a", "three")]


def test_follow_prints_new_lines_and_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "dovecot.log"
    log.write_text("before following\n")
    seen: list[str] = []

    # Each look for new lines first writes the next piece: a half line, its end, then a
    # rotation (copy and truncate) and a line after it.
    def append(text: str) -> None:
        with log.open("a") as handle:
            handle.write(text)

    def rotate_then_append() -> None:
        logs.tidy(tmp_path, max_bytes=1)
        append("after rotation\n")

    pieces: Iterator[Callable[[], None]] = iter(
        [partial(append, "first\nsecond"), partial(append, " half\n"), rotate_then_append]
    )

    def stop() -> bool:
        if len(seen) >= 3:
            return True
        piece = next(pieces, None)
        if piece is not None:
            piece()
        return False

    for line in logs.follow(tmp_path, ["dovecot", "absent"], stop=stop, poll=0.01):
        seen.append(line.text)
    assert seen == ["first", "second half", "after rotation"]
