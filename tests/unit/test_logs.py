import stat
from pathlib import Path

import pytest

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
